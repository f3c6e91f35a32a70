//! Taking over fields that other tools wrote, as Flux's kustomize-controller does before an
//! apply: the `metadata.managedFields` entries of `kubectl` (edit, patch, apply, label, …),
//! `before-first-apply` and the controller's own pre-SSA updates are renamed to the
//! controller's apply entry. Fields those tools added then belong to the controller, so the
//! next apply removes whatever the build does not declare, and an edit such as a changed
//! Service port is reverted instead of colliding with the declared one.

use serde_json::{Map, Value, json};

/// The annotation `kubectl apply` (client side) keeps; Flux removes it with the takeover.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Annotations and labels of Flux v1, removed as Flux v2 does.
const DEPRECATED_ANNOTATIONS: [&str; 2] = [
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
];
const DEPRECATED_LABELS: [&str; 1] = ["fluxcd.io/sync-gc-mark"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// A field manager whose entries are taken over: matched by name prefix (so `kubectl`
/// covers `kubectl-edit`, `kubectl-patch`, `kubectl-client-side-apply`, …) and operation,
/// on the main resource only (a `scale` subresource entry is left alone, as in Flux).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldManager {
    pub name_prefix: String,
    pub operation: Operation,
}

impl FieldManager {
    fn new(name_prefix: &str, operation: Operation) -> Self {
        FieldManager {
            name_prefix: name_prefix.to_owned(),
            operation,
        }
    }

    fn matches(&self, entry: &Value) -> bool {
        let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or("");
        text("manager").starts_with(&self.name_prefix)
            && text("operation") == self.operation.as_str()
            && text("subresource").is_empty()
    }
}

/// Flux's list: `kubectl` (server-side and client-side), `before-first-apply`, the
/// controller's own updates from before server-side apply, and every `--override-manager`
/// with both operations.
pub fn managers(controller: &str, overrides: &[String]) -> Vec<FieldManager> {
    let mut managers = vec![
        FieldManager::new("kubectl", Operation::Apply),
        FieldManager::new("kubectl", Operation::Update),
        FieldManager::new("before-first-apply", Operation::Update),
        FieldManager::new(controller, Operation::Update),
    ];
    for name in overrides.iter().filter(|n| !n.is_empty()) {
        managers.push(FieldManager::new(name, Operation::Apply));
        managers.push(FieldManager::new(name, Operation::Update));
    }
    managers
}

/// The JSON merge patch (RFC 7386: lists are replaced whole) that hands the matching
/// managers' fields to `owner` and drops the annotations and labels above; `None` when the
/// live object needs none.
pub fn patch(live: &Value, managers: &[FieldManager], owner: &str) -> Option<Value> {
    let mut metadata = Map::new();
    if let Some(entries) = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        && let Some(entries) = takeover_entries(entries, managers, owner)
    {
        metadata.insert("managedFields".to_owned(), Value::Array(entries));
    }
    let mut remove = |field: &str, keys: &[&str]| {
        let present = live
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object);
        let gone: Map<String, Value> = keys
            .iter()
            .filter(|key| present.is_some_and(|map| map.contains_key(**key)))
            .map(|key| ((*key).to_owned(), Value::Null))
            .collect();
        if !gone.is_empty() {
            metadata.insert(field.to_owned(), Value::Object(gone));
        }
    };
    let mut annotations = vec![LAST_APPLIED_ANNOTATION];
    annotations.extend(DEPRECATED_ANNOTATIONS);
    remove("annotations", &annotations);
    remove("labels", &DEPRECATED_LABELS);
    (!metadata.is_empty()).then(|| json!({ "metadata": metadata }))
}

/// The managed fields after the takeover: the matching entries merged into `owner`'s apply
/// entry (created from the first match when the owner has none yet), the others as they
/// were. `None` when nothing matches.
fn takeover_entries(
    entries: &[Value],
    managers: &[FieldManager],
    owner: &str,
) -> Option<Vec<Value>> {
    let is_owner = |entry: &Value| {
        entry.get("manager").and_then(Value::as_str) == Some(owner)
            && entry.get("operation").and_then(Value::as_str) == Some("Apply")
            && entry
                .get("subresource")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
    };
    if !entries
        .iter()
        .any(|e| !is_owner(e) && managers.iter().any(|m| m.matches(e)))
    {
        return None;
    }
    let mut owned: Option<Value> = entries.iter().find(|e| is_owner(e)).cloned();
    let mut kept = Vec::with_capacity(entries.len());
    for entry in entries {
        if is_owner(entry) {
            continue;
        }
        if !managers.iter().any(|m| m.matches(entry)) {
            kept.push(entry.clone());
            continue;
        }
        match owned.as_mut() {
            Some(owner_entry) => {
                let theirs = entry.get("fieldsV1").cloned().unwrap_or(Value::Null);
                let merged = match owner_entry.get("fieldsV1") {
                    Some(ours) => union(ours, &theirs),
                    None => theirs,
                };
                if let Some(map) = owner_entry.as_object_mut() {
                    map.insert("fieldsV1".to_owned(), merged);
                }
            }
            None => {
                let mut renamed = entry.clone();
                if let Some(map) = renamed.as_object_mut() {
                    map.insert("manager".to_owned(), Value::String(owner.to_owned()));
                    map.insert("operation".to_owned(), Value::String("Apply".to_owned()));
                }
                owned = Some(renamed);
            }
        }
    }
    kept.extend(owned);
    Some(kept)
}

/// The union of two field sets in the `FieldsV1` trie form (`{"f:spec":{"f:replicas":{}}}`):
/// a path is in the union when it is in either, so the tries merge key by key.
pub fn union(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut merged: Map<String, Value> = a.clone();
            for (key, theirs) in b {
                let value = match merged.get(key) {
                    Some(ours) => union(ours, theirs),
                    None => theirs.clone(),
                };
                merged.insert(key.clone(), value);
            }
            Value::Object(merged)
        }
        (Value::Null, other) | (other, Value::Null) => other.clone(),
        (ours, _) => ours.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(manager: &str, operation: &str, fields: Value) -> Value {
        json!({ "manager": manager, "operation": operation, "apiVersion": "v1",
            "fieldsType": "FieldsV1", "fieldsV1": fields })
    }

    fn live(entries: Vec<Value>) -> Value {
        json!({ "metadata": { "name": "web", "managedFields": entries } })
    }

    const OWNER: &str = "kustomize-controller";

    #[test]
    fn kubectl_edits_merge_into_the_controllers_entry() {
        let object = live(vec![
            entry(
                OWNER,
                "Apply",
                json!({ "f:spec": { "f:ports": { "k:{\"port\":80,\"protocol\":\"TCP\"}": { ".": {} } } } }),
            ),
            entry(
                "kubectl-edit",
                "Update",
                json!({ "f:spec": { "f:ports": { "k:{\"port\":81,\"protocol\":\"TCP\"}": { ".": {} } } } }),
            ),
            entry(
                "kube-controller-manager",
                "Update",
                json!({ "f:status": {} }),
            ),
        ]);
        let patch = patch(&object, &managers(OWNER, &[]), OWNER).expect("a takeover");
        let entries = patch["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(entries[0]["manager"], "kube-controller-manager");
        assert_eq!(entries[1]["manager"], OWNER);
        let ports = &entries[1]["fieldsV1"]["f:spec"]["f:ports"];
        assert!(ports.get("k:{\"port\":80,\"protocol\":\"TCP\"}").is_some());
        assert!(ports.get("k:{\"port\":81,\"protocol\":\"TCP\"}").is_some());
    }

    #[test]
    fn the_first_match_is_renamed_when_the_controller_owns_nothing_yet() {
        let object = live(vec![
            entry(
                "kubectl-client-side-apply",
                "Update",
                json!({ "f:data": { "f:a": {} } }),
            ),
            entry(
                "before-first-apply",
                "Update",
                json!({ "f:data": { "f:b": {} } }),
            ),
        ]);
        let patch = patch(&object, &managers(OWNER, &[]), OWNER).expect("a takeover");
        let entries = patch["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["manager"], OWNER);
        assert_eq!(entries[0]["operation"], "Apply");
        assert_eq!(
            entries[0]["fieldsV1"],
            json!({ "f:data": { "f:a": {}, "f:b": {} } })
        );
    }

    #[test]
    fn only_listed_managers_operations_and_main_resources_are_taken() {
        let object = live(vec![
            entry(OWNER, "Apply", json!({})),
            // The controller-manager, another tool, and a scale through the subresource.
            entry(
                "kube-controller-manager",
                "Update",
                json!({ "f:status": {} }),
            ),
            entry("helm", "Update", json!({ "f:data": {} })),
            json!({ "manager": "kubectl-scale", "operation": "Update", "subresource": "scale", "fieldsV1": {} }),
        ]);
        assert_eq!(patch(&object, &managers(OWNER, &[]), OWNER), None);
        // `--override-manager=helm` takes helm's fields too.
        let overridden = patch(&object, &managers(OWNER, &["helm".into()]), OWNER).unwrap();
        let entries = overridden["metadata"]["managedFields"].as_array().unwrap();
        assert!(
            entries.iter().all(|e| e["manager"] != "helm"),
            "{entries:?}"
        );
        assert!(entries.iter().any(|e| e["manager"] == "kubectl-scale"));
        // Server-side `kubectl apply` is an Apply entry named kubectl.
        let server_side = live(vec![entry("kubectl", "Apply", json!({ "f:data": {} }))]);
        assert!(patch(&server_side, &managers(OWNER, &[]), OWNER).is_some());
        // The controller's own earlier updates are taken; another controller's are not.
        let own_update = live(vec![entry(OWNER, "Update", json!({ "f:data": {} }))]);
        assert!(patch(&own_update, &managers(OWNER, &[]), OWNER).is_some());
    }

    #[test]
    fn kubectl_annotations_and_flux_v1_marks_are_removed() {
        let object = json!({ "metadata": {
            "annotations": { LAST_APPLIED_ANNOTATION: "{}", "keep": "x" },
            "labels": { "fluxcd.io/sync-gc-mark": "sha256.x", "app": "web" },
        } });
        let patch = patch(&object, &managers(OWNER, &[]), OWNER).unwrap();
        assert_eq!(
            patch,
            json!({ "metadata": {
                "annotations": { LAST_APPLIED_ANNOTATION: null },
                "labels": { "fluxcd.io/sync-gc-mark": null },
            } })
        );
    }

    #[test]
    fn union_keeps_every_path_of_both_sets() {
        let a = json!({ "f:metadata": { "f:labels": { "f:a": {} } }, "f:data": { ".": {} } });
        let b = json!({ "f:metadata": { "f:labels": { "f:b": {} }, "f:annotations": {} } });
        assert_eq!(
            union(&a, &b),
            json!({ "f:metadata": { "f:labels": { "f:a": {}, "f:b": {} }, "f:annotations": {} }, "f:data": { ".": {} } })
        );
    }
}
