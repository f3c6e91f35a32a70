//! Cross-namespace access to an ImageRepository: its `spec.accessFrom` namespace selectors
//! must match the labels of the policy's namespace (Flux's `acl.AccessFrom`).

use std::collections::BTreeMap;

use driftless_api::image::{AccessFrom, ImageRepository};
use driftless_api::meta::LabelSelector;
use driftless_runtime::label_selector;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::{Client, ResourceExt};

/// Whether a namespace labelled `labels` may use a repository granting `access_from`.
pub fn allows(access_from: Option<&AccessFrom>, labels: &BTreeMap<String, String>) -> bool {
    access_from.is_some_and(|acl| {
        acl.namespace_selectors.iter().any(|selector| {
            let selector = LabelSelector {
                match_labels: Some(selector.match_labels.clone()),
                match_expressions: None,
            };
            label_selector::matches(&selector, labels).unwrap_or(false)
        })
    })
}

/// Ok when `repository` may be used from namespace `from`; otherwise why not.
pub async fn check(
    client: &Client,
    repository: &ImageRepository,
    from: &str,
) -> Result<(), String> {
    let target = format!(
        "{}/{}",
        repository.namespace().unwrap_or_default(),
        repository.name_any()
    );
    if repository.spec.access_from.is_none() {
        return Err(format!(
            "'{target}' can't be accessed due to missing ACL labels on 'accessFrom'"
        ));
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = namespaces.get(from).await.map_err(|e| {
        format!(
            "unable to get namespace '{from}': {}",
            driftless_runtime::kube_errors::message(&e)
        )
    })?;
    if allows(repository.spec.access_from.as_ref(), namespace.labels()) {
        Ok(())
    } else {
        Err(format!(
            "'{target}' can't be accessed due to labels mismatch on namespace '{from}'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::image::NamespaceSelector;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn any_selector_matching_grants_access_and_an_empty_one_matches_all() {
        let acl = AccessFrom {
            namespace_selectors: vec![
                NamespaceSelector {
                    match_labels: labels(&[("team", "a")]),
                },
                NamespaceSelector {
                    match_labels: labels(&[("env", "prod"), ("tier", "web")]),
                },
            ],
        };
        assert!(allows(Some(&acl), &labels(&[("team", "a"), ("x", "y")])));
        assert!(allows(
            Some(&acl),
            &labels(&[("env", "prod"), ("tier", "web")])
        ));
        assert!(!allows(Some(&acl), &labels(&[("env", "prod")])));
        assert!(!allows(None, &labels(&[("team", "a")])));
        let everyone = AccessFrom {
            namespace_selectors: vec![NamespaceSelector::default()],
        };
        assert!(allows(Some(&everyone), &BTreeMap::new()));
        assert!(!allows(Some(&AccessFrom::default()), &BTreeMap::new()));
    }
}
