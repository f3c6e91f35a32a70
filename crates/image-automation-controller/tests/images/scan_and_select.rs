//! The happy path: tags scanned (with exclusions), a policy selecting the newest, a new push
//! picked up on request, digests pinned.

use driftless_api::image::{ImagePolicy, ImageRepository};
use driftless_testenv::registry::{Registry, RegistryOptions};
use kube::api::Api;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn tags_are_scanned_and_the_policy_follows_new_pushes() {
    let (plane, namespace, client) = setup("img-scan").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    for tag in ["1.0.0", "1.1.0", "1.1.0.sig", "2.0.0-rc.1", "latest"] {
        registry.push("team/app", tag).await.expect("push");
    }
    let storage = tempfile::tempdir().unwrap();
    let controller = Controller::start(plane, &namespace, storage.path(), &[]);
    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), &namespace);
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), &namespace);
    let image = registry.image("team/app");
    create(
        &repos,
        &image_repository(
            "app",
            json!({"image": image, "interval": "1h", "insecure": true}),
        ),
    )
    .await;
    let repo = wait_ready_is(&repos, "app", &controller, "True", "Succeeded").await;
    let status = repo.status.clone().unwrap();
    let scan = status.last_scan_result.clone().unwrap();
    assert_eq!(scan.tag_count, 4, "the .sig tag is excluded by default");
    assert_eq!(scan.latest_tags, ["latest", "2.0.0-rc.1", "1.1.0", "1.0.0"]);
    let revision = scan.revision.clone().unwrap();
    assert!(revision.starts_with("sha256:"));
    assert_eq!(status.canonical_image_name.as_deref(), Some(image.as_str()));
    assert_eq!(status.observed_exclusion_list, ["^.*\\.sig$"]);
    assert_eq!(
        ready(&repo).unwrap().2,
        format!("successful scan: found 4 tags with checksum {revision}")
    );
    assert!(
        storage
            .path()
            .join(format!("imagerepository/{namespace}/app/tags.txt.gz"))
            .is_file()
    );

    create(
        &policies,
        &image_policy(
            "app",
            json!({"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "^1.x"}}}),
        ),
    )
    .await;
    let policy = wait_ready_is(&policies, "app", &controller, "True", "Succeeded").await;
    let latest = policy.status.as_ref().unwrap().latest_ref.clone().unwrap();
    assert_eq!(
        (latest.name.as_str(), latest.tag.as_str()),
        (image.as_str(), "1.1.0")
    );
    assert_eq!(
        latest.digest, None,
        "digestReflectionPolicy defaults to Never"
    );
    assert_eq!(
        ready(&policy).unwrap().2,
        format!("Latest image tag for {image} resolved to 1.1.0")
    );

    // A new push is seen on the next scan; a reconcile request scans at once.
    registry.push("team/app", "1.2.0").await.expect("push");
    request_reconcile(&repos, "app").await;
    let policy = wait_for(&policies, "app", &controller, "latestRef 1.2.0", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.latest_ref.as_ref())
            .is_some_and(|r| r.tag == "1.2.0")
    })
    .await;
    let status = policy.status.unwrap();
    assert_eq!(status.observed_previous_ref.unwrap().tag, "1.1.0");
    let message =
        format!("Latest image tag for {image} resolved to 1.2.0 (previously {image}:1.1.0)");
    let policy_events = events(&client, &namespace, "ImagePolicy", "app").await;
    assert!(
        policy_events
            .iter()
            .any(|(t, r, m)| t == "Normal" && r == "Succeeded" && *m == message),
        "no event announcing the new image: {policy_events:?}"
    );
    let repo = repos.get("app").await.unwrap();
    assert_eq!(repo.status.unwrap().last_scan_result.unwrap().tag_count, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn digests_are_pinned_as_the_reflection_policy_says() {
    let (plane, namespace, client) = setup("img-digest").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    let digest = registry.push("app", "1.0.0").await.expect("push");
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
    create(
        &policies,
        &image_policy(
            "pinned",
            json!({"imageRepositoryRef": {"name": "app"}, "policy": {"alphabetical": {}},
                   "digestReflectionPolicy": "IfNotPresent"}),
        ),
    )
    .await;
    let policy = wait_ready_is(&policies, "pinned", &controller, "True", "Succeeded").await;
    let latest = policy.status.unwrap().latest_ref.unwrap();
    assert_eq!(latest.digest.as_deref(), Some(digest.as_str()));
    assert!(
        ready(&policies.get("pinned").await.unwrap())
            .unwrap()
            .2
            .ends_with(&format!("with digest {digest}"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_tags_are_read_page_by_page() {
    let (plane, namespace, client) = setup("img-pages").await;
    let storage_dir = tempfile::tempdir().unwrap();
    // More than two pages of 1000; the registry pages with Link headers and `last`.
    let tags: Vec<String> = (0..2500)
        .map(|i| format!("0.{}.{}", i / 100, i % 100))
        .collect();
    driftless_testenv::registry::write_tags(storage_dir.path(), "big/node", &tags).unwrap();
    let registry = Registry::start(RegistryOptions {
        storage: Some(storage_dir.path().to_owned()),
        ..RegistryOptions::default()
    })
    .expect("registry");
    let storage = tempfile::tempdir().unwrap();
    let controller = Controller::start(plane, &namespace, storage.path(), &[]);
    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), &namespace);
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), &namespace);
    create(
        &repos,
        &image_repository(
            "node",
            json!({"image": registry.image("big/node"), "interval": "1h", "insecure": true}),
        ),
    )
    .await;
    let repo = wait_ready_is(&repos, "node", &controller, "True", "Succeeded").await;
    assert_eq!(
        repo.status.unwrap().last_scan_result.unwrap().tag_count,
        2500
    );
    create(
        &policies,
        &image_policy("node", json!({"imageRepositoryRef": {"name": "node"}, "policy": {"semver": {"range": "<1.0.0"}}})),
    )
    .await;
    let policy = wait_ready_is(&policies, "node", &controller, "True", "Succeeded").await;
    assert_eq!(policy.status.unwrap().latest_ref.unwrap().tag, "0.24.99");
}
