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

/// A `values.schema.json` as the validator reads it. The draft-less
/// `json-schema.org/schema` names "the latest draft", which Helm's validator reads as
/// 2020-12.
fn read_schema(schema: &[u8]) -> Result<Value, String> {
    let mut schema: Value =
        serde_json::from_slice(schema).map_err(|e| format!("unable to parse the schema: {e}\n"))?;
    if let Some(Value::String(uri)) = schema.get_mut("$schema")
        && uri
            .trim_end_matches('#')
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            == "json-schema.org/schema"
    {
        *uri = "https://json-schema.org/draft/2020-12/schema".into();
    }
    Ok(schema)
}

/// Builds, ahead of time, the meta-schema validator that checking `schema` will need. It is
/// built once per process and costs about as much as rendering a small chart, so a one-shot
/// caller (the CLI) starts it on another thread as soon as it sees a `values.schema.json`,
/// while it is still reading the chart.
pub fn prepare_meta_validator(schema: &[u8]) {
    let Ok(schema) = read_schema(schema) else {
        return;
    };
    // The validator's own draft detection; taking the handle forces the lazily built
    // validator. A custom meta-schema is left to the check itself (it may need fetching).
    let _ = match jsonschema::Draft::default().detect(&schema) {
        jsonschema::Draft::Draft4 => jsonschema::draft4::meta::validator(),
        jsonschema::Draft::Draft6 => jsonschema::draft6::meta::validator(),
        jsonschema::Draft::Draft7 => jsonschema::draft7::meta::validator(),
        jsonschema::Draft::Draft201909 => jsonschema::draft201909::meta::validator(),
        jsonschema::Draft::Unknown => return,
        _ => jsonschema::draft202012::meta::validator(),
    };
}

/// One schema (the raw `values.schema.json`) against `values`.
pub fn validate(values: &Map<String, Value>, schema: &[u8]) -> Result<(), String> {
    let schema = read_schema(schema)?;
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

    #[test]
    fn preparing_a_meta_validator_for_any_declared_draft_leaves_verdicts_unchanged() {
        let schema = |declared: &str| {
            format!(r#"{{{declared} "properties": {{"replicas": {{"type": "integer"}}}}}}"#)
        };
        for declared in [
            r#""$schema": "http://json-schema.org/draft-07/schema#","#,
            r#""$schema": "http://json-schema.org/schema#","#,
            r#""$schema": "https://example.com/custom","#,
            "",
        ] {
            let text = schema(declared);
            prepare_meta_validator(text.as_bytes());
            let custom = declared.contains("example.com");
            let good = validate(&map(json!({"replicas": 2})), text.as_bytes());
            let bad = validate(&map(json!({"replicas": "two"})), text.as_bytes());
            if custom {
                // Not a draft the validator knows: refused either way, as a schema error.
                assert!(good.is_err() && bad.is_err(), "{declared}");
            } else {
                assert!(good.is_ok(), "{declared}: {good:?}");
                assert!(bad.unwrap_err().contains("/replicas"), "{declared}");
            }
        }
        prepare_meta_validator(b"not json");
    }
}
