//! What goes into the artifact: `.sourceignore`, `spec.ignore` and `spec.sparseCheckout`.

use driftless_api::source::GitRepository;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::{Api, Patch, PatchParams};

use crate::revision;
use crate::support::*;

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
    create_following(&api, "defaults", &url, "main").await;
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
