//! Bad input fails with a specific reason in the status conditions and keeps the last good
//! artifact.

use driftless_api::source::GitRepository;
use driftless_testenv::conditions::has_condition;
use driftless_testenv::git::{GitAuth, GitServer};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::support::*;

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
    let [closed] = driftless_testenv::free_ports().unwrap();
    let unreachable = format!("http://127.0.0.1:{closed}/x.git");
    let (missing, big) = (server.url("missing"), server.url("big"));
    let main = json!({"branch": "main"});
    // One working object, then one for each thing that can be wrong: the ref, the URL, the size.
    for (name, from, reference) in [
        ("kept", &url, main.clone()),
        ("no-branch", &url, json!({"branch": "nope"})),
        ("no-tag", &url, json!({"tag": "v9"})),
        ("no-semver", &url, json!({"semver": ">=5.0.0"})),
        ("bad-semver", &url, json!({"semver": "not a range"})),
        ("no-repo", &missing, main.clone()),
        ("unreachable", &unreachable, main.clone()),
        ("too-big", &big, main.clone()),
        (
            "bad-commit",
            &url,
            json!({"commit": "0123456789012345678901234567890123456789"}),
        ),
    ] {
        create_git_repository(&api, name, from, json!({ "ref": reference })).await;
    }

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
            has_condition(&status.conditions, "FetchFailed", "True"),
            "{name}"
        );
        assert_final_status(name, &object);
    }
    // An invalid constraint cannot heal by retrying: Stalled.
    let stalled = wait_not_ready(&api, "bad-semver", &controller, "GitOperationFailed").await;
    let status = stalled.status.as_ref().unwrap();
    assert!(
        has_condition(&status.conditions, "Stalled", "True"),
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
    assert!(has_condition(
        &status.conditions,
        "ArtifactInStorage",
        "True"
    ));
    assert_eq!(
        reqwest::get(&good_artifact.url).await.unwrap().status(),
        200,
        "the last good artifact is still served"
    );
    assert_eq!(good_artifact.revision, format!("main@sha1:{commit}"));
}
