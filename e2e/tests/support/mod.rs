//! What the end-to-end tests share: the control plane, the controllers as processes, a Git
//! repository to reconcile from, and waiting on the cluster.
#![allow(dead_code)]

pub mod node_images;

use std::time::{Duration, Instant};

use driftless_api::kustomize::Kustomization;
use driftless_api::source::GitRepository;
use driftless_e2e::controller_binary;
use driftless_testenv::controller::ControllerProcess;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::{Api, Patch, PatchParams, PostParams};

pub const WAIT: Duration = Duration::from_secs(60);

pub fn spawn(
    plane: &driftless_testenv::ControlPlane,
    name: &'static str,
    args: Vec<String>,
) -> ControllerProcess {
    let mut process = ControllerProcess::spawn(
        name,
        &controller_binary(name),
        &plane.kubeconfig_path(),
        plane.dir(),
        &args,
    )
    .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    tokio::task::block_in_place(|| process.wait_ready(Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("{name} ready: {e}"));
    process
}

/// The shared control plane with the Toolkit CRDs, a fresh namespace named after `prefix`, and
/// an admin client.
pub async fn cluster(
    prefix: &str,
) -> (
    &'static driftless_testenv::ControlPlane,
    String,
    kube::Client,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let plane = driftless_testenv::shared().await.expect("control plane");
    plane
        .install_crds(&driftless_api::crds())
        .await
        .expect("CRDs");
    let namespace = plane.namespace(prefix).await.expect("namespace");
    let client = plane.client().await.expect("client");
    (plane, namespace, client)
}

/// source-controller and kustomize-controller watching only `namespace`, with artifacts
/// stored in a directory of their own.
pub struct Controllers {
    pub source: ControllerProcess,
    pub kustomize: ControllerProcess,
    _storage: tempfile::TempDir,
}

/// The flags that confine a test's controller to `namespace` and retry quickly, then `extra`.
pub fn confined_args(namespace: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--watch-all-namespaces=false".to_owned(),
        format!("--runtime-namespace={namespace}"),
        "--min-retry-delay=200ms".to_owned(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// source-controller confined to `namespace` with `args`, serving artifacts from a
/// directory of its own (kept as long as the returned directory lives).
pub fn spawn_source_controller(
    plane: &driftless_testenv::ControlPlane,
    namespace: &str,
    args: &[&str],
) -> (ControllerProcess, tempfile::TempDir) {
    let [port] = driftless_testenv::free_ports().expect("port");
    let storage = tempfile::tempdir().expect("storage");
    let mut all = confined_args(namespace, args);
    all.extend([
        format!("--storage-path={}", storage.path().display()),
        format!("--storage-addr=127.0.0.1:{port}"),
    ]);
    (spawn(plane, "source-controller", all), storage)
}

impl Controllers {
    pub fn start(
        plane: &driftless_testenv::ControlPlane,
        namespace: &str,
        common_args: &[&str],
        kustomize_args: &[&str],
    ) -> Self {
        let (source, storage) = spawn_source_controller(plane, namespace, common_args);
        let mut args = confined_args(namespace, common_args);
        args.extend(kustomize_args.iter().map(|a| a.to_string()));
        let kustomize = spawn(plane, "kustomize-controller", args);
        Self {
            source,
            kustomize,
            _storage: storage,
        }
    }

    pub fn logs(&self) -> String {
        format!(
            "source-controller:\n{}\nkustomize-controller:\n{}",
            self.source.log_tail(40),
            self.kustomize.log_tail(60)
        )
    }
}

/// A Kustomization of GitRepository `app` into `namespace`, pruning, every ten minutes; `spec`
/// adds its path and the fields under test.
pub fn kustomization(name: &str, namespace: &str, spec: serde_json::Value) -> Kustomization {
    let mut full = serde_json::json!({
        "interval": "10m", "prune": true, "targetNamespace": namespace,
        "sourceRef": { "kind": "GitRepository", "name": "app" },
    });
    if let (Some(full), Some(spec)) = (full.as_object_mut(), spec.as_object()) {
        full.extend(spec.clone());
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": { "name": name }, "spec": full,
    }))
    .unwrap()
}

/// A Git server with repository `app` holding `files` on `main`.
pub fn app_repository(
    files: &[(&str, &str)],
    message: &str,
) -> (GitServer, driftless_testenv::git::GitRepo) {
    let git = GitServer::start(GitAuth::default()).expect("git server");
    let repo = git.create_repo("app").expect("repo");
    repo.commit(files, message).expect("commit");
    repo.push("main").expect("push");
    (git, repo)
}

/// A GitRepository `app` following `main` of `url`.
/// The root Kustomization `flux-system` of a Flux repository layout: `./clusters/local` of
/// GitRepository `app`, applying Kustomizations that carry their own namespace.
pub async fn create_root_kustomization(
    client: &kube::Client,
    namespace: &str,
) -> Api<Kustomization> {
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), namespace);
    let mut flux_system = kustomization(
        "flux-system",
        namespace,
        serde_json::json!({ "path": "./clusters/local" }),
    );
    flux_system.spec.target_namespace = None;
    kustomizations
        .create(&PostParams::default(), &flux_system)
        .await
        .expect("create root");
    kustomizations
}

pub async fn create_git_repository(client: &kube::Client, namespace: &str, url: String) {
    let git_repository: GitRepository = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": { "name": "app" },
        "spec": { "url": url, "interval": "10m", "ref": { "branch": "main" } },
    }))
    .unwrap();
    Api::<GitRepository>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &git_repository)
        .await
        .expect("create GitRepository");
}

pub async fn wait_for<T>(
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
    logs: &dyn Fn() -> String,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if started.elapsed() > WAIT {
            panic!("timed out waiting for {what}\n{}", logs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates the Kustomization `name` in `namespace` with `spec`.
pub async fn create_kustomization(
    api: &Api<Kustomization>,
    name: &str,
    namespace: &str,
    spec: serde_json::Value,
) {
    api.create(
        &PostParams::default(),
        &kustomization(name, namespace, spec),
    )
    .await
    .expect("create Kustomization");
}

/// Waits until the Kustomization `name` is Ready=True; panics with `what` and the logs.
pub async fn wait_kustomization_ready(
    api: &Api<Kustomization>,
    name: &str,
    what: &str,
    logs: &dyn Fn() -> String,
) {
    wait_for(
        what,
        async || (ready(&api.get(name).await.ok()?)?.0 == "True").then_some(()),
        logs,
    )
    .await;
}

/// The Ready condition of any Toolkit object: status, reason and message.
pub fn ready(object: &impl driftless_api::meta::Reconcilable) -> Option<(String, String, String)> {
    condition(object, "Ready")
}

/// Condition `type_` of any Toolkit object: status, reason and message.
pub fn condition(
    object: &impl driftless_api::meta::Reconcilable,
    type_: &str,
) -> Option<(String, String, String)> {
    let found = object.conditions().iter().find(|c| c.type_ == type_)?;
    Some((
        found.status.clone(),
        found.reason.clone(),
        found.message.clone(),
    ))
}

/// Waits until Kustomization `name` is Ready=True or False for a reason of its own (not the
/// source still fetching its first artifact); returns status, reason, message and the
/// object.
pub async fn wait_settled(
    kustomizations: &Api<Kustomization>,
    name: &str,
    logs: &dyn Fn() -> String,
) -> (String, String, String, Kustomization) {
    wait_for(
        &format!("{name} settled"),
        async || {
            let k = kustomizations.get(name).await.ok()?;
            let (status, reason, message) = ready(&k)?;
            let waiting_for_source =
                reason == "ArtifactFailed" && message.starts_with("Source artifact not found");
            (status != "Unknown" && !waiting_for_source).then_some((status, reason, message, k))
        },
        logs,
    )
    .await
}

pub async fn request_reconcile<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let now = format!("{:?}", Instant::now());
    let patch = serde_json::json!({ "metadata": { "annotations": { "reconcile.fluxcd.io/requestedAt": now } } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("request reconcile");
}

/// Posts GitHub's real push payload, signed with `token`, to the Receiver at `hook`, and
/// returns the answer. The path is read from the Receiver's status, which the API server can
/// show before the controller's own cache has it; a 404 is retried until the cache catches
/// up (within `WAIT`).
#[allow(dead_code)]
pub async fn post_github_push(receiver_port: u16, hook: &str, token: &str) -> reqwest::Response {
    use hmac::{Hmac, Mac};
    let body = std::fs::read(
        driftless_e2e::repo_root().join("../shared/webhooks/incoming/github-push.json"),
    )
    .expect("../shared/webhooks/incoming/github-push.json");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let started = Instant::now();
    loop {
        let response = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{receiver_port}{hook}"))
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", &signature)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("post the push webhook");
        if response.status() != reqwest::StatusCode::NOT_FOUND || started.elapsed() > WAIT {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The real `flux` CLI with `kubeconfig`: whether it succeeded, and what it printed.
pub fn flux_cli(kubeconfig: &std::path::Path, args: &[&str]) -> (bool, String) {
    let binary = driftless_testenv::FLUX
        .path()
        .expect("the flux CLI (cargo xtask prerequisites)");
    let output = std::process::Command::new(binary)
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .expect("running flux");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// notification-controller confined to a namespace, with what the other controllers and the
/// test need to reach it.
pub struct NotificationController {
    pub process: ControllerProcess,
    /// `--events-addr=…` for the controllers that send it events.
    pub events_flag: String,
    /// The port its webhook receiver listens on.
    pub receiver_port: u16,
}

/// Starts notification-controller confined to `namespace`, on free loopback ports.
pub fn spawn_notification_controller(
    plane: &driftless_testenv::ControlPlane,
    namespace: &str,
) -> NotificationController {
    let [events_port, receiver_port] = driftless_testenv::free_ports().expect("free ports");
    let process = spawn(
        plane,
        "notification-controller",
        confined_args(
            namespace,
            &[
                &format!("--events-addr=127.0.0.1:{events_port}"),
                &format!("--receiver-addr=127.0.0.1:{receiver_port}"),
            ],
        ),
    );
    NotificationController {
        process,
        events_flag: format!("--events-addr=http://127.0.0.1:{events_port}/"),
        receiver_port,
    }
}
