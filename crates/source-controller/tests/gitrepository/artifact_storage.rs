//! The artifact storage: orphans removed at start, and one packed commit shared by every
//! object that follows the same repository.

use std::time::Duration;

use driftless_api::source::GitRepository;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::Api;

use crate::support::*;
use crate::{artifact, init_tls, listed_refs, pack_fetches, revision};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_of_objects_deleted_while_stopped_are_removed_at_start() {
    let (plane, namespace, client) = setup("gitorphans").await;
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.commit(&[("app.yaml", "a: 1\n")], "app").unwrap();
    repo.push("main").unwrap();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_following(&api, "live", &server.url("app"), "main").await;

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
    assert!(listed_refs(&server), "{requests:?}");
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
