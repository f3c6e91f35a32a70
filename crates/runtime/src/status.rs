//! Writing `.status` with server-side apply on the status subresource, so a controller owns
//! exactly the status fields it sets and fields it stops setting are removed.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Field manager Flux uses for status writes of `controller`, e.g. `gotk-source-controller`.
pub fn field_manager(controller: &str) -> String {
    format!("gotk-{controller}")
}

/// Applies `status` to `object`'s status subresource and returns the updated object.
pub async fn apply_status<K, S>(
    api: &Api<K>,
    object: &K,
    controller: &str,
    status: &S,
) -> Result<K, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "name": object.name_any() },
        "status": status,
    });
    let params = PatchParams::apply(&field_manager(controller)).force();
    api.patch_status(&object.name_any(), &params, &Patch::Apply(&body))
        .await
}
