//! Sprig's numbers, defaults, encodings, hashes, regexes, semver, reflection and paths.

use base64::Engine as _;
use sha2::Digest as _;
use std::rc::Rc;

use super::{add, empty, fail, strval, to_float64, to_int64};
use crate::funcs::{Arity, FuncError, FuncMap, arg_bool, arg_int, arg_str, check_arity};
use crate::value::{Object, Value};

type R = Result<Value, FuncError>;

const MAX_ITEMS: i64 = 1 << 20;

fn ints(v: Vec<i64>) -> R {
    Ok(Value::list(v.into_iter().map(Value::Int).collect()))
}

/// Sprig's `untilStep`.
fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, FuncError> {
    let mut v = Vec::new();
    let mut i = start;
    if stop < start {
        if step >= 0 {
            return Ok(v);
        }
        while i > stop {
            v.push(i);
            if v.len() as i64 > MAX_ITEMS {
                return fail("untilStep: too many items");
            }
            i = match i.checked_add(step) {
                Some(n) => n,
                None => break,
            };
        }
        return Ok(v);
    }
    if step <= 0 {
        return Ok(v);
    }
    while i < stop {
        v.push(i);
        if v.len() as i64 > MAX_ITEMS {
            return fail("untilStep: too many items");
        }
        i = match i.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(v)
}

/// Compiled patterns by source text. Charts call the regex functions from helpers that run
/// once per object with the same few patterns, and compiling is far dearer than matching.
/// Shared by `Rc`, not cloned: a cloned `Regex` starts with an empty match cache, and
/// building that cache costs more than a short match.
const REGEX_CACHE_LIMIT: usize = 256;

thread_local! {
    static REGEX_CACHE: std::cell::RefCell<std::collections::HashMap<String, Rc<regex::Regex>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn regex(pattern: &str) -> Result<Rc<regex::Regex>, FuncError> {
    if let Some(compiled) = REGEX_CACHE.with_borrow(|cache| cache.get(pattern).cloned()) {
        return Ok(compiled);
    }
    let compiled = Rc::new(
        regex::RegexBuilder::new(&go_pattern_in_rust_syntax(pattern))
            .size_limit(1 << 20)
            .build()
            .map_err(|e| FuncError::Call(format!("error parsing regexp: {e}")))?,
    );
    REGEX_CACHE.with_borrow_mut(|cache| {
        if cache.len() >= REGEX_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), compiled.clone());
    });
    Ok(compiled)
}

/// Go's Perl classes and word boundary are ASCII-only (`\d` is `[0-9]`, `\s` is
/// `[\t\n\f\r ]`); Rust's are Unicode. Written out as ASCII, they match as in Go and compile
/// to far smaller automata. The text is what goes inside brackets.
fn ascii_perl_class(class: char) -> Option<(&'static str, bool)> {
    match class {
        'd' => Some(("0-9", false)),
        'D' => Some(("0-9", true)),
        'w' => Some(("0-9A-Za-z_", false)),
        'W' => Some(("0-9A-Za-z_", true)),
        's' => Some(("\\t\\n\\f\\r ", false)),
        'S' => Some(("\\t\\n\\f\\r ", true)),
        _ => None,
    }
}

/// A Go (RE2) pattern in the syntax of Rust's regex with Go's meaning: Perl classes and
/// `\b` as ASCII (see [`ascii_perl_class`]), and a `-` next to a class escape inside
/// brackets (`[\w-.]`, `[a-\d]`), which Go reads as a literal dash and Rust refuses as a
/// range, escaped.
fn go_pattern_in_rust_syntax(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut i = 0;
    let is_class_escape =
        |c: Option<&char>| matches!(c, Some('w' | 'W' | 'd' | 'D' | 's' | 'S' | 'p' | 'P'));
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let next = chars.get(i + 1).copied();
                match (next.and_then(ascii_perl_class), next) {
                    (Some((set, negated)), _) => match (in_class, negated) {
                        (true, false) => out.push_str(set),
                        // Rust's regex nests classes: `[x\D]` is `[x[^0-9]]`.
                        (_, true) => out.push_str(&format!("[^{set}]")),
                        (false, false) => out.push_str(&format!("[{set}]")),
                    },
                    (None, Some(boundary @ ('b' | 'B'))) if !in_class => {
                        out.push_str(&format!("(?-u:\\{boundary})"));
                    }
                    (None, next) => {
                        out.push(c);
                        out.extend(next);
                    }
                }
                i += 2;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A leading `^` and `]` belong to the class.
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    out.push(']');
                    i += 1;
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '-' if in_class => {
                let after_escape =
                    i >= 2 && chars[i - 2] == '\\' && is_class_escape(chars.get(i - 1));
                let before_escape =
                    chars.get(i + 1) == Some(&'\\') && is_class_escape(chars.get(i + 2));
                if after_escape || before_escape {
                    out.push_str("\\-");
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

fn b64err(e: base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol(i, _) => {
            format!("illegal base64 data at input byte {i}")
        }
        _ => "illegal base64 data at input byte 0".to_string(),
    }
}

fn go_path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn go_path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn go_path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    go_path_clean(dir)
}

fn go_path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    String::new()
}

/// A version as Sprig's `semver` returns it (Masterminds' `*Version`).
#[derive(Debug)]
struct SemVer {
    original: String,
    v: driftless_version::Version,
}

impl Object for SemVer {
    fn type_name(&self) -> String {
        "*semver.Version".into()
    }
    fn kind(&self) -> &'static str {
        "ptr"
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(
            name,
            "Major" | "Minor" | "Patch" | "Prerelease" | "Metadata" | "Original" | "String"
        )
    }
    fn call_method(&self, name: &str, args: Vec<Value>) -> R {
        check_arity(name, &args, 0)?;
        Ok(match name {
            "Major" => Value::Int(self.v.major as i64),
            "Minor" => Value::Int(self.v.minor as i64),
            "Patch" => Value::Int(self.v.patch as i64),
            "Prerelease" => Value::String(self.v.pre.to_string()),
            "Metadata" => Value::String(self.v.build.to_string()),
            "Original" => Value::String(self.original.clone()),
            _ => Value::String(self.v.to_string()),
        })
    }
    fn to_go_string(&self) -> Option<String> {
        Some(self.v.to_string())
    }
}

pub(super) fn register(m: &mut FuncMap) {
    use Arity::{AtLeast, Exact};
    // Integer arithmetic, through cast.ToInt64 as Sprig does, giving Go's int64.
    add(m, "add1", Exact(1), |a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_add(1)))
    });
    add(m, "add", AtLeast(0), |a| {
        Ok(Value::Int64(
            a.iter().map(to_int64).fold(0i64, i64::wrapping_add),
        ))
    });
    add(m, "sub", Exact(2), |a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
    });
    add(m, "mul", AtLeast(1), |a| {
        Ok(Value::Int64(
            a.iter().map(to_int64).fold(1i64, i64::wrapping_mul),
        ))
    });
    add(m, "div", Exact(2), |a| match to_int64(&a[1]) {
        0 => fail("runtime error: integer divide by zero"),
        b => Ok(Value::Int64(to_int64(&a[0]).wrapping_div(b))),
    });
    add(m, "mod", Exact(2), |a| match to_int64(&a[1]) {
        0 => fail("runtime error: integer divide by zero"),
        b => Ok(Value::Int64(to_int64(&a[0]).wrapping_rem(b))),
    });
    for name in ["max", "biggest"] {
        add(m, name, AtLeast(1), |a| {
            Ok(Value::Int64(a.iter().map(to_int64).max().unwrap_or(0)))
        });
    }
    add(m, "min", AtLeast(1), |a| {
        Ok(Value::Int64(a.iter().map(to_int64).min().unwrap_or(0)))
    });
    add(m, "maxf", AtLeast(1), |a| {
        Ok(Value::Float(
            a.iter().map(to_float64).fold(f64::NEG_INFINITY, f64::max),
        ))
    });
    add(m, "minf", AtLeast(1), |a| {
        Ok(Value::Float(
            a.iter().map(to_float64).fold(f64::INFINITY, f64::min),
        ))
    });
    add(m, "floor", Exact(1), |a| {
        Ok(Value::Float(to_float64(&a[0]).floor()))
    });
    add(m, "ceil", Exact(1), |a| {
        Ok(Value::Float(to_float64(&a[0]).ceil()))
    });
    add(m, "round", AtLeast(2), |a| {
        let places = arg_int(&a, 1)? as f64;
        let round_on = match a.get(2) {
            Some(Value::Float(f)) => *f,
            Some(Value::Int(i) | Value::Int64(i)) => *i as f64,
            Some(other) => {
                return Err(FuncError::Arg {
                    index: 2,
                    message: format!(
                        "wrong type for value; expected float64; got {}",
                        other.type_name()
                    ),
                });
            }
            None => 0.5,
        };
        let pow = 10f64.powf(places);
        let digit = pow * to_float64(&a[0]);
        let r = if digit.fract() >= round_on {
            digit.ceil()
        } else {
            digit.floor()
        };
        Ok(Value::Float(r / pow))
    });
    add(m, "until", Exact(1), |a| {
        let n = arg_int(&a, 0)?;
        ints(until_step(0, n, if n < 0 { -1 } else { 1 })?)
    });
    add(m, "untilStep", Exact(3), |a| {
        ints(until_step(
            arg_int(&a, 0)?,
            arg_int(&a, 1)?,
            arg_int(&a, 2)?,
        )?)
    });
    add(m, "seq", AtLeast(0), |a| {
        let mut p = Vec::new();
        for i in 0..a.len() {
            p.push(arg_int(&a, i)?);
        }
        let v = match p.as_slice() {
            [end] => {
                let inc = if *end < 1 { -1 } else { 1 };
                until_step(1, end.saturating_add(inc), inc)?
            }
            [start, end] => {
                let step = if end < start { -1 } else { 1 };
                until_step(*start, end.saturating_add(step), step)?
            }
            [start, step, end] => {
                let inc = if end < start { -1 } else { 1 };
                if end < start && *step > 0 {
                    Vec::new()
                } else {
                    until_step(*start, end.saturating_add(inc), *step)?
                }
            }
            _ => Vec::new(),
        };
        let parts: Vec<String> = v.iter().map(i64::to_string).collect();
        Ok(Value::String(parts.join(" ")))
    });

    // Defaults and flow.
    add(m, "default", AtLeast(1), |a| {
        if a.len() < 2 || empty(&a[1]) {
            return Ok(a[0].clone());
        }
        Ok(a[1].clone())
    });
    add(m, "empty", Exact(1), |a| Ok(Value::Bool(empty(&a[0]))));
    add(m, "coalesce", AtLeast(0), |a| {
        Ok(a.iter().find(|v| !empty(v)).cloned().unwrap_or(Value::Nil))
    });
    add(m, "all", AtLeast(0), |a| {
        Ok(Value::Bool(a.iter().all(|v| !empty(v))))
    });
    add(m, "any", AtLeast(0), |a| {
        Ok(Value::Bool(a.iter().any(|v| !empty(v))))
    });
    add(m, "ternary", Exact(3), |a| {
        let c = arg_bool(&a, 2)?;
        Ok(if c { a[0].clone() } else { a[1].clone() })
    });
    add(m, "fail", Exact(1), |a| fail(arg_str(&a, 0)?));

    // Encodings and hashes.
    use base64::engine::general_purpose::STANDARD as std64;
    add(m, "b64enc", Exact(1), |a| {
        Ok(Value::String(std64.encode(arg_str(&a, 0)?)))
    });
    add(m, "b64dec", Exact(1), |a| {
        Ok(Value::String(match std64.decode(arg_str(&a, 0)?) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => b64err(e),
        }))
    });
    add(m, "b32enc", Exact(1), |a| {
        Ok(Value::String(
            data_encoding::BASE32.encode(arg_str(&a, 0)?.as_bytes()),
        ))
    });
    add(m, "b32dec", Exact(1), |a| {
        Ok(Value::String(
            match data_encoding::BASE32.decode(arg_str(&a, 0)?.as_bytes()) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => format!("illegal base32 data at input byte {}", e.position),
            },
        ))
    });
    add(m, "sha1sum", Exact(1), |a| {
        Ok(Value::String(hex(&sha1::Sha1::digest(
            arg_str(&a, 0)?.as_bytes(),
        ))))
    });
    add(m, "sha256sum", Exact(1), |a| {
        Ok(Value::String(hex(&sha2::Sha256::digest(
            arg_str(&a, 0)?.as_bytes(),
        ))))
    });
    add(m, "sha512sum", Exact(1), |a| {
        Ok(Value::String(hex(&sha2::Sha512::digest(
            arg_str(&a, 0)?.as_bytes(),
        ))))
    });
    add(m, "adler32sum", Exact(1), |a| {
        Ok(Value::String(
            adler32(arg_str(&a, 0)?.as_bytes()).to_string(),
        ))
    });

    // Regexes (Rust's regex crate: RE2 syntax; Go's \d \w \s are ASCII-only, Rust's Unicode).
    for name in ["regexMatch", "mustRegexMatch"] {
        let must = name.starts_with("must");
        add(m, name, Exact(2), move |a| {
            let (re, s) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
            match regex(&re) {
                Ok(r) => Ok(Value::Bool(r.is_match(&s))),
                Err(e) if must => Err(e),
                Err(_) => Ok(Value::Bool(false)),
            }
        });
    }
    for name in ["regexFindAll", "mustRegexFindAll"] {
        add(m, name, Exact(3), |a| {
            let (re, s, n) = (arg_str(&a, 0)?, arg_str(&a, 1)?, arg_int(&a, 2)?);
            let r = regex(&re)?;
            let limit = if n < 0 { usize::MAX } else { n as usize };
            Ok(Value::list(
                r.find_iter(&s)
                    .take(limit)
                    .map(|m| Value::String(m.as_str().into()))
                    .collect(),
            ))
        });
    }
    for name in ["regexFind", "mustRegexFind"] {
        add(m, name, Exact(2), |a| {
            let r = regex(&arg_str(&a, 0)?)?;
            Ok(Value::String(
                r.find(&arg_str(&a, 1)?)
                    .map_or(String::new(), |m| m.as_str().into()),
            ))
        });
    }
    for name in ["regexReplaceAll", "mustRegexReplaceAll"] {
        add(m, name, Exact(3), |a| {
            let r = regex(&arg_str(&a, 0)?)?;
            Ok(Value::String(
                r.replace_all(&arg_str(&a, 1)?, arg_str(&a, 2)?.as_str())
                    .into_owned(),
            ))
        });
    }
    for name in ["regexReplaceAllLiteral", "mustRegexReplaceAllLiteral"] {
        add(m, name, Exact(3), |a| {
            let r = regex(&arg_str(&a, 0)?)?;
            let rep = arg_str(&a, 2)?;
            Ok(Value::String(
                r.replace_all(&arg_str(&a, 1)?, regex::NoExpand(&rep))
                    .into_owned(),
            ))
        });
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        add(m, name, Exact(3), |a| {
            let (r, s, n) = (regex(&arg_str(&a, 0)?)?, arg_str(&a, 1)?, arg_int(&a, 2)?);
            Ok(Value::list(
                go_split(&r, &s, n).into_iter().map(Value::String).collect(),
            ))
        });
    }
    add(m, "regexQuoteMeta", Exact(1), |a| {
        Ok(Value::String(regex::escape(&arg_str(&a, 0)?)))
    });

    // Semver, with driftless-version's Masterminds-style constraints.
    add(m, "semver", Exact(1), |a| {
        let s = arg_str(&a, 0)?;
        match driftless_version::parse_version(&s) {
            Some(v) => Ok(Value::object(SemVer { original: s, v })),
            None => fail("Invalid Semantic Version"),
        }
    });
    add(m, "semverCompare", Exact(2), |a| {
        let (c, v) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
        let c = driftless_version::Constraint::parse(&c)
            .map_err(|_| FuncError::Call(format!("improper constraint: {c}")))?;
        let Some(v) = driftless_version::parse_version(&v) else {
            return fail("Invalid Semantic Version");
        };
        Ok(Value::Bool(c.matches(&v)))
    });

    // Reflection.
    add(m, "typeOf", Exact(1), |a| {
        Ok(Value::String(a[0].type_name()))
    });
    add(m, "typeIs", Exact(2), |a| {
        Ok(Value::Bool(arg_str(&a, 0)? == a[1].type_name()))
    });
    add(m, "typeIsLike", Exact(2), |a| {
        let (t, v) = (arg_str(&a, 0)?, a[1].type_name());
        Ok(Value::Bool(t == v || t == format!("*{v}")))
    });
    add(m, "kindOf", Exact(1), |a| {
        Ok(Value::String(a[0].kind_name().into()))
    });
    add(m, "kindIs", Exact(2), |a| {
        Ok(Value::Bool(arg_str(&a, 0)? == a[1].kind_name()))
    });
    add(m, "deepEqual", Exact(2), |a| {
        Ok(Value::Bool(a[0].deep_equal(&a[1])))
    });

    // Paths (slash-separated: path and, on Linux, filepath).
    for (name, f) in [
        ("base", go_path_base as fn(&str) -> String),
        ("dir", go_path_dir),
        ("clean", go_path_clean),
        ("ext", go_path_ext),
        ("osBase", go_path_base),
        ("osDir", go_path_dir),
        ("osClean", go_path_clean),
        ("osExt", go_path_ext),
    ] {
        add(m, name, Exact(1), move |a| {
            Ok(Value::String(f(&arg_str(&a, 0)?)))
        });
    }
    for name in ["isAbs", "osIsAbs"] {
        add(m, name, Exact(1), |a| {
            Ok(Value::Bool(arg_str(&a, 0)?.starts_with('/')))
        });
    }
    let _ = strval;
}

/// Go's `Regexp.Split`: empty matches at the start and end add no empty pieces.
fn go_split(r: &regex::Regex, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if !r.as_str().is_empty() && s.is_empty() {
        return vec![String::new()];
    }
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in r.find_iter(s) {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = m.end();
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod regex_tests {
    use super::go_pattern_in_rust_syntax;

    #[test]
    fn dashes_beside_class_escapes_are_literal_as_in_go() {
        assert_eq!(
            go_pattern_in_rust_syntax(r"^[\w-\.]+$"),
            r"^[0-9A-Za-z_\-\.]+$"
        );
        assert_eq!(go_pattern_in_rust_syntax(r"[a-z\d-]"), r"[a-z0-9\-]");
        assert_eq!(
            go_pattern_in_rust_syntax(r"[a-z]-\w"),
            r"[a-z]-[0-9A-Za-z_]"
        );
        let re = super::regex(r"^[\w-\.]+$").unwrap();
        assert!(re.is_match("my-master.1"));
        assert!(!re.is_match("a b"));
    }

    #[test]
    fn perl_classes_and_word_boundaries_are_ascii_as_in_go() {
        let matches = |pattern: &str, text: &str| super::regex(pattern).unwrap().is_match(text);
        // Go: \d is [0-9], \w [0-9A-Za-z_], \s [\t\n\f\r ] (no \v), \b between ASCII words.
        // Every line checked with Go 1.26 regexp.MatchString.
        assert!(matches(r"^\d+$", "042") && !matches(r"^\d+$", "\u{663}"));
        assert!(matches(r"^\w+$", "a_Z9") && !matches(r"^\w+$", "é"));
        assert!(matches(r"^\s$", "\x0c") && !matches(r"^\s$", "\x0b"));
        assert!(matches(r"^\D\W\S$", "é-é") && !matches(r"^\D$", "7"));
        assert!(matches(r"^[^\s\d]+$", "ab") && !matches(r"^[^\s\d]+$", "a1"));
        assert!(matches(r"^[x\D]$", "é") && !matches(r"^[x\D]$", "5"));
        assert!(!matches(r"\bé", "é") && matches(r"\bb", "éb"));
        assert!(matches(r"a\Bb", "ab") && matches(r"\pL", "é"));
        assert_eq!(go_pattern_in_rust_syntax(r"\\d\.\pN"), r"\\d\.\pN");
    }
}

#[cfg(test)]
mod integer_type_tests {
    use crate::sprig::run_full;

    #[test]
    fn arithmetic_gives_int64_and_literals_int_as_in_go() {
        // Each line checked against helm v3.21.4 (Sprig v3).
        assert_eq!(
            run_full(
                r#"{{ kindOf (add 1 2) }} {{ typeOf (len "ab") }} {{ kindOf (atoi "3") }} {{ kindOf (int64 3) }} {{ kindOf (int 3) }} {{ printf "%T" (mul 2 3) }}"#
            ),
            "int64 int int int64 int int64"
        );
        assert_eq!(
            run_full(
                "{{ deepEqual (add 1 1) 2 }} {{ eq (add 1 1) 2 }} {{ lt (add 1 1) 3 }} {{ deepEqual (int64 2) (add 1 1) }}"
            ),
            "false true true true"
        );
        assert_eq!(
            run_full(r#"{{ duration 90 }} {{ duration (int64 90) }} {{ duration "90" }}"#),
            "0s 1m30s 1m30s"
        );
        assert_eq!(
            run_full(
                "{{ range $i := (int64 2) }}{{ kindOf $i }},{{ end }} {{ range $i := 2 }}{{ kindOf $i }},{{ end }}"
            ),
            "int64,int64, int,int,"
        );
        assert_eq!(
            run_full(r#"{{ index (list "a" "b" "c") (add 1 1) }} {{ printf "%*d" (add 3 0) 7 }}"#),
            "c   7"
        );
    }

    #[test]
    fn an_int64_for_an_int_parameter_is_refused_as_in_go() {
        let err = crate::Template::new("t")
            .funcs(crate::sprig::full())
            .parse(r#"{{ substr 0 (add 1 1) "abc" }}"#)
            .map(|t| t.execute(&crate::Value::Nil))
            .ok()
            .and_then(Result::err)
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.ends_with("wrong type for value; expected int; got int64"),
            "{err}"
        );
    }
}
