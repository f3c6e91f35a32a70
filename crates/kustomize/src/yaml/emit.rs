//! [`Node`] to YAML text in the layout `kustomize build` prints: two-space indentation,
//! sequences at their key's indentation, literal blocks for multi-line strings.

use std::fmt::Write;

use super::{Mapping, Node, Scalar, ScalarKind, Style, resolve_plain};

/// One document, without a `---` line.
pub fn to_string(node: &Node) -> String {
    let mut out = String::new();
    match node {
        Node::Map(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Node::Seq(items) if !items.is_empty() => write_seq(&mut out, items, 0, false),
        other => {
            write_inline(&mut out, other, 0);
            out.push('\n');
        }
    }
    out
}

/// Documents separated by `---` lines, as `kustomize build` prints them.
pub fn to_string_stream<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> String {
    let mut out = String::new();
    for (i, node) in nodes.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_string(node));
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A mapping's entries at `level`; when `continued`, the first entry goes on the current
/// line (after a `- `).
fn write_map(out: &mut String, map: &Mapping, level: usize, continued: bool) {
    for (i, (key, value)) in map.entries.iter().enumerate() {
        if i > 0 || !continued {
            indent(out, level);
        }
        write_key(out, key);
        out.push(':');
        match value {
            Node::Map(child) if !child.is_empty() => {
                out.push('\n');
                write_map(out, child, level + 2, false);
            }
            Node::Seq(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, level, false);
            }
            other => {
                out.push(' ');
                write_inline(out, other, level);
                out.push('\n');
            }
        }
    }
}

fn write_seq(out: &mut String, items: &[Node], level: usize, continued: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !continued {
            indent(out, level);
        }
        out.push_str("- ");
        match item {
            Node::Map(child) if !child.is_empty() => write_map(out, child, level + 2, true),
            Node::Seq(inner) if !inner.is_empty() => write_seq(out, inner, level + 2, true),
            other => {
                write_inline(out, other, level);
                out.push('\n');
            }
        }
    }
}

/// A scalar or an empty collection after `key: ` or `- `; block scalars continue on the
/// following lines, indented under `level`.
fn write_inline(out: &mut String, node: &Node, level: usize) {
    match node {
        Node::Map(_) => out.push_str("{}"),
        Node::Seq(_) => out.push_str("[]"),
        Node::Scalar(scalar) => write_scalar(out, scalar, level),
    }
}

fn write_key(out: &mut String, key: &str) {
    if plain_string_ok(key) {
        out.push_str(key);
    } else {
        write_quoted(out, key);
    }
}

fn write_scalar(out: &mut String, scalar: &Scalar, level: usize) {
    let value = scalar.value.as_str();
    match scalar.tag.as_deref() {
        None => {}
        Some("!!str") => return write_string(out, value, Style::String, level),
        Some(core @ ("!!int" | "!!float" | "!!bool" | "!!null"))
            if (scalar.style != Style::Plain || scalar.kind() != resolve_plain(value)) =>
        {
            out.push_str(core);
            out.push(' ');
            return write_quoted(out, value);
        }
        Some(other) => {
            out.push_str(other);
            out.push(' ');
            if scalar.style == Style::Plain && plain_syntax_ok(value) {
                out.push_str(value);
            } else {
                write_quoted(out, value);
            }
            return;
        }
    }
    match scalar.style {
        Style::Plain => {
            if value.is_empty() {
                out.push_str("null");
            } else if plain_syntax_ok(value) {
                out.push_str(value);
            } else {
                // A plain scalar that cannot be written plain again (a folded multi-line
                // plain): quoting keeps its text; its type was a string anyway.
                write_quoted(out, value);
            }
        }
        style => write_string(out, value, style, level),
    }
}

fn write_string(out: &mut String, value: &str, style: Style, level: usize) {
    let printable = value.chars().all(|c| c == '\n' || is_printable(c));
    if value.contains('\n') && printable && !value.starts_with('\n') && style != Style::SingleQuoted
    {
        return write_literal(out, value, level);
    }
    match style {
        Style::DoubleQuoted => write_double_quoted(out, value),
        Style::SingleQuoted if printable && !value.contains('\n') => {
            write_single_quoted(out, value)
        }
        _ if plain_string_ok(value) => out.push_str(value),
        _ => write_quoted(out, value),
    }
}

/// Single quotes when they can hold the text, double quotes (with escapes) otherwise.
fn write_quoted(out: &mut String, value: &str) {
    if !value.contains('\n') && value.chars().all(is_printable) && !ambiguous_plain(value) {
        write_single_quoted(out, value);
    } else {
        write_double_quoted(out, value);
    }
}

fn write_single_quoted(out: &mut String, value: &str) {
    out.push('\'');
    out.push_str(&value.replace('\'', "''"));
    out.push('\'');
}

fn write_double_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
}

fn write_literal(out: &mut String, value: &str, level: usize) {
    out.push('|');
    if value.starts_with(' ') {
        out.push('2');
    }
    let trailing = value.len() - value.trim_end_matches('\n').len();
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let body = if trailing > 0 {
        &value[..value.len() - 1]
    } else {
        value
    };
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, level + 2);
            out.push_str(line);
        }
    }
}

fn is_printable(c: char) -> bool {
    matches!(c, '\t' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        && c != '\u{FEFF}'
}

/// A string can be written plain: the syntax allows it and every YAML reader (1.1 or 1.2)
/// reads it back as the same string.
fn plain_string_ok(value: &str) -> bool {
    plain_syntax_ok(value) && !ambiguous_plain(value)
}

/// True when a plain scalar with this text would be read as something other than a string
/// by a YAML 1.2 or a YAML 1.1 reader.
fn ambiguous_plain(value: &str) -> bool {
    if resolve_plain(value) != ScalarKind::Str {
        return true;
    }
    const YAML11_WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF", "<<", "=",
    ];
    if YAML11_WORDS.contains(&value) {
        return true;
    }
    // Numbers, sexagesimals and timestamps of YAML 1.1 readers: anything that starts like
    // a number and uses only number-ish characters is quoted.
    let first = value.chars().next().unwrap_or(' ');
    (first.is_ascii_digit() || matches!(first, '+' | '-' | '.'))
        && value
            .chars()
            .all(|c| c.is_ascii_hexdigit() || "xXoO_:.+-eE".contains(c))
        || looks_like_timestamp(value)
}

fn looks_like_timestamp(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= 8
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && value[5..].starts_with(|c: char| c.is_ascii_digit())
}

/// The YAML syntax allows this text as a plain scalar in block context.
fn plain_syntax_ok(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']) {
        return false;
    }
    if value.contains('\n') || value.contains(": ") || value.contains(" #") || value.ends_with(':')
    {
        return false;
    }
    if !value.chars().all(|c| is_printable(c) && c != '\t') {
        return false;
    }
    match first {
        '?' | ':' | '-' => {
            let second = value[1..].chars().next();
            matches!(second, Some(c) if c != ' ') && !(first == '-' && value.starts_with("---"))
        }
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{parse_documents, parse_one};

    #[test]
    fn layout_matches_kustomize() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {}\nspec:\n  containers:\n  - name: a\n    args:\n    - --x\n    - - nested\n      - seq\n    env: []\n";
        let node = parse_one(text).unwrap();
        assert_eq!(to_string(&node), text);
    }

    #[test]
    fn strings_that_would_change_type_are_quoted() {
        let mut map = Mapping::new();
        for value in [
            "true",
            "yes",
            "1",
            "1.5",
            "0x1F",
            "2024-01-01",
            "null",
            "",
            "~",
            "on",
            " lead",
            "a: b",
            "#x",
            "1:20",
        ] {
            map.insert(value, Node::string(value));
        }
        let text = to_string(&Node::Map(map.clone()));
        let back = parse_one(&text).unwrap();
        for (key, value) in back.as_map().unwrap().iter() {
            let scalar = value.as_scalar().unwrap();
            assert_eq!(scalar.kind(), ScalarKind::Str, "{key:?} in {text}");
            assert_eq!(scalar.value, key);
        }
        assert!(text.contains("plain: plain") || !text.contains("plain"));
    }

    #[test]
    fn multi_line_strings_round_trip_as_literal_blocks() {
        for value in [
            "a\nb\n",
            "a\nb",
            "a\n\nb\n\n",
            "  indented\nx\n",
            "trailing  \nspace\n",
        ] {
            let mut map = Mapping::new();
            map.insert("k", Node::string(value));
            let text = to_string(&Node::Map(map));
            let back = parse_one(&text).unwrap();
            assert_eq!(
                back.get("k").unwrap().as_scalar().unwrap().value,
                value,
                "{text}"
            );
        }
    }

    #[test]
    fn plain_input_scalars_are_written_as_they_came() {
        let text = "a: yes\nb: 010\nc: 1.0\nd: \"x\"\ne: 'it''s'\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(to_string_stream(&docs), text);
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut map = Mapping::new();
        map.insert("k", Node::string("a\u{1}b"));
        let text = to_string(&Node::Map(map));
        assert_eq!(text, "k: \"a\\x01b\"\n");
        assert_eq!(
            parse_one(&text)
                .unwrap()
                .get("k")
                .unwrap()
                .as_scalar()
                .unwrap()
                .value,
            "a\u{1}b"
        );
    }
}
