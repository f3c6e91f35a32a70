//! Helm 3's client-side apply: a three-way patch from the object as the last release
//! rendered it (`original`), as this release renders it (`modified`) and as it is in the
//! cluster (`current`). What the chart changed or added is set, what the chart dropped since
//! the last release is removed, and whatever else is in the cluster (fields other writers
//! set) is left alone.
//!
//! Kinds the built-in OpenAPI schema knows get a strategic merge patch: lists with a merge
//! key are patched element by element (`$patch: delete` for the elements the chart
//! dropped, `$setElementOrder` for the chart's order), lists of scalars with the `merge`
//! strategy by `$deleteFromPrimitiveList`. Any other kind gets a JSON merge patch, where a
//! list is replaced whole.

use driftless_kustomize::openapi::{SchemaRef, Schemas};
use driftless_kustomize::resid::Gvk;
use driftless_runtime::apply::ClientPatch;
use serde_json::{Map, Value};

/// The patch that takes `current` to `modified`, removing what `original` had and
/// `modified` has not; `None` when there is nothing to change.
pub fn patch(
    original: Option<&Value>,
    modified: &Value,
    current: &Value,
    schemas: &Schemas,
) -> Option<(Value, ClientPatch)> {
    let empty = Map::new();
    let (Some(modified), Some(current)) = (modified.as_object(), current.as_object()) else {
        return None;
    };
    let original = original.and_then(Value::as_object).unwrap_or(&empty);
    let schema = gvk_of(modified).and_then(|gvk| schemas.for_resource(&gvk));
    let kind = if schema.is_some() {
        ClientPatch::Strategic
    } else {
        ClientPatch::Merge
    };
    let patch = map_patch(original, modified, current, schema);
    (!patch.is_empty()).then_some((Value::Object(patch), kind))
}

fn gvk_of(object: &Map<String, Value>) -> Option<Gvk> {
    let api_version = object.get("apiVersion")?.as_str()?;
    let kind = object.get("kind")?.as_str()?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Some(Gvk::new(group, version, kind))
}

fn map_patch(
    original: &Map<String, Value>,
    modified: &Map<String, Value>,
    current: &Map<String, Value>,
    schema: Option<SchemaRef<'_>>,
) -> Map<String, Value> {
    let empty = Map::new();
    let mut patch = Map::new();
    for (key, wanted) in modified {
        let live = current.get(key);
        if live == Some(wanted) {
            continue;
        }
        let field = schema.and_then(|s| s.field(key));
        let before = original.get(key);
        match (live, wanted) {
            (Some(Value::Object(live)), Value::Object(wanted)) => {
                let before = before.and_then(Value::as_object).unwrap_or(&empty);
                let nested = map_patch(before, wanted, live, field);
                if !nested.is_empty() {
                    patch.insert(key.clone(), Value::Object(nested));
                }
            }
            (Some(Value::Array(live)), Value::Array(wanted)) => {
                let before = before.and_then(Value::as_array).map(Vec::as_slice);
                list_patch(&mut patch, key, before, wanted, live, field);
            }
            _ => {
                patch.insert(key.clone(), wanted.clone());
            }
        }
    }
    for key in original.keys() {
        if !modified.contains_key(key) && current.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    patch
}

/// How the API server merges a list field of a strategic patch.
enum ListMerge<'a> {
    /// Replaced whole (no schema, or no `merge` strategy).
    Replace,
    /// Objects matched by this key.
    ByKey(&'a str),
    /// Scalars, as a set.
    Scalars,
}

fn list_merge<'a>(field: Option<SchemaRef<'a>>, wanted: &[Value]) -> ListMerge<'a> {
    let Some(field) = field else {
        return ListMerge::Replace;
    };
    let merges = field
        .patch_strategy()
        .is_some_and(|s| s.split(',').any(|s| s == "merge"));
    if !merges {
        return ListMerge::Replace;
    }
    match field.merge_key() {
        Some(key) if wanted.iter().all(Value::is_object) => ListMerge::ByKey(key),
        None if wanted.iter().all(|v| !v.is_object() && !v.is_array()) => ListMerge::Scalars,
        _ => ListMerge::Replace,
    }
}

fn list_patch(
    patch: &mut Map<String, Value>,
    key: &str,
    original: Option<&[Value]>,
    wanted: &[Value],
    live: &[Value],
    field: Option<SchemaRef<'_>>,
) {
    let original = original.unwrap_or(&[]);
    match list_merge(field, wanted) {
        ListMerge::Replace => {
            patch.insert(key.to_owned(), Value::Array(wanted.to_vec()));
        }
        ListMerge::Scalars => {
            let added: Vec<Value> = wanted
                .iter()
                .filter(|v| !live.contains(v))
                .cloned()
                .collect();
            let dropped: Vec<Value> = original
                .iter()
                .filter(|v| !wanted.contains(v) && live.contains(v))
                .cloned()
                .collect();
            if !added.is_empty() {
                patch.insert(key.to_owned(), Value::Array(added));
            }
            if !dropped.is_empty() {
                patch.insert(
                    format!("$deleteFromPrimitiveList/{key}"),
                    Value::Array(dropped),
                );
            }
        }
        ListMerge::ByKey(merge_key) => {
            let items = field.and_then(|f| f.items());
            let find = |list: &[Value], id: &Value| {
                list.iter()
                    .find(|v| v.get(merge_key) == Some(id))
                    .and_then(Value::as_object)
                    .cloned()
            };
            let empty = Map::new();
            let mut elements = Vec::new();
            for element in wanted.iter().filter_map(Value::as_object) {
                let Some(id) = element.get(merge_key) else {
                    continue;
                };
                match find(live, id) {
                    None => elements.push(Value::Object(element.clone())),
                    Some(live) => {
                        let before = find(original, id);
                        let mut nested =
                            map_patch(before.as_ref().unwrap_or(&empty), element, &live, items);
                        if !nested.is_empty() {
                            nested.insert(merge_key.to_owned(), id.clone());
                            elements.push(Value::Object(nested));
                        }
                    }
                }
            }
            for element in original {
                let Some(id) = element.get(merge_key) else {
                    continue;
                };
                let still_wanted = wanted.iter().any(|w| w.get(merge_key) == Some(id));
                if !still_wanted && find(live, id).is_some() {
                    let mut delete = Map::new();
                    delete.insert(merge_key.to_owned(), id.clone());
                    delete.insert("$patch".to_owned(), Value::String("delete".to_owned()));
                    elements.push(Value::Object(delete));
                }
            }
            if elements.is_empty() {
                return;
            }
            let order: Vec<Value> = wanted
                .iter()
                .filter_map(|w| w.get(merge_key))
                .map(|id| {
                    let mut entry = Map::new();
                    entry.insert(merge_key.to_owned(), id.clone());
                    Value::Object(entry)
                })
                .collect();
            patch.insert(format!("$setElementOrder/{key}"), Value::Array(order));
            patch.insert(key.to_owned(), Value::Array(elements));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(containers: Value, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": labels},
            "spec": {"template": {"spec": {"containers": containers}}},
        })
    }

    fn patched(original: Option<&Value>, modified: &Value, current: &Value) -> Option<Value> {
        patch(original, modified, current, &Schemas::builtin()).map(|(p, kind)| {
            assert_eq!(kind, ClientPatch::Strategic);
            p
        })
    }

    #[test]
    fn nothing_changed_gives_no_patch_even_with_fields_others_added() {
        let desired = deployment(json!([{"name": "app", "image": "a:1"}]), json!({"a": "1"}));
        let mut live = desired.clone();
        live["metadata"]["labels"]["added-by-kubectl"] = json!("yes");
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        live["status"] = json!({"replicas": 1});
        assert_eq!(patched(Some(&desired), &desired, &live), None);
    }

    #[test]
    fn fields_the_chart_dropped_are_removed_and_others_kept() {
        let before = deployment(
            json!([{"name": "app", "image": "a:1"}]),
            json!({"a": "1", "b": "2"}),
        );
        let after = deployment(json!([{"name": "app", "image": "a:1"}]), json!({"a": "1"}));
        let mut live = before.clone();
        live["metadata"]["labels"]["mine"] = json!("x");
        let patch = patched(Some(&before), &after, &live).unwrap();
        assert_eq!(patch, json!({"metadata": {"labels": {"b": null}}}));
    }

    #[test]
    fn an_edit_in_the_cluster_of_a_chart_field_is_set_back() {
        let desired = deployment(json!([{"name": "app", "image": "a:1"}]), json!({}));
        let mut live = desired.clone();
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("a:hacked");
        let patch = patched(Some(&desired), &desired, &live).unwrap();
        assert_eq!(
            patch,
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{"name": "app", "image": "a:1"}],
            }}}})
        );
    }

    #[test]
    fn containers_are_patched_by_name_and_a_dropped_one_deleted() {
        let before = deployment(
            json!([{"name": "app", "image": "a:1"}, {"name": "old", "image": "o:1"}]),
            json!({}),
        );
        let after = deployment(
            json!([{"name": "app", "image": "a:2"}, {"name": "new", "image": "n:1"}]),
            json!({}),
        );
        // A sidecar injected by someone else stays.
        let mut live = before.clone();
        live["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "sidecar", "image": "s:1"}));
        let patch = patched(Some(&before), &after, &live).unwrap();
        assert_eq!(
            patch["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "app", "image": "a:2"},
                {"name": "new", "image": "n:1"},
                {"name": "old", "$patch": "delete"},
            ])
        );
        assert_eq!(
            patch["spec"]["template"]["spec"]["$setElementOrder/containers"],
            json!([{"name": "app"}, {"name": "new"}])
        );
    }

    #[test]
    fn scalar_lists_with_the_merge_strategy_are_patched_as_sets() {
        let object = |finalizers: Value| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "finalizers": finalizers}})
        };
        let before = object(json!(["a", "b"]));
        let after = object(json!(["a", "c"]));
        let live = object(json!(["a", "b", "theirs"]));
        let patch = patched(Some(&before), &after, &live).unwrap();
        assert_eq!(
            patch,
            json!({"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["b"]}})
        );
    }

    #[test]
    fn lists_without_a_merge_strategy_are_replaced() {
        let object = |args: Value| {
            deployment(
                json!([{"name": "app", "image": "a:1", "args": args}]),
                json!({}),
            )
        };
        let patch = patched(
            Some(&object(json!(["-a"]))),
            &object(json!(["-b"])),
            &object(json!(["-a"])),
        )
        .unwrap();
        assert_eq!(
            patch["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["-b"])
        );
    }

    #[test]
    fn an_object_new_to_the_release_removes_nothing() {
        let desired = deployment(json!([{"name": "app", "image": "a:1"}]), json!({"a": "1"}));
        let mut live = desired.clone();
        live["metadata"]["labels"]["theirs"] = json!("x");
        live["metadata"]["labels"]["a"] = json!("0");
        let patch = patched(None, &desired, &live).unwrap();
        assert_eq!(patch, json!({"metadata": {"labels": {"a": "1"}}}));
    }

    #[test]
    fn custom_resources_get_a_json_merge_patch_with_lists_replaced() {
        let widget = |items: Value, extra: bool| {
            let mut w = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "metadata": {"name": "w"}, "spec": {"items": items}});
            if extra {
                w["spec"]["extra"] = json!(true);
            }
            w
        };
        let (patch, kind) = patch(
            Some(&widget(json!([1]), true)),
            &widget(json!([1, 2]), false),
            &widget(json!([1]), true),
            &Schemas::builtin(),
        )
        .unwrap();
        assert_eq!(kind, ClientPatch::Merge);
        assert_eq!(patch, json!({"spec": {"items": [1, 2], "extra": null}}));
    }
}
