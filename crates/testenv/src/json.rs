//! Checking the JSON documents tests receive (forwarded events, webhook payloads) field by
//! field.

use serde_json::Value;

/// Asserts that `actual` holds every field of `expected` with the same value, recursing into
/// objects; fields `expected` does not name may hold anything. Panics with the path of the
/// first difference and the whole of `actual`.
pub fn assert_includes(actual: &Value, expected: &Value) {
    if let Some(difference) = first_difference(actual, expected, "") {
        panic!("{difference}\nin {actual:#}");
    }
}

fn first_difference(actual: &Value, expected: &Value, path: &str) -> Option<String> {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => {
            expected.iter().find_map(|(key, expected)| {
                let path = format!("{path}/{key}");
                match actual.get(key) {
                    Some(actual) => first_difference(actual, expected, &path),
                    None => Some(format!("{path}: missing, expected {expected}")),
                }
            })
        }
        _ => (actual != expected).then(|| format!("{path}: {actual}, expected {expected}")),
    }
}
