//! The example `cargo xtask up` reconciles: a local Git server with a small application
//! repository, a GitRepository pointing at it (shown Ready with its artifact), and a
//! Kustomization applying it to the cluster (shown Ready with what it applied).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftless_api::kustomize::Kustomization;
use driftless_api::source::GitRepository;
use driftless_testenv::ControlPlane;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::{Api, Patch, PatchParams};

/// The user `git push` authenticates as; the password is new on every run.
const PUSH_USER: &str = "driftless";

/// Starts the Git server, pushes the example repository, applies the GitRepository and waits
/// until it is Ready. The server lives as long as the returned value.
pub async fn start(plane: &ControlPlane, namespace: &str) -> anyhow::Result<GitServer> {
    // Anyone may clone (source-controller does, without a Secret); pushing takes the password.
    let password: String = (0..16)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random_range(0..36)]))
        .collect();
    let server = GitServer::start_accepting_pushes(GitAuth::default(), PUSH_USER, &password)?;
    let repo = server.create_repo("podinfo")?;
    repo.commit(crate::fixtures::PODINFO, "Add podinfo")?;
    repo.push("main")?;
    eprintln!(
        "git server                   {} (push as {PUSH_USER} / {password})\n  git clone http://{PUSH_USER}:{password}@{}/podinfo.git",
        server.url("podinfo"),
        server.addr
    );

    let object = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": { "name": "podinfo", "namespace": namespace },
        "spec": {
            "url": server.url("podinfo"),
            "interval": "1m",
            "ref": { "branch": "main" },
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
            apply_kustomization(plane, namespace).await?;
            return Ok(server);
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

/// Applies the Kustomization `podinfo` (path `./deploy`, into the namespace `podinfo`) and
/// waits until kustomize-controller reports it Ready.
async fn apply_kustomization(plane: &ControlPlane, namespace: &str) -> anyhow::Result<()> {
    let object = serde_json::json!({
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
    let api: Api<Kustomization> = Api::namespaced(plane.client().await?, namespace);
    api.patch(
        "podinfo",
        &PatchParams::apply("driftless-xtask"),
        &Patch::Apply(&object),
    )
    .await
    .context("applying the example Kustomization")?;
    let deadline = Instant::now() + Duration::from_secs(60);
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
                "Kustomization podinfo not Ready after 60s: {}",
                serde_json::to_string(&status.conditions)?
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
