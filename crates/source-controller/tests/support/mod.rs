//! Shared test support: a source-controller process per test, watching only the test's
//! namespace, and helpers to create GitRepositories and wait on their status.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use driftless_api::meta::{ArtifactSource, RECONCILE_REQUEST_ANNOTATION, Reconcilable};
use driftless_api::source::GitRepository;
use driftless_artifact::{Digest, Limits, Tree, unpack_to_memory};
use driftless_testenv::ControlPlane;
use driftless_testenv::controller::ControllerProcess;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};

pub const WAIT: Duration = Duration::from_secs(45);

/// The shared control plane, a fresh namespace named after `prefix`, and an admin client.
pub async fn setup(prefix: &str) -> (&'static ControlPlane, String, kube::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let plane = driftless_testenv::shared().await.expect("control plane");
    let namespace = plane.namespace(prefix).await.expect("namespace");
    let client = plane.client().await.expect("client");
    (plane, namespace, client)
}

/// Where source-controller keeps its artifacts and the address it serves them on
/// (`127.0.0.1:0` for any free port).
pub fn storage_flags(storage: &Path, addr: &str) -> [String; 2] {
    [
        format!("--storage-path={}", storage.display()),
        format!("--storage-addr={addr}"),
    ]
}

pub struct SourceController {
    pub process: ControllerProcess,
    pub storage: tempfile::TempDir,
    pub storage_addr: String,
}

impl SourceController {
    /// Starts source-controller for `namespace` with its own storage and artifact port.
    pub fn start(plane: &ControlPlane, namespace: &str, extra: &[&str]) -> Self {
        Self::start_with_storage(
            plane,
            namespace,
            extra,
            tempfile::tempdir().expect("storage dir"),
        )
    }

    /// Like [`SourceController::start`], over an existing storage directory.
    pub fn start_with_storage(
        plane: &ControlPlane,
        namespace: &str,
        extra: &[&str],
        storage: tempfile::TempDir,
    ) -> Self {
        let [port] = driftless_testenv::free_ports().expect("free port");
        let storage_addr = format!("127.0.0.1:{port}");
        let settings = [
            "--concurrent=4",
            "--min-retry-delay=200ms",
            "--log-level=debug",
        ];
        let flags: Vec<String> = storage_flags(storage.path(), &storage_addr)
            .into_iter()
            .chain(settings.iter().chain(extra).map(|s| (*s).to_owned()))
            .collect();
        let binary = Path::new(env!("CARGO_BIN_EXE_source-controller"));
        let process = ControllerProcess::start_in_namespace(
            plane,
            namespace,
            "source-controller",
            binary,
            &flags,
        );
        Self {
            process,
            storage,
            storage_addr,
        }
    }

    pub fn storage_path(&self) -> PathBuf {
        self.storage.path().to_owned()
    }

    pub fn logs(&self) -> String {
        self.process.log_tail(60)
    }
}

pub fn git_repository(name: &str, url: &str, spec_extra: serde_json::Value) -> GitRepository {
    let mut spec = serde_json::json!({ "url": url, "interval": "10m", "timeout": "20s" });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": { "name": name },
        "spec": spec,
    }))
    .expect("GitRepository")
}

/// Creates the GitRepository `name` for `url`, with `spec_extra` merged into its spec.
pub async fn create_git_repository(
    api: &Api<GitRepository>,
    name: &str,
    url: &str,
    spec_extra: serde_json::Value,
) {
    create(api, &git_repository(name, url, spec_extra)).await;
}

/// Creates the GitRepository `name` following `branch` of `url`, with the default settings.
pub async fn create_following(api: &Api<GitRepository>, name: &str, url: &str, branch: &str) {
    let spec = serde_json::json!({ "ref": { "branch": branch } });
    create_git_repository(api, name, url, spec).await;
}

/// Creates the GitRepository `name` following `main` of `url` with the credentials in the
/// Secret `secret`.
pub async fn create_with_secret(api: &Api<GitRepository>, name: &str, url: &str, secret: &str) {
    let spec = serde_json::json!({ "ref": { "branch": "main" }, "secretRef": { "name": secret } });
    create_git_repository(api, name, url, spec).await;
}

pub async fn create(api: &Api<GitRepository>, repo: &GitRepository) {
    api.create(&PostParams::default(), repo)
        .await
        .expect("create GitRepository");
}

pub async fn create_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    data: &[(&str, &str)],
) {
    let string_data: BTreeMap<String, String> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": name },
        "stringData": string_data,
    }))
    .expect("Secret");
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create Secret");
}

/// Creates one Secret per `(name, string data)` entry of `secrets`.
pub async fn create_secrets(
    client: &kube::Client,
    namespace: &str,
    secrets: &[(&str, &[(&str, &str)])],
) {
    for (name, data) in secrets {
        create_secret(client, namespace, name, data).await;
    }
}

/// A source kind the helpers below wait on.
pub trait Source:
    kube::Resource<DynamicType = ()>
    + Reconcilable
    + ArtifactSource
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
{
}

impl<K> Source for K where
    K: kube::Resource<DynamicType = ()>
        + Reconcilable
        + ArtifactSource
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
{
}

fn ready<K: Source>(object: &K) -> Option<(&str, &str, &str)> {
    object
        .conditions()
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.as_str(), c.reason.as_str(), c.message.as_str()))
}

/// The object's status as JSON, for failure messages.
fn status_json<K: Source>(object: &K) -> String {
    serde_json::to_value(object)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v["status"]).ok())
        .unwrap_or_default()
}

/// Waits until `check` holds for the object's status; panics with the status and the
/// controller's log otherwise.
pub async fn wait_for<K: Source>(
    api: &Api<K>,
    name: &str,
    controller: &SourceController,
    what: &str,
    check: impl Fn(&K) -> bool,
) -> K {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(Some(object)) = api.get_opt(name).await {
            if check(&object) {
                return object;
            }
            if Instant::now() > deadline {
                panic!(
                    "{name}: {what} not reached; status: {}\n{}",
                    status_json(&object),
                    controller.logs()
                );
            }
        } else if Instant::now() > deadline {
            panic!("{name}: not found waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for Ready=True at the current generation and checks Flux's final-status invariants.
pub async fn wait_ready<K: Source>(api: &Api<K>, name: &str, controller: &SourceController) -> K {
    let object = wait_for(api, name, controller, "Ready=True", |o| {
        ready(o).is_some_and(|(status, _, _)| status == "True")
            && o.observed_generation() == o.meta().generation
    })
    .await;
    assert_final_status(name, &object);
    object
}

/// Checks Flux's invariants for a finished reconcile on the object's conditions; panics
/// naming the object otherwise.
pub fn assert_final_status<K: Source>(name: &str, object: &K) {
    driftless_runtime::conditions::check_final_status(
        object.conditions(),
        object.meta().generation,
        object.observed_generation(),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
}

/// Waits for Ready=False with `reason`; returns the object.
pub async fn wait_not_ready<K: Source>(
    api: &Api<K>,
    name: &str,
    controller: &SourceController,
    reason: &str,
) -> K {
    wait_for(
        api,
        name,
        controller,
        &format!("Ready=False/{reason}"),
        |o| ready(o).is_some_and(|(status, r, _)| status == "False" && r == reason),
    )
    .await
}

pub fn ready_message<K: Source>(object: &K) -> String {
    ready(object)
        .map(|(_, _, m)| m.to_owned())
        .unwrap_or_default()
}

/// Asks for a reconcile now and waits until it has been handled.
pub async fn request_reconcile<K: Source>(
    api: &Api<K>,
    name: &str,
    controller: &SourceController,
) -> K {
    let token = format!("{:?}", Instant::now());
    let patch = serde_json::json!({
        "metadata": { "annotations": { RECONCILE_REQUEST_ANNOTATION: token } }
    });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
    wait_for(api, name, controller, "reconcile request handled", |o| {
        o.last_handled_reconcile_at() == Some(token.as_str())
    })
    .await
}

/// Downloads the object's artifact from its URL, checks size and digest, and unpacks it.
pub async fn download<K: Source>(object: &K) -> (Vec<u8>, Tree) {
    let artifact = object.artifact().cloned().expect("artifact in status");
    let response = reqwest::get(&artifact.url).await.expect("GET artifact");
    assert_eq!(response.status(), 200, "{}", artifact.url);
    let bytes = response.bytes().await.expect("artifact body").to_vec();
    assert_eq!(Some(bytes.len() as i64), artifact.size, "size");
    let digest: Digest = artifact.digest.parse().expect("digest");
    let tree = unpack_to_memory(&bytes[..], &digest, Limits::default()).expect("unpack");
    assert!(
        artifact.path.ends_with(&format!("{}.tar.gz", digest.hex())),
        "content-addressed path: {}",
        artifact.path
    );
    (bytes, tree)
}

pub fn files(tree: &Tree) -> Vec<String> {
    tree.keys().cloned().collect()
}

/// Polls `check` until it returns something, for at most [`WAIT`].
pub async fn wait_until<T, F, Fut>(mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(found) = check().await {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// The first event in `namespace` with `reason` (waiting for it), or a panic.
pub async fn wait_for_event(
    client: &kube::Client,
    namespace: &str,
    reason: &str,
) -> k8s_openapi::api::core::v1::Event {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), namespace);
    wait_until(|| async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason))
    })
    .await
    .unwrap_or_else(|| panic!("no {reason} event in {namespace}"))
}
