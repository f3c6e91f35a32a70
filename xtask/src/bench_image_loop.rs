//! The loop time of `cargo xtask bench images` (c): with release builds of all four
//! controllers, a new image pushed to a local `docker-registry` whose notifications go to a
//! `generic` Receiver, until the Deployment in the cluster carries it — scan, policy,
//! automation commit and push, GitRepository fetch (requested by the automation), apply.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use driftless_testenv::ControlPlane;
use driftless_testenv::controller::ControllerProcess;
use driftless_testenv::git::{GitAuth, GitServer};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use serde_json::json;

use crate::bench::start_controller;

/// The release binaries the loop runs.
pub struct LoopBinaries<'a> {
    pub source: &'a Path,
    pub kustomize: &'a Path,
    pub images: &'a Path,
    pub notification: &'a Path,
}

/// The target for the loop on this machine.
const TARGET: Duration = Duration::from_secs(2);

async fn create(
    client: &kube::Client,
    namespace: &str,
    object: serde_json::Value,
) -> anyhow::Result<()> {
    driftless_testenv::objects::apply_json(client, namespace, object).await?;
    Ok(())
}

async fn image_of(deployments: &Api<Deployment>) -> Option<String> {
    deployments
        .get("app")
        .await
        .ok()?
        .spec?
        .template
        .spec?
        .containers
        .first()?
        .image
        .clone()
}

async fn wait_image(
    deployments: &Api<Deployment>,
    wanted: &str,
    logs: &dyn Fn() -> String,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while image_of(deployments).await.as_deref() != Some(wanted) {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the Deployment never ran {wanted}\n{}", logs());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Runs `rounds` pushes through the loop; returns each push-to-applied time.
pub async fn run(
    plane: &ControlPlane,
    binaries: &LoopBinaries<'_>,
    rounds: usize,
) -> anyhow::Result<Vec<Duration>> {
    let namespace = plane.namespace("bench-loop").await?;
    let client = plane.client().await?;
    let [events_port, receiver_port, storage_port] = driftless_testenv::free_ports()?;
    let storage = tempfile::tempdir()?;
    let confined = |extra: &[String]| {
        let mut args = vec![
            "--watch-all-namespaces=false".to_owned(),
            format!("--runtime-namespace={namespace}"),
            "--log-level=error".to_owned(),
        ];
        args.extend_from_slice(extra);
        args
    };
    let events = format!("--events-addr=http://127.0.0.1:{events_port}/");
    let mut running: Vec<ControllerProcess> = vec![
        start_controller(
            plane,
            "notification-controller",
            binaries.notification,
            &confined(&[
                format!("--events-addr=127.0.0.1:{events_port}"),
                format!("--receiver-addr=127.0.0.1:{receiver_port}"),
            ]),
        )?,
        start_controller(
            plane,
            "source-controller",
            binaries.source,
            &confined(&[
                events.clone(),
                format!(
                    "--storage-path={}",
                    storage.path().join("artifacts").display()
                ),
                format!("--storage-addr=127.0.0.1:{storage_port}"),
            ]),
        )?,
        start_controller(
            plane,
            "kustomize-controller",
            binaries.kustomize,
            &confined(std::slice::from_ref(&events)),
        )?,
        start_controller(
            plane,
            "image-automation-controller",
            binaries.images,
            &confined(&[
                events,
                format!("--storage-path={}", storage.path().join("images").display()),
            ]),
        )?,
    ];
    let registry = crate::example_images::notifying_registry(
        &client,
        &namespace,
        &format!("http://127.0.0.1:{receiver_port}"),
        "app",
        std::net::Ipv4Addr::LOCALHOST,
    )
    .await?;
    registry.push("app", "1.0.0").await?;
    let image = registry.image("app");
    let git = GitServer::start_accepting_pushes(GitAuth::default(), "bot", "pushpass")?;
    let repo = git.create_repo("fleet")?;
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {{app: app}}\n  template:\n    metadata:\n      labels: {{app: app}}\n    spec:\n      containers:\n        - name: app\n          image: {image}:1.0.0 # {{\"$imagepolicy\": \"{namespace}:app\"}}\n"
    );
    repo.commit(&[("deploy/deployment.yaml", &deployment)], "initial")?;
    repo.push("main")?;
    for object in [
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git"}, "stringData": {"username": "bot", "password": "pushpass"}}),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": {"name": "fleet"},
               "spec": {"url": git.url("fleet"), "interval": "1h", "ref": {"branch": "main"}, "secretRef": {"name": "git"}}}),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "fleet"},
               "spec": {"interval": "1h", "prune": true, "path": "./deploy", "targetNamespace": namespace,
                        "sourceRef": {"kind": "GitRepository", "name": "fleet"}}}),
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository", "metadata": {"name": "app"},
               "spec": {"image": image, "interval": "1h", "insecure": true}}),
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy", "metadata": {"name": "app"},
               "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}}}),
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation", "metadata": {"name": "fleet"},
               "spec": {"interval": "1h", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                        "git": {"commit": {"author": {"email": "bench@example.com"}}},
                        "update": {"strategy": "Setters", "path": "./deploy"}}}),
    ] {
        create(&client, &namespace, object).await?;
    }
    let logs = || {
        running
            .iter()
            .map(|c| c.log_tail(10))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    wait_image(&deployments, &format!("{image}:1.0.0"), &logs).await?;
    let mut times = Vec::new();
    for round in 1..=rounds {
        let tag = format!("1.{round}.0");
        let pushed = Instant::now();
        registry.push("app", &tag).await?;
        wait_image(&deployments, &format!("{image}:{tag}"), &logs).await?;
        times.push(pushed.elapsed());
    }
    for controller in &mut running {
        controller.terminate(Duration::from_secs(10));
    }
    Ok(times)
}

/// Prints the loop times.
pub fn report(times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let max = sorted.last().copied().unwrap_or_default();
    println!(
        "  image push → Deployment {} rounds: median {} ms, max {} ms (target < {} ms){}",
        times.len(),
        median.as_millis(),
        max.as_millis(),
        TARGET.as_millis(),
        if max < TARGET { "" } else { " MISSED" }
    );
}
