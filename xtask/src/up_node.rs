//! `cargo xtask up --node`: the example on a control plane with a node, the controllers
//! running as Pods from the images `cargo xtask images` makes, installed by the real `helm`
//! from `charts/driftless`, as an operator installs Driftless on a cluster.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftless_runtime::health::{Health, health};
use driftless_testenv::registry::{Registry, RegistryOptions};
use driftless_testenv::{ControlPlane, Node, NodeBinaries, Options};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};

use crate::example::Placement;
use crate::images::ImagesOptions;

const NAMESPACE: &str = "flux-system";
/// The tag the images are pushed under; the chart pins them by digest anyway.
const TAG: &str = "dev";

/// What runs until Ctrl-C (or until ready, with `exit_when_ready`).
pub struct UpOnNode<'a> {
    /// The controllers' static binaries, as `cargo xtask images` takes them.
    pub controllers: &'a [crate::images::ControllerBinaries],
    pub exit_when_ready: bool,
    /// Where the images, values and the registry's address are kept for later commands.
    pub state_dir: &'a Path,
    /// When `cargo xtask up` started, builds included.
    pub since: Instant,
}

/// Starts the plane and its node, pushes the images, installs the chart with `helm`, runs the
/// example against the controllers' Pods, and waits for Ctrl-C.
pub async fn run(up: UpOnNode<'_>) -> anyhow::Result<()> {
    let helm = driftless_testenv::HELM
        .path()
        .context("helm is not installed: run `cargo xtask prerequisites`")?;
    // The node pulls every image from it, the controllers' and the example's.
    if !crate::example_images::available() {
        bail!("docker-registry is not installed: run `cargo xtask prerequisites`");
    }
    std::fs::create_dir_all(up.state_dir)
        .with_context(|| format!("creating {}", up.state_dir.display()))?;
    let started = Instant::now();
    eprintln!(
        "==> starting etcd, kube-apiserver, kube-controller-manager and a node (kubelet, containerd, kube-proxy, CoreDNS) ..."
    );
    // The chart installs the CRDs, as on any cluster.
    let plane = ControlPlane::start(Options {
        node: true,
        install_crds: false,
        ..Options::default()
    })
    .await
    .context("starting the control plane with a node")?;
    let node = plane.node().context("the control plane has no node")?;
    eprintln!(
        "control plane and node {} ready in {:.1}s at {}",
        node.name,
        plane.started_in().as_secs_f64(),
        plane.server()
    );

    let registry = Registry::start(RegistryOptions {
        listen_on: Some(node.host_ip),
        ..RegistryOptions::default()
    })
    .context("starting the registry for the controllers' images")?;
    node.allow_plain_http(&registry.host)?;
    let values = up.state_dir.join("images-values.yaml");
    eprintln!("==> pushing the controllers' images to {}", registry.host);
    crate::images::run(
        up.controllers,
        &ImagesOptions {
            out: up.state_dir.join("images"),
            tag: TAG.to_owned(),
            registry: Some(format!("{}/driftless/", registry.host)),
            insecure: true,
            values: Some(values.clone()),
        },
        &mut std::io::stderr(),
    )
    .await?;

    let installed = Instant::now();
    helm_install(&helm, &plane, &values)?;
    eprintln!(
        "helm install driftless: five controllers Ready in {:.1}s",
        installed.elapsed().as_secs_f64()
    );
    let client = plane.client().await?;
    let receiver_url = receiver_url(&client, node).await?;
    eprintln!("webhook receiver             {receiver_url}/hook/… (NodePort)");

    let example = crate::example::start(
        &plane,
        NAMESPACE,
        &Placement {
            receiver_url,
            node: Some(node),
            runnable: Some(
                NodeBinaries::locate()
                    .context("agnhost's image is missing: run `cargo xtask testenv build`")?
                    .agnhost_archive,
            ),
        },
        up.state_dir,
    )
    .await?;
    settle_rollout(&client, "podinfo", "podinfo").await;
    eprintln!();
    for namespace in [NAMESPACE, "podinfo"] {
        print_pods(&client, namespace).await?;
    }
    eprintln!(
        "\nDriftless is up on a node in {:.1}s ({:.0}s with builds). The controllers run as Pods:\n  kubectl -n {NAMESPACE} logs deploy/kustomize-controller\n  helm list -A",
        started.elapsed().as_secs_f64(),
        up.since.elapsed().as_secs_f64(),
    );
    println!("export KUBECONFIG={}", plane.kubeconfig_path().display());
    if !up.exit_when_ready {
        eprintln!("\nPress Ctrl-C to stop.");
        tokio::signal::ctrl_c().await?;
    }
    drop(example);
    drop(registry);
    plane.stop();
    eprintln!("stopped");
    Ok(())
}

/// `helm install` of the chart in this checkout with the images just pushed; `--wait` returns
/// once every controller's Deployment is Ready through its probes.
fn helm_install(helm: &Path, plane: &ControlPlane, values: &Path) -> anyhow::Result<()> {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/driftless");
    let status = Command::new(helm)
        .env("KUBECONFIG", plane.kubeconfig_path())
        // Helm's caches and repositories stay with this control plane, not the user's.
        .env("HELM_CACHE_HOME", plane.dir().join("helm/cache"))
        .env("HELM_CONFIG_HOME", plane.dir().join("helm/config"))
        .env("HELM_DATA_HOME", plane.dir().join("helm/data"))
        .args(["install", "driftless"])
        .arg(&chart)
        .args(["--namespace", NAMESPACE, "--create-namespace", "--values"])
        .arg(values)
        // stdout is for `export KUBECONFIG=…` alone.
        .stdout(std::io::stderr())
        .args([
            "--set",
            &format!("eventsAddr=http://notification-controller.{NAMESPACE}.svc.cluster.local./"),
            "--set",
            "webhookReceiver.service.type=NodePort",
            "--wait",
            "--timeout",
            "5m",
        ])
        .status()
        .context("running helm")?;
    if !status.success() {
        bail!(
            "helm install failed ({status}); `kubectl -n {NAMESPACE} get pods` and `kubectl -n {NAMESPACE} logs` show why"
        );
    }
    Ok(())
}

/// The webhook receiver as the host reaches it: the Service's node port on the node's IP.
async fn receiver_url(client: &kube::Client, node: &Node) -> anyhow::Result<String> {
    let service = Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .get("webhook-receiver")
        .await
        .context("reading the webhook-receiver Service")?;
    let port = service
        .spec
        .and_then(|spec| spec.ports?.first()?.node_port)
        .context("the webhook-receiver Service has no node port")?;
    Ok(format!("http://{}:{port}", node.node_ip))
}

/// Waits (a minute at most) until Deployment `namespace/name` has rolled out its latest
/// template, so the Pods listed are the ones that stay: the image loop has just changed it.
async fn settle_rollout(client: &kube::Client, namespace: &str, name: &str) {
    let deployments = Api::<Deployment>::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        // kstatus, as a `wait: true` Kustomization judges it: every replica updated and
        // available, no old one left.
        if let Ok(deployment) = deployments.get(name).await
            && serde_json::to_value(&deployment).is_ok_and(|d| health(&d) == Health::Current)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("Deployment {namespace}/{name} is still rolling out after a minute");
}

/// One line per Pod of `namespace`: phase, readiness, restarts and image.
async fn print_pods(client: &kube::Client, namespace: &str) -> anyhow::Result<()> {
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?;
    // Pods on their way out (the image loop's last rollout) are not what runs.
    for pod in pods
        .into_iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
    {
        let name = pod.metadata.name.unwrap_or_default();
        let status = pod.status.unwrap_or_default();
        let containers = status.container_statuses.unwrap_or_default();
        let ready = containers.iter().filter(|c| c.ready).count();
        let restarts: i32 = containers.iter().map(|c| c.restart_count).sum();
        // The spec's image: the status names a digest-pinned image by its ID alone.
        let image = pod
            .spec
            .and_then(|spec| spec.containers.into_iter().next()?.image)
            .unwrap_or_default();
        eprintln!(
            "pod {namespace}/{name:<44} {:<8} ready {ready}/{}  restarts {restarts}  {image}",
            status.phase.unwrap_or_default(),
            containers.len()
        );
    }
    Ok(())
}
