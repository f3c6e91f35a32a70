//! Helm's values coalescing (`chartutil.CoalesceValues` / `MergeValues`): user values over a
//! chart's defaults, each subchart's section coalesced with its own defaults, `global`
//! copied down, and — when coalescing rather than merging — `null` deleting a default key.

use serde_json::{Map, Value};

use crate::chart::Chart;

/// The key whose table every subchart sees as its own `global`.
pub const GLOBAL_KEY: &str = "global";

/// `CoalesceValues`: `values` (user-supplied, authoritative) over `chart`'s defaults; a `null`
/// removes the key.
pub fn coalesce_values(chart: &Chart, values: &Map<String, Value>) -> Map<String, Value> {
    let mut dest = values.clone();
    coalesce(chart, &mut dest, false);
    dest
}

/// `MergeValues`: as [`coalesce_values`], but `null`s are kept.
pub fn merge_values(chart: &Chart, values: &Map<String, Value>) -> Map<String, Value> {
    let mut dest = values.clone();
    coalesce(chart, &mut dest, true);
    dest
}

fn coalesce(chart: &Chart, dest: &mut Map<String, Value>, merge: bool) {
    coalesce_chart_values(chart, dest, merge);
    coalesce_dependencies(chart, dest, merge);
}

fn coalesce_dependencies(chart: &Chart, dest: &mut Map<String, Value>, merge: bool) {
    for subchart in &chart.dependencies {
        let name = subchart.name().to_owned();
        match dest.get(&name) {
            None => {
                dest.insert(name.clone(), Value::Object(Map::new()));
            }
            // Helm reports a type mismatch and stops coalescing this subchart.
            Some(value) if !value.is_object() => continue,
            Some(_) => {}
        }
        let globals = dest.get(GLOBAL_KEY).cloned();
        let Some(Value::Object(section)) = dest.get_mut(&name) else {
            continue;
        };
        coalesce_globals(section, globals.as_ref());
        coalesce(subchart, section, merge);
    }
}

/// `coalesceGlobals`: the parent's globals merged into the subchart section's `global`, the
/// parent's winning for plain values and merged (parent over subchart) for tables.
fn coalesce_globals(dest: &mut Map<String, Value>, parent_globals: Option<&Value>) {
    let mut dest_globals = match dest.get(GLOBAL_KEY) {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        // Helm warns and skips globals when the destination is not a table.
        Some(_) => return,
    };
    let source_globals = match parent_globals {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return,
    };
    for (key, value) in source_globals {
        match value {
            Value::Object(table) => {
                let mut merged = table;
                match dest_globals.get(&key) {
                    None => {}
                    Some(Value::Object(existing)) => {
                        coalesce_tables(&mut merged, existing.clone(), true);
                    }
                    // Conflict: a table cannot be merged onto a non-table; Helm skips it.
                    Some(_) => continue,
                }
                dest_globals.insert(key, Value::Object(merged));
            }
            other => {
                if matches!(dest_globals.get(&key), Some(Value::Object(_))) {
                    continue;
                }
                dest_globals.insert(key, other);
            }
        }
    }
    dest.insert(GLOBAL_KEY.to_owned(), Value::Object(dest_globals));
}

/// `coalesceValues`: the chart's own `values.yaml` under `dest`.
fn coalesce_chart_values(chart: &Chart, dest: &mut Map<String, Value>, merge: bool) {
    for (key, default) in chart.default_values() {
        match dest.get_mut(&key) {
            None => {
                dest.insert(key, default);
            }
            Some(Value::Null) if !merge => {
                dest.remove(&key);
            }
            Some(Value::Object(user)) => {
                if let Value::Object(default) = default {
                    // A subchart's section merges (keeps nulls) so that its own coalescing
                    // later sees them.
                    let merge = merge || chart.dependencies.iter().any(|d| d.name() == key);
                    coalesce_tables(user, default, merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// `coalesceTablesFullKey`: `src` under `dst`, `dst` authoritative.
pub fn coalesce_tables(dst: &mut Map<String, Value>, mut src: Map<String, Value>, merge: bool) {
    // A user's null removes a key only when it overrides a non-null default; a null over a
    // null (or over nothing) is kept, as Helm v3.21 does.
    let nullifies_default: std::collections::HashSet<String> = dst
        .iter()
        .filter(|(key, value)| value.is_null() && src.get(*key).is_some_and(|v| !v.is_null()))
        .map(|(key, _)| key.clone())
        .collect();
    for (key, value) in dst.iter() {
        if value.is_null() {
            src.insert(key.clone(), Value::Null);
        }
    }
    for (key, value) in src {
        match dst.get_mut(&key) {
            Some(Value::Null) if !merge && nullifies_default.contains(&key) => {
                dst.remove(&key);
            }
            Some(Value::Null) => {}
            None => {
                dst.insert(key, value);
            }
            Some(existing) => {
                if let Value::Object(src_table) = value
                    && let Value::Object(dst_table) = existing
                {
                    coalesce_tables(dst_table, src_table, merge);
                }
            }
        }
    }
}

/// `MergeTables`: [`coalesce_tables`] keeping `null`s.
pub fn merge_tables(dst: &mut Map<String, Value>, src: Map<String, Value>) {
    coalesce_tables(dst, src, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::ChartFile;
    use serde_json::json;

    fn chart(name: &str, values: &str, subcharts: Vec<Chart>) -> Chart {
        let mut files = vec![
            ChartFile {
                name: "Chart.yaml".into(),
                data: format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n").into_bytes(),
            },
            ChartFile {
                name: "values.yaml".into(),
                data: values.as_bytes().to_vec(),
            },
        ];
        files.retain(|f| !f.data.is_empty());
        let mut loaded = Chart::load_files(files).unwrap();
        loaded.dependencies = subcharts;
        loaded
    }

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn user_values_win_and_null_deletes_a_default() {
        let parent = chart("app", "a: 1\nb: {c: 2, d: 3}\ne: x\n", vec![]);
        let values = map(json!({"a": 5, "b": {"d": null}, "e": null}));
        let out = coalesce_values(&parent, &values);
        assert_eq!(Value::Object(out), json!({"a": 5, "b": {"c": 2.0}}));
        let merged = merge_values(&parent, &values);
        assert_eq!(
            Value::Object(merged),
            json!({"a": 5, "b": {"c": 2.0, "d": null}, "e": null})
        );
    }

    #[test]
    fn a_null_over_a_null_default_or_a_new_key_is_kept_in_a_table() {
        // Checked against helm v3.21.4: `b: {x: null, q: null}` over `b: {x: null, w: 1}`.
        let parent = chart("app", "b:\n  x:\n  w: 1\nc: {z: 2}\n", vec![]);
        let values = map(json!({"b": {"x": null, "q": null}, "c": {"z": null}}));
        let out = coalesce_values(&parent, &values);
        assert_eq!(
            Value::Object(out),
            json!({"b": {"x": null, "q": null, "w": 1.0}, "c": {}})
        );
    }

    #[test]
    fn subcharts_get_their_section_and_the_globals() {
        let sub = chart("db", "port: 5432\nglobal: {region: sub, own: 1}\n", vec![]);
        let parent = chart(
            "app",
            "global: {region: eu, nested: {a: 1}}\ndb: {user: app}\n",
            vec![sub],
        );
        let out = coalesce_values(&parent, &Map::new());
        assert_eq!(
            out["db"],
            json!({
                "user": "app",
                "port": 5432.0,
                "global": {"region": "eu", "own": 1.0, "nested": {"a": 1.0}}
            })
        );
    }

    #[test]
    fn a_null_for_a_subchart_default_is_deleted_in_the_subchart() {
        let sub = chart("db", "port: 5432\nuser: x\n", vec![]);
        let parent = chart("app", "", vec![sub]);
        let out = coalesce_values(&parent, &map(json!({"db": {"user": null}})));
        assert_eq!(out["db"], json!({"port": 5432.0, "global": {}}));
    }
}
