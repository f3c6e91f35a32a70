//! Sprig's string functions.

use super::{add, fail, strings_value, strslice, strval, to_float64, to_int64};
use crate::funcs::{Arity, FuncMap, arg_int, arg_str};
use crate::value::{Map, Value};
use heck::{ToKebabCase, ToSnakeCase, ToUpperCamelCase};

const MAX_LEN: usize = 16 << 20;

fn s(v: String) -> Result<Value, crate::funcs::FuncError> {
    Ok(Value::String(v))
}

/// Go's byte slicing of a string, keeping whole characters (lossy in the middle of one).
fn bytes(v: &str, start: usize, end: usize) -> String {
    String::from_utf8_lossy(&v.as_bytes()[start..end]).into_owned()
}

pub(super) fn register(m: &mut FuncMap) {
    use Arity::{AtLeast, Exact};
    add(m, "hello", Exact(0), |_| s("Hello!".into()));
    add(m, "abbrev", Exact(2), |a| {
        let (w, v) = (arg_int(&a, 0)?, arg_str(&a, 1)?);
        if w < 4 {
            return s(v);
        }
        s(abbreviate_full(&v, 0, w as usize).unwrap_or_default())
    });
    add(m, "abbrevboth", Exact(3), |a| {
        let (l, r, v) = (arg_int(&a, 0)?, arg_int(&a, 1)?, arg_str(&a, 2)?);
        if r < 4 || (l > 0 && r < 7) {
            return s(v);
        }
        s(abbreviate_full(&v, l.max(0) as usize, r as usize).unwrap_or_default())
    });
    add(m, "trunc", Exact(2), |a| {
        let (c, v) = (arg_int(&a, 0)?, arg_str(&a, 1)?);
        let len = v.len() as i64;
        if c < 0 && len + c > 0 {
            return s(bytes(&v, (len + c) as usize, v.len()));
        }
        if c >= 0 && len > c {
            return s(bytes(&v, 0, c as usize));
        }
        s(v)
    });
    add(m, "trim", Exact(1), |a| {
        s(arg_str(&a, 0)?.trim().to_string())
    });
    add(m, "upper", Exact(1), |a| {
        s(arg_str(&a, 0)?.chars().map(go_upper).collect())
    });
    add(m, "lower", Exact(1), |a| {
        s(arg_str(&a, 0)?.chars().map(go_lower).collect())
    });
    add(m, "title", Exact(1), |a| s(title(&arg_str(&a, 0)?)));
    add(m, "untitle", Exact(1), |a| s(untitle(&arg_str(&a, 0)?)));
    add(m, "substr", Exact(3), |a| {
        let (start, end, v) = (arg_int(&a, 0)?, arg_int(&a, 1)?, arg_str(&a, 2)?);
        let len = v.len() as i64;
        let (lo, hi) = if start < 0 {
            (0, end)
        } else if end < 0 || end > len {
            (start, len)
        } else {
            (start, end)
        };
        if hi < 0 || hi > len {
            return fail(format!(
                "runtime error: slice bounds out of range [:{hi}] with length {len}"
            ));
        }
        if lo > hi {
            return fail(format!(
                "runtime error: slice bounds out of range [{lo}:{hi}]"
            ));
        }
        s(bytes(&v, lo as usize, hi as usize))
    });
    add(m, "repeat", Exact(2), |a| {
        let (n, v) = (arg_int(&a, 0)?, arg_str(&a, 1)?);
        if n < 0 {
            return fail("strings: negative Repeat count");
        }
        if (n as u128) * (v.len() as u128) > MAX_LEN as u128 {
            return fail("repeat: result too large");
        }
        s(v.repeat(n as usize))
    });
    for name in ["trimall", "trimAll"] {
        add(m, name, Exact(2), |a| {
            let (cut, v) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
            s(v.trim_matches(|c| cut.contains(c)).to_string())
        });
    }
    add(m, "trimSuffix", Exact(2), |a| {
        let (x, v) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
        s(v.strip_suffix(x.as_str()).unwrap_or(&v).to_string())
    });
    add(m, "trimPrefix", Exact(2), |a| {
        let (x, v) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
        s(v.strip_prefix(x.as_str()).unwrap_or(&v).to_string())
    });
    add(m, "nospace", Exact(1), |a| {
        s(arg_str(&a, 0)?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect())
    });
    add(m, "initials", Exact(1), |a| {
        s(arg_str(&a, 0)?
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .collect())
    });
    add(m, "swapcase", Exact(1), |a| {
        s(arg_str(&a, 0)?
            .chars()
            .flat_map(|c| {
                if c.is_uppercase() {
                    vec![go_lower(c)]
                } else if c.is_lowercase() {
                    vec![go_upper(c)]
                } else {
                    vec![c]
                }
            })
            .collect())
    });
    add(m, "snakecase", Exact(1), |a| {
        s(arg_str(&a, 0)?.to_snake_case())
    });
    add(m, "camelcase", Exact(1), |a| {
        s(arg_str(&a, 0)?.to_upper_camel_case())
    });
    add(m, "kebabcase", Exact(1), |a| {
        s(arg_str(&a, 0)?.to_kebab_case())
    });
    add(m, "wrap", Exact(2), |a| {
        s(wrap(&arg_str(&a, 1)?, arg_int(&a, 0)?, "\n", false))
    });
    add(m, "wrapWith", Exact(3), |a| {
        s(wrap(
            &arg_str(&a, 2)?,
            arg_int(&a, 0)?,
            &arg_str(&a, 1)?,
            true,
        ))
    });
    add(m, "contains", Exact(2), |a| {
        Ok(Value::Bool(arg_str(&a, 1)?.contains(&arg_str(&a, 0)?)))
    });
    add(m, "hasPrefix", Exact(2), |a| {
        Ok(Value::Bool(arg_str(&a, 1)?.starts_with(&arg_str(&a, 0)?)))
    });
    add(m, "hasSuffix", Exact(2), |a| {
        Ok(Value::Bool(arg_str(&a, 1)?.ends_with(&arg_str(&a, 0)?)))
    });
    add(m, "quote", AtLeast(0), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| crate::print::quote(&strval(v)))
            .collect();
        s(parts.join(" "))
    });
    add(m, "squote", AtLeast(0), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(|v| format!("'{}'", crate::print::sprint_value(v)))
            .collect();
        s(parts.join(" "))
    });
    add(m, "cat", AtLeast(0), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !v.is_nil())
            .map(crate::print::sprint_value)
            .collect();
        s(parts.join(" "))
    });
    add(m, "indent", Exact(2), |a| {
        s(indent(arg_int(&a, 0)?, &arg_str(&a, 1)?)?)
    });
    add(m, "nindent", Exact(2), |a| {
        s(format!("\n{}", indent(arg_int(&a, 0)?, &arg_str(&a, 1)?)?))
    });
    add(m, "replace", Exact(3), |a| {
        let (old, new, src) = (arg_str(&a, 0)?, arg_str(&a, 1)?, arg_str(&a, 2)?);
        if old.is_empty() {
            // Go inserts `new` around every character.
            let mut out = new.clone();
            for c in src.chars() {
                out.push(c);
                out.push_str(&new);
            }
            return s(out);
        }
        s(src.replace(&old, &new))
    });
    add(m, "plural", Exact(3), |a| {
        let (one, many, n) = (arg_str(&a, 0)?, arg_str(&a, 1)?, arg_int(&a, 2)?);
        s(if n == 1 { one } else { many })
    });
    add(m, "toString", Exact(1), |a| s(strval(&a[0])));
    add(m, "atoi", Exact(1), |a| {
        let v = arg_str(&a, 0)?;
        let ok = !v.is_empty()
            && v.trim_start_matches(['+', '-'])
                .chars()
                .all(|c| c.is_ascii_digit());
        Ok(Value::Int(if ok { v.parse().unwrap_or(0) } else { 0 }))
    });
    add(m, "int64", Exact(1), |a| Ok(Value::Int64(to_int64(&a[0]))));
    add(m, "int", Exact(1), |a| Ok(Value::Int(to_int64(&a[0]))));
    add(m, "float64", Exact(1), |a| {
        Ok(Value::Float(to_float64(&a[0])))
    });
    add(m, "toDecimal", Exact(1), |a| {
        Ok(Value::Int64(
            i64::from_str_radix(&crate::print::sprint_value(&a[0]), 8).unwrap_or(0),
        ))
    });
    add(m, "split", Exact(2), |a| {
        let (sep, orig) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
        Ok(parts_map(go_split(&orig, &sep, -1)))
    });
    add(m, "splitn", Exact(3), |a| {
        let (sep, n, orig) = (arg_str(&a, 0)?, arg_int(&a, 1)?, arg_str(&a, 2)?);
        Ok(parts_map(go_split(&orig, &sep, n)))
    });
    add(m, "splitList", Exact(2), |a| {
        let (sep, orig) = (arg_str(&a, 0)?, arg_str(&a, 1)?);
        Ok(strings_value(go_split(&orig, &sep, -1)))
    });
    add(m, "toStrings", Exact(1), |a| {
        Ok(strings_value(strslice(&a[0])))
    });
    add(m, "join", Exact(2), |a| {
        let sep = arg_str(&a, 0)?;
        s(strslice(&a[1]).join(&sep))
    });
    add(m, "sortAlpha", Exact(1), |a| {
        let mut v = match &a[0] {
            Value::List(_) => strslice(&a[0]),
            other => vec![strval(other)],
        };
        v.sort();
        Ok(strings_value(v))
    });
}

/// Go's `strings.Split`/`SplitN`.
fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n > 0 && chars.len() as i64 > n {
            let mut out: Vec<String> = chars[..(n - 1) as usize].to_vec();
            out.push(s.chars().skip((n - 1) as usize).collect());
            return out;
        }
        return chars;
    }
    if n < 0 {
        return s.split(sep).map(String::from).collect();
    }
    s.splitn(n as usize, sep).map(String::from).collect()
}

fn parts_map(parts: Vec<String>) -> Value {
    let mut m = Map::new();
    for (i, p) in parts.into_iter().enumerate() {
        m.insert(format!("_{i}"), Value::String(p));
    }
    Value::map(m)
}

fn indent(n: i64, v: &str) -> Result<String, crate::funcs::FuncError> {
    if n < 0 {
        return fail("strings: negative Repeat count");
    }
    if n as usize > MAX_LEN || (n as usize).saturating_mul(v.matches('\n').count() + 1) > MAX_LEN {
        return fail("indent: result too large");
    }
    let pad = " ".repeat(n as usize);
    Ok(format!("{pad}{}", v.replace('\n', &format!("\n{pad}"))))
}

/// Go's `unicode.ToUpper`: one rune to one rune (ß stays ß).
fn go_upper(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Go's `unicode.ToLower`: one rune to one rune.
fn go_lower(c: char) -> char {
    let mut u = c.to_lowercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphabetic() || c.is_numeric() {
        return false;
    }
    c.is_whitespace()
}

/// Go's `strings.Title`.
fn title(v: &str) -> String {
    let mut prev = ' ';
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if is_separator(prev) {
            out.push(go_upper(c));
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// goutils' `Uncapitalize`: the first letter of each whitespace-separated word lowered.
fn untitle(v: &str) -> String {
    let mut prev_space = true;
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if prev_space {
            out.push(go_lower(c));
        } else {
            out.push(c);
        }
        prev_space = c.is_whitespace();
    }
    out
}

/// goutils' `AbbreviateFull` (byte-based, as in Go).
fn abbreviate_full(v: &str, offset: usize, max: usize) -> Option<String> {
    if v.is_empty() {
        return Some(String::new());
    }
    let len = v.len();
    if len <= max {
        return Some(v.to_string());
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    if offset <= 4 {
        return Some(format!("{}...", bytes(v, 0, max - 3)));
    }
    if max < 7 {
        return None;
    }
    if offset + max - 3 < len {
        let rest = bytes(v, offset, len);
        return Some(format!("...{}", abbreviate_full(&rest, 0, max - 3)?));
    }
    Some(format!("...{}", bytes(v, len - (max - 3), len)))
}

/// goutils' `WrapCustom` (byte-based, as in Go).
fn wrap(v: &str, len: i64, newline: &str, long_words: bool) -> String {
    if v.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let w = len.max(1) as usize;
    let b = v.as_bytes();
    let n = b.len();
    let mut offset = 0;
    let mut out = String::new();
    while n - offset > w {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (w + offset + 1).min(n);
        match b[offset..end].iter().rposition(|&c| c == b' ') {
            Some(i) => {
                out.push_str(&bytes(v, offset, offset + i));
                out.push_str(newline);
                offset += i + 1;
            }
            None => {
                let end = w + offset;
                if long_words {
                    out.push_str(&bytes(v, offset, end));
                    out.push_str(newline);
                    offset += w;
                } else {
                    match b[end..].iter().position(|&c| c == b' ') {
                        None => {
                            out.push_str(&bytes(v, offset, n));
                            offset = n;
                        }
                        Some(i) => {
                            out.push_str(&bytes(v, offset, end + i));
                            out.push_str(newline);
                            offset = end + i + 1;
                        }
                    }
                }
            }
        }
    }
    out.push_str(&bytes(v, offset, n));
    out
}
