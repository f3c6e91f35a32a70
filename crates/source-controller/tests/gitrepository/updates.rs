//! Following a branch: new commits, force pushes, no fetch when nothing changed, old
//! artifacts garbage-collected and a corrupted one rebuilt.

use driftless_api::source::GitRepository;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::Api;

use crate::support::*;
use crate::{artifact, listed_refs, pack_fetches, revision};

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
    create_following(&api, "moving", &server.url("moving"), "main").await;
    let object = wait_ready(&api, "moving", &controller).await;
    assert_eq!(revision(&object), format!("main@sha1:{first}"));

    // Nothing new upstream: a reconcile lists refs and fetches no pack.
    server.clear_requests();
    let object = request_reconcile(&api, "moving", &controller).await;
    assert_eq!(revision(&object), format!("main@sha1:{first}"));
    let requests = server.requests();
    assert!(listed_refs(&server), "{requests:?}");
    assert_eq!(
        pack_fetches(&server),
        0,
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
    let current = artifact(&object).path;
    assert!(stored.iter().any(|f| current.ends_with(f.as_str())));

    // A corrupted artifact is detected by its digest and rebuilt.
    let current_file = controller.storage_path().join(&current);
    std::fs::write(&current_file, b"garbage").unwrap();
    let object = request_reconcile(&api, "moving", &controller).await;
    let (_, tree) = download(&object).await;
    assert_eq!(tree["app.yaml"].data, b"v: 3\n");
}
