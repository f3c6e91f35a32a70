//! Applying objects written as JSON (any kind, by its `apiVersion` and `kind`) with
//! server-side apply, for tests, benchmarks and the `up` example that set up many kinds.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};

use crate::{Error, Result};

/// The plural resource name of `kind` as the Toolkit's and core kinds are named
/// (`ImagePolicy` → `imagepolicies`, `Secret` → `secrets`).
pub fn plural(kind: &str) -> String {
    let lower = kind.to_lowercase();
    match lower.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{lower}s"),
    }
}

/// Applies `object` in `namespace` (its own `metadata.namespace` is replaced), as the field
/// manager `driftless-test`.
pub async fn apply_json(
    client: &kube::Client,
    namespace: &str,
    object: serde_json::Value,
) -> Result<()> {
    let mut object: DynamicObject = serde_json::from_value(object)
        .map_err(|e| Error::Kubeconfig(format!("not a Kubernetes object: {e}")))?;
    let types = object
        .types
        .clone()
        .ok_or_else(|| Error::Kubeconfig("object without apiVersion and kind".into()))?;
    let name = object
        .metadata
        .name
        .clone()
        .ok_or_else(|| Error::Kubeconfig(format!("{} without a name", types.kind)))?;
    object.metadata.namespace = Some(namespace.to_owned());
    let (group, version) = types
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", types.api_version.as_str()));
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, &types.kind),
        &plural(&types.kind),
    );
    Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
        .patch(
            &name,
            &PatchParams::apply("driftless-test").force(),
            &Patch::Apply(&object),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_of_the_kinds_in_use() {
        assert_eq!(plural("ImagePolicy"), "imagepolicies");
        assert_eq!(plural("GitRepository"), "gitrepositories");
        assert_eq!(plural("ImageUpdateAutomation"), "imageupdateautomations");
        assert_eq!(plural("Secret"), "secrets");
        assert_eq!(plural("Kustomization"), "kustomizations");
    }
}
