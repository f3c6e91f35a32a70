//! Shared test support: an image-automation-controller per test (its own storage, watching
//! only the test's namespace), object builders, and waits on status.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;
use std::time::{Duration, Instant};

use driftless_api::image::{ImagePolicy, ImageRepository};
use driftless_api::meta::RECONCILE_REQUEST_ANNOTATION;
use driftless_testenv::ControlPlane;
use driftless_testenv::controller::ControllerProcess;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::object::HasStatus;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub const WAIT: Duration = Duration::from_secs(45);

pub async fn setup(prefix: &str) -> (&'static ControlPlane, String, kube::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let plane = driftless_testenv::shared().await.expect("control plane");
    let namespace = plane.namespace(prefix).await.expect("namespace");
    let client = plane.client().await.expect("client");
    (plane, namespace, client)
}

pub struct Controller {
    pub process: ControllerProcess,
}

impl Controller {
    pub fn start(plane: &ControlPlane, namespace: &str, storage: &Path, extra: &[&str]) -> Self {
        let mut flags = vec![
            format!("--storage-path={}", storage.display()),
            "--concurrent=4".to_owned(),
            "--min-retry-delay=200ms".to_owned(),
            "--max-retry-delay=2s".to_owned(),
            "--log-level=debug".to_owned(),
        ];
        flags.extend(extra.iter().map(|s| (*s).to_owned()));
        let binary = Path::new(env!("CARGO_BIN_EXE_image-automation-controller"));
        let process = ControllerProcess::start_in_namespace(
            plane,
            namespace,
            "image-automation-controller",
            binary,
            &flags,
        );
        Self { process }
    }

    pub fn logs(&self) -> String {
        self.process.log_tail(60)
    }
}

pub fn image_repository(name: &str, spec: serde_json::Value) -> ImageRepository {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageRepository",
        "metadata": { "name": name },
        "spec": spec,
    }))
    .expect("ImageRepository")
}

pub fn image_policy(name: &str, spec: serde_json::Value) -> ImagePolicy {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImagePolicy",
        "metadata": { "name": name },
        "spec": spec,
    }))
    .expect("ImagePolicy")
}

pub async fn create<K>(api: &Api<K>, object: &K)
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    api.create(&PostParams::default(), object)
        .await
        .expect("create object");
}

pub async fn create_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    type_: Option<&str>,
    data: &[(&str, &str)],
) {
    let string_data: BTreeMap<String, String> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": name },
        "type": type_.unwrap_or("Opaque"),
        "stringData": string_data,
    }))
    .expect("Secret");
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create Secret");
}

/// A `kubernetes.io/dockerconfigjson` Secret for `registry`.
pub async fn create_pull_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    registry: &str,
    user: &str,
    password: &str,
) {
    let config = serde_json::json!({"auths": {registry: {"username": user, "password": password}}});
    create_secret(
        client,
        namespace,
        name,
        Some("kubernetes.io/dockerconfigjson"),
        &[(".dockerconfigjson", &config.to_string())],
    )
    .await;
}

/// Asks for a reconcile now, as `flux reconcile` does.
pub async fn request_reconcile<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    let token = format!("{:?}", Instant::now());
    let patch =
        serde_json::json!({"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("request reconcile");
}

/// Waits until `check` holds; panics with the status and the controller's log otherwise.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    controller: &Controller,
    what: &str,
    check: impl Fn(&K) -> bool,
) -> K
where
    K: kube::Resource + HasStatus + Clone + DeserializeOwned + Debug,
    K::Status: Serialize,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(Some(object)) = api.get_opt(name).await {
            if check(&object) {
                return object;
            }
            if Instant::now() > deadline {
                panic!(
                    "{name}: {what} not reached; status: {}\n{}",
                    serde_json::to_string_pretty(&object.status()).unwrap_or_default(),
                    controller.logs()
                );
            }
        } else if Instant::now() > deadline {
            panic!("{name}: not found waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The (status, reason, message) of the Ready condition.
pub fn ready<K>(object: &K) -> Option<(String, String, String)>
where
    K: HasStatus,
    K::Status: Serialize,
{
    let status = serde_json::to_value(object.status()?).ok()?;
    let ready = status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some((
        ready["status"].as_str()?.to_owned(),
        ready["reason"].as_str()?.to_owned(),
        ready["message"].as_str()?.to_owned(),
    ))
}

/// The (status, reason) of condition `type_`.
pub fn condition<K>(object: &K, type_: &str) -> Option<(String, String)>
where
    K: HasStatus,
    K::Status: Serialize,
{
    let status = serde_json::to_value(object.status()?).ok()?;
    let found = status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?
        .clone();
    Some((
        found["status"].as_str()?.to_owned(),
        found["reason"].as_str()?.to_owned(),
    ))
}

/// Waits for Ready with `status` and `reason`.
pub async fn wait_ready_is<K>(
    api: &Api<K>,
    name: &str,
    controller: &Controller,
    status: &str,
    reason: &str,
) -> K
where
    K: kube::Resource + HasStatus + Clone + DeserializeOwned + Debug,
    K::Status: Serialize,
{
    wait_for(
        api,
        name,
        controller,
        &format!("Ready={status} {reason}"),
        |o| ready(o).is_some_and(|(s, r, _)| s == status && r == reason),
    )
    .await
}

/// Events recorded for the object `name` of `kind` in `namespace`: (type, reason, message).
pub async fn events(
    client: &kube::Client,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Vec<(String, String, String)> {
    let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), namespace);
    let list = api.list(&Default::default()).await.expect("list events");
    list.items
        .into_iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some(kind)
                && e.involved_object.name.as_deref() == Some(name)
        })
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
            )
        })
        .collect()
}
