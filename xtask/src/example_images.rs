//! The image loop of the example `cargo xtask up` runs: a local `docker-registry` holding
//! `stefanprodan/podinfo` images, whose push notifications reach a `generic` Receiver; an
//! ImageRepository, an ImagePolicy (`^6.x`) and an ImageUpdateAutomation writing the selected
//! tag into the example repository's Deployment; then one new image pushed and followed into
//! the cluster. `cargo xtask push-image <tag>` pushes another while `up` runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::example::Placement;
use anyhow::{Context, bail};
use driftless_api::image::ImageUpdateAutomation;
use driftless_api::notification::Receiver;
use driftless_testenv::ControlPlane;
use driftless_testenv::registry::{
    REGISTRY_BINARY, Registry, RegistryAuth, RegistryOptions, push_image, push_layout,
};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;

/// The repository the example's images live in, in the local registry.
pub const REPOSITORY: &str = "stefanprodan/podinfo";
/// Where `up` writes the registry's address for `push-image`.
pub fn address_file(state_dir: &Path) -> PathBuf {
    state_dir.join("registry")
}

/// Where `up --node` writes the layout of the runnable image, for `push-image`.
pub fn runnable_file(state_dir: &Path) -> PathBuf {
    state_dir.join("runnable-image")
}

/// Whether the loop can run here.
pub fn available() -> bool {
    Path::new(REGISTRY_BINARY).is_file()
}

async fn apply(
    client: &kube::Client,
    namespace: &str,
    object: serde_json::Value,
) -> anyhow::Result<()> {
    driftless_testenv::objects::apply_json(client, namespace, object).await?;
    Ok(())
}

/// Creates the `generic` Receiver `registry` for the ImageRepository `image_repository` and
/// starts a registry, listening on `listen_on`, whose push notifications go to it through
/// `receiver_url` (notification-controller's webhook receiver, e.g. `http://127.0.0.1:9292`).
pub async fn notifying_registry(
    client: &kube::Client,
    namespace: &str,
    receiver_url: &str,
    image_repository: &str,
    listen_on: std::net::Ipv4Addr,
) -> anyhow::Result<Registry> {
    apply(
        client,
        namespace,
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "registry-webhook"},
            "stringData": {"token": format!("{:x}", rand::random::<u64>())},
        }),
    )
    .await?;
    apply(client, namespace, serde_json::json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": {"name": "registry"},
        "spec": {"type": "generic", "secretRef": {"name": "registry-webhook"},
                 "resources": [{"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository", "name": image_repository}]},
    }))
    .await?;
    let receivers: Api<Receiver> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + Duration::from_secs(30);
    let path = loop {
        if let Some(path) = receivers
            .get("registry")
            .await?
            .status
            .and_then(|s| s.webhook_path)
        {
            break path;
        }
        if Instant::now() > deadline {
            bail!("the registry Receiver has no webhook path after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    Ok(Registry::start(RegistryOptions {
        notify: vec![format!("{receiver_url}{path}")],
        listen_on: Some(listen_on),
        ..RegistryOptions::default()
    })?)
}

/// Starts the example's registry (see [`notifying_registry`]) and pushes its first image.
pub async fn start_registry(
    plane: &ControlPlane,
    namespace: &str,
    placement: &Placement<'_>,
) -> anyhow::Result<Registry> {
    let client = plane.client().await?;
    let registry = notifying_registry(
        &client,
        namespace,
        &placement.receiver_url,
        "podinfo",
        placement.listen_on(),
    )
    .await?;
    if let Some(node) = placement.node {
        node.allow_plain_http(&registry.host)?;
    }
    push_podinfo(&registry.host, placement.runnable.as_deref(), "6.7.1").await?;
    eprintln!(
        "registry                     http://{} ({REPOSITORY}:6.7.1), notifying Receiver {namespace}/registry",
        registry.host
    );
    Ok(registry)
}

/// The example Deployment with its image from the local registry, marked for the policy.
/// With `runnable`, the image is Kubernetes' agnhost (see [`push_podinfo`]), told to serve
/// podinfo's port and readiness path.
pub fn marked_deployment(fixture: &str, host: &str, namespace: &str, runnable: bool) -> String {
    let args = if runnable {
        "\n          args: [\"netexec\", \"--http-port=9898\"]"
    } else {
        ""
    };
    fixture.replace(
        "image: ghcr.io/stefanprodan/podinfo:6.7.1",
        &format!(
            "image: {host}/{REPOSITORY}:6.7.1 # {{\"$imagepolicy\": \"{namespace}:podinfo\"}}{args}"
        ),
    )
}

/// Pushes `stefanprodan/podinfo:<tag>` to the plain-HTTP registry at `host`: the image of
/// the OCI layout `runnable` when Pods are to run it (there is no internet here to pull the
/// real podinfo from), a small placeholder otherwise. Returns the manifest digest.
pub async fn push_podinfo(
    host: &str,
    runnable: Option<&Path>,
    tag: &str,
) -> anyhow::Result<String> {
    Ok(match runnable {
        Some(layout) => push_layout(host, layout, REPOSITORY, tag).await?,
        None => push_image(host, None, &RegistryAuth::Anonymous, REPOSITORY, tag).await?,
    })
}

/// Applies the image objects and, once the automation has run, pushes 6.7.2 and follows it
/// into the cluster.
pub async fn run(
    plane: &ControlPlane,
    namespace: &str,
    registry: &Registry,
    runnable: Option<PathBuf>,
) -> anyhow::Result<()> {
    let client = plane.client().await?;
    for object in [
        serde_json::json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
            "metadata": {"name": "podinfo", "namespace": namespace},
            "spec": {"image": registry.image(REPOSITORY), "interval": "1h", "insecure": true}}),
        serde_json::json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
            "metadata": {"name": "podinfo", "namespace": namespace},
            "spec": {"imageRepositoryRef": {"name": "podinfo"}, "policy": {"semver": {"range": "^6.x"}}}}),
        serde_json::json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
            "metadata": {"name": "podinfo", "namespace": namespace},
            "spec": {"interval": "30m", "sourceRef": {"kind": "GitRepository", "name": "podinfo"},
                     "git": {"commit": {"author": {"name": "Driftless", "email": "driftless@example.com"},
                                        "messageTemplate": "Update {{ range .Changed.Changes }}{{ .NewValue }} {{ end }}\n\nAutomation: {{ .AutomationObject }}"}},
                     "update": {"strategy": "Setters", "path": "./deploy"}}}),
    ] {
        apply(&client, namespace, object).await?;
    }
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = automations.get("podinfo").await?.status.unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        if ready.is_some_and(|r| r.status == "True") {
            eprintln!(
                "ImageUpdateAutomation {namespace}/podinfo  Ready  {}",
                ready.map(|r| r.message.as_str()).unwrap_or_default()
            );
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "ImageUpdateAutomation podinfo not Ready after 60s: {}",
                serde_json::to_string(&status.conditions)?
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deployments: Api<Deployment> = Api::namespaced(client, "podinfo");
    let pushed = Instant::now();
    push_podinfo(&registry.host, runnable.as_deref(), "6.7.2").await?;
    let wanted = format!("{}:6.7.2", registry.image(REPOSITORY));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let image = deployments
            .get("podinfo")
            .await
            .ok()
            .and_then(|d| d.spec?.template.spec?.containers.first()?.image.clone());
        if image.as_deref() == Some(wanted.as_str()) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the podinfo Deployment did not reach {wanted} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let commit = automations
        .get("podinfo")
        .await?
        .status
        .and_then(|s| s.last_push_commit)
        .unwrap_or_default();
    eprintln!(
        "image loop                   pushed {REPOSITORY}:6.7.2 → commit {} → Deployment podinfo/podinfo runs it after {} ms",
        commit.get(..7).unwrap_or(&commit),
        pushed.elapsed().as_millis()
    );
    Ok(())
}

/// `cargo xtask push-image <tag>`: pushes `stefanprodan/podinfo:<tag>` to the registry a
/// running `cargo xtask up` started.
pub async fn push(state_dir: &Path, tag: &str) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let file = address_file(state_dir);
    let host = std::fs::read_to_string(&file)
        .with_context(|| format!("reading {} (is `cargo xtask up` running?)", file.display()))?;
    // `up --node` runs the images, so it pushes runnable ones.
    let runnable = std::fs::read_to_string(runnable_file(state_dir))
        .ok()
        .map(PathBuf::from);
    let digest = push_podinfo(host.trim(), runnable.as_deref(), tag).await?;
    println!("pushed {}/{REPOSITORY}:{tag} ({digest})", host.trim());
    Ok(())
}
