//! The exact source text of a one-line scalar, and the text of a new value written in the
//! style the old one was written in.

use std::ops::Range;

/// How a scalar is quoted in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quoting {
    Plain,
    Single,
    Double,
}

/// The byte range of a scalar's own text (quotes included, anchor and tag excluded), found
/// from where the parser's span starts. `None` when the text does not read back as `value`:
/// then the scalar is left alone rather than risk a wrong edit.
pub(crate) fn locate(
    text: &str,
    start: usize,
    parser_end: usize,
    quoting: Quoting,
    value: &str,
) -> Option<Range<usize>> {
    let start = skip_properties(text, start);
    let end = text_end(text, start, parser_end, quoting)?;
    let source = text.get(start..end)?;
    if source.contains(['\n', '\r']) {
        return None;
    }
    let decoded = match quoting {
        Quoting::Plain => Some(source.to_owned()),
        Quoting::Single => Some(source[1..source.len() - 1].replace("''", "'")),
        Quoting::Double => decode_double(&source[1..source.len() - 1]),
    };
    (decoded.as_deref() == Some(value)).then_some(start..end)
}

/// Where a scalar's text that starts at `start` (after any anchor and tag) ends.
pub(crate) fn text_end(
    text: &str,
    start: usize,
    parser_end: usize,
    quoting: Quoting,
) -> Option<usize> {
    let start = skip_properties(text, start);
    let rest = text.get(start..)?;
    match quoting {
        Quoting::Plain => Some(parser_end),
        Quoting::Single => Some(start + single_quoted_len(rest)?),
        Quoting::Double => Some(start + double_quoted_len(rest)?),
    }
}

/// Past an anchor (`&a`) and a tag (`!t`, `!!str`) written before a scalar.
fn skip_properties(text: &str, mut at: usize) -> usize {
    let bytes = text.as_bytes();
    while matches!(bytes.get(at), Some(b'&' | b'!')) {
        while bytes.get(at).is_some_and(|b| !b.is_ascii_whitespace()) {
            at += 1;
        }
        while matches!(bytes.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
    }
    at
}

fn single_quoted_len(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    if bytes.first() != Some(&b'\'') {
        return None;
    }
    let mut at = 1;
    loop {
        match bytes.get(at)? {
            b'\'' if bytes.get(at + 1) == Some(&b'\'') => at += 2,
            b'\'' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

fn double_quoted_len(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut at = 1;
    loop {
        match bytes.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

/// The value of a one-line double-quoted scalar's inside, YAML escapes applied.
fn decode_double(inner: &str) -> Option<String> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.next()? {
            '0' => '\0',
            'a' => '\u{7}',
            'b' => '\u{8}',
            't' | '\t' => '\t',
            'n' => '\n',
            'v' => '\u{b}',
            'f' => '\u{c}',
            'r' => '\r',
            'e' => '\u{1b}',
            ' ' => ' ',
            '"' => '"',
            '/' => '/',
            '\\' => '\\',
            'N' => '\u{85}',
            '_' => '\u{a0}',
            'L' => '\u{2028}',
            'P' => '\u{2029}',
            'x' => hex(&mut chars, 2)?,
            'u' => hex(&mut chars, 4)?,
            'U' => hex(&mut chars, 8)?,
            _ => return None,
        };
        out.push(decoded);
    }
    Some(out)
}

fn hex(chars: &mut std::str::Chars<'_>, digits: usize) -> Option<char> {
    let code: String = chars.by_ref().take(digits).collect();
    if code.len() != digits {
        return None;
    }
    char::from_u32(u32::from_str_radix(&code, 16).ok()?)
}

/// `value` written as a scalar of the given quoting. A plain scalar that would not read
/// back as the same string (or would read as a number, bool or null, as Flux's
/// `FormatNonStringStyle` guards against) becomes double-quoted; a single-quoted one that
/// cannot hold the value likewise.
pub(crate) fn render(value: &str, quoting: Quoting, in_flow: bool) -> String {
    match quoting {
        Quoting::Plain if plain_safe(value, in_flow) && !resolves_to_non_string(value) => {
            value.to_owned()
        }
        Quoting::Single if value.chars().all(|c| !c.is_control() || c == '\t') => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => encode_double(value),
    }
}

fn encode_double(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\U{:08x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` written plain reads back as exactly `value` (conservatively).
fn plain_safe(value: &str, in_flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    let second = value.chars().nth(1);
    let starts_badly = match first {
        '-' | '?' | ':' => second.is_none_or(|c| c.is_whitespace() || (in_flow && is_flow(c))),
        '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' | ',' | '[' | ']'
        | '{' | '}' => true,
        c => c.is_whitespace(),
    };
    let bad_char = |c: char| {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
            || (in_flow && is_flow(c))
    };
    !starts_badly
        && !value.chars().any(bad_char)
        && !value.ends_with(|c: char| c.is_whitespace() || c == ':')
        && !value.contains(": ")
        && !value.contains(":\t")
        && !value.contains(" #")
        && !value.contains("\t#")
        && !value.starts_with("---")
        && !value.starts_with("...")
}

fn is_flow(c: char) -> bool {
    matches!(c, ',' | '[' | ']' | '{' | '}')
}

/// Whether a plain scalar would be read as null, a bool, or a number by YAML 1.1 (Go's
/// yaml.v3 and kyaml) or 1.2 readers.
fn resolves_to_non_string(value: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN",
    ];
    WORDS.contains(&value) || looks_numeric(value)
}

/// Integers (decimal, `0x`, `0o`, `0b`, underscores) and floats (`1.`, `.5`, `1e3`,
/// `1.5e-3`), signed or not. Deliberately broad: quoting a string that would have read back
/// as a string anyway is harmless.
fn looks_numeric(value: &str) -> bool {
    let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value);
    let lower = unsigned.to_ascii_lowercase();
    for prefix in ["0x", "0o", "0b"] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            return !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
        }
    }
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (lower.as_str(), None),
    };
    let digits_or_underscores = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '_');
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            (!whole.is_empty() || !fraction.is_empty())
                && digits_or_underscores(whole)
                && digits_or_underscores(fraction)
                && (whole.starts_with(|c: char| c.is_ascii_digit())
                    || fraction.starts_with(|c: char| c.is_ascii_digit()))
        }
        None => {
            mantissa.starts_with(|c: char| c.is_ascii_digit()) && digits_or_underscores(mantissa)
        }
    };
    mantissa_ok && exponent.is_none_or(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_the_scalar_text_only() {
        let text = r#"a: &x !!str "v\"1" # c"#;
        let at = text.find('&').unwrap_or_default();
        let range = locate(text, at, text.len(), Quoting::Double, "v\"1");
        assert_eq!(range.map(|r| &text[r]), Some(r#""v\"1""#));
        let text = "b: 'it''s' # c";
        assert_eq!(
            locate(text, 3, 14, Quoting::Single, "it's").map(|r| &text[r]),
            Some("'it''s'")
        );
        assert_eq!(locate(text, 3, 14, Quoting::Single, "other"), None);
    }

    #[test]
    fn render_keeps_the_style_unless_the_value_needs_quotes() {
        let cases: &[(&str, Quoting, bool, &str)] = &[
            ("ghcr.io/a/b:1.2", Quoting::Plain, false, "ghcr.io/a/b:1.2"),
            ("1.2", Quoting::Plain, false, "\"1.2\""),
            ("v1.2", Quoting::Plain, false, "v1.2"),
            ("123", Quoting::Plain, false, "\"123\""),
            ("1e3", Quoting::Plain, false, "\"1e3\""),
            ("true", Quoting::Plain, false, "\"true\""),
            ("a, b", Quoting::Plain, true, "\"a, b\""),
            ("a: b", Quoting::Plain, false, "\"a: b\""),
            ("sha256:abc", Quoting::Single, false, "'sha256:abc'"),
            ("it's", Quoting::Single, false, "'it''s'"),
            ("line\nbreak", Quoting::Single, false, "\"line\\nbreak\""),
            ("q\"\\", Quoting::Double, false, "\"q\\\"\\\\\""),
        ];
        for (value, quoting, in_flow, expected) in cases {
            assert_eq!(render(value, *quoting, *in_flow), *expected, "{value:?}");
        }
    }
}
