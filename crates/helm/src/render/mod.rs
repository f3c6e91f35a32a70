//! Helm's template engine (`pkg/engine`): every template of a chart and its subcharts parsed
//! into one set, then each non-partial file executed with its chart's data (`.Values`,
//! `.Chart`, `.Release`, `.Capabilities`, `.Files`, `.Template`, `.Subcharts`).

mod functions;
mod objects;
mod toml_encode;

use std::collections::BTreeMap;
use std::sync::Arc;

use driftless_gotemplate::{Map, MissingKey, Template, Value};
use serde_json::Value as Json;

use crate::chart::Chart;
pub use objects::{Capabilities, KubeVersion, default_api_versions};

/// What a render knows of the release (`chartutil.ReleaseOptions`).
#[derive(Clone, Debug)]
pub struct ReleaseOptions {
    pub name: String,
    pub namespace: String,
    pub revision: i64,
    pub is_install: bool,
    pub is_upgrade: bool,
}

/// A template that failed to parse or execute, worded as Helm words it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// The name of the set every chart template is parsed into (Helm's `template.New("gotpl")`).
const SET_NAME: &str = "gotpl";

/// A template file and the data it runs with.
struct Renderable {
    /// Shared with the parsed template, which points into it rather than copying it.
    text: Arc<str>,
    data: Map,
    base_path: String,
}

/// Renders every template of `chart` (after dependency processing) with the coalesced
/// `values`: file path (`chart/templates/x.yaml`) → output, partials left out.
pub fn render(
    chart: &Chart,
    values: &serde_json::Map<String, Json>,
    release: &ReleaseOptions,
    capabilities: &Capabilities,
) -> Result<BTreeMap<String, String>, RenderError> {
    let top = objects::top_data(release, capabilities, values);
    let mut renderables = BTreeMap::new();
    collect(chart, None, &top, &mut renderables);
    let order = parse_order(renderables.keys());

    let mut set = Template::new(SET_NAME)
        .funcs(functions::helm_functions())
        .missing_key(MissingKey::Zero);
    for name in &order {
        set.add_shared(name, Arc::clone(&renderables[*name].text))
            .map_err(|e| RenderError(parse_error_message(name, &e.message)))?;
    }
    let mut rendered = BTreeMap::new();
    for name in order {
        if is_partial(name) {
            continue;
        }
        let renderable = &renderables[name];
        let mut data = renderable.data.clone();
        let template: Map = [
            ("Name".to_owned(), Value::from(name.as_str())),
            (
                "BasePath".to_owned(),
                Value::from(renderable.base_path.as_str()),
            ),
        ]
        .into_iter()
        .collect();
        data.insert("Template", Value::map(template));
        let output = set
            .execute_template(name, &Value::map(data))
            .map_err(|e| RenderError(e.message))?;
        // Go prints `<no value>` for a missing value even with missingkey=zero; Helm removes it.
        rendered.insert(name.clone(), output.replace("<no value>", ""));
    }
    Ok(rendered)
}

/// Helm's `recAllTpls`: each chart's templates under its full path, with its own data.
fn collect(
    chart: &Chart,
    parent: Option<(&str, &Map)>,
    top: &Map,
    out: &mut BTreeMap<String, Renderable>,
) -> Map {
    let full_path = match parent {
        None => chart.name().to_owned(),
        Some((parent_path, _)) => format!("{parent_path}/charts/{}", chart.name()),
    };
    let values = match parent {
        None => top.get("Values").cloned().unwrap_or(Value::Nil),
        Some((_, parent_data)) => match parent_data.get("Values") {
            Some(Value::Map(values)) => match values.read().get(chart.name()) {
                Some(Value::Map(section)) => Value::Map(section.clone()),
                _ => Value::map(Map::new()),
            },
            _ => Value::map(Map::new()),
        },
    };
    let mut data = Map::new();
    data.insert("Chart", objects::chart_object(chart, parent.is_none()));
    data.insert("Files", objects::files_object(chart));
    for key in ["Release", "Capabilities"] {
        data.insert(key, top.get(key).cloned().unwrap_or(Value::Nil));
    }
    data.insert("Values", values);
    let mut subcharts = Map::new();
    for dependency in &chart.dependencies {
        let sub = collect(dependency, Some((&full_path, &data)), top, out);
        subcharts.insert(dependency.name(), Value::map(sub));
    }
    data.insert("Subcharts", Value::map(subcharts));
    for template in &chart.templates {
        if chart.is_library() && !is_partial(&template.name) {
            continue;
        }
        out.insert(
            format!("{full_path}/{}", template.name),
            Renderable {
                // Validating UTF-8 is much faster than the lossy conversion it usually skips.
                text: match std::str::from_utf8(&template.data) {
                    Ok(text) => Arc::from(text),
                    Err(_) => Arc::from(String::from_utf8_lossy(&template.data)),
                },
                data: data.clone(),
                base_path: format!("{full_path}/templates"),
            },
        );
    }
    data
}

/// Helm's `sortTemplates`: deeper paths first, then reverse lexical order, so a parent's
/// `define` (parsed last) wins over a subchart's of the same name.
fn parse_order<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut names: Vec<&String> = names.collect();
    names.sort_by(|a, b| {
        let depth = |s: &str| s.matches('/').count();
        depth(b).cmp(&depth(a)).then_with(|| b.cmp(a))
    });
    names
}

fn is_partial(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|base| base.starts_with('_'))
}

/// Helm's `cleanupParseError`: `parse error at (NAME:LINE): message`.
fn parse_error_message(file: &str, message: &str) -> String {
    let tokens: Vec<&str> = message.split(": ").collect();
    match tokens.as_slice() {
        [_, location, .., last] => format!("parse error at ({location}): {last}"),
        _ => format!("parse error in ({file}): {message}"),
    }
}

/// A string value's text (empty for anything else).
pub(crate) fn go_string(value: &Value) -> &str {
    match value {
        Value::String(s) => s,
        _ => "",
    }
}

/// A serde_json value as the Go value Helm holds: JSON numbers with a fraction part or from
/// YAML are `float64`, integers from `--set` are `int64`.
pub fn go_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => Value::Int64(i),
            _ => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::list(items.iter().map(go_value).collect()),
        Json::Object(map) => {
            Value::map(map.iter().map(|(k, v)| (k.clone(), go_value(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests;
