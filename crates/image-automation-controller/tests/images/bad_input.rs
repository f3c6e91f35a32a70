//! Bad input reads as a specific condition: what retrying can fix is Ready=False and retried,
//! what it cannot is Stalled; a policy that stops selecting keeps its last good `latestRef`.

use driftless_api::image::{ImagePolicy, ImageRepository};
use driftless_testenv::registry::{Registry, RegistryOptions};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn repositories_report_what_is_wrong() {
    let (plane, namespace, client) = setup("img-bad-repo").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    registry.push("app", "1.0.0").await.expect("push");
    let storage = tempfile::tempdir().unwrap();
    let controller = Controller::start(plane, &namespace, storage.path(), &[]);
    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), &namespace);
    let [closed] = driftless_testenv::free_ports().unwrap();
    let cases = [
        (
            "with-tag",
            json!({"image": format!("{}:1.0.0", registry.image("app")), "interval": "1h"}),
            "True",
            "ImageURLInvalid",
            "should not include a tag; remove ':1.0.0'",
        ),
        (
            "with-scheme",
            json!({"image": format!("http://{}", registry.image("app")), "interval": "1h"}),
            "True",
            "ImageURLInvalid",
            "should not include URL scheme; remove 'http://'",
        ),
        (
            "unknown",
            json!({"image": registry.image("nothing/here"), "interval": "1h", "insecure": true}),
            "False",
            "ReadOperationFailed",
            "scan failed: ",
        ),
        (
            "down",
            json!({"image": format!("127.0.0.1:{closed}/app"), "interval": "1h", "insecure": true, "timeout": "5s"}),
            "False",
            "ReadOperationFailed",
            "scan failed: ",
        ),
        (
            "aws",
            json!({"image": registry.image("app"), "interval": "1h", "provider": "aws"}),
            "True",
            "InvalidProviderConfiguration",
            "provider 'aws' is not supported yet",
        ),
        (
            "bad-exclusion",
            json!({"image": registry.image("app"), "interval": "1h", "insecure": true, "exclusionList": ["("]}),
            "True",
            "ReadOperationFailed",
            "failed to compile regex (",
        ),
        (
            "no-secret",
            json!({"image": registry.image("app"), "interval": "1h", "insecure": true, "secretRef": {"name": "missing"}}),
            "False",
            "AuthenticationFailed",
            "failed to get secret",
        ),
    ];
    for (name, spec, _, _, _) in &cases {
        create(&repos, &image_repository(name, spec.clone())).await;
    }
    for (name, _, stalled, reason, message) in cases {
        let object = wait_ready_is(&repos, name, &controller, "False", reason).await;
        let (_, _, text) = ready(&object).unwrap();
        assert!(text.contains(message), "{name}: {text}");
        let is_stalled = condition(&object, "Stalled").is_some_and(|(s, _)| s == "True");
        assert_eq!(is_stalled, stalled == "True", "{name}: Stalled");
    }
    let warnings = events(&client, &namespace, "ImageRepository", "unknown").await;
    assert!(
        warnings
            .iter()
            .any(|(t, r, _)| t == "Warning" && r == "ReadOperationFailed"),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_report_what_is_wrong_and_keep_the_last_good_selection() {
    let (plane, namespace, client) = setup("img-bad-policy").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    for tag in ["1.0.0", "1.1.0", "main-abc-100", "main-def-200"] {
        registry.push("app", tag).await.expect("push");
    }
    let storage = tempfile::tempdir().unwrap();
    let controller = Controller::start(plane, &namespace, storage.path(), &[]);
    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), &namespace);
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), &namespace);
    create(
        &repos,
        &image_repository(
            "app",
            json!({"image": registry.image("app"), "interval": "1h", "insecure": true}),
        ),
    )
    .await;
    wait_ready_is(&repos, "app", &controller, "True", "Succeeded").await;
    let repo_ref = json!({"name": "app"});
    let cases = [
        (
            "bad-range",
            json!({"semver": {"range": "not a range"}}),
            None,
            "InvalidPolicy",
            "invalid policy: improper constraint: not a range",
        ),
        (
            "bad-regex",
            json!({"alphabetical": {}}),
            Some(json!({"pattern": "main-(["})),
            "InvalidPolicy",
            "failed to filter tags: invalid regular expression pattern",
        ),
        (
            "missing-group",
            json!({"numerical": {}}),
            Some(json!({"pattern": "^main-[a-f]+-(?P<ts>[0-9]+)$", "extract": "$build"})),
            "InvalidPolicy",
            "capture group 'build'",
        ),
        (
            "nothing-matches",
            json!({"semver": {"range": ">=9.0.0"}}),
            None,
            "Failure",
            "unable to determine latest version",
        ),
        (
            "not-numeric",
            json!({"numerical": {}}),
            None,
            "Failure",
            "failed to parse invalid numeric value",
        ),
    ];
    for (name, policy, filter, _, _) in &cases {
        let mut spec = json!({"imageRepositoryRef": repo_ref, "policy": policy});
        if let Some(filter) = filter {
            spec["filterTags"] = filter.clone();
        }
        create(&policies, &image_policy(name, spec)).await;
    }
    for (name, _, _, reason, message) in cases {
        let object = wait_ready_is(&policies, name, &controller, "False", reason).await;
        let (_, _, text) = ready(&object).unwrap();
        assert!(text.contains(message), "{name}: {text}");
        let stalled = condition(&object, "Stalled").is_some_and(|(s, _)| s == "True");
        assert_eq!(stalled, reason == "InvalidPolicy", "{name}: Stalled");
    }

    // A missing repository is waited for, without a Warning.
    create(
        &policies,
        &image_policy(
            "orphan",
            json!({"imageRepositoryRef": {"name": "absent"}, "policy": {"alphabetical": {}}}),
        ),
    )
    .await;
    let orphan = wait_ready_is(
        &policies,
        "orphan",
        &controller,
        "False",
        "DependencyNotReady",
    )
    .await;
    assert!(ready(&orphan).unwrap().2.contains("does not exist"));

    // A working policy whose range stops matching keeps its latestRef.
    create(
        &policies,
        &image_policy(
            "builds",
            json!({"imageRepositoryRef": repo_ref, "policy": {"numerical": {}},
            "filterTags": {"pattern": "^main-[a-f]+-(?P<ts>[0-9]+)$", "extract": "$ts"}}),
        ),
    )
    .await;
    let good = wait_ready_is(&policies, "builds", &controller, "True", "Succeeded").await;
    assert_eq!(good.status.unwrap().latest_ref.unwrap().tag, "main-def-200");
    let patch =
        json!({"spec": {"filterTags": {"pattern": "^release-(?P<ts>[0-9]+)$", "extract": "$ts"}}});
    policies
        .patch("builds", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let failing = wait_ready_is(&policies, "builds", &controller, "False", "Failure").await;
    assert_eq!(
        failing.status.unwrap().latest_ref.unwrap().tag,
        "main-def-200"
    );
}
