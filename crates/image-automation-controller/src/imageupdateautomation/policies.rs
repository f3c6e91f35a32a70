//! The ImagePolicies an automation writes: those in its namespace matching `policySelector`
//! that have selected an image. Pure: the caller passes the cached policies.

use std::collections::{BTreeMap, BTreeSet};

use driftless_api::image::{ImagePolicy, ImageRef};
use driftless_runtime::label_selector::{self, SelectorError};
use driftless_setters::Policies;
use kube::ResourceExt;

use super::ImageUpdateAutomation;

/// The selected policies of one automation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selected {
    /// `status.observedPolicies`: policy name → latest image.
    pub observed: BTreeMap<String, ImageRef>,
    /// What the setters resolve markers against, keyed `namespace:name`.
    pub setters: Policies,
    /// `namespace:name` of selected policies that have not selected an image yet: markers
    /// naming them are waited for, not reported.
    pub pending: BTreeSet<String>,
}

/// Picks the policies of `automation` from `policies` (any namespace; others are ignored).
pub fn select<'a>(
    automation: &ImageUpdateAutomation,
    policies: impl IntoIterator<Item = &'a ImagePolicy>,
) -> Result<Selected, SelectorError> {
    let namespace = automation.namespace().unwrap_or_default();
    let selector = automation.spec.policy_selector.clone().unwrap_or_default();
    let mut selected = Selected::default();
    for policy in policies {
        if policy.namespace().as_deref() != Some(namespace.as_str())
            || !label_selector::matches(&selector, policy.labels())?
        {
            continue;
        }
        let name = policy.name_any();
        match policy.status.as_ref().and_then(|s| s.latest_ref.clone()) {
            Some(latest) if !latest.tag.is_empty() => {
                let mut image = driftless_setters::ImageRef::new(&latest.name, &latest.tag);
                if let Some(digest) = latest.digest.as_deref().filter(|d| !d.is_empty()) {
                    image = image.with_digest(digest);
                }
                selected.setters.insert(&namespace, &name, image);
                selected.observed.insert(name, latest);
            }
            _ => {
                selected.pending.insert(format!("{namespace}:{name}"));
            }
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(
        namespace: &str,
        name: &str,
        labels: serde_json::Value,
        tag: Option<&str>,
    ) -> ImagePolicy {
        let mut object = json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"imageRepositoryRef": {"name": "r"}, "policy": {"alphabetical": {}}}
        });
        if let Some(tag) = tag {
            object["status"] = json!({"latestRef": {"name": "ghcr.io/app", "tag": tag}});
        }
        serde_json::from_value(object).unwrap()
    }

    fn automation(selector: Option<serde_json::Value>) -> ImageUpdateAutomation {
        let mut spec =
            json!({"sourceRef": {"kind": "GitRepository", "name": "repo"}, "interval": "5m"});
        if let Some(s) = selector {
            spec["policySelector"] = s;
        }
        serde_json::from_value(json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
            "metadata": {"name": "a", "namespace": "apps"}, "spec": spec
        }))
        .unwrap()
    }

    #[test]
    fn policies_of_the_namespace_matching_the_selector_with_an_image() {
        let policies = [
            policy("apps", "web", json!({"team": "web"}), Some("1.2.0")),
            policy("apps", "db", json!({"team": "db"}), Some("9.0")),
            policy("apps", "new", json!({"team": "web"}), None),
            policy("other", "web", json!({"team": "web"}), Some("7.0.0")),
        ];
        let all = select(&automation(None), &policies).unwrap();
        assert_eq!(all.observed.keys().collect::<Vec<_>>(), ["db", "web"]);
        assert_eq!(
            all.setters
                .get("apps:web")
                .map(ToString::to_string)
                .as_deref(),
            Some("ghcr.io/app:1.2.0")
        );
        assert!(all.setters.get("other:web").is_none());
        assert!(all.pending.contains("apps:new"));

        let web = select(
            &automation(Some(json!({"matchLabels": {"team": "web"}}))),
            &policies,
        )
        .unwrap();
        assert_eq!(web.observed.keys().collect::<Vec<_>>(), ["web"]);
        let bad = automation(Some(
            json!({"matchExpressions": [{"key": "team", "operator": "Is"}]}),
        ));
        assert!(select(&bad, &policies).is_err());
    }
}
