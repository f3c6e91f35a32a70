//! JSON values written as YAML the way Go's `sigs.k8s.io/yaml.Marshal` writes them, which is
//! how Helm saves `Chart.yaml` and Flux writes merged values: keys sorted, strings quoted only
//! when plain text would read back as something else.

use driftless_yaml::{Mapping, Node, Scalar, Style};
use serde_json::Value;

/// `value` as one YAML document.
pub fn to_yaml(value: &Value) -> String {
    to_yaml_with(value, driftless_yaml::Layout::GO_YAML_V2)
}

/// `value` as Helm's `toYamlPretty` writes it: go-yaml v3's encoder, indent two (sequences
/// indented under their key, long lines not folded).
pub fn to_yaml_pretty(value: &Value) -> String {
    to_yaml_with(value, driftless_yaml::Layout::GO_YAML_V3)
}

fn to_yaml_with(value: &Value, layout: driftless_yaml::Layout) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}\n".to_owned(),
        Value::Array(items) if items.is_empty() => "[]\n".to_owned(),
        other => driftless_yaml::to_string_with(&to_node(other), layout),
    }
}

fn to_node(value: &Value) -> Node {
    match value {
        Value::Null => Node::null(),
        Value::Bool(b) => Node::plain(b.to_string()),
        Value::Number(n) => Node::plain(n.to_string()),
        Value::String(s) => Node::Scalar(Scalar {
            value: s.clone(),
            style: Style::String,
            tag: None,
        }),
        Value::Array(items) => Node::Seq(items.iter().map(to_node).collect()),
        Value::Object(map) => {
            let mut entries: Vec<(String, Node)> =
                map.iter().map(|(k, v)| (k.clone(), to_node(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Node::Map(Mapping { entries })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_and_quoted_as_go_writes_it() {
        let value = json!({"b": {"z": 1, "a": [true, null, "yes", "1.0"]}, "a": "text", "c": {}});
        assert_eq!(
            to_yaml(&value),
            "a: text\nb:\n  a:\n  - true\n  - null\n  - \"yes\"\n  - \"1.0\"\n  z: 1\nc: {}\n"
        );
        assert_eq!(to_yaml(&json!({})), "{}\n");
    }

    #[test]
    fn pretty_indents_sequences_and_never_folds_as_go_yaml_v3() {
        // helm v3.21.4's toYamlPretty of the same value.
        let long = format!("{} {}", "a".repeat(90), "b".repeat(20));
        let value =
            json!({"list": [1, {"k": ["x"], "m": {"p": [{"o": 1}]}}, [2, [3]]], "long": long});
        assert_eq!(
            to_yaml_pretty(&value),
            format!(
                "list:\n  - 1\n  - k:\n      - x\n    m:\n      p:\n        - o: 1\n  - - 2\n    - - 3\nlong: {long}\n"
            )
        );
    }
}
