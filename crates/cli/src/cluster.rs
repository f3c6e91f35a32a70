//! The cluster side of `install` and `uninstall`: the kubeconfig's client, server-side apply
//! of rendered objects and deletion, each kind found through discovery.

use anyhow::Context;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::{Value, json};

/// The field manager of everything `driftless install` applies.
pub const FIELD_MANAGER: &str = "driftless";

/// A client for the kubeconfig's current context (`KUBECONFIG`, `~/.kube/config`, or the
/// in-cluster service account).
pub async fn client() -> anyhow::Result<kube::Client> {
    // As the controllers do: ring is rustls' process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    kube::Client::try_default()
        .await
        .context("connecting to the cluster (KUBECONFIG or ~/.kube/config)")
}

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// The API of `object`'s kind and namespace, or None if the cluster does not serve the kind.
pub async fn api_for(
    client: &kube::Client,
    object: &Value,
) -> anyhow::Result<Option<(Api<DynamicObject>, String)>> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = object["kind"].as_str().unwrap_or_default();
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities): (ApiResource, ApiCapabilities) =
        match kube::discovery::pinned_kind(client, &gvk).await {
            Ok(found) => found,
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("discovering {api_version} {kind}"));
            }
        };
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let api = match (
        &capabilities.scope,
        object["metadata"]["namespace"].as_str(),
    ) {
        (Scope::Namespaced, Some(namespace)) => {
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &resource),
        (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
    };
    Ok(Some((api, name)))
}

/// Server-side applies `objects` in order, taking over fields from other managers.
pub async fn apply(client: &kube::Client, objects: &[Value]) -> anyhow::Result<()> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for object in objects {
        let described = crate::components::describe(object);
        let (api, name) = api_for(client, object)
            .await?
            .with_context(|| format!("the cluster does not serve {described}"))?;
        api.patch(&name, &params, &Patch::Apply(object))
            .await
            .with_context(|| format!("applying {described}"))?;
    }
    Ok(())
}

/// Deletes `object` (background propagation); false if it was not there.
pub async fn delete(client: &kube::Client, object: &Value) -> anyhow::Result<bool> {
    let Some((api, name)) = api_for(client, object).await? else {
        return Ok(false);
    };
    match api.delete(&name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(error) => {
            Err(error).with_context(|| format!("deleting {}", crate::components::describe(object)))
        }
    }
}
