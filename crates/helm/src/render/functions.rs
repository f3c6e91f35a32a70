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
        Func::new(Arity::Exact(1), |a| Ok(to_yaml(&a[0]))),
    );
    add(
        "mustToYaml",
        Func::new(Arity::Exact(1), |a| Ok(to_yaml(&a[0]))),
    );
    add(
        "fromYaml",
        Func::new(Arity::Exact(1), |a| {
            let text = arg_str(&a, 0)?;
            Ok(match crate::values::parse_go(&text) {
                Ok(map) => go_value(&serde_json::Value::Object(map)),
                Err(e) => error_map(&e.to_string()),
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
                Ok(_) => error_list("cannot unmarshal object into Go value of type []interface {}"),
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
    add("toToml", Func::new(Arity::Exact(1), |a| Ok(to_toml(&a[0]))));
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
    let json = value.to_json();
    let text = match &json {
        serde_json::Value::Null => "null\n".to_owned(),
        other => crate::yaml::to_yaml(other),
    };
    Value::String(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

fn yaml_document(text: &str) -> Result<serde_json::Value, String> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    let mut json = driftless_yaml::parse_one(text)
        .map_err(|e| e.to_string())?
        .to_json();
    crate::values::go_numbers(&mut json);
    Ok(json)
}

fn error_map(message: &str) -> Value {
    let mut map = Map::new();
    map.insert("Error", Value::from(message));
    Value::map(map)
}

fn error_list(message: &str) -> Value {
    Value::list(vec![Value::from(message)])
}

fn to_toml(value: &Value) -> Value {
    let json = value.to_json();
    let encoded = toml::Value::try_from(&json)
        .map_err(|e| e.to_string())
        .and_then(|v| toml::to_string(&v).map_err(|e| e.to_string()));
    Value::String(encoded.unwrap_or_else(|e| e))
}

fn toml_value(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::Int(*i),
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
