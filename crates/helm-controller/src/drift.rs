//! Drift detection: what of a release's objects to compare with the cluster (not those that
//! opt out, not the fields `driftDetection.ignore` names), and how found drift is told.

use driftless_api::helm::DRIFT_DETECTION_KEY;
use driftless_api::kustomize::IgnoreRule;
use driftless_kustomize::resource::Resource;
use driftless_kustomize::transform::selector::Matcher;
use driftless_runtime::apply::{Action, Change};
use serde_json::Value;

/// Whether the object opts out (`helm.toolkit.fluxcd.io/driftDetection: disabled` as a label
/// or an annotation).
pub fn disabled(object: &Value) -> bool {
    ["/metadata/labels", "/metadata/annotations"]
        .iter()
        .any(|map| {
            object
                .pointer(map)
                .and_then(|m| m.get(DRIFT_DETECTION_KEY))
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
        })
}

/// The objects to compare: without those that opt out, and without the ignored fields (a
/// rule with the empty pointer ignores its objects whole).
pub fn comparable(objects: Vec<Value>, rules: &[IgnoreRule]) -> Result<Vec<Value>, String> {
    let mut matchers = Vec::with_capacity(rules.len());
    for rule in rules {
        let matcher = match &rule.target {
            None => None,
            Some(target) => {
                let selector = driftless_kustomize::types::Selector {
                    group: target.group.clone().unwrap_or_default(),
                    version: target.version.clone().unwrap_or_default(),
                    kind: target.kind.clone().unwrap_or_default(),
                    name: target.name.clone().unwrap_or_default(),
                    namespace: target.namespace.clone().unwrap_or_default(),
                    annotation_selector: target.annotation_selector.clone().unwrap_or_default(),
                    label_selector: target.label_selector.clone().unwrap_or_default(),
                };
                Some(Matcher::new(&selector).map_err(|e| e.to_string())?)
            }
        };
        matchers.push((rule, matcher));
    }
    let mut kept = Vec::with_capacity(objects.len());
    'objects: for mut object in objects {
        if disabled(&object) {
            continue;
        }
        let resource = Resource::new(driftless_yaml::Node::from_json(&object));
        for (rule, matcher) in &matchers {
            if matcher.as_ref().is_some_and(|m| !m.matches(&resource)) {
                continue;
            }
            for path in &rule.paths {
                if path.is_empty() {
                    continue 'objects;
                }
                remove_pointer(&mut object, path);
            }
        }
        kept.push(object);
    }
    Ok(kept)
}

/// Removes what an RFC 6901 pointer names, if it is there.
fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&key);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = key.parse::<usize>()
                && index < items.len()
            {
                items.remove(index);
            }
        }
        _ => {}
    }
}

/// The drifted objects among `changes`, one line each, as Flux lists them.
pub fn describe(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|change| match change.action {
            Action::Created => Some(format!("{} removed", change.id.display())),
            Action::Configured if change.drifted.is_empty() => {
                Some(format!("{} changed", change.id.display()))
            }
            Action::Configured => Some(format!(
                "{} changed ({})",
                change.id.display(),
                change.drifted.join(", ")
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::meta::Selector;
    use serde_json::json;

    fn deployment(name: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "apps"}, "spec": {"replicas": 2, "template": {}}})
    }

    #[test]
    fn ignored_fields_and_opted_out_objects_are_not_compared() {
        let mut opted_out = deployment("quiet");
        opted_out["metadata"]["labels"] =
            json!({"helm.toolkit.fluxcd.io/driftDetection": "disabled"});
        let rules = [
            IgnoreRule {
                paths: vec!["/spec/replicas".into()],
                target: Some(Selector {
                    kind: Some("Deployment".into()),
                    name: Some("web".into()),
                    ..Selector::default()
                }),
            },
            IgnoreRule {
                paths: vec![String::new()],
                target: Some(Selector {
                    name: Some("whole".into()),
                    ..Selector::default()
                }),
            },
        ];
        let kept = comparable(
            vec![
                deployment("web"),
                deployment("api"),
                opted_out,
                deployment("whole"),
            ],
            &rules,
        )
        .unwrap();
        assert_eq!(kept.len(), 2);
        assert!(kept[0]["spec"].get("replicas").is_none());
        assert_eq!(kept[1]["spec"]["replicas"], 2);
    }

    #[test]
    fn pointers_unescape_and_index_arrays() {
        let mut object =
            json!({"metadata": {"annotations": {"a/b": "x", "c": "y"}}, "items": [1, 2, 3]});
        remove_pointer(&mut object, "/metadata/annotations/a~1b");
        remove_pointer(&mut object, "/items/1");
        remove_pointer(&mut object, "/missing/path");
        assert_eq!(
            object,
            json!({"metadata": {"annotations": {"c": "y"}}, "items": [1, 3]})
        );
    }
}
