//! Every kind of `spec.ref` resolves to Flux's revision format, and the artifact it yields
//! is served, verified and reproducible.

use std::time::Duration;

use driftless_api::source::GitRepository;
use driftless_testenv::conditions::has_condition;
use driftless_testenv::git::{GitAuth, GitServer};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};

use crate::support::*;
use crate::{init_tls, revision};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ref_kind_yields_flux_revisions_and_served_verified_artifacts() {
    let (plane, namespace, client) = setup("gitrefs").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("app").unwrap();
    let first = repo
        .commit(
            &[
                ("deploy/app.yaml", "replicas: 1\n"),
                ("README.md", "# app\n"),
            ],
            "first",
        )
        .unwrap();
    repo.tag("v1.0.0", Some("release 1.0.0")).unwrap();
    repo.push_ref("refs/pull/7/head").unwrap();
    repo.push("main").unwrap();
    let second = repo
        .commit(&[("deploy/app.yaml", "replicas: 2\n")], "second")
        .unwrap();
    repo.tag("v1.1.0", None).unwrap();
    repo.tag("v2.0.0-rc.1", None).unwrap();
    repo.push("main").unwrap();
    repo.push("master").unwrap();

    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let url = server.url("app");
    let cases = [
        (
            "default",
            serde_json::json!({}),
            format!("master@sha1:{second}"),
            "replicas: 2\n",
        ),
        (
            "branch",
            serde_json::json!({"ref": {"branch": "main"}}),
            format!("main@sha1:{second}"),
            "replicas: 2\n",
        ),
        (
            "annotated-tag",
            serde_json::json!({"ref": {"tag": "v1.0.0"}}),
            format!("v1.0.0@sha1:{first}"),
            "replicas: 1\n",
        ),
        (
            "semver",
            serde_json::json!({"ref": {"semver": ">=1.0.0 <2.0.0"}}),
            format!("v1.1.0@sha1:{second}"),
            "replicas: 2\n",
        ),
        (
            "name",
            serde_json::json!({"ref": {"name": "refs/pull/7/head"}}),
            format!("refs/pull/7/head@sha1:{first}"),
            "replicas: 1\n",
        ),
        (
            "commit",
            serde_json::json!({"ref": {"commit": first}}),
            format!("sha1:{first}"),
            "replicas: 1\n",
        ),
        (
            "commit-on-branch",
            serde_json::json!({"ref": {"branch": "main", "commit": first}}),
            format!("main@sha1:{first}"),
            "replicas: 1\n",
        ),
    ];
    for (name, spec, _, _) in &cases {
        create_git_repository(&api, name, &url, spec.clone()).await;
    }
    for (name, _, expected_revision, content) in &cases {
        let object = wait_ready(&api, name, &controller).await;
        assert_eq!(&revision(&object), expected_revision, "{name}");
        assert_eq!(
            ready_message(&object),
            format!("stored artifact for revision '{expected_revision}'"),
            "{name}"
        );
        let status = object.status.as_ref().unwrap();
        assert!(
            has_condition(&status.conditions, "ArtifactInStorage", "True"),
            "{name}"
        );
        let artifact = status.artifact.as_ref().unwrap();
        assert_eq!(
            artifact.url,
            format!("http://{}/{}", controller.storage_addr, artifact.path),
            "{name}"
        );
        assert!(
            artifact
                .path
                .starts_with(&format!("gitrepository/{namespace}/{name}/")),
            "{name}: {}",
            artifact.path
        );
        let (_, tree) = download(&object).await;
        assert_eq!(
            String::from_utf8_lossy(&tree["deploy/app.yaml"].data),
            *content,
            "{name}"
        );
        assert_eq!(files(&tree), ["README.md", "deploy/app.yaml"], "{name}");
    }

    // The same tree yields the same artifact bytes, whichever ref reached it.
    let digest = |o: &GitRepository| {
        o.status
            .as_ref()
            .unwrap()
            .artifact
            .as_ref()
            .unwrap()
            .digest
            .clone()
    };
    let tag = api.get("annotated-tag").await.unwrap();
    let commit = api.get("commit").await.unwrap();
    assert_eq!(digest(&tag), digest(&commit));

    // A new artifact is announced with Flux's event.
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list = events.list(&ListParams::default()).await.unwrap();
        let found = list.items.iter().any(|e| {
            e.reason.as_deref() == Some("NewArtifact")
                && e.involved_object.name.as_deref() == Some("branch")
                && e.message.as_deref() == Some("stored artifact for commit 'second'")
        });
        if found {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no NewArtifact event: {:?}",
            list.items
                .iter()
                .map(|e| (&e.reason, &e.message))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Deleting the object removes its artifacts and lets it go.
    let dir = controller
        .storage_path()
        .join(format!("gitrepository/{namespace}/branch"));
    assert!(dir.exists());
    api.delete("branch", &Default::default()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while api.get_opt("branch").await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "finalizer never released"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!dir.exists(), "artifacts of a deleted object remain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_produce_the_same_digest() {
    init_tls();
    let plane = driftless_testenv::shared().await.expect("control plane");
    let client = plane.client().await.unwrap();
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("stable").unwrap();
    repo.commit(
        &[
            ("a/b/c.yaml", "c: 1\n"),
            ("a/z.yaml", "z\n"),
            ("top.yaml", "t\n"),
        ],
        "stable",
    )
    .unwrap();
    repo.push("main").unwrap();
    let mut digests = Vec::new();
    for prefix in ["digest-a", "digest-b"] {
        let namespace = plane.namespace(prefix).await.unwrap();
        let controller = SourceController::start(plane, &namespace, &[]);
        let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
        create_following(&api, "stable", &server.url("stable"), "main").await;
        let object = wait_ready(&api, "stable", &controller).await;
        let (bytes, _) = download(&object).await;
        digests.push((object.status.unwrap().artifact.unwrap().digest, bytes));
    }
    assert_eq!(digests[0].0, digests[1].0);
    assert_eq!(digests[0].1, digests[1].1);
}
