//! `values.schema.json` validation (`chartutil.ValidateAgainstSchema`): each chart's schema
//! against its coalesced values, subcharts against their own section.

use serde_json::{Map, Value};

use crate::chart::Chart;

/// Every schema violation of `chart` and its subcharts, as Helm lists them (`name:` then the
/// errors, chart by chart); Ok when there are none.
pub fn validate_chart(chart: &Chart, values: &Map<String, Value>) -> Result<(), String> {
    let mut report = String::new();
    if let Some(schema) = &chart.schema
        && let Err(error) = validate(values, schema)
    {
        report.push_str(&format!("{}:\n{error}", chart.name()));
    }
    for sub in &chart.dependencies {
        let empty = Map::new();
        let section = values
            .get(sub.name())
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if let Err(error) = validate_chart(sub, section) {
            report.push_str(&error);
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(report)
    }
}

/// Whether `chart` or any subchart has a `values.schema.json`.
pub fn any_schema(chart: &Chart) -> bool {
    chart.schema.is_some() || chart.dependencies.iter().any(any_schema)
}

/// One schema (the raw `values.schema.json`) against `values`.
pub fn validate(values: &Map<String, Value>, schema: &[u8]) -> Result<(), String> {
    let mut schema: Value =
        serde_json::from_slice(schema).map_err(|e| format!("unable to parse the schema: {e}\n"))?;
    // `json-schema.org/schema` names "the latest draft", which Helm's validator reads as
    // 2020-12.
    if let Some(Value::String(uri)) = schema.get_mut("$schema")
        && uri
            .trim_end_matches('#')
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            == "json-schema.org/schema"
    {
        *uri = "https://json-schema.org/draft/2020-12/schema".into();
    }
    let validator =
        jsonschema::validator_for(&schema).map_err(|e| format!("the schema is invalid: {e}\n"))?;
    let instance = Value::Object(values.clone());
    // Listing errors builds each message; most values are valid and need only the answer.
    if validator.is_valid(&instance) {
        return Ok(());
    }
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|error| {
            let at = error.instance_path().to_string();
            let at = if at.is_empty() { "/".to_owned() } else { at };
            format!("- at '{at}': {error}\n")
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn violations_are_listed_and_whole_floats_count_as_integers() {
        let schema = br#"{"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1}, "name": {"type": "string"}}, "required": ["name"]}"#;
        assert!(validate(&map(json!({"replicas": 2.0, "name": "x"})), schema).is_ok());
        let error = validate(&map(json!({"replicas": 0.0})), schema).unwrap_err();
        assert!(error.contains("/replicas"), "{error}");
        assert!(error.contains("name"), "{error}");
        assert!(validate(&map(json!({})), b"{not json").is_err());
        let latest = br#"{"$schema": "http://json-schema.org/schema#", "type": "object", "properties": {"a": {"type": "string"}}}"#;
        assert!(validate(&map(json!({"a": "x"})), latest).is_ok());
        assert!(validate(&map(json!({"a": 1.0})), latest).is_err());
    }
}
