//! Values files: read into a map as Helm reads `values.yaml`, deep-merged as Flux's
//! `transform.MergeMaps` merges a HelmChart's `valuesFiles`, and written back as Flux writes
//! the merged `values.yaml`.

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValuesError(pub String);

/// One values document as a map; an empty document is an empty map.
pub fn parse(text: &str) -> Result<Map<String, Value>, ValuesError> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let node = driftless_yaml::parse_one(text).map_err(|e| ValuesError(e.to_string()))?;
    match node.to_json() {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(ValuesError(format!(
            "cannot unmarshal {} into a map of values",
            kind(&other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a bool",
        Value::Null => "null",
        Value::Object(_) => "a map",
    }
}

/// `override` merged onto `base`: maps merge key by key, anything else replaces.
pub fn merge(base: &mut Map<String, Value>, overrides: Map<String, Value>) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(into)), Value::Object(from)) => merge(into, from),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The merged values as the chart's `values.yaml` (empty when there are none, as Flux
/// writes it).
pub fn to_yaml(values: &Map<String, Value>) -> String {
    if values.is_empty() {
        return String::new();
    }
    crate::yaml::to_yaml(&Value::Object(values.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn maps_merge_deeply_and_everything_else_replaces() {
        let mut base = map(json!({"a": {"b": 1, "c": [1, 2]}, "d": {"e": 1}, "f": 1}));
        merge(
            &mut base,
            map(json!({"a": {"c": [3], "x": null}, "d": "flat", "f": {"g": 1}})),
        );
        assert_eq!(
            Value::Object(base),
            json!({"a": {"b": 1, "c": [3], "x": null}, "d": "flat", "f": {"g": 1}})
        );
    }

    #[test]
    fn documents_read_as_maps() {
        assert_eq!(parse("").unwrap(), Map::new());
        assert_eq!(parse("# only a comment\n").unwrap(), Map::new());
        assert_eq!(
            Value::Object(parse("a: 1\nb: [x]\n").unwrap()),
            json!({"a": 1, "b": ["x"]})
        );
        assert_eq!(
            parse("- a\n").unwrap_err().0,
            "cannot unmarshal a list into a map of values"
        );
        assert!(parse("a: [\n").is_err());
    }

    #[test]
    fn written_sorted() {
        let values = map(json!({"replicas": 2, "image": {"tag": "1.0", "repository": "app"}}));
        assert_eq!(
            to_yaml(&values),
            "image:\n  repository: app\n  tag: \"1.0\"\nreplicas: 2\n"
        );
        assert_eq!(to_yaml(&Map::new()), "");
    }
}
