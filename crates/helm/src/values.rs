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

/// One values document as Helm reads it (`sigs.k8s.io/yaml` into `map[string]interface{}`):
/// plain scalars resolved by YAML 1.1 rules as go-yaml v2 resolves them (`yes`/`on` are
/// bools, `0755` is octal), then every number a Go `float64`, as JSON numbers are.
pub fn parse_go(text: &str) -> Result<Map<String, Value>, ValuesError> {
    match parse_go_document(text).map_err(ValuesError)? {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(ValuesError(format!(
            "cannot unmarshal {} into a map of values",
            kind(&other)
        ))),
    }
}

/// One YAML document of any shape read as Helm reads values (see [`parse_go`]); blank text
/// is `null`. Errors are the YAML reader's message.
pub fn parse_go_document(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let node =
        driftless_yaml::parse_one_resolving_keys(text, yaml11_key).map_err(|e| e.to_string())?;
    let mut json = yaml11_json(&node);
    go_numbers(&mut json);
    Ok(json)
}

/// A plain mapping key as go-yaml v2 types it and `sigs.k8s.io/yaml` writes it back as a JSON
/// key: `on`/`yes`/`y` are `"true"`, `off`/`no`/`n` `"false"`, `0x10` and `010` `"16"` and
/// `"8"`, floats as float32 text (`1.10` is `"1.1"`, `.Inf` is `".inf"`). Other keys keep
/// their text.
fn yaml11_key(text: &str) -> Option<String> {
    if let Some(f) = special_float(text) {
        let name = if f.is_nan() {
            ".nan"
        } else if f > 0.0 {
            ".inf"
        } else {
            "-.inf"
        };
        return Some(name.into());
    }
    match resolve_yaml11(text) {
        Value::Bool(_) | Value::Number(_) => yaml11_text(text),
        _ => None,
    }
}

/// A plain scalar as `sigs.k8s.io/yaml` writes it into a Go string field: typed by go-yaml
/// v2 first, then a bool or number written back as text (`y` is `"true"`, `0x10` `"16"`,
/// `1.10` `"1.1"`: floats as float32, `.inf` `"+Inf"`). None for a null.
pub(crate) fn yaml11_text(text: &str) -> Option<String> {
    if let Some(f) = special_float(text) {
        return Some(driftless_gotemplate::print::format_float32(f));
    }
    match resolve_yaml11(text) {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_i64() {
            Some(int) => int.to_string(),
            None => driftless_gotemplate::print::format_float32(n.as_f64().unwrap_or_default()),
        }),
        _ => Some(text.to_owned()),
    }
}

/// YAML 1.1's infinities and NaN.
fn special_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        _ => None,
    }
}

/// A YAML node as go-yaml v2 decodes it into `interface{}`.
pub fn yaml11_json(node: &driftless_yaml::Node) -> Value {
    use driftless_yaml::{Node, Style};
    match node {
        Node::Map(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_owned(), yaml11_json(v)))
                .collect(),
        ),
        Node::Seq(items) => Value::Array(items.iter().map(yaml11_json).collect()),
        Node::Scalar(scalar) if scalar.tag.is_none() && scalar.style == Style::Plain => {
            resolve_yaml11(&scalar.value)
        }
        other => other.to_json(),
    }
}

/// go-yaml v2's resolver for a plain scalar.
fn resolve_yaml11(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            // JSON has no infinities or NaN: sigs.k8s.io/yaml fails on them; keep the text.
            return Value::String(text.to_owned());
        }
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Value::String(text.to_owned());
    }
    let plain = text.replace('_', "");
    if let Some(int) = parse_go_int(&plain) {
        return Value::from(int);
    }
    if let Some(binary) = plain
        .strip_prefix("0b")
        .or_else(|| plain.strip_prefix("-0b"))
        && let Ok(v) = i64::from_str_radix(binary, 2)
    {
        return Value::from(if plain.starts_with('-') { -v } else { v });
    }
    let is_float = {
        let body = plain.trim_start_matches(['+', '-']);
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(at) => (&body[..at], Some(&body[at + 1..])),
            None => (body, None),
        };
        let mantissa_ok = match mantissa.split_once('.') {
            Some((int, frac)) => {
                int.bytes().all(|b| b.is_ascii_digit())
                    && frac.bytes().all(|b| b.is_ascii_digit())
                    && !(int.is_empty() && frac.is_empty())
            }
            None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
        };
        let exponent_ok = exponent.is_none_or(|e| {
            let digits = e.trim_start_matches(['+', '-']);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        });
        mantissa_ok && exponent_ok
    };
    if is_float
        && let Some(number) = plain
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
    {
        return Value::Number(number);
    }
    Value::String(text.to_owned())
}

/// Go's `strconv.ParseInt(s, 0, 64)`: decimal, `0x` hex, `0o`/leading-zero octal.
fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, hex)
    } else if let Some(octal) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, octal)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// Numbers as Go's `encoding/json` decodes them into `interface{}`: `float64`.
pub fn go_numbers(value: &mut Value) {
    match value {
        Value::Number(n) if !n.is_f64() => {
            if let Some(f) = n.as_f64().and_then(serde_json::Number::from_f64) {
                *n = f;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(go_numbers),
        Value::Object(map) => map.values_mut().for_each(go_numbers),
        _ => {}
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
    fn plain_keys_are_typed_and_repeated_keys_win_as_go_yaml_v2_reads_them() {
        // Checked against helm v3.21.4: `toJson` of this map.
        let read = parse_go(
            "a:\n  y: 1\n  \"n\": 2\n  on: 3\n  010: 4\n  0x10: 5\n  1.5: 6\n  Off: 7\n  plain: 8\n  1_000: 9\n  k: 1\n  k: 2\n  \
             1.10: 10\n  1e6: 11\n  .Inf: 12\n",
        )
        .unwrap();
        assert_eq!(
            Value::Object(read),
            json!({"a": {"1.5": 6.0, "1000": 9.0, "16": 5.0, "8": 4.0, "false": 7.0, "n": 2.0,
                         "plain": 8.0, "true": 3.0, "k": 2.0, "1.1": 10.0, "1e+06": 11.0,
                         ".inf": 12.0}})
        );
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
    fn values_read_as_go_yaml_v2_reads_them() {
        let values = parse_go(
            "a: yes\nb: off\nc: 0755\nd: 0x1F\ne: 1_000\nf: 1.5e3\ng: '0755'\nh: 2001-12-14\ni: ~\nj: 1e\nk: [on, \"on\"]\n",
        )
        .unwrap();
        assert_eq!(
            Value::Object(values),
            json!({
                "a": true, "b": false, "c": 493.0, "d": 31.0, "e": 1000.0, "f": 1500.0,
                "g": "0755", "h": "2001-12-14", "i": null, "j": "1e", "k": [true, "on"]
            })
        );
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
