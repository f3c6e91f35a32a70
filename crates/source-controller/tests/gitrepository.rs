//! GitRepository end to end: the real control plane, a real `git http-backend` on loopback,
//! and the source-controller binary.

mod support;

use std::time::Duration;

use driftless_api::source::GitRepository;
use driftless_testenv::git::{GitAuth, GitServer};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use support::*;

fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn revision(object: &GitRepository) -> String {
    object
        .status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .map(|a| a.revision.clone())
        .unwrap_or_default()
}

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
            status
                .conditions
                .iter()
                .any(|c| c.type_ == "ArtifactInStorage" && c.status == "True"),
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
async fn basic_and_bearer_auth_and_their_failures() {
    let (plane, namespace, client) = setup("gitauth").await;
    let server = GitServer::start(GitAuth {
        basic: Some(("git".into(), "s3cret".into())),
        bearer: Some("t0ken".into()),
    })
    .unwrap();
    let repo = server.create_repo("private").unwrap();
    let commit = repo.commit(&[("app.yaml", "a: 1\n")], "private").unwrap();
    repo.push("main").unwrap();
    let url = server.url("private");

    create_secret(
        &client,
        &namespace,
        "basic",
        &[("username", "git"), ("password", "s3cret")],
    )
    .await;
    create_secret(&client, &namespace, "bearer", &[("bearerToken", "t0ken")]).await;
    create_secret(
        &client,
        &namespace,
        "wrong",
        &[("username", "git"), ("password", "nope")],
    )
    .await;
    create_secret(
        &client,
        &namespace,
        "both",
        &[("username", "git"), ("bearerToken", "t0ken")],
    )
    .await;

    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let main = serde_json::json!({"ref": {"branch": "main"}});
    let with_secret = |secret: &str| serde_json::json!({"ref": {"branch": "main"}, "secretRef": {"name": secret}});
    create_git_repository(&api, "basic", &url, with_secret("basic")).await;
    create_git_repository(&api, "bearer", &url, with_secret("bearer")).await;
    create_git_repository(&api, "anonymous", &url, main.clone()).await;
    create_git_repository(&api, "wrong", &url, with_secret("wrong")).await;
    create_git_repository(&api, "missing", &url, with_secret("does-not-exist")).await;
    create_git_repository(&api, "both", &url, with_secret("both")).await;

    for name in ["basic", "bearer"] {
        let object = wait_ready(&api, name, &controller).await;
        assert_eq!(revision(&object), format!("main@sha1:{commit}"));
        download(&object).await;
    }
    for (name, fragment) in [
        ("anonymous", "authentication"),
        ("wrong", "authentication"),
        ("missing", "failed to get secret"),
        ("both", "username and bearerToken cannot both be set"),
    ] {
        let object = wait_not_ready(&api, name, &controller, "AuthenticationFailed").await;
        let status = object.status.as_ref().unwrap();
        let message = ready_message(&object);
        assert!(
            message.to_lowercase().contains(&fragment.to_lowercase()),
            "{name}: {message}"
        );
        let fetch_failed = status
            .conditions
            .iter()
            .find(|c| c.type_ == "FetchFailed")
            .unwrap();
        assert_eq!(fetch_failed.status, "True");
        assert_eq!(fetch_failed.reason, "AuthenticationFailed");
        // Retried, not stalled.
        assert!(
            status
                .conditions
                .iter()
                .any(|c| c.type_ == "Reconciling" && c.reason == "ProgressingWithRetry"),
            "{name}"
        );
        assert!(status.artifact.is_none());
        driftless_runtime::conditions::check_final_status(
            &status.conditions,
            object.metadata.generation,
            status.observed_generation,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Credentials never leave through the URL or status.
    let text = serde_json::to_string(&api.get("basic").await.unwrap()).unwrap();
    assert!(!text.contains("s3cret"));

    // Fixing the Secret recovers on the next retry.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), &namespace);
    secrets
        .patch(
            "wrong",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"stringData": {"password": "s3cret"}})),
        )
        .await
        .unwrap();
    request_reconcile(&api, "wrong", &controller).await;
    wait_ready(&api, "wrong", &controller).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_rules_and_sparse_checkout_shape_the_artifact() {
    let (plane, namespace, client) = setup("gitignore").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("shaped").unwrap();
    repo.commit(
        &[
            ("apps/app.yaml", "kind: App\n"),
            ("apps/logo.png", "png"),
            ("apps/secret.enc", "x"),
            ("apps/.sourceignore", "*.enc\n"),
            ("infra/db.yaml", "kind: DB\n"),
            ("infra/notes.txt", "n"),
            ("docs/guide.md", "g"),
            (".github/workflows/ci.yaml", "on: push\n"),
            ("bin/run.sh", "#!/bin/sh\n"),
        ],
        "tree",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        repo.work_dir().join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    // A symlink: Flux's archiver keeps regular files only.
    std::os::unix::fs::symlink("apps/app.yaml", repo.work_dir().join("link.yaml")).unwrap();
    repo.commit(&[], "executable and symlink").unwrap();
    repo.push("main").unwrap();

    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let url = server.url("shaped");
    create_git_repository(
        &api,
        "defaults",
        &url,
        serde_json::json!({"ref": {"branch": "main"}}),
    )
    .await;
    let ignore = "/*\n!/apps/\n!/infra/\ninfra/*.txt\n";
    create_git_repository(
        &api,
        "spec-ignore",
        &url,
        serde_json::json!({"ref": {"branch": "main"}, "ignore": ignore}),
    )
    .await;
    create_git_repository(
        &api,
        "sparse",
        &url,
        serde_json::json!({"ref": {"branch": "main"}, "sparseCheckout": ["infra"]}),
    )
    .await;

    let defaults = wait_ready(&api, "defaults", &controller).await;
    let (_, tree) = download(&defaults).await;
    // A .sourceignore replaces the default exclusions, as in Flux: the PNG and .github stay.
    assert_eq!(
        files(&tree),
        [
            ".github/workflows/ci.yaml",
            "apps/.sourceignore",
            "apps/app.yaml",
            "apps/logo.png",
            "bin/run.sh",
            "docs/guide.md",
            "infra/db.yaml",
            "infra/notes.txt",
        ]
    );
    assert!(tree["bin/run.sh"].executable);
    assert!(!tree["apps/app.yaml"].executable);
    assert_eq!(defaults.status.as_ref().unwrap().observed_ignore, None);

    let ignored = wait_ready(&api, "spec-ignore", &controller).await;
    let (_, tree) = download(&ignored).await;
    assert_eq!(
        files(&tree),
        // `!/apps/` in spec.ignore has the last word over apps/.sourceignore's `*.enc`.
        [
            "apps/.sourceignore",
            "apps/app.yaml",
            "apps/logo.png",
            "apps/secret.enc",
            "infra/db.yaml"
        ]
    );
    assert!(ignored.status.as_ref().unwrap().observed_ignore.is_some());

    let sparse = wait_ready(&api, "sparse", &controller).await;
    let (_, tree) = download(&sparse).await;
    assert_eq!(files(&tree), ["infra/db.yaml", "infra/notes.txt"]);
    assert_eq!(
        sparse.status.as_ref().unwrap().observed_sparse_checkout,
        ["infra"]
    );

    // Changing only the ignore rules rebuilds the artifact for the same revision.
    let before = revision(&ignored);
    api.patch(
        "spec-ignore",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"ignore": "/*\n!/infra/\n"}})),
    )
    .await
    .unwrap();
    let updated = wait_for(&api, "spec-ignore", &controller, "ignore applied", |o| {
        o.status.as_ref().and_then(|s| s.observed_ignore.as_deref()) == Some("/*\n!/infra/\n")
    })
    .await;
    assert_eq!(revision(&updated), before);
    let (_, tree) = download(&updated).await;
    assert_eq!(files(&tree), ["infra/db.yaml", "infra/notes.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_commits_force_pushes_no_clone_when_unchanged_and_garbage_collection() {
    let (plane, namespace, client) = setup("gitupdate").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("moving").unwrap();
    let first = repo.commit(&[("app.yaml", "v: 1\n")], "one").unwrap();
    repo.push("main").unwrap();

    let controller = SourceController::start(
        plane,
        &namespace,
        &[
            "--artifact-retention-records=2",
            "--artifact-retention-ttl=1h",
        ],
    );
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_git_repository(
        &api,
        "moving",
        &server.url("moving"),
        serde_json::json!({"ref": {"branch": "main"}}),
    )
    .await;
    let object = wait_ready(&api, "moving", &controller).await;
    assert_eq!(revision(&object), format!("main@sha1:{first}"));

    // Nothing new upstream: a reconcile lists refs and fetches no pack.
    server.clear_requests();
    let object = request_reconcile(&api, "moving", &controller).await;
    assert_eq!(revision(&object), format!("main@sha1:{first}"));
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.command.as_deref() == Some("ls-refs")),
        "{requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.command.as_deref() == Some("fetch")),
        "an unchanged remote was fetched: {requests:?}"
    );

    // A new commit becomes a new artifact.
    let second = repo.commit(&[("app.yaml", "v: 2\n")], "two").unwrap();
    repo.push("main").unwrap();
    let object = request_reconcile(&api, "moving", &controller).await;
    assert_eq!(revision(&object), format!("main@sha1:{second}"));
    let (_, tree) = download(&object).await;
    assert_eq!(tree["app.yaml"].data, b"v: 2\n");

    // History rewritten and force-pushed: the branch's new tip wins.
    repo.git(&["reset", "--quiet", "--hard", &first]).unwrap();
    let rewritten = repo.commit(&[("app.yaml", "v: 3\n")], "three").unwrap();
    repo.push("main").unwrap();
    let object = request_reconcile(&api, "moving", &controller).await;
    assert_eq!(revision(&object), format!("main@sha1:{rewritten}"));
    let (_, tree) = download(&object).await;
    assert_eq!(tree["app.yaml"].data, b"v: 3\n");

    // Three artifacts were written; two are retained, the current one among them.
    let dir = controller
        .storage_path()
        .join(format!("gitrepository/{namespace}/moving"));
    let mut stored: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    stored.sort();
    assert_eq!(stored.len(), 2, "{stored:?}");
    let current = object
        .status
        .as_ref()
        .unwrap()
        .artifact
        .as_ref()
        .unwrap()
        .path
        .clone();
    assert!(stored.iter().any(|f| current.ends_with(f.as_str())));

    // A corrupted artifact is detected by its digest and rebuilt.
    let current_file = controller.storage_path().join(&current);
    std::fs::write(&current_file, b"garbage").unwrap();
    let object = request_reconcile(&api, "moving", &controller).await;
    let (_, tree) = download(&object).await;
    assert_eq!(tree["app.yaml"].data, b"v: 3\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_fails_with_a_specific_reason_and_keeps_the_last_artifact() {
    let (plane, namespace, client) = setup("gitbad").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("good").unwrap();
    let commit = repo.commit(&[("app.yaml", "ok: true\n")], "good").unwrap();
    repo.tag("v0.1.0", None).unwrap();
    repo.push("main").unwrap();
    let big = server.create_repo("big").unwrap();
    big.commit(&[("blob.txt", &"x".repeat(4096))], "big")
        .unwrap();
    big.push("main").unwrap();

    let controller = SourceController::start(plane, &namespace, &["--max-source-bytes=2048"]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let url = server.url("good");
    let main = serde_json::json!({"ref": {"branch": "main"}});
    create_git_repository(&api, "kept", &url, main.clone()).await;
    create_git_repository(
        &api,
        "no-branch",
        &url,
        serde_json::json!({"ref": {"branch": "nope"}}),
    )
    .await;
    create_git_repository(
        &api,
        "no-tag",
        &url,
        serde_json::json!({"ref": {"tag": "v9"}}),
    )
    .await;
    create_git_repository(
        &api,
        "no-semver",
        &url,
        serde_json::json!({"ref": {"semver": ">=5.0.0"}}),
    )
    .await;
    create_git_repository(
        &api,
        "bad-semver",
        &url,
        serde_json::json!({"ref": {"semver": "not a range"}}),
    )
    .await;
    create_git_repository(&api, "no-repo", &server.url("missing"), main.clone()).await;
    let [closed] = driftless_testenv::free_ports().unwrap();
    create_git_repository(
        &api,
        "unreachable",
        &format!("http://127.0.0.1:{closed}/x.git"),
        main.clone(),
    )
    .await;
    create_git_repository(&api, "too-big", &server.url("big"), main.clone()).await;
    create_git_repository(
        &api,
        "bad-commit",
        &url,
        serde_json::json!({"ref": {"commit": "0123456789012345678901234567890123456789"}}),
    )
    .await;

    let kept = wait_ready(&api, "kept", &controller).await;
    for (name, reason, fragment) in [
        ("no-branch", "GitOperationFailed", "refs/heads/nope"),
        ("no-tag", "GitOperationFailed", "refs/tags/v9"),
        (
            "no-semver",
            "GitOperationFailed",
            "no tag matches semver constraint '>=5.0.0'",
        ),
        ("no-repo", "GitOperationFailed", "missing.git"),
        (
            "unreachable",
            "GitOperationFailed",
            &format!("127.0.0.1:{closed}"),
        ),
        (
            "too-big",
            "GitOperationFailed",
            "larger than the limit of 2048 bytes",
        ),
        (
            "bad-commit",
            "GitOperationFailed",
            "0123456789012345678901234567890123456789",
        ),
    ] {
        let object = wait_not_ready(&api, name, &controller, reason).await;
        let message = ready_message(&object);
        assert!(message.contains(fragment), "{name}: {message}");
        let status = object.status.as_ref().unwrap();
        assert!(
            status
                .conditions
                .iter()
                .any(|c| c.type_ == "FetchFailed" && c.status == "True"),
            "{name}"
        );
        driftless_runtime::conditions::check_final_status(
            &status.conditions,
            object.metadata.generation,
            status.observed_generation,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // An invalid constraint cannot heal by retrying: Stalled.
    let stalled = wait_not_ready(&api, "bad-semver", &controller, "GitOperationFailed").await;
    let status = stalled.status.as_ref().unwrap();
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True"),
        "{status:?}"
    );
    assert_eq!(status.observed_generation, stalled.metadata.generation);

    // Failure events are Warnings with the reason.
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let list = events.list(&ListParams::default()).await.unwrap();
    assert!(
        list.items
            .iter()
            .any(|e| e.involved_object.name.as_deref() == Some("no-branch")
                && e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some("GitOperationFailed"))
    );

    // Breaking a working object keeps its last artifact in status and in storage.
    let good_artifact = kept.status.as_ref().unwrap().artifact.clone().unwrap();
    api.patch(
        "kept",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"ref": {"branch": "gone"}}})),
    )
    .await
    .unwrap();
    let broken = wait_not_ready(&api, "kept", &controller, "GitOperationFailed").await;
    let status = broken.status.as_ref().unwrap();
    assert_eq!(status.artifact.as_ref(), Some(&good_artifact));
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "ArtifactInStorage" && c.status == "True")
    );
    assert_eq!(
        reqwest::get(&good_artifact.url).await.unwrap().status(),
        200,
        "the last good artifact is still served"
    );
    assert_eq!(good_artifact.revision, format!("main@sha1:{commit}"));
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
        create_git_repository(
            &api,
            "stable",
            &server.url("stable"),
            serde_json::json!({"ref": {"branch": "main"}}),
        )
        .await;
        let object = wait_ready(&api, "stable", &controller).await;
        let (bytes, _) = download(&object).await;
        digests.push((object.status.unwrap().artifact.unwrap().digest, bytes));
    }
    assert_eq!(digests[0].0, digests[1].0);
    assert_eq!(digests[0].1, digests[1].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_with_key_auth_known_hosts_and_passphrases() {
    use driftless_testenv::ssh::{SshGitServer, generate_key};
    let (plane, namespace, client) = setup("gitssh").await;
    let keys = tempfile::tempdir().unwrap();
    let plain = generate_key(keys.path(), "plain", None).unwrap();
    let protected = generate_key(keys.path(), "protected", Some("open sesame")).unwrap();
    let stranger = generate_key(keys.path(), "stranger", None).unwrap();
    let server = SshGitServer::start(&[&plain.public, &protected.public]).unwrap();
    let repo = server.create_repo("over-ssh").unwrap();
    let commit = repo.commit(&[("app.yaml", "via: ssh\n")], "ssh").unwrap();
    repo.push("main").unwrap();
    let url = server.url(&repo);
    let known_hosts = server.known_hosts();
    // Another host's key: what a man-in-the-middle would present.
    let other_host = generate_key(keys.path(), "other_host", None).unwrap();
    let wrong_hosts = format!(
        "[127.0.0.1]:{} {}",
        server.addr.port(),
        other_host.public.trim()
    );

    create_secret(
        &client,
        &namespace,
        "plain",
        &[("identity", &plain.private), ("known_hosts", &known_hosts)],
    )
    .await;
    create_secret(
        &client,
        &namespace,
        "protected",
        &[
            ("identity", &protected.private),
            ("known_hosts", &known_hosts),
            ("password", "open sesame"),
        ],
    )
    .await;
    create_secret(
        &client,
        &namespace,
        "stranger",
        &[
            ("identity", &stranger.private),
            ("known_hosts", &known_hosts),
        ],
    )
    .await;
    create_secret(
        &client,
        &namespace,
        "wrong-host",
        &[("identity", &plain.private), ("known_hosts", &wrong_hosts)],
    )
    .await;
    create_secret(
        &client,
        &namespace,
        "no-known-hosts",
        &[("identity", &plain.private)],
    )
    .await;

    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    for secret in [
        "plain",
        "protected",
        "stranger",
        "wrong-host",
        "no-known-hosts",
    ] {
        create_git_repository(
            &api,
            secret,
            &url,
            serde_json::json!({"ref": {"branch": "main"}, "secretRef": {"name": secret}}),
        )
        .await;
    }
    create_git_repository(
        &api,
        "no-secret",
        &url,
        serde_json::json!({"ref": {"branch": "main"}}),
    )
    .await;

    for name in ["plain", "protected"] {
        let object = wait_ready(&api, name, &controller).await;
        assert_eq!(revision(&object), format!("main@sha1:{commit}"));
        let (_, tree) = download(&object).await;
        assert_eq!(tree["app.yaml"].data, b"via: ssh\n");
    }
    for (name, fragment) in [
        ("stranger", "permission denied"),
        ("wrong-host", "host key verification failed"),
        ("no-known-hosts", "known_hosts"),
        ("no-secret", "secretref"),
    ] {
        let object = wait_not_ready(&api, name, &controller, "AuthenticationFailed").await;
        let message = ready_message(&object).to_lowercase();
        assert!(
            message.contains(fragment),
            "{name}: {message}\n{}",
            server.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_custom_ca() {
    let (plane, namespace, client) = setup("gittls").await;
    let server = GitServer::start_tls(GitAuth {
        basic: Some(("git".into(), "s3cret".into())),
        bearer: None,
    })
    .unwrap();
    let ca = server.ca_pem.clone().unwrap();
    let repo = server.create_repo("tls").unwrap();
    let commit = repo.commit(&[("app.yaml", "tls: true\n")], "tls").unwrap();
    repo.push("main").unwrap();
    let url = server.url("tls");
    assert!(url.starts_with("https://"));

    create_secret(
        &client,
        &namespace,
        "trusted",
        &[("username", "git"), ("password", "s3cret"), ("ca.crt", &ca)],
    )
    .await;
    create_secret(
        &client,
        &namespace,
        "untrusted",
        &[("username", "git"), ("password", "s3cret")],
    )
    .await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    for secret in ["trusted", "untrusted"] {
        create_git_repository(
            &api,
            secret,
            &url,
            serde_json::json!({"ref": {"branch": "main"}, "secretRef": {"name": secret}}),
        )
        .await;
    }
    let object = wait_ready(&api, "trusted", &controller).await;
    assert_eq!(revision(&object), format!("main@sha1:{commit}"));
    // Without the CA the server's certificate is not trusted.
    let object = wait_not_ready(&api, "untrusted", &controller, "GitOperationFailed").await;
    let message = ready_message(&object).to_lowercase();
    assert!(
        message.contains("certificate") || message.contains("tls"),
        "{message}"
    );
}

/// A GnuPG home with one signing key; `gpg` wrapped so git signs with it.
struct Signer {
    home: tempfile::TempDir,
    fingerprint: String,
    key_id: String,
    public: String,
}

impl Signer {
    fn new(email: &str) -> Self {
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        let gpg = |args: &[&str]| {
            let output = std::process::Command::new("gpg")
                .env("GNUPGHOME", home.path())
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        };
        gpg(&[
            "--quick-gen-key",
            &format!("Driftless Test <{email}>"),
            "ed25519",
            "sign",
            "never",
        ]);
        let listing = gpg(&["--with-colons", "--list-keys", email]);
        let fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .unwrap()
            .to_owned();
        let public = gpg(&["--armor", "--export", email]);
        let key_id = fingerprint[24..].to_owned();
        Self {
            home,
            fingerprint,
            key_id,
            public,
        }
    }

    /// Makes `repo` sign its commits and tags with this key.
    fn sign_in(&self, repo: &driftless_testenv::git::GitRepo) {
        let wrapper = self.home.path().join("gpg-wrapper");
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\nGNUPGHOME='{}' exec gpg --batch --pinentry-mode loopback --passphrase '' \"$@\"\n", self.home.path().display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        repo.git(&["config", "gpg.program", wrapper.to_str().unwrap()])
            .unwrap();
        repo.git(&["config", "user.signingkey", &self.fingerprint])
            .unwrap();
        repo.git(&["config", "commit.gpgSign", "true"]).unwrap();
        repo.git(&["config", "tag.gpgSign", "true"]).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openpgp_verification_of_commits_and_tags() {
    let (plane, namespace, client) = setup("gitverify").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let trusted = Signer::new("trusted@driftless.invalid");
    let stranger = Signer::new("stranger@driftless.invalid");
    let repo = server.create_repo("signed").unwrap();
    trusted.sign_in(&repo);
    let signed = repo
        .commit(&[("app.yaml", "signed: true\n")], "signed")
        .unwrap();
    repo.tag("v1.0.0", Some("signed release")).unwrap();
    repo.push("main").unwrap();
    repo.git(&["config", "commit.gpgSign", "false"]).unwrap();
    repo.git(&["config", "tag.gpgSign", "false"]).unwrap();
    let unsigned = repo
        .commit(&[("app.yaml", "signed: false\n")], "unsigned")
        .unwrap();
    repo.tag("v1.1.0", Some("unsigned release")).unwrap();
    repo.push("unsigned").unwrap();

    create_secret(
        &client,
        &namespace,
        "trusted-keys",
        &[("author.asc", &trusted.public)],
    )
    .await;
    create_secret(
        &client,
        &namespace,
        "stranger-keys",
        &[("author.asc", &stranger.public)],
    )
    .await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let url = server.url("signed");
    let spec = |reference: serde_json::Value, mode: &str, keys: &str| serde_json::json!({"ref": reference, "verify": {"mode": mode, "secretRef": {"name": keys}}});
    let main = serde_json::json!({"branch": "main"});
    create_git_repository(
        &api,
        "head",
        &url,
        spec(main.clone(), "HEAD", "trusted-keys"),
    )
    .await;
    create_git_repository(
        &api,
        "tag",
        &url,
        spec(
            serde_json::json!({"tag": "v1.0.0"}),
            "TagAndHEAD",
            "trusted-keys",
        ),
    )
    .await;
    create_git_repository(
        &api,
        "untrusted",
        &url,
        spec(main.clone(), "HEAD", "stranger-keys"),
    )
    .await;
    create_git_repository(
        &api,
        "unsigned",
        &url,
        spec(
            serde_json::json!({"branch": "unsigned"}),
            "HEAD",
            "trusted-keys",
        ),
    )
    .await;
    create_git_repository(
        &api,
        "unsigned-tag",
        &url,
        spec(serde_json::json!({"tag": "v1.1.0"}), "Tag", "trusted-keys"),
    )
    .await;
    create_git_repository(
        &api,
        "tag-on-branch",
        &url,
        spec(main.clone(), "Tag", "trusted-keys"),
    )
    .await;
    create_git_repository(&api, "no-keys", &url, spec(main.clone(), "HEAD", "missing")).await;

    let verified_message = |object: &GitRepository| {
        object
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "SourceVerified"))
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
            .unwrap()
    };
    let head = wait_ready(&api, "head", &controller).await;
    assert_eq!(revision(&head), format!("main@sha1:{signed}"));
    assert_eq!(
        verified_message(&head),
        (
            "True".to_owned(),
            "Succeeded".to_owned(),
            format!(
                "verified signature of\n\t- commit '{signed}' with key '{}'",
                trusted.key_id
            )
        )
    );
    assert_eq!(
        head.status.as_ref().unwrap().source_verification_mode,
        Some(driftless_api::source::GitVerificationMode::Head)
    );
    let tag = wait_ready(&api, "tag", &controller).await;
    let (status, _, message) = verified_message(&tag);
    assert_eq!(status, "True");
    assert!(
        message.contains("- tag '") && message.contains(&format!("- commit '{signed}'")),
        "{message}"
    );

    for (name, reason, fragment) in [
        (
            "untrusted",
            "InvalidCommitSignature",
            "no trusted key made its signature",
        ),
        (
            "unsigned",
            "InvalidCommitSignature",
            &format!("commit '{unsigned}' failed: it has no signature"),
        ),
        ("unsigned-tag", "InvalidTagSignature", "it has no signature"),
        (
            "tag-on-branch",
            "InvalidTagSignature",
            "a tag reference is not specified",
        ),
        ("no-keys", "VerificationError", "missing"),
    ] {
        let object = wait_not_ready(&api, name, &controller, reason).await;
        let (status, condition_reason, message) = verified_message(&object);
        assert_eq!(
            (status.as_str(), condition_reason.as_str()),
            ("False", reason),
            "{name}"
        );
        assert!(message.contains(fragment), "{name}: {message}");
        // Nothing unverified is ever published.
        assert!(object.status.as_ref().unwrap().artifact.is_none(), "{name}");
        let status = object.status.as_ref().unwrap();
        driftless_runtime::conditions::check_final_status(
            &status.conditions,
            object.metadata.generation,
            status.observed_generation,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_copies_other_artifacts_and_follows_their_changes() {
    let (plane, namespace, client) = setup("gitinclude").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let app = server.create_repo("app").unwrap();
    app.commit(
        &[
            ("deploy/app.yaml", "app: 1\n"),
            ("shared/stale.yaml", "old\n"),
        ],
        "app",
    )
    .unwrap();
    app.push("main").unwrap();
    let lib = server.create_repo("lib").unwrap();
    lib.commit(
        &[("manifests/base.yaml", "base: 1\n"), ("README.md", "lib\n")],
        "lib",
    )
    .unwrap();
    lib.push("main").unwrap();

    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let main = serde_json::json!({"branch": "main"});
    create_git_repository(
        &api,
        "lib",
        &server.url("lib"),
        serde_json::json!({"ref": main}),
    )
    .await;
    create_git_repository(
        &api,
        "app",
        &server.url("app"),
        serde_json::json!({
            "ref": main,
            "include": [
                {"repository": {"name": "lib"}, "fromPath": "manifests", "toPath": "shared"},
                {"repository": {"name": "lib"}},
            ],
        }),
    )
    .await;
    create_git_repository(
        &api,
        "missing-include",
        &server.url("app"),
        serde_json::json!({"ref": main, "include": [{"repository": {"name": "nope"}}]}),
    )
    .await;

    let lib_object = wait_ready(&api, "lib", &controller).await;
    let app_object = wait_ready(&api, "app", &controller).await;
    let (_, tree) = download(&app_object).await;
    assert_eq!(
        files(&tree),
        [
            "deploy/app.yaml",
            "lib/README.md",
            "lib/manifests/base.yaml",
            // The include replaces the repository's own shared/ directory.
            "shared/base.yaml",
        ]
    );
    let included = &app_object.status.as_ref().unwrap().included_artifacts;
    assert_eq!(included.len(), 2);
    assert_eq!(
        included[0],
        *lib_object
            .status
            .as_ref()
            .unwrap()
            .artifact
            .as_ref()
            .unwrap()
    );

    let missing = wait_not_ready(&api, "missing-include", &controller, "NotFound").await;
    let status = missing.status.as_ref().unwrap();
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "IncludeUnavailable" && c.status == "True")
    );
    assert!(ready_message(&missing).contains("include 'nope'"));

    // A failure that moves to another step leaves only the current one reported.
    create_git_repository(
        &api,
        "two-problems",
        &server.url("app"),
        serde_json::json!({
            "ref": main,
            "secretRef": {"name": "later"},
            "include": [{"repository": {"name": "nope"}}],
        }),
    )
    .await;
    let first = wait_not_ready(&api, "two-problems", &controller, "AuthenticationFailed").await;
    assert!(
        first
            .status
            .as_ref()
            .unwrap()
            .conditions
            .iter()
            .any(|c| c.type_ == "FetchFailed")
    );
    create_secret(
        &client,
        &namespace,
        "later",
        &[("username", "u"), ("password", "p")],
    )
    .await;
    let second = wait_not_ready(&api, "two-problems", &controller, "NotFound").await;
    let conditions = &second.status.as_ref().unwrap().conditions;
    assert!(
        !conditions.iter().any(|c| c.type_ == "FetchFailed"),
        "{conditions:?}"
    );
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "IncludeUnavailable" && c.status == "True")
    );

    // A new revision of the included repository rebuilds the includer without being asked.
    lib.commit(&[("manifests/base.yaml", "base: 2\n")], "lib two")
        .unwrap();
    lib.push("main").unwrap();
    request_reconcile(&api, "lib", &controller).await;
    let rebuilt = wait_for(
        &api,
        "app",
        &controller,
        "rebuilt with the new include",
        |o| {
            o.status.as_ref().is_some_and(|s| {
                s.included_artifacts.first().map(|a| a.revision.clone())
                    != included.first().map(|a| a.revision.clone())
            })
        },
    )
    .await;
    let (_, tree) = download(&rebuilt).await;
    assert_eq!(tree["shared/base.yaml"].data, b"base: 2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submodules_are_fetched_when_asked() {
    let (plane, namespace, client) = setup("gitsubmodules").await;
    let server = GitServer::start(GitAuth {
        basic: Some(("git".into(), "s3cret".into())),
        bearer: None,
    })
    .unwrap();
    let lib = server.create_repo("lib").unwrap();
    let lib_commit = lib.commit(&[("base/lib.yaml", "lib: 1\n")], "lib").unwrap();
    lib.push("main").unwrap();
    // Moves on after being pinned: the artifact must hold the pinned commit.
    lib.commit(&[("base/lib.yaml", "lib: 2\n")], "lib two")
        .unwrap();
    lib.push("main").unwrap();

    let app = server.create_repo("app").unwrap();
    app.commit(&[("deploy/app.yaml", "app: 1\n")], "app")
        .unwrap();
    app.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "--quiet",
        "add",
        "../lib.git",
        "vendor/lib",
    ])
    .unwrap();
    app.git(&["-C", "vendor/lib", "checkout", "--quiet", &lib_commit])
        .unwrap();
    app.commit(&[], "add lib").unwrap();
    app.push("main").unwrap();
    assert!(
        app.git(&["show", "HEAD:.gitmodules"])
            .unwrap()
            .contains("url = ../lib.git")
    );

    let bad = server.create_repo("bad").unwrap();
    bad.commit(&[("x.yaml", "x: 1\n")], "bad").unwrap();
    bad.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "--quiet",
        "add",
        &format!("file://{}", lib.bare.display()),
        "local",
    ])
    .unwrap();
    bad.commit(&[], "local submodule").unwrap();
    bad.push("main").unwrap();

    create_secret(
        &client,
        &namespace,
        "creds",
        &[("username", "git"), ("password", "s3cret")],
    )
    .await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let spec = |recurse: bool| serde_json::json!({"ref": {"branch": "main"}, "secretRef": {"name": "creds"}, "recurseSubmodules": recurse});
    create_git_repository(&api, "recursive", &server.url("app"), spec(true)).await;
    create_git_repository(&api, "flat", &server.url("app"), spec(false)).await;
    create_git_repository(&api, "local-url", &server.url("bad"), spec(true)).await;

    let recursive = wait_ready(&api, "recursive", &controller).await;
    assert!(
        recursive
            .status
            .as_ref()
            .unwrap()
            .observed_recurse_submodules
    );
    let (_, tree) = download(&recursive).await;
    // .gitmodules is one of the VCS files Flux always leaves out.
    assert_eq!(
        files(&tree),
        ["deploy/app.yaml", "vendor/lib/base/lib.yaml"]
    );
    assert_eq!(tree["vendor/lib/base/lib.yaml"].data, b"lib: 1\n");

    let flat = wait_ready(&api, "flat", &controller).await;
    let (_, tree) = download(&flat).await;
    assert_eq!(files(&tree), ["deploy/app.yaml"]);

    let failed = wait_not_ready(&api, "local-url", &controller, "GitOperationFailed").await;
    let message = ready_message(&failed);
    assert!(
        message.contains("unsupported submodule URL 'file://"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_timeout() {
    let (plane, namespace, client) = setup("gitsuspend").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("app").unwrap();
    let first = repo.commit(&[("app.yaml", "v: 1\n")], "one").unwrap();
    repo.push("main").unwrap();
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/app.git", silent.local_addr().unwrap());

    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_git_repository(
        &api,
        "app",
        &server.url("app"),
        serde_json::json!({"ref": {"branch": "main"}}),
    )
    .await;
    let mut hanging = git_repository(
        "hanging",
        &silent_url,
        serde_json::json!({"ref": {"branch": "main"}}),
    );
    hanging.spec.timeout = Some("2s".into());
    create(&api, &hanging).await;
    // A fetch still waiting long before its timeout already shows as in progress.
    let mut slow = git_repository(
        "slow",
        &silent_url,
        serde_json::json!({"ref": {"branch": "main"}}),
    );
    slow.spec.timeout = Some("60s".into());
    create(&api, &slow).await;
    let waiting_since = std::time::Instant::now();
    let shown = wait_for(
        &api,
        "slow",
        &controller,
        "Reconciling while fetching",
        |o| {
            o.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Reconciling" && c.status == "True")
            })
        },
    )
    .await;
    assert!(
        waiting_since.elapsed() < Duration::from_secs(15),
        "{:?}",
        waiting_since.elapsed()
    );
    let ready = shown
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone());
    assert_eq!(ready.as_deref(), Some("Unknown"), "{shown:?}");

    let started = std::time::Instant::now();
    let object = wait_not_ready(&api, "hanging", &controller, "GitOperationFailed").await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let message = ready_message(&object).to_lowercase();
    assert!(
        message.contains("timed out") || message.contains("timeout"),
        "{message}"
    );

    wait_ready(&api, "app", &controller).await;
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"suspend": true}})),
    )
    .await
    .unwrap();
    // Give the controller a moment to see the suspension before the next commit lands.
    tokio::time::sleep(Duration::from_secs(1)).await;
    repo.commit(&[("app.yaml", "v: 2\n")], "two").unwrap();
    repo.push("main").unwrap();
    let token = "while-suspended";
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}})),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let object = api.get("app").await.unwrap();
    assert_eq!(
        revision(&object),
        format!("main@sha1:{first}"),
        "a suspended object was reconciled"
    );
    assert_ne!(
        object
            .status
            .as_ref()
            .unwrap()
            .last_handled_reconcile_at
            .as_deref(),
        Some(token)
    );

    // Resuming picks up the new commit.
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"suspend": false}})),
    )
    .await
    .unwrap();
    let resumed = wait_for(&api, "app", &controller, "new revision after resume", |o| {
        revision(o) != format!("main@sha1:{first}")
    })
    .await;
    assert!(revision(&resumed).starts_with("main@sha1:"));
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_forwarded_to_the_notification_endpoint() {
    use std::sync::{Arc, Mutex};
    init_tls();
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = {
        let received = received.clone();
        axum::Router::new().fallback(move |axum::Json(event): axum::Json<serde_json::Value>| {
            let received = received.clone();
            async move {
                received.lock().unwrap().push(event);
                axum::http::StatusCode::ACCEPTED
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let events_addr = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, sink).await });

    let plane = driftless_testenv::shared().await.expect("control plane");
    let namespace = plane.namespace("gitevents").await.unwrap();
    let client = plane.client().await.unwrap();
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.commit(&[("app.yaml", "a: 1\n")], "Deploy app v1")
        .unwrap();
    repo.push("main").unwrap();
    let controller = SourceController::start(
        plane,
        &namespace,
        &[&format!("--events-addr={events_addr}")],
    );
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_git_repository(
        &api,
        "app",
        &server.url("app"),
        serde_json::json!({"ref": {"branch": "main"}}),
    )
    .await;
    create_git_repository(
        &api,
        "broken",
        &server.url("app"),
        serde_json::json!({"ref": {"branch": "gone"}}),
    )
    .await;
    let object = wait_ready(&api, "app", &controller).await;
    let artifact = object.status.unwrap().artifact.unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let (info, error) = loop {
        let events = received.lock().unwrap().clone();
        let find = |name: &str| {
            events
                .iter()
                .find(|e| e["involvedObject"]["name"] == name)
                .cloned()
        };
        if let (Some(info), Some(error)) = (find("app"), find("broken")) {
            break (info, error);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "events received: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(info["severity"], "info");
    assert_eq!(info["reason"], "NewArtifact");
    assert_eq!(
        info["message"],
        "stored artifact for commit 'Deploy app v1'"
    );
    assert_eq!(info["reportingController"], "source-controller");
    assert_eq!(info["involvedObject"]["kind"], "GitRepository");
    assert_eq!(
        info["involvedObject"]["apiVersion"],
        "source.toolkit.fluxcd.io/v1"
    );
    assert_eq!(
        info["metadata"]["source.toolkit.fluxcd.io/revision"],
        artifact.revision.as_str()
    );
    assert_eq!(
        info["metadata"]["source.toolkit.fluxcd.io/digest"],
        artifact.digest.as_str()
    );
    assert_eq!(error["severity"], "error");
    assert_eq!(error["reason"], "GitOperationFailed");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("refs/heads/gone"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_of_objects_deleted_while_stopped_are_removed_at_start() {
    let (plane, namespace, client) = setup("gitorphans").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.commit(&[("app.yaml", "a: 1\n")], "app").unwrap();
    repo.push("main").unwrap();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_git_repository(
        &api,
        "live",
        &server.url("app"),
        serde_json::json!({"ref": {"branch": "main"}}),
    )
    .await;

    // Storage left behind by an earlier run: one object still exists, one is gone.
    let storage = tempfile::tempdir().unwrap();
    for name in ["live", "ghost"] {
        let dir = storage
            .path()
            .join(format!("gitrepository/{namespace}/{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("old.tar.gz"), b"stale").unwrap();
    }
    let controller = SourceController::start_with_storage(plane, &namespace, &[], storage);
    let live = wait_ready(&api, "live", &controller).await;
    download(&live).await;
    let root = controller.storage_path();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while root
        .join(format!("gitrepository/{namespace}/ghost"))
        .exists()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "orphaned artifacts were kept\n{}",
            controller.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        root.join(format!("gitrepository/{namespace}/live"))
            .exists()
    );
}

fn artifact(object: &GitRepository) -> driftless_api::meta::Artifact {
    object
        .status
        .as_ref()
        .and_then(|s| s.artifact.clone())
        .expect("artifact in status")
}

fn pack_fetches(server: &GitServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.command.as_deref() == Some("fetch"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_following_one_repository_share_a_packed_commit() {
    init_tls();
    let (plane, namespace, client) = setup("gitshare").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("mono").unwrap();
    let commit = repo
        .commit(&[("app.yaml", "a: 1\n"), ("docs.md", "# docs\n")], "mono")
        .unwrap();
    repo.push("main").unwrap();
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let url = server.url("mono");
    let main = serde_json::json!({"ref": {"branch": "main"}});

    create_git_repository(&api, "first", &url, main.clone()).await;
    let first = wait_ready(&api, "first", &controller).await;
    assert_eq!(pack_fetches(&server), 1);

    // Same repository, ref and settings: the refs are listed, the pack is not fetched again.
    server.clear_requests();
    create_git_repository(&api, "second", &url, main.clone()).await;
    let second = wait_ready(&api, "second", &controller).await;
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.command.as_deref() == Some("ls-refs")),
        "{requests:?}"
    );
    assert_eq!(pack_fetches(&server), 0, "{requests:?}");
    assert_eq!(revision(&second), format!("main@sha1:{commit}"));
    assert_eq!(artifact(&second).digest, artifact(&first).digest);
    assert_ne!(artifact(&second).path, artifact(&first).path);

    // Different content from the same commit is packed on its own.
    server.clear_requests();
    let ignoring = serde_json::json!({"ref": {"branch": "main"}, "ignore": "*.md\n"});
    create_git_repository(&api, "no-docs", &url, ignoring).await;
    let no_docs = wait_ready(&api, "no-docs", &controller).await;
    assert_eq!(pack_fetches(&server), 1);
    assert_ne!(artifact(&no_docs).digest, artifact(&first).digest);
    let (_, tree) = download(&no_docs).await;
    assert_eq!(files(&tree), vec!["app.yaml".to_owned()]);

    // A bare commit is resolved without asking the server, so it proves no access to the
    // repository and always fetches.
    server.clear_requests();
    let pinned = serde_json::json!({"ref": {"commit": commit}});
    create_git_repository(&api, "pinned", &url, pinned).await;
    let pinned = wait_ready(&api, "pinned", &controller).await;
    assert!(pack_fetches(&server) >= 1, "{:?}", server.requests());
    assert_eq!(artifact(&pinned).digest, artifact(&first).digest);

    // The shared bytes outlive the object that packed them.
    api.delete("first", &Default::default()).await.unwrap();
    let first_dir = controller
        .storage_path()
        .join(format!("gitrepository/{namespace}/first"));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while first_dir.exists() || api.get_opt("first").await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "first was not removed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, tree) = download(&second).await;
    assert_eq!(tree["app.yaml"].data, b"a: 1\n");

    // A new commit is fetched once for both remaining followers of main.
    let next = repo.commit(&[("app.yaml", "a: 2\n")], "next").unwrap();
    repo.push("main").unwrap();
    server.clear_requests();
    let second = request_reconcile(&api, "second", &controller).await;
    assert_eq!(revision(&second), format!("main@sha1:{next}"));
    create_git_repository(&api, "third", &url, main).await;
    let third = wait_ready(&api, "third", &controller).await;
    assert_eq!(artifact(&third).digest, artifact(&second).digest);
    assert_eq!(pack_fetches(&server), 1, "{:?}", server.requests());
    let (_, tree) = download(&third).await;
    assert_eq!(tree["app.yaml"].data, b"a: 2\n");
}
