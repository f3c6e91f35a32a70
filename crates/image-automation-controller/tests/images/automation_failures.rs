//! ImageUpdateAutomation bad input: each failure reads as a specific condition, what no retry
//! can fix stalls, and nothing broken reaches Git.

use std::os::unix::fs::PermissionsExt;

use driftless_api::image::ImageUpdateAutomation;
use driftless_testenv::git::git;
use kube::api::Api;
use serde_json::json;

use crate::automation::{automation, fixture};
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn refused_pushes_and_broken_files_fail_without_writing() {
    let f = fixture("iua-fail").await;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(f.client.clone(), &f.namespace);
    let main = git(&f.repo.bare, &["rev-parse", "main"]).unwrap();

    // A protected branch: the server's hook declines the push.
    let hook = f.repo.bare.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'main is protected' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    create(&automations, &automation("fleet", json!({}))).await;
    let refused = wait_ready_is(
        &automations,
        "fleet",
        &f.controller,
        "False",
        "GitOperationFailed",
    )
    .await;
    let message = ready(&refused).unwrap().2;
    assert!(message.contains("main is protected"), "{message}");
    assert!(refused.status.unwrap().last_push_commit.is_none());
    std::fs::remove_file(&hook).unwrap();
    request_reconcile(&automations, "fleet").await;
    let pushed = wait_ready_is(&automations, "fleet", &f.controller, "True", "Succeeded").await;
    assert!(
        pushed.status.unwrap().last_push_commit.is_some(),
        "recovers once the hook is gone"
    );
    assert_ne!(git(&f.repo.bare, &["rev-parse", "main"]).unwrap(), main);
}

#[tokio::test(flavor = "multi_thread")]
async fn spec_and_repository_errors_are_specific() {
    let f = fixture("iua-spec").await;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(f.client.clone(), &f.namespace);
    let main = git(&f.repo.bare, &["rev-parse", "main"]).unwrap();

    // A tag to check out and no push branch: nowhere to push.
    let mut tag_only = automation("tag-only", json!({}));
    if let Some(git) = tag_only.spec.git_spec.as_mut() {
        git.checkout = Some(serde_json::from_value(json!({"ref": {"tag": "v1"}})).unwrap());
        git.push = None;
    }
    create(&automations, &tag_only).await;
    let stalled = wait_ready_is(
        &automations,
        "tag-only",
        &f.controller,
        "False",
        "InvalidSourceConfiguration",
    )
    .await;
    assert!(condition(&stalled, "Stalled").is_some_and(|(s, _)| s == "True"));

    // A selector the API server would refuse.
    let mut bad_selector = automation("bad-selector", json!({}));
    bad_selector.spec.policy_selector = Some(
        serde_json::from_value(
            json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]}),
        )
        .unwrap(),
    );
    create(&automations, &bad_selector).await;
    wait_ready_is(
        &automations,
        "bad-selector",
        &f.controller,
        "False",
        "InvalidPolicySelector",
    )
    .await;

    // A missing GitRepository is retried.
    let mut orphan = automation("orphan", json!({}));
    orphan.spec.source_ref.name = "absent".into();
    create(&automations, &orphan).await;
    wait_ready_is(
        &automations,
        "orphan",
        &f.controller,
        "False",
        "SourceManagerFailed",
    )
    .await;

    // A marked file that is not YAML: nothing is written.
    f.repo
        .commit(
            &[(
                "apps/web/broken.yaml",
                "image: x # {\"$imagepolicy\": \"a:b\"}\n  - : [\n",
            )],
            "broken",
        )
        .unwrap();
    f.repo.push("main").unwrap();
    let broken_head = git(&f.repo.bare, &["rev-parse", "main"]).unwrap();
    assert_ne!(broken_head, main);
    create(&automations, &automation("fleet", json!({}))).await;
    let failed = wait_ready_is(
        &automations,
        "fleet",
        &f.controller,
        "False",
        "UpdateFailed",
    )
    .await;
    assert!(
        ready(&failed).unwrap().2.contains("apps/web/broken.yaml"),
        "{:?}",
        ready(&failed)
    );
    assert_eq!(
        git(&f.repo.bare, &["rev-parse", "main"]).unwrap(),
        broken_head,
        "nothing pushed"
    );

    // Fixed, but a marker names a policy that does not exist: the good change is pushed and
    // the stale marker reported.
    f.repo
        .commit(
            &[(
                "apps/web/broken.yaml",
                &format!(
                    "image: old # {{\"$imagepolicy\": \"{}:missing\"}}\n",
                    f.namespace
                ),
            )],
            "names a missing policy",
        )
        .unwrap();
    f.repo.push("main").unwrap();
    request_reconcile(&automations, "fleet").await;
    let reported = wait_for(
        &automations,
        "fleet",
        &f.controller,
        "the missing policy reported",
        |a| {
            ready(a).is_some_and(|(s, r, m)| {
                s == "False" && r == "UpdateFailed" && m.contains(":missing")
            })
        },
    )
    .await;
    assert!(
        reported.status.unwrap().last_push_commit.is_some(),
        "the valid marker was still written"
    );
    assert!(
        git(&f.repo.bare, &["show", "main:apps/web/deployment.yaml"])
            .unwrap()
            .contains(":1.1.0\"")
    );
}
