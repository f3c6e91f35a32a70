//! What Helm checks before it writes a release: that the name is free (`install.replace`),
//! and, with `disableTakeOwnership`, that no object the release would create exists already
//! without this release's ownership metadata.

use driftless_helm::release::{Release, status};
use serde_json::Value;

use super::Reconciler;
use super::actions::Plan;
use crate::post_render::{
    self, MANAGED_BY_LABEL, RELEASE_NAME_ANNOTATION, RELEASE_NAMESPACE_ANNOTATION, Rendered,
};

/// Helm's refusal to install over an existing history without `replace`.
pub(super) const NAME_IN_USE: &str = "cannot re-use a name that is still in use";

/// Whether an install may write a new revision over `history` (Helm's `availableName`): only
/// into an empty history, or with `replace` over a last revision that is uninstalled or failed.
pub(super) fn name_available(history: &[Release], replace: bool) -> Result<(), &'static str> {
    match history.iter().max_by_key(|r| r.version) {
        None => Ok(()),
        Some(last)
            if replace
                && (last.info.status == status::UNINSTALLED
                    || last.info.status == status::FAILED) =>
        {
            Ok(())
        }
        Some(_) => Err(NAME_IN_USE),
    }
}

/// Why `live` cannot be adopted by release `name` in `namespace`, worded as Helm words it, or
/// none when its ownership metadata names this release.
pub(super) fn ownership_error(live: &Value, name: &str, namespace: &str) -> Option<String> {
    let metadata = &live["metadata"];
    let mut errors = Vec::new();
    if let Some(error) = require(&metadata["labels"], MANAGED_BY_LABEL, "Helm") {
        errors.push(format!("label validation error: {error}"));
    }
    for (annotation, wanted) in [
        (RELEASE_NAME_ANNOTATION, name),
        (RELEASE_NAMESPACE_ANNOTATION, namespace),
    ] {
        if let Some(error) = require(&metadata["annotations"], annotation, wanted) {
            errors.push(format!("annotation validation error: {error}"));
        }
    }
    if errors.is_empty() {
        return None;
    }
    Some(format!("invalid ownership metadata; {}", errors.join("; ")))
}

fn require(map: &Value, key: &str, wanted: &str) -> Option<String> {
    match map.get(key).and_then(Value::as_str) {
        None => Some(format!("missing key {key:?}: must be set to {wanted:?}")),
        Some(actual) if actual != wanted => Some(format!(
            "key {key:?} must equal {wanted:?}: current value is {actual:?}"
        )),
        Some(_) => None,
    }
}

impl Reconciler {
    /// Helm's check with take-ownership off: each object this revision creates (all of an
    /// install's, those an upgrade adds to `previous`) that exists already must be owned by
    /// this release. One read per such object, so only when asked for.
    pub(super) async fn check_ownership(
        &self,
        plan: &Plan,
        objects: &[Rendered],
        previous: Option<&Release>,
    ) -> Result<(), String> {
        let verb = if previous.is_some() {
            "update"
        } else {
            "install"
        };
        let before = previous
            .map(|release| super::actions::stale_objects(&release.manifest, &[], &plan.namespace))
            .unwrap_or_default();
        for rendered in objects {
            let mut object =
                post_render::owned(&rendered.object, &plan.release_name, &plan.namespace);
            let id = match self.place(&mut object, rendered, plan).await {
                Ok(id) => id,
                // A kind the cluster does not serve yet (its CRD comes with this release)
                // has no objects to adopt.
                Err(error) if error.contains("no matches for kind") => continue,
                Err(error) => return Err(error),
            };
            if before.iter().any(|known| known.same_object(&id)) {
                continue;
            }
            let Some(live) = plan.applier.get(&id).await.map_err(|e| e.to_string())? else {
                continue;
            };
            if let Some(error) = ownership_error(&live, &plan.release_name, &plan.namespace) {
                return Err(format!(
                    "Unable to continue with {verb}: {} {:?} in namespace {:?} exists and \
                     cannot be imported into the current release: {error}",
                    id.kind, id.name, id.namespace
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use driftless_helm::release::Release;
    use serde_json::json;

    use super::*;

    fn revision(version: i64, state: &str) -> Release {
        let mut release = Release {
            version,
            ..Release::default()
        };
        release.info.status = state.into();
        release
    }

    #[test]
    fn an_existing_history_needs_replace_and_a_finished_last_revision() {
        assert_eq!(name_available(&[], false), Ok(()));
        let uninstalled = [
            revision(1, status::DEPLOYED),
            revision(2, status::UNINSTALLED),
        ];
        assert_eq!(name_available(&uninstalled, false), Err(NAME_IN_USE));
        assert_eq!(name_available(&uninstalled, true), Ok(()));
        let failed = [revision(1, status::FAILED)];
        assert_eq!(name_available(&failed, true), Ok(()));
        let superseded = [
            revision(2, status::SUPERSEDED),
            revision(1, status::UNINSTALLED),
        ];
        assert_eq!(name_available(&superseded, true), Err(NAME_IN_USE));
    }

    #[test]
    fn ownership_is_checked_as_helm_words_it() {
        let unowned = json!({"metadata": {"name": "hello", "labels": {"app": "x"}}});
        assert_eq!(
            ownership_error(&unowned, "hello", "apps").as_deref(),
            Some(
                "invalid ownership metadata; \
                 label validation error: missing key \"app.kubernetes.io/managed-by\": must be set to \"Helm\"; \
                 annotation validation error: missing key \"meta.helm.sh/release-name\": must be set to \"hello\"; \
                 annotation validation error: missing key \"meta.helm.sh/release-namespace\": must be set to \"apps\""
            )
        );
        let other_release = json!({"metadata": {
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "other",
                "meta.helm.sh/release-namespace": "apps"
            }
        }});
        assert_eq!(
            ownership_error(&other_release, "hello", "apps").as_deref(),
            Some(
                "invalid ownership metadata; annotation validation error: \
                 key \"meta.helm.sh/release-name\" must equal \"hello\": current value is \"other\""
            )
        );
        let owned = json!({"metadata": {
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {
                "meta.helm.sh/release-name": "hello",
                "meta.helm.sh/release-namespace": "apps"
            }
        }});
        assert_eq!(ownership_error(&owned, "hello", "apps"), None);
    }
}
