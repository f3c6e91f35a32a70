//! Checks for kinds a controller does not implement yet: their objects must end Stalled with
//! reason `NotImplemented` rather than be silently ignored.

use std::path::Path;
use std::time::{Duration, Instant};

use driftless_api::conditions::{READY, STALLED};
use driftless_api::meta::Reconcilable;
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::controller::ControllerProcess;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A namespaced Toolkit kind a test can create and read back typed.
pub trait UnimplementedKind:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Reconcilable
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
{
}

impl<K> UnimplementedKind for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Reconcilable
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
{
}

/// A controller binary watching only a fresh namespace of the shared control plane, for
/// checking how it answers the kinds it does not implement.
pub struct UnimplementedKinds {
    pub client: kube::Client,
    pub namespace: String,
    pub controller: ControllerProcess,
}

impl UnimplementedKinds {
    /// Starts the controller `name` built at `binary` for a new namespace named after
    /// `prefix`, with `extra_args` besides the flags that confine it there.
    pub async fn start(
        name: &'static str,
        binary: &Path,
        prefix: &str,
        extra_args: &[String],
    ) -> Self {
        let plane = crate::shared().await.expect("test control plane");
        let namespace = plane.namespace(prefix).await.expect("namespace");
        let client = plane.client().await.expect("client");
        let controller =
            ControllerProcess::start_in_namespace(plane, &namespace, name, binary, extra_args);
        Self {
            client,
            namespace,
            controller,
        }
    }

    /// Creates `object` in this namespace and waits until the controller marks it Stalled,
    /// as [`create_and_expect_stalled`] does.
    pub async fn expect_stalled<K>(&self, object: K)
    where
        K: UnimplementedKind,
    {
        create_object_and_expect_stalled(&self.client, &self.namespace, &object, &self.controller)
            .await;
    }

    /// Stops the controller and asserts it exits cleanly.
    pub fn stop_cleanly(mut self) {
        self.controller.stop_cleanly();
    }
}

/// Creates `manifest` (a kind of `K`) in `namespace` and waits until `controller` marks it
/// Stalled and not Ready with reason `NotImplemented` at its generation. Panics with the
/// controller's log otherwise.
pub async fn create_and_expect_stalled<K>(
    client: &kube::Client,
    namespace: &str,
    manifest: serde_json::Value,
    controller: &ControllerProcess,
) where
    K: UnimplementedKind,
{
    let object: K = serde_json::from_value(manifest).unwrap_or_else(|e| panic!("manifest: {e}"));
    create_object_and_expect_stalled(client, namespace, &object, controller).await;
}

async fn create_object_and_expect_stalled<K>(
    client: &kube::Client,
    namespace: &str,
    object: &K,
    controller: &ControllerProcess,
) where
    K: UnimplementedKind,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let name = object.name_any();
    let kind = K::kind(&());
    if let Err(error) = api.create(&PostParams::default(), object).await {
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

/// Minimal valid manifests, one per kind Driftless does not implement yet, all named
/// `podinfo` after Flux's getting-started examples.
pub mod podinfo {
    use driftless_api::image::ImagePolicy;
    use driftless_api::source::{Bucket, HelmChart, HelmRepository, OCIRepository};
    use kube::Resource;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    /// The `K` named `podinfo` with `spec`.
    fn with_spec<K: Resource<DynamicType = ()> + DeserializeOwned>(spec: Value) -> K {
        let manifest = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "metadata": {"name": "podinfo"},
            "spec": spec,
        });
        serde_json::from_value(manifest).unwrap_or_else(|e| panic!("sample manifest: {e}"))
    }

    pub fn oci_repository() -> OCIRepository {
        with_spec(json!({
            "interval": "5m",
            "url": "oci://ghcr.io/stefanprodan/manifests/podinfo",
            "ref": {"tag": "latest"}
        }))
    }

    pub fn bucket() -> Bucket {
        with_spec(
            json!({"interval": "5m", "bucketName": "podinfo", "endpoint": "minio.example.com"}),
        )
    }

    pub fn helm_repository() -> HelmRepository {
        with_spec(json!({"interval": "5m", "url": "https://stefanprodan.github.io/podinfo"}))
    }

    pub fn helm_chart() -> HelmChart {
        with_spec(json!({
            "chart": "podinfo",
            "interval": "5m",
            "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}
        }))
    }

    pub fn image_policy() -> ImagePolicy {
        with_spec(json!({
            "imageRepositoryRef": {"name": "podinfo"},
            "policy": {"semver": {"range": "5.0.x"}}
        }))
    }
}
