//! `driftless bootstrap git` on the test node, as a Flux user runs `flux bootstrap git`: the
//! install and sync manifests land in the repository in Flux's layout, the controllers come
//! up as Pods, the sync applies the pushed commit, and what is committed next to it under
//! the cluster's path is applied too.

use driftless_api::kustomize::Kustomization;
use driftless_testenv::git::{GitAuth, GitServer};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

mod support;
use support::node_images::{driftless, image_flags, node_plane, push_controller_images};
use support::{ready, request_reconcile, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_commits_flux_layout_installs_and_syncs_the_cluster_path() {
    let (plane, client, registry) = node_plane(false).await;
    let node = plane.node().expect("the node");
    let digests = push_controller_images(&registry.host, "e2e").await;

    // A fleet repository with one commit, served on the node's link with basic auth.
    let git = GitServer::start_accepting_pushes_on(
        GitAuth {
            basic: Some(("fleet".into(), "s3cret".into())),
            bearer: None,
        },
        "fleet",
        "s3cret",
        node.host_ip,
    )
    .expect("git server");
    let repo = git.create_repo("fleet").expect("repo");
    repo.commit(&[("README.md", "# fleet\n")], "init")
        .expect("commit");
    repo.push("main").expect("push");

    let mut args = vec![
        "bootstrap".to_owned(),
        "git".to_owned(),
        format!("--url={}", git.url("fleet")),
        "--branch=main".to_owned(),
        "--path=clusters/test".to_owned(),
        "--username=fleet".to_owned(),
        "--password=s3cret".to_owned(),
        "--timeout=4m".to_owned(),
    ];
    args.extend(image_flags(&registry.host, "e2e", &digests));
    let (ok, text) = driftless(&plane, &args);
    assert!(ok, "{text}");
    assert!(text.trim_end().ends_with("✔ bootstrap finished"), "{text}");

    // The repository has Flux's layout, pushed on top of the first commit.
    repo.git(&["pull", "--ff-only", "origin", "main"])
        .expect("pull");
    for file in [
        "gotk-components.yaml",
        "gotk-sync.yaml",
        "kustomization.yaml",
    ] {
        let path = repo.work_dir().join("clusters/test/flux-system").join(file);
        assert!(path.is_file(), "{} is missing", path.display());
    }
    let head = repo.git(&["rev-parse", "HEAD"]).expect("rev-parse");
    let kustomizations = Api::<Kustomization>::namespaced(client.clone(), "flux-system");
    let sync = kustomizations.get("flux-system").await.expect("sync");
    let applied = sync.status.and_then(|s| s.last_applied_revision);
    assert_eq!(applied, Some(format!("main@sha1:{}", head.trim())));

    // The cluster's path is now managed from Git: a file committed beside flux-system lands.
    let config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fleet\n  namespace: default\ndata:\n  team: platform\n";
    repo.commit(
        &[("clusters/test/fleet.yaml", config_map)],
        "fleet settings",
    )
    .expect("commit");
    repo.push("main").expect("push");
    request_reconcile(
        &Api::<driftless_api::source::GitRepository>::namespaced(client.clone(), "flux-system"),
        "flux-system",
    )
    .await;
    request_reconcile(&kustomizations, "flux-system").await;
    let no_logs = || String::new();
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "default");
    wait_for(
        "the committed ConfigMap applied by the sync",
        async || config_maps.get_opt("fleet").await.ok().flatten(),
        &no_logs,
    )
    .await;
    let (status, _, message) =
        ready(&kustomizations.get("flux-system").await.expect("sync")).expect("a Ready condition");
    assert_eq!(status, "True", "{message}");
}
