//! Checks for kinds a controller does not implement yet: their objects must end Stalled with
//! reason `NotImplemented` rather than be silently ignored.

use std::time::{Duration, Instant};

use driftless_api::conditions::{READY, STALLED};
use driftless_api::meta::Reconcilable;
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::controller::ControllerProcess;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Creates `manifest` (a kind of `K`) in `namespace` and waits until `controller` marks it
/// Stalled and not Ready with reason `NotImplemented` at its generation. Panics with the
/// controller's log otherwise.
pub async fn create_and_expect_stalled<K>(
    client: &kube::Client,
    namespace: &str,
    manifest: serde_json::Value,
    controller: &ControllerProcess,
) where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Reconcilable
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let object: K = serde_json::from_value(manifest).unwrap_or_else(|e| panic!("manifest: {e}"));
    let name = object.name_any();
    let kind = K::kind(&());
    if let Err(error) = api.create(&PostParams::default(), &object).await {
        panic!("creating {kind} {name}: {error}");
    }
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let current = api.get_opt(&name).await.ok().flatten();
        if current.as_ref().is_some_and(marked) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{kind} {name} not marked NotImplemented: {:?}\n{}",
            current.as_ref().map(|o| o.conditions().to_vec()),
            controller.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn marked<K: Resource + Reconcilable>(object: &K) -> bool {
    let generation = object.meta().generation;
    object.observed_generation() == generation
        && [(STALLED, "True"), (READY, "False")]
            .iter()
            .all(|(type_, status)| {
                object.conditions().iter().any(|c| {
                    c.type_ == *type_
                        && c.status == *status
                        && c.reason == "NotImplemented"
                        && c.observed_generation == generation
                })
            })
}
