//! `toToml` as Helm's encoder (BurntSushi/toml) writes it: plain keys first, then tables
//! (`[a.b]`) and arrays of tables (`[[a]]`), each nested level indented by two spaces.

use driftless_gotemplate::Value;

/// `value` (a map) as a TOML document; Helm prints the encoder's error for anything else.
pub(super) fn encode(value: &Value) -> String {
    let Some(entries) = entries(value) else {
        return "toml: top-level values must be Go maps or structs".into();
    };
    let mut out = String::new();
    table(&mut out, &[], &entries);
    out
}

fn entries(value: &Value) -> Option<Vec<(String, Value)>> {
    match value {
        Value::Map(map) => {
            let mut items: Vec<(String, Value)> = map
                .read()
                .iter()
                .map(|(k, v)| (driftless_gotemplate::print::sprint_value(k), v.clone()))
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            Some(items)
        }
        _ => None,
    }
}

fn is_table(value: &Value) -> bool {
    matches!(value, Value::Map(_))
}

fn is_table_array(value: &Value) -> bool {
    matches!(value, Value::List(items) if !items.is_empty() && items.iter().all(is_table))
}

fn table(out: &mut String, path: &[String], items: &[(String, Value)]) {
    let inner_indent = "  ".repeat(path.len());
    for (key, value) in items {
        if value.is_nil() || is_table(value) || is_table_array(value) {
            continue;
        }
        out.push_str(&format!(
            "{inner_indent}{} = {}\n",
            key_text(key),
            scalar(value)
        ));
    }
    for (key, value) in items {
        let mut child = path.to_vec();
        child.push(key.clone());
        let header: Vec<String> = child.iter().map(|k| key_text(k)).collect();
        let header_indent = "  ".repeat(path.len());
        // A blank line before top-level tables and before every array-of-tables entry.
        if let Some(sub) = entries(value) {
            if !out.is_empty() && path.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("{header_indent}[{}]\n", header.join(".")));
            table(out, &child, &sub);
        } else if is_table_array(value)
            && let Value::List(list) = value
        {
            for element in list.iter() {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!("{header_indent}[[{}]]\n", header.join(".")));
                table(out, &child, &entries(element).unwrap_or_default());
            }
        }
    }
}

fn key_text(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare { key.to_owned() } else { quote(key) }
}

fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) | Value::Int64(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => "nan".into(),
        Value::Float(f) if f.is_infinite() => (if *f > 0.0 { "inf" } else { "-inf" }).into(),
        Value::Float(f) => {
            let text = driftless_gotemplate::print::sprintf("%v", &[Value::Float(*f)]);
            let text = if text.contains('e') {
                format!("{f}")
            } else {
                text
            };
            if text.contains('.') {
                text
            } else {
                format!("{text}.0")
            }
        }
        Value::List(items) => {
            let parts: Vec<String> = items.iter().filter(|v| !v.is_nil()).map(scalar).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Map(_) => {
            // An inline table inside an array.
            let parts: Vec<String> = entries(value)
                .unwrap_or_default()
                .iter()
                .filter(|(_, v)| !v.is_nil())
                .map(|(k, v)| format!("{} = {}", key_text(k), scalar(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => quote(&driftless_gotemplate::print::sprint_value(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_first_then_indented_tables() {
        let value = Value::from_json(&serde_json::json!({
            "title": "x",
            "server": {"name": "s", "port": 8080, "tls": {"on": true}},
            "list": [1, 2],
            "weird key": "a\"b",
            "workers": [{"id": 1}, {"id": 2}]
        }));
        assert_eq!(
            encode(&value),
            "list = [1.0, 2.0]\ntitle = \"x\"\n\"weird key\" = \"a\\\"b\"\n\n[server]\n  name = \"s\"\n  port = 8080.0\n  [server.tls]\n    on = true\n\n[[workers]]\n  id = 1.0\n\n[[workers]]\n  id = 2.0\n"
        );
        assert_eq!(
            encode(&Value::String("x".into())),
            "toml: top-level values must be Go maps or structs"
        );
    }
}
