//! The example `cargo xtask up` reconciles: a local Git server with a small application
//! repository, and a GitRepository pointing at it, shown Ready with its artifact.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftless_api::source::GitRepository;
use driftless_testenv::ControlPlane;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::{Api, Patch, PatchParams};

/// Starts the Git server, pushes the example repository, applies the GitRepository and waits
/// until it is Ready. The server lives as long as the returned value.
pub async fn start(plane: &ControlPlane, namespace: &str) -> anyhow::Result<GitServer> {
    let server = GitServer::start(GitAuth::default())?;
    let repo = server.create_repo("podinfo")?;
    repo.commit(crate::fixtures::PODINFO, "Add podinfo")?;
    repo.push("main")?;
    eprintln!(
        "git server                   http://{}/ (repository podinfo.git)",
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
