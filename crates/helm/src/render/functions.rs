//! Helm's template functions (`engine.funcMap` and `initFunMap`): Sprig without `env` and
//! `expandenv`, the YAML/JSON/TOML converters, and `include`, `tpl`, `required`, `fail`,
//! `lookup` (empty: no cluster) and `getHostByName` (empty: no DNS).

use driftless_gotemplate::funcs::{Arity, Context, Func, FuncError, FuncMap, arg_str};
use driftless_gotemplate::{Map, Value, sprig};

use super::go_value;

/// Every function a chart template can call.
pub(super) fn helm_functions() -> FuncMap {
    let mut functions = sprig::full();
    functions.remove("env");
    functions.remove("expandenv");
    let mut add = |name: &str, func: Func| {
        functions.insert(name.to_owned(), func);
    };
    add("toYaml", Func::new(Arity::Exact(1), |a| Ok(to_yaml(&a[0]))));
    add(
        "toYamlPretty",
        Func::new(Arity::Exact(1), |a| Ok(to_yaml_pretty(&a[0]))),
    );
    add(
        "mustToYaml",
        Func::new(Arity::Exact(1), |a| Ok(to_yaml(&a[0]))),
    );
    add(
        "fromYaml",
        Func::new(Arity::Exact(1), |a| {
            let text = arg_str(&a, 0)?;
            Ok(match yaml_document(&text) {
                Ok(serde_json::Value::Null) => Value::map(Map::new()),
                Ok(map @ serde_json::Value::Object(_)) => go_value(&map),
                Ok(other) => error_map(&unmarshal_error(&other, "map[string]interface {}")),
                Err(e) => error_map(&e),
            })
        }),
    );
    add(
        "fromYamlArray",
        Func::new(Arity::Exact(1), |a| {
            let text = arg_str(&a, 0)?;
            Ok(match yaml_document(&text) {
                Ok(serde_json::Value::Array(items)) => {
                    Value::list(items.iter().map(go_value).collect())
                }
                Ok(serde_json::Value::Null) => Value::list(Vec::new()),
                Ok(other) => error_list(&unmarshal_error(&other, "[]interface {}")),
                Err(e) => error_list(&e),
            })
        }),
    );
    add(
        "fromJson",
        Func::new(Arity::Exact(1), |a| {
            let text = arg_str(&a, 0)?;
            Ok(
                match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text) {
                    Ok(map) => Value::from_json(&serde_json::Value::Object(map)),
                    Err(e) => error_map(&e.to_string()),
                },
            )
        }),
    );
    add(
        "fromJsonArray",
        Func::new(Arity::Exact(1), |a| {
            let text = arg_str(&a, 0)?;
            Ok(
                match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
                    Ok(items) => Value::list(items.iter().map(Value::from_json).collect()),
                    Err(e) => error_list(&e.to_string()),
                },
            )
        }),
    );
    add(
        "toToml",
        Func::new(Arity::Exact(1), |a| {
            Ok(Value::String(super::toml_encode::encode(&a[0])))
        }),
    );
    add(
        "fromToml",
        Func::new(Arity::Exact(1), |a| {
            let text = arg_str(&a, 0)?;
            Ok(match text.parse::<toml::Table>() {
                Ok(table) => toml_value(&toml::Value::Table(table)),
                Err(e) => error_map(&e.to_string()),
            })
        }),
    );
    add(
        "include",
        Func::with_context(Arity::Exact(2), |ctx, a| {
            let name = arg_str(&a, 0)?;
            ctx.execute_template(&name, &a[1])
                .map(Value::String)
                .map_err(|e| FuncError::Call(e.message))
        }),
    );
    add("tpl", Func::with_context(Arity::Exact(2), tpl));
    add(
        "required",
        Func::new(Arity::Exact(2), |a| {
            let message = arg_str(&a, 0)?;
            match &a[1] {
                Value::Nil | Value::Missing => Err(FuncError::Call(message)),
                Value::String(s) if s.is_empty() => Err(FuncError::Call(message)),
                other => Ok(other.clone()),
            }
        }),
    );
    add(
        "fail",
        Func::new(Arity::Exact(1), |a| Err(FuncError::Call(arg_str(&a, 0)?))),
    );
    add(
        "lookup",
        Func::new(Arity::Exact(4), |a| {
            for i in 0..4 {
                arg_str(&a, i)?;
            }
            Ok(Value::map(Map::new()))
        }),
    );
    add(
        "getHostByName",
        Func::new(Arity::Exact(1), |a| {
            arg_str(&a, 0)?;
            Ok(Value::String(String::new()))
        }),
    );
    functions
}

/// Helm's `tpl`: `text` parsed into a copy of the running set and executed with `data`.
fn tpl(ctx: &mut Context<'_>, args: Vec<Value>) -> Result<Value, FuncError> {
    let text = arg_str(&args, 0)?;
    let output = ctx
        .execute_text(super::SET_NAME, &text, &args[1])
        .map_err(|e| {
            FuncError::Call(format!(
                "error during tpl function execution for {text:?}: {}",
                e.message
            ))
        })?;
    Ok(Value::String(output.replace("<no value>", "")))
}

/// Helm's `toYaml`: `sigs.k8s.io/yaml.Marshal`, the final newline trimmed.
pub(super) fn to_yaml(value: &Value) -> Value {
    yaml_text(value, crate::yaml::to_yaml)
}

/// Helm's `toYamlPretty`: go-yaml v3's layout.
fn to_yaml_pretty(value: &Value) -> Value {
    yaml_text(value, crate::yaml::to_yaml_pretty)
}

fn yaml_text(value: &Value, write: fn(&serde_json::Value) -> String) -> Value {
    let json = value.to_json();
    let text = match &json {
        serde_json::Value::Null => "null\n".to_owned(),
        other => write(other),
    };
    Value::String(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

fn yaml_document(text: &str) -> Result<serde_json::Value, String> {
    crate::values::parse_go_document(text).map_err(|e| go_yaml_error(&e))
}

/// What `sigs.k8s.io/yaml` says when a document is not of the Go type asked for.
fn unmarshal_error(found: &serde_json::Value, go_type: &str) -> String {
    let kind = match found {
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Null => "null",
    };
    format!(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {kind} into Go value of type {go_type}"
    )
}

/// A YAML syntax error (`line N: [while … context, ]problem`, N from 1) worded as go-yaml
/// v2 words it: the problem alone, on the problem's 0-based line for parser errors, its
/// 1-based line for scanner errors, no line on the first.
fn go_yaml_error(message: &str) -> String {
    let (line, rest) = match message
        .strip_prefix("line ")
        .and_then(|m| m.split_once(": "))
        .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)))
    {
        Some(found) => found,
        None => return format!("error converting YAML to JSON: yaml: {message}"),
    };
    let (context, problem) = match rest.split_once(", ") {
        Some((context, problem)) if context.starts_with("while ") => (context, problem),
        _ => ("", rest),
    };
    let scanner = context.starts_with("while scanning")
        || (context.is_empty() && problem.starts_with("mapping values are not allowed"));
    let go_line = if scanner { line } else { line - 1 };
    let go_line = if line <= 1 { 0 } else { go_line };
    if go_line == 0 {
        format!("error converting YAML to JSON: yaml: {problem}")
    } else {
        format!("error converting YAML to JSON: yaml: line {go_line}: {problem}")
    }
}

fn error_map(message: &str) -> Value {
    let mut map = Map::new();
    map.insert("Error", Value::from(message));
    Value::map(map)
}

fn error_list(message: &str) -> Value {
    Value::list(vec![Value::from(message)])
}

fn toml_value(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::Int64(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::list(items.iter().map(toml_value).collect()),
        toml::Value::Table(table) => Value::map(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_value(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_read_as_go_yaml_v2_writes_them() {
        let error = |text: &str| match yaml_document(text) {
            Err(e) => e,
            Ok(v) => unmarshal_error(&v, "map[string]interface {}"),
        };
        assert_eq!(
            error("a: ["),
            "error converting YAML to JSON: yaml: line 1: did not find expected node content"
        );
        assert_eq!(
            error("a: b: c"),
            "error converting YAML to JSON: yaml: mapping values are not allowed in this context"
        );
        assert_eq!(
            error("a:\n  - b\n c: d"),
            "error converting YAML to JSON: yaml: line 2: did not find expected key"
        );
        assert_eq!(
            error("- x"),
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
    }
}
