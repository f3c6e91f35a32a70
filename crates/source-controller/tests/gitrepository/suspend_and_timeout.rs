//! `spec.suspend` and `spec.timeout`: a hanging fetch shows as in progress and then times out;
//! a suspended object is left alone until resumed.

use std::time::Duration;

use driftless_api::source::GitRepository;
use driftless_testenv::conditions::has_condition;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::{Api, Patch, PatchParams};

use crate::revision;
use crate::support::*;

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
    create_following(&api, "app", &server.url("app"), "main").await;
    // Both fetch from the silent server; only their timeouts differ.
    let with_timeout =
        |timeout: &str| serde_json::json!({"ref": {"branch": "main"}, "timeout": timeout});
    create_git_repository(&api, "hanging", &silent_url, with_timeout("2s")).await;
    // A fetch still waiting long before its timeout already shows as in progress.
    create_git_repository(&api, "slow", &silent_url, with_timeout("60s")).await;
    let waiting_since = std::time::Instant::now();
    let shown = wait_for(
        &api,
        "slow",
        &controller,
        "Reconciling while fetching",
        |o| {
            o.status
                .as_ref()
                .is_some_and(|s| has_condition(&s.conditions, "Reconciling", "True"))
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
