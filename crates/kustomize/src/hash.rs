//! The content hash kustomize appends to generated ConfigMap and Secret names.

use serde_json::Value;
use sha2::{Digest, Sha256};

use driftless_yaml::Node;

/// The 10-character suffix for a ConfigMap or Secret (any other kind hashes its whole
/// JSON form).
pub fn name_hash(node: &Node) -> String {
    let field = |path: &[&str]| -> Value {
        match node.get_path(path) {
            None => Value::String(String::new()),
            Some(Node::Scalar(s)) => Value::String(s.value.clone()),
            Some(other) => other.to_json(),
        }
    };
    let kind = node.str_at(&["kind"]).unwrap_or("");
    let mut object = serde_json::Map::new();
    match kind {
        "ConfigMap" | "Secret" => {
            object.insert("kind".into(), Value::String(kind.to_owned()));
            // kustomize looks the name up as one field called "metadata/name", which no
            // object has: the name never enters the hash.
            object.insert("name".into(), Value::String(String::new()));
            object.insert("data".into(), field(&["data"]));
            let extra = if kind == "ConfigMap" {
                "binaryData"
            } else {
                "stringData"
            };
            if let Some(map @ Node::Map(_)) = node.get(extra) {
                object.insert(extra.into(), map.to_json());
            }
            if kind == "Secret" {
                object.insert("type".into(), field(&["type"]));
            }
        }
        _ => return encode(&hex_sha256(&go_json(&node.to_json()))),
    }
    encode(&hex_sha256(&go_json(&Value::Object(object))))
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first ten hex digits, with the letters that could spell words swapped out.
fn encode(hex: &str) -> String {
    hex.chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            other => other,
        })
        .collect()
}

/// JSON as Go's `encoding/json` writes it: sorted keys, no spaces, `<`, `>`, `&`, U+2028
/// and U+2029 escaped.
pub fn go_json(value: &Value) -> String {
    let mut out = String::new();
    write_go_json(&mut out, value);
    out
}

fn write_go_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&go_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_go_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(out, key);
                out.push(':');
                write_go_json(out, &map[key]);
            }
            out.push('}');
        }
    }
}

fn write_go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float as Go's JSON encoder prints it.
pub fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: exponent form with at least two exponent digits removed (`1e-07` → `1e-7`).
        let text = format!("{f:e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                format!("{mantissa}e+{exponent}")
            }
            _ => text,
        }
    } else if f.fract() == 0.0 && abs < 1e21 {
        format!("{}", f as i128)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_yaml::parse_one;

    #[test]
    fn config_map_hash_matches_kustomize() {
        // kustomize: configMapGenerator {name: example-configmap-test, literals: [FOO=Bar]}
        // gives example-configmap-test-g9bhfcc7k7 (kustomize's hasher tests use this object).
        let node = parse_one(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  one: \"\"\n",
        )
        .unwrap();
        assert_eq!(name_hash(&node).len(), 10);
        let empty =
            parse_one("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"\"\n").unwrap();
        // From kustomize's hasher_test.go: an empty ConfigMap hashes to 6ct58987ht.
        assert_eq!(name_hash(&empty), "6ct58987ht");
        let with_data = parse_one(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"\"\ndata:\n  one: \"\"\n",
        )
        .unwrap();
        assert_eq!(name_hash(&with_data), "9g67k2htb6");
    }

    #[test]
    fn secret_hash_matches_kustomize() {
        let empty =
            parse_one("apiVersion: v1\nkind: Secret\nmetadata:\n  name: \"\"\ntype: my-type\n")
                .unwrap();
        assert_eq!(name_hash(&empty), "5gmgkf8578");
    }

    #[test]
    fn go_json_escapes_html_characters() {
        assert_eq!(
            go_json(&serde_json::json!({"b": "<&>", "a": 1})),
            r#"{"a":1,"b":"\u003c\u0026\u003e"}"#
        );
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(1e21), "1e+21");
    }
}
