//! Helm's dependency processing before a render (`chartutil.ProcessDependenciesWithMerge`):
//! aliases, `condition`s and `tags` choosing which subcharts are enabled, and `import-values`
//! copying subchart values up into the parent.

use serde_json::{Map, Value};

use crate::chart::Chart;
use crate::coalesce::{coalesce_values, merge_tables, merge_values};

/// Whether `version` satisfies the SemVer `constraint` (`chartutil.IsCompatibleRange`).
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    let (Ok(constraint), Some(version)) = (
        driftless_version::Constraint::parse(constraint),
        driftless_version::parse_version(version),
    ) else {
        return false;
    };
    constraint.matches(&version)
}

/// Enables and disables subcharts for `values` and imports their values, in place.
pub fn process(chart: &mut Chart, values: &Map<String, Value>) {
    // Coalescing below reads every chart's defaults several times: parse them once.
    parse_defaults(chart);
    process_enabled(chart, values, "");
    process_import_values(chart);
}

fn parse_defaults(chart: &mut Chart) {
    if chart.processed_values.is_none() {
        chart.processed_values = Some(chart.default_values());
    }
    chart.dependencies.iter_mut().for_each(parse_defaults);
}

fn process_enabled(chart: &mut Chart, values: &Map<String, Value>, path: &str) {
    if chart.metadata.dependencies.is_empty() {
        return;
    }
    // Subcharts not named in Chart.yaml stay; named ones come once per entry (an alias is a
    // copy under another name).
    let existing = std::mem::take(&mut chart.dependencies);
    let mut subcharts: Vec<Chart> = existing
        .iter()
        .filter(|sub| {
            !chart.metadata.dependencies.iter().any(|dependency| {
                sub.name() == dependency.name
                    && is_compatible_range(&dependency.version, &sub.metadata.version)
            })
        })
        .cloned()
        .collect();
    for dependency in &mut chart.metadata.dependencies {
        let found = existing.iter().find(|sub| {
            sub.name() == dependency.name
                && is_compatible_range(&dependency.version, &sub.metadata.version)
        });
        if let Some(sub) = found {
            let mut copy = sub.clone();
            if !dependency.alias.is_empty() {
                copy.metadata.name = dependency.alias.clone();
            }
            subcharts.push(copy);
        }
        if !dependency.alias.is_empty() {
            dependency.name = dependency.alias.clone();
        }
        dependency.enabled = true;
    }
    chart.dependencies = subcharts;
    let coalesced = coalesce_values(chart, values);
    apply_tags(chart, &coalesced);
    apply_conditions(chart, &coalesced, path);
    let disabled: Vec<String> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !d.enabled)
        .map(|d| d.name.clone())
        .collect();
    chart
        .dependencies
        .retain(|sub| !disabled.iter().any(|name| name == sub.name()));
    chart
        .metadata
        .dependencies
        .retain(|d| !disabled.contains(&d.name));
    for sub in &mut chart.dependencies {
        let sub_path = format!("{path}{}.", sub.name());
        process_enabled(sub, &coalesced, &sub_path);
    }
}

/// `processDependencyTags`: a dependency is disabled when one of its tags is false and none
/// is true in the top-level `tags` table.
fn apply_tags(chart: &mut Chart, values: &Map<String, Value>) {
    let Some(Value::Object(tags)) = values.get("tags") else {
        return;
    };
    for dependency in &mut chart.metadata.dependencies {
        let (mut any_true, mut any_false) = (false, false);
        for tag in &dependency.tags {
            match tags.get(tag) {
                Some(Value::Bool(true)) => any_true = true,
                Some(Value::Bool(false)) => any_false = true,
                _ => {}
            }
        }
        dependency.enabled = any_true || !any_false;
    }
}

/// `processDependencyConditions`: the first condition path holding a bool decides.
fn apply_conditions(chart: &mut Chart, values: &Map<String, Value>, path: &str) {
    for dependency in &mut chart.metadata.dependencies {
        for condition in dependency.condition.trim().split(',') {
            if condition.is_empty() {
                continue;
            }
            if let Some(Value::Bool(enabled)) = path_value(values, &format!("{path}{condition}")) {
                dependency.enabled = *enabled;
                break;
            }
        }
    }
}

/// `Values.PathValue`: a non-table value at a dotted path.
pub fn path_value<'a>(values: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let (table_path, key) = match path.rsplit_once('.') {
        Some((table, key)) => (Some(table), key),
        None => (None, path),
    };
    let table = match table_path {
        Some(table_path) => table(values, table_path)?,
        None => values,
    };
    table.get(key).filter(|v| !v.is_object())
}

/// `Values.Table`: the table at a dotted path.
pub fn table<'a>(values: &'a Map<String, Value>, path: &str) -> Option<&'a Map<String, Value>> {
    let mut current = values;
    for key in path.split('.') {
        current = current.get(key)?.as_object()?;
    }
    Some(current)
}

fn process_import_values(chart: &mut Chart) {
    for sub in &mut chart.dependencies {
        process_import_values(sub);
    }
    if chart.metadata.dependencies.is_empty() {
        return;
    }
    let mut values = merge_values(chart, &Map::new());
    let mut imported = Map::new();
    for dependency in &mut chart.metadata.dependencies {
        let mut normalized = Vec::new();
        for import in &dependency.import_values {
            let (child, parent) = match import {
                Value::Object(entry) => {
                    let text = |key: &str| match entry.get(key) {
                        Some(Value::String(s)) => s.clone(),
                        _ => String::new(),
                    };
                    (text("child"), text("parent"))
                }
                Value::String(name) => (format!("exports.{name}"), ".".to_owned()),
                _ => continue,
            };
            normalized.push(serde_json::json!({"child": child, "parent": parent}));
            let Some(found) = table(&values, &format!("{}.{child}", dependency.name)) else {
                continue;
            };
            merge_tables(&mut imported, path_to_map(&parent, found.clone()));
        }
        dependency.import_values = normalized;
    }
    // The parent's own values win over what it imports.
    merge_tables(&mut values, imported);
    chart.processed_values = Some(values);
}

/// `pathToMap`: `data` nested under a dotted path (`.` is the top).
fn path_to_map(path: &str, data: Map<String, Value>) -> Map<String, Value> {
    if path == "." {
        return data;
    }
    let mut current = data;
    for key in path.split('.').rev() {
        let mut outer = Map::new();
        outer.insert(key.to_owned(), Value::Object(current));
        current = outer;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::test_chart as load;
    use serde_json::json;

    fn umbrella() -> Chart {
        load(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n\
                 - {name: db, version: '1.x', condition: db.enabled}\n\
                 - {name: db, alias: replica, version: '1.x', tags: [ha]}\n\
                 - {name: cache, version: '>=2', import-values: [settings, {child: info, parent: fromCache}]}\n",
            ),
            ("values.yaml", "tags: {ha: false}\nfromCache: {size: 1}\n"),
            (
                "charts/db/Chart.yaml",
                "apiVersion: v2\nname: db\nversion: 1.2.0\n",
            ),
            ("charts/db/values.yaml", "enabled: true\nport: 1\n"),
            (
                "charts/cache/Chart.yaml",
                "apiVersion: v2\nname: cache\nversion: 2.0.0\n",
            ),
            (
                "charts/cache/values.yaml",
                "exports: {settings: {ttl: 5}}\ninfo: {size: 9, kind: lru}\n",
            ),
        ])
    }

    #[test]
    fn aliases_conditions_and_tags_choose_the_subcharts() {
        let mut chart = umbrella();
        process(&mut chart, &Map::new());
        let names: Vec<&str> = chart.dependencies.iter().map(Chart::name).collect();
        assert_eq!(names, ["db", "cache"]);

        let mut chart = umbrella();
        let values = json!({"db": {"enabled": false}, "tags": {"ha": true}});
        process(&mut chart, values.as_object().unwrap());
        let names: Vec<&str> = chart.dependencies.iter().map(Chart::name).collect();
        assert_eq!(names, ["replica", "cache"]);
    }

    #[test]
    fn imported_values_sit_under_the_parent_values() {
        let mut chart = umbrella();
        process(&mut chart, &Map::new());
        let values = chart.default_values();
        assert_eq!(values["ttl"], json!(5.0));
        assert_eq!(values["fromCache"], json!({"size": 1.0, "kind": "lru"}));
    }

    #[test]
    fn paths_and_tables() {
        let values = json!({"a": {"b": {"c": true}, "d": 1}});
        let values = values.as_object().unwrap();
        assert_eq!(path_value(values, "a.b.c"), Some(&json!(true)));
        assert_eq!(path_value(values, "a.b"), None);
        assert_eq!(path_value(values, "a"), None);
        assert!(table(values, "a.b").is_some());
        assert!(table(values, "a.d").is_none());
    }
}
