//! `spec.include`: other GitRepositories' artifacts copied into this one, and followed.

use driftless_api::source::GitRepository;
use driftless_testenv::conditions::has_condition;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::Api;

use crate::artifact;
use crate::support::*;

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
    assert_eq!(included[0], artifact(&lib_object));

    let missing = wait_not_ready(&api, "missing-include", &controller, "NotFound").await;
    let status = missing.status.as_ref().unwrap();
    assert!(has_condition(
        &status.conditions,
        "IncludeUnavailable",
        "True"
    ));
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
    assert!(has_condition(conditions, "IncludeUnavailable", "True"));

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
