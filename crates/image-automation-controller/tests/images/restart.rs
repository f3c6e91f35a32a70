//! A restart answers from the stored tags: no rescan before the interval, and policies
//! (even new ones) select while the registry is down.

use driftless_api::image::{ImagePolicy, ImageRepository};
use driftless_testenv::registry::{Registry, RegistryOptions};
use kube::api::Api;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_does_not_rescan_and_policies_answer_from_storage() {
    let (plane, namespace, client) = setup("img-restart").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    for tag in ["5", "12", "7"] {
        registry.push("app", tag).await.expect("push");
    }
    let storage = tempfile::tempdir().unwrap();
    let mut controller = Controller::start(plane, &namespace, storage.path(), &[]);
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
    let before = wait_ready_is(&repos, "app", &controller, "True", "Succeeded").await;
    let scanned_at = before.status.unwrap().last_scan_result.unwrap().scan_time;
    controller.process.stop_cleanly();
    drop(registry);

    let controller = Controller::start(plane, &namespace, storage.path(), &[]);
    create(
        &policies,
        &image_policy(
            "newest",
            json!({"imageRepositoryRef": {"name": "app"}, "policy": {"numerical": {}}}),
        ),
    )
    .await;
    let policy = wait_ready_is(&policies, "newest", &controller, "True", "Succeeded").await;
    assert_eq!(policy.status.unwrap().latest_ref.unwrap().tag, "12");
    let after = repos.get("app").await.unwrap();
    let (ready_status, _, _) = ready(&after).unwrap();
    assert_eq!(
        ready_status, "True",
        "the repository stays Ready with the registry gone"
    );
    assert_eq!(
        after.status.unwrap().last_scan_result.unwrap().scan_time,
        scanned_at,
        "no rescan after the restart"
    );
    let noise = events(&client, &namespace, "ImagePolicy", "newest").await;
    assert!(
        noise.iter().all(|(t, _, _)| t == "Normal"),
        "no warnings after a restart: {noise:?}"
    );
}
