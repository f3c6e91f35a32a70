//! Go's `fmt` for template values: `%v` printing, `Sprint`, `Sprintln` and `Sprintf` with
//! the common verbs and flags.

use crate::value::Value;

/// `fmt.Sprint(v)`: Go's `%v`.
pub fn sprint_value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 'v', &Spec::default());
    out
}

/// `fmt.Sprint(args...)`: a space between operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::String(_));
        if i > 0 && !is_str && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        out.push_str(&sprint_value(a));
    }
    out
}

/// `fmt.Sprintln(args...)`: operands separated by spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(sprint_value).collect();
    let mut out = parts.join(" ");
    out.push('\n');
    out
}

#[derive(Default, Clone, Debug)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    /// `%+v`: field names in structs (Go clears `plus` for `%v`).
    plus_v: bool,
    /// `%#v`: Go syntax (strings quoted here; the rest as `%v`).
    sharp_v: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf(format, args...)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut argi = 0;
    let mut reordered = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        loop {
            match chars.peek() {
                Some('-') => spec.minus = true,
                Some('+') => spec.plus = true,
                Some('#') => spec.sharp = true,
                Some(' ') => spec.space = true,
                Some('0') => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::Chars>| -> Option<usize> {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(
                    n.unwrap_or(0)
                        .saturating_mul(10)
                        .saturating_add(d as usize)
                        .min(1_000_000),
                );
                chars.next();
            }
            n
        };
        let mut arg_index =
            |chars: &mut std::iter::Peekable<std::str::Chars>, argi: &mut usize, bad: &mut bool| {
                if chars.peek() != Some(&'[') {
                    return;
                }
                chars.next();
                let mut n = 0usize;
                let mut ok = false;
                while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                    n = n.saturating_mul(10).saturating_add(d as usize);
                    ok = true;
                    chars.next();
                }
                if chars.peek() == Some(&']') && ok && n >= 1 && n <= args.len() {
                    chars.next();
                    *argi = n - 1;
                } else {
                    for c in chars.by_ref() {
                        if c == ']' {
                            break;
                        }
                    }
                    *bad = true;
                }
                reordered = true;
            };
        let mut bad_index = false;
        arg_index(&mut chars, &mut argi, &mut bad_index);
        if chars.peek() == Some(&'*') {
            chars.next();
            match args.get(argi) {
                Some(Value::Int(n) | Value::Int64(n)) => {
                    if *n < 0 {
                        spec.minus = true;
                    }
                    spec.width = Some((n.unsigned_abs() as usize).min(1_000_000));
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            argi += 1;
        } else {
            spec.width = number(&mut chars);
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if chars.peek() == Some(&'*') {
                chars.next();
                match args.get(argi) {
                    Some(Value::Int(n) | Value::Int64(n)) if *n >= 0 => {
                        spec.prec = Some((*n as usize).min(1_000_000))
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                argi += 1;
            } else {
                spec.prec = Some(number(&mut chars).unwrap_or(0));
            }
        }
        arg_index(&mut chars, &mut argi, &mut bad_index);
        if spec.minus {
            spec.zero = false;
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        if bad_index {
            out.push_str(&format!("%!{verb}(BADINDEX)"));
            continue;
        }
        if verb == 'v' {
            spec.plus_v = spec.plus;
            spec.plus = false;
            spec.sharp_v = spec.sharp;
            spec.sharp = false;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        write_value(&mut out, arg, verb, &spec);
    }
    if !reordered && argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| {
                if a.is_nil() {
                    "<nil>".to_string()
                } else {
                    format!("{}={}", a.type_name(), sprint_value(a))
                }
            })
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn bad_verb(out: &mut String, v: &Value, verb: char) {
    if v.is_nil() {
        out.push_str(&format!("%!{verb}(<nil>)"));
    } else {
        out.push_str(&format!("%!{verb}({}={})", v.type_name(), sprint_value(v)));
    }
}

fn write_value(out: &mut String, v: &Value, verb: char, spec: &Spec) {
    if verb == 'T' {
        pad(out, &v.type_name(), spec);
        return;
    }
    match v {
        Value::Missing | Value::Nil => match verb {
            'v' => pad(out, "<nil>", spec),
            _ => bad_verb(out, v, verb),
        },
        Value::Bool(b) => match verb {
            'v' | 't' => pad(out, if *b { "true" } else { "false" }, spec),
            _ => bad_verb(out, v, verb),
        },
        Value::Int(i) | Value::Int64(i) => fmt_int(out, *i, verb, spec, v),
        Value::Float(f) => fmt_float(out, *f, verb, spec, v),
        Value::String(s) => fmt_str(out, s, verb, spec, v),
        Value::List(items) => {
            // Go applies the verb to each element.
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_elem(out, item, verb, spec);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.snapshot().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_elem(out, k, verb, spec);
                out.push(':');
                write_elem(out, val, verb, spec);
            }
            out.push(']');
        }
        Value::Object(o) => {
            if matches!(verb, 'v' | 's' | 'q' | 'x' | 'X')
                && let Some(s) = o.to_go_string()
            {
                fmt_str(out, &s, verb, spec, v);
                return;
            }
            out.push('{');
            for (i, (name, val)) in o.fields().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if spec.plus_v {
                    out.push_str(name);
                    out.push(':');
                }
                write_elem(out, val, verb, spec);
            }
            out.push('}');
        }
        Value::Func(_) => match verb {
            'v' | 'p' => pad(out, "0x1", spec),
            _ => bad_verb(out, v, verb),
        },
    }
}

/// An element of a container: a nil one prints `<nil>` whatever the verb.
fn write_elem(out: &mut String, v: &Value, verb: char, spec: &Spec) {
    if v.is_nil() {
        pad(out, "<nil>", spec);
    } else {
        write_value(out, v, verb, spec);
    }
}

/// Pads to the width with spaces (or zeros when asked and `zero_ok`).
fn pad(out: &mut String, s: &str, spec: &Spec) {
    pad_with(out, s, spec, false);
}

fn pad_with(out: &mut String, s: &str, spec: &Spec, zero_ok: bool) {
    let len = s.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && zero_ok {
        // Zeros go after the sign.
        let (sign, digits) = match s.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (Some(c), &s[1..]),
            _ => (None, s),
        };
        if let Some(c) = sign {
            out.push(c);
        }
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn fmt_int(out: &mut String, i: i64, verb: char, spec: &Spec, v: &Value) {
    let neg = i < 0;
    let abs = i.unsigned_abs();
    let mut digits = match verb {
        'v' | 'd' => abs.to_string(),
        'b' => format!("{abs:b}"),
        'o' | 'O' => format!("{abs:o}"),
        'x' => format!("{abs:x}"),
        'X' => format!("{abs:X}"),
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), spec);
            return;
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &quote_rune(c), spec);
            return;
        }
        'U' => {
            let mut s = format!("U+{abs:04X}");
            if spec.sharp
                && let Some(c) = char::from_u32(abs as u32)
            {
                s.push_str(&format!(" '{c}'"));
            }
            pad(out, &s, spec);
            return;
        }
        _ => {
            bad_verb(out, v, verb);
            return;
        }
    };
    let mut zero_ok = true;
    if let Some(p) = spec.prec {
        zero_ok = false;
        if p == 0 && i == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let prefix = match verb {
        'x' if spec.sharp => "0x",
        'X' if spec.sharp => "0X",
        'b' if spec.sharp => "0b",
        'o' if spec.sharp && !digits.starts_with('0') => "0",
        'O' => "0o",
        _ => "",
    };
    let sign = if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    if zero_ok && spec.zero && !spec.minus {
        // Go pads the digits with zeros to the width (less the sign), then adds the prefix.
        if let Some(w) = spec.width {
            let w = w.saturating_sub(usize::from(!sign.is_empty()));
            while digits.len() < w {
                digits.insert(0, '0');
            }
        }
        out.push_str(&format!("{sign}{prefix}{digits}"));
        return;
    }
    let s = format!("{sign}{prefix}{digits}");
    pad_with(out, &s, spec, zero_ok);
}

/// Digits and decimal exponent of the shortest representation (`d.ddd × 10^exp`), or of
/// `prec` significant digits.
fn decimal(f: f64, sig: Option<usize>) -> (String, i32) {
    let s = match sig {
        Some(p) => format!("{:.*e}", p.saturating_sub(1).min(EXACT_DIGITS), f.abs()),
        None => format!("{:e}", f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut digits = mant.replace('.', "");
    if let Some(p) = sig {
        // Past the exact expansion every digit is zero.
        while digits.len() < p {
            digits.push('0');
        }
    }
    (digits, exp.parse().unwrap_or(0))
}

/// More digits than any f64's exact decimal expansion has (at most 767 significant, 1074
/// after the point), and few enough for Rust's formatter, whose precision stops at 65535 while
/// Go's goes to a million.
const EXACT_DIGITS: usize = 1100;

/// `%.Nf`: the fixed form with `prec` digits after the point.
fn fixed_prec(f: f64, prec: usize) -> String {
    let mut s = format!("{:.*}", prec.min(EXACT_DIGITS), f);
    if prec > EXACT_DIGITS {
        s.push_str(&"0".repeat(prec - EXACT_DIGITS));
    }
    s
}

fn exp_form(digits: &str, exp: i32, upper: bool, keep: Option<usize>) -> String {
    let mut m = String::new();
    let mut d = digits.to_string();
    if let Some(n) = keep {
        while d.len() < n {
            d.push('0');
        }
    }
    m.push_str(&d[..1]);
    if d.len() > 1 {
        m.push('.');
        m.push_str(&d[1..]);
    }
    let e = if upper { 'E' } else { 'e' };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{m}{e}{sign}{:02}", exp.abs())
}

fn fixed_form(digits: &str, exp: i32) -> String {
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        format!("0.{zeros}{digits}")
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            format!("{digits}{}", "0".repeat(int_len - digits.len()))
        } else {
            format!("{}.{}", &digits[..int_len], &digits[int_len..])
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest text that reads back as the same
/// float32 (what `sigs.k8s.io/yaml` writes for a YAML float read into a string).
pub fn format_float32(f: f64) -> String {
    let narrow = f as f32;
    if narrow.is_nan() {
        return "NaN".into();
    }
    if narrow.is_infinite() {
        return if narrow > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let shortest = format!("{:e}", narrow.abs());
    let (mantissa, exp) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let digits = mantissa.replace('.', "");
    let exp: i32 = exp.parse().unwrap_or(0);
    let body = if !(-4..6).contains(&exp) {
        exp_form(&digits, exp, false, None)
    } else {
        fixed_form(&digits, exp)
    };
    if narrow.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// `%g` (and `%v`) as Go's `strconv.FormatFloat(f, 'g', prec, 64)` formats it.
fn fmt_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    let p = prec.map(|p| p.max(1));
    let (digits, exp) = decimal(f, p);
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let eprec = match p {
        None => 6,
        Some(p) => {
            let (nd, dp) = (digits.len() as i32, exp + 1);
            if p as i32 > nd && nd >= dp {
                nd
            } else {
                p as i32
            }
        }
    };
    if exp < -4 || exp >= eprec {
        exp_form(digits, exp, upper, None)
    } else {
        fixed_form(digits, exp)
    }
}

fn fmt_float(out: &mut String, f: f64, verb: char, spec: &Spec, v: &Value) {
    let body = if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        "Inf".to_string()
    } else {
        match verb {
            'v' | 'g' => fmt_g(f, spec.prec, false),
            'G' => fmt_g(f, spec.prec, true),
            'f' | 'F' => fixed_prec(f.abs(), spec.prec.unwrap_or(6)),
            'e' | 'E' => {
                let p = spec.prec.unwrap_or(6);
                let (digits, exp) = decimal(f, Some(p + 1));
                exp_form(&digits, exp, verb == 'E', Some(p + 1))
            }
            _ => {
                bad_verb(out, v, verb);
                return;
            }
        }
    };
    let neg = f.is_sign_negative() && !f.is_nan() && (f != 0.0 || 1.0 / f < 0.0);
    let sign = if neg {
        "-"
    } else if spec.plus || (f.is_infinite() && verb == 'v') {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let s = format!("{sign}{body}");
    pad_with(out, &s, spec, f.is_finite());
}

fn fmt_str(out: &mut String, s: &str, verb: char, spec: &Spec, v: &Value) {
    let s: String = match spec.prec {
        Some(p) if matches!(verb, 's' | 'v' | 'q') => s.chars().take(p).collect(),
        _ => s.to_string(),
    };
    match verb {
        'v' if spec.sharp_v => pad(out, &quote(&s), spec),
        'v' | 's' => pad(out, &s, spec),
        'q' if spec.plus => pad(out, &quote_ascii(&s), spec),
        'q' => {
            if spec.sharp && !s.contains('`') && !s.chars().any(|c| c.is_control() && c != '\t') {
                pad(out, &format!("`{s}`"), spec);
            } else {
                pad(out, &quote(&s), spec);
            }
        }
        'x' | 'X' => {
            let bytes = match spec.prec {
                Some(p) => &s.as_bytes()[..p.min(s.len())],
                None => s.as_bytes(),
            };
            let mut h = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    h.push(' ');
                }
                if verb == 'x' {
                    h.push_str(&format!("{b:02x}"));
                } else {
                    h.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, &h, spec)
        }
        _ => bad_verb(out, v, verb),
    }
}

fn escape_into(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if !is_print(c) => {
            if (c as u32) < 0x10000 {
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push_str(&format!("\\U{:08x}", c as u32));
            }
        }
        c => out.push(c),
    }
}

/// Go's `unicode.IsPrint`, approximately: graphic characters and the ASCII space.
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
        || ('\u{E000}'..='\u{F8FF}').contains(&c))
}

/// Go's `strconv.QuoteToASCII`.
pub fn quote_ascii(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        if c.is_ascii() {
            escape_into(&mut out, c, '"');
        } else if (c as u32) < 0x10000 {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push_str(&format!("\\U{:08x}", c as u32));
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        escape_into(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune`.
pub fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    escape_into(&mut out, c, '\'');
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn float32_text_is_go_strconv() {
        use super::format_float32 as f;
        // Checked against Go's strconv.FormatFloat(x, 'g', -1, 32).
        assert_eq!(f(1.10), "1.1");
        assert_eq!(f(12345678.9), "1.2345679e+07");
        assert_eq!(f(1e6), "1e+06");
        assert_eq!(f(123456.0), "123456");
        assert_eq!(f(0.000012), "1.2e-05");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(300.0), "300");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NAN), "NaN");
    }

    use super::*;

    #[test]
    fn precisions_past_rusts_formatter_limit_pad_with_zeros_as_go() {
        // Go accepts precisions up to a million; Rust's formatter stops at 65535.
        let fixed = sprintf("%.70000f", &[Value::Float(1.5)]);
        assert_eq!(fixed.len(), 2 + 70000);
        assert!(fixed.starts_with("1.5000"));
        assert!(fixed[2..].chars().skip(1).all(|c| c == '0'));
        let sci = sprintf("%.70000e", &[Value::Float(-0.25)]);
        assert!(sci.starts_with("-2.5000"));
        assert!(sci.ends_with("0e-01"));
        assert_eq!(sci.len(), "-2.".len() + 70000 + "e-01".len());
        assert_eq!(
            sprintf("%.70000g", &[Value::Float(0.1)]),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert_eq!(
            sprintf("%.*g", &[Value::Int(900_000), Value::Float(2.0)]),
            "2"
        );
    }

    #[test]
    fn floats_print_as_go() {
        assert_eq!(sprint_value(&Value::Float(3.0)), "3");
        assert_eq!(sprint_value(&Value::Float(1e21)), "1e+21");
        assert_eq!(sprint_value(&Value::Float(1e20)), "1e+20");
        assert_eq!(sprint_value(&Value::Float(123456.0)), "123456");
        assert_eq!(sprint_value(&Value::Float(1234567.0)), "1.234567e+06");
        assert_eq!(sprint_value(&Value::Float(0.00001)), "1e-05");
        assert_eq!(sprint_value(&Value::Float(2.5)), "2.5");
        assert_eq!(
            sprintf(
                "%5.2f|%e|%g",
                &[
                    Value::Float(3.14259),
                    Value::Float(1234.5),
                    Value::Float(0.000012)
                ]
            ),
            " 3.14|1.234500e+03|1.2e-05"
        );
    }

    #[test]
    fn verbs_and_errors() {
        assert_eq!(sprintf("%d %s", &[Value::Int(3)]), "3 %!s(MISSING)");
        assert_eq!(sprintf("%d", &[Value::from("x")]), "%!d(string=x)");
        assert_eq!(
            sprintf(
                "%05d|%-4d|%x|%q",
                &[
                    Value::Int(-42),
                    Value::Int(7),
                    Value::Int(255),
                    Value::from("a\"b")
                ]
            ),
            "-0042|7   |ff|\"a\\\"b\""
        );
        assert_eq!(
            sprintf("%s", &[Value::from("a"), Value::Int(1)]),
            "a%!(EXTRA int=1)"
        );
    }
}
