//! The example `cargo xtask up` reconciles: a local Git server with a small application
//! repository, a GitRepository pointing at it (shown Ready with its artifact), a
//! Kustomization applying it to the cluster (shown Ready with what it applied), a HelmRelease
//! of a chart in the same repository (recorded as Helm records releases), and — with
//! `docker-registry` installed — the image loop of [`crate::example_images`].

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftless_api::helm::HelmRelease;
use driftless_api::kustomize::Kustomization;
use driftless_api::source::GitRepository;
use driftless_testenv::ControlPlane;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::{Api, Patch, PatchParams};

/// The user `git push` authenticates as; the password is new on every run.
const PUSH_USER: &str = "driftless";

/// Where the example runs: beside controllers that are host processes (servers on loopback,
/// nothing pulls images), or beside controllers running as Pods on the test node (servers on
/// the node's link, images that Pods really run, a Kustomization that waits for them).
pub struct Placement<'a> {
    /// notification-controller's webhook receiver as the registry on the host reaches it,
    /// e.g. `http://127.0.0.1:9292`.
    pub receiver_url: String,
    /// The node, when the controllers run on it: its containerd pulls from the registry.
    pub node: Option<&'a driftless_testenv::Node>,
    /// The OCI layout pushed as podinfo when Pods run it (Kubernetes' agnhost); without it,
    /// a placeholder nothing runs.
    pub runnable: Option<std::path::PathBuf>,
}

impl Placement<'_> {
    /// The address the example's servers listen on.
    pub fn listen_on(&self) -> std::net::Ipv4Addr {
        self.node
            .map_or(std::net::Ipv4Addr::LOCALHOST, |node| node.host_ip)
    }
}

/// What the example runs; the servers live as long as this value.
pub struct Example {
    pub git: GitServer,
    pub registry: Option<driftless_testenv::registry::Registry>,
}

/// Starts the Git server (and the registry), pushes the example repository, applies the
/// GitRepository and Kustomization and waits until they are Ready, then runs the image loop.
/// The registry's address is written under `state_dir` for `cargo xtask push-image`.
pub async fn start(
    plane: &ControlPlane,
    namespace: &str,
    placement: &Placement<'_>,
    state_dir: &std::path::Path,
) -> anyhow::Result<Example> {
    let runnable = placement.runnable.clone();
    let runnable_file = crate::example_images::runnable_file(state_dir);
    let _ = std::fs::remove_file(&runnable_file);
    let registry = if crate::example_images::available() {
        let registry = crate::example_images::start_registry(plane, namespace, placement).await?;
        std::fs::write(
            crate::example_images::address_file(state_dir),
            &registry.host,
        )?;
        if let Some(layout) = &runnable {
            std::fs::write(&runnable_file, layout.as_os_str().as_encoded_bytes())?;
        }
        Some(registry)
    } else {
        eprintln!(
            "docker-registry is not installed: the image loop is skipped (`cargo xtask prerequisites` installs it)"
        );
        None
    };
    // Anyone may clone (source-controller does, without a Secret); pushing takes the password.
    let password: String = (0..16)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random_range(0..36)]))
        .collect();
    let server = GitServer::start_accepting_pushes_on(
        GitAuth::default(),
        PUSH_USER,
        &password,
        placement.listen_on(),
    )?;
    let repo = server.create_repo("podinfo")?;
    let files: Vec<(&str, String)> = crate::fixtures::PODINFO
        .iter()
        .map(|(path, text)| {
            let text = match &registry {
                Some(registry) if *path == "deploy/deployment.yaml" => {
                    crate::example_images::marked_deployment(
                        text,
                        &registry.host,
                        namespace,
                        runnable.is_some(),
                    )
                }
                _ => (*text).to_owned(),
            };
            (*path, text)
        })
        .collect();
    let mut files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    files.extend_from_slice(HELLO_CHART);
    repo.commit(&files, "Add podinfo")?;
    repo.push("main")?;
    eprintln!(
        "git server                   {} (push as {PUSH_USER} / {password})\n  git clone http://{PUSH_USER}:{password}@{}/podinfo.git",
        server.url("podinfo"),
        server.addr
    );

    // The push credentials, for the image automation's commits.
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "podinfo-git", "namespace": namespace },
        "stringData": { "username": PUSH_USER, "password": password },
    });
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(plane.client().await?, namespace)
        .patch(
            "podinfo-git",
            &PatchParams::apply("driftless-xtask"),
            &Patch::Apply(&secret),
        )
        .await
        .context("applying the example's Git credentials")?;
    let object = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": { "name": "podinfo", "namespace": namespace },
        "spec": {
            "url": server.url("podinfo"),
            "interval": "1m",
            "ref": { "branch": "main" },
            "secretRef": { "name": "podinfo-git" },
        },
    });
    let api: Api<GitRepository> = Api::namespaced(plane.client().await?, namespace);
    api.patch(
        "podinfo",
        &PatchParams::apply("driftless-xtask"),
        &Patch::Apply(&object),
    )
    .await
    .context("applying the example GitRepository")?;

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let current = api.get("podinfo").await?;
        let status = current.status.clone().unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        if let (Some(ready), Some(artifact)) = (ready, &status.artifact)
            && ready.status == "True"
        {
            eprintln!(
                "GitRepository {namespace}/podinfo  Ready  {}\n  artifact {} ({} bytes, {})",
                ready.message,
                artifact.url,
                artifact.size.unwrap_or_default(),
                artifact.digest
            );
            apply_kustomization(plane, namespace, placement.node.is_some()).await?;
            apply_helm_release(plane, namespace).await?;
            if let Some(registry) = &registry {
                crate::example_images::run(plane, namespace, registry, runnable).await?;
            }
            return Ok(Example {
                git: server,
                registry,
            });
        }
        if Instant::now() > deadline {
            bail!(
                "GitRepository podinfo not Ready after 60s: {}",
                serde_json::to_string(&status.conditions)?
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A small chart in the example repository, released by the example HelmRelease.
const HELLO_CHART: &[(&str, &str)] = &[
    (
        "charts/hello/Chart.yaml",
        "apiVersion: v2\nname: hello\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    ),
    (
        "charts/hello/values.yaml",
        "greeting: Hello from a HelmRelease\n",
    ),
    (
        "charts/hello/templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n",
    ),
];

/// Applies the HelmRelease `hello` (the chart `./charts/hello` of the example repository,
/// into the namespace `podinfo`) and waits until helm-controller reports it Ready.
async fn apply_helm_release(plane: &ControlPlane, namespace: &str) -> anyhow::Result<()> {
    let object = serde_json::json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": { "name": "hello", "namespace": namespace },
        "spec": {
            "interval": "5m",
            "targetNamespace": "podinfo",
            "releaseName": "hello",
            "chart": { "spec": {
                "chart": "./charts/hello",
                "sourceRef": { "kind": "GitRepository", "name": "podinfo" },
            }},
            "values": { "greeting": "Hello from Driftless" },
        },
    });
    let api: Api<HelmRelease> = Api::namespaced(plane.client().await?, namespace);
    api.patch(
        "hello",
        &PatchParams::apply("driftless-xtask"),
        &Patch::Apply(&object),
    )
    .await
    .context("applying the example HelmRelease")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = api.get("hello").await?.status.unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        if let Some(ready) = ready.filter(|r| r.status == "True") {
            eprintln!("HelmRelease {namespace}/hello  Ready  {}", ready.message);
            // Records live in the storage namespace, the HelmRelease's own, as in Flux.
            eprintln!(
                "  helm list -n {namespace}   (the real helm reads the release; its objects are in podinfo)"
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "HelmRelease hello not Ready after 60s: {}",
                serde_json::to_string(&status.conditions)?
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Applies the Kustomization `podinfo` (path `./deploy`, into the namespace `podinfo`) and
/// waits until kustomize-controller reports it Ready. With `pods_run`, the Kustomization
/// waits for what it applied, so Ready means podinfo's Pods passed their readiness probe.
async fn apply_kustomization(
    plane: &ControlPlane,
    namespace: &str,
    pods_run: bool,
) -> anyhow::Result<()> {
    let mut object = serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": { "name": "podinfo", "namespace": namespace },
        "spec": {
            "interval": "5m",
            "path": "./deploy",
            "prune": true,
            "targetNamespace": "podinfo",
            "sourceRef": { "kind": "GitRepository", "name": "podinfo" },
        },
    });
    if pods_run {
        object["spec"]["wait"] = true.into();
        object["spec"]["timeout"] = "3m".into();
    }
    let api: Api<Kustomization> = Api::namespaced(plane.client().await?, namespace);
    api.patch(
        "podinfo",
        &PatchParams::apply("driftless-xtask"),
        &Patch::Apply(&object),
    )
    .await
    .context("applying the example Kustomization")?;
    let wait = Duration::from_secs(if pods_run { 200 } else { 60 });
    let deadline = Instant::now() + wait;
    loop {
        let status = api.get("podinfo").await?.status.unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        if let Some(ready) = ready.filter(|r| r.status == "True") {
            eprintln!(
                "Kustomization {namespace}/podinfo  Ready  {}",
                ready.message
            );
            for entry in status.inventory.map(|i| i.entries).unwrap_or_default() {
                eprintln!("  applied {}", entry.id);
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "Kustomization podinfo not Ready after {}s: {}",
                wait.as_secs(),
                serde_json::to_string(&status.conditions)?
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
