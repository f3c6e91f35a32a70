//! A pushed artifact is stored, served (also at `status.url`), announced, and followed; an
//! unchanged remote digest costs no pull.

use driftless_api::source::OCIRepository;
use driftless_testenv::registry::{Registry, RegistryOptions};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::json;

use super::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_artifact_is_stored_served_and_followed() {
    let (plane, namespace, client) = setup("oci-pull").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    let first = push(
        &registry,
        "manifests/app",
        "latest",
        flux_artifact(
            &[
                ("deploy/app.yaml", "kind: ConfigMap\n"),
                ("logo.png", "binary"),
                (".git/config", "[core]\n"),
            ],
            "main@sha1:1111111",
        ),
    )
    .await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<OCIRepository> = Api::namespaced(client.clone(), &namespace);
    create_oci(
        &api,
        "app",
        json!({ "url": url(&registry, "manifests/app"), "insecure": true }),
    )
    .await;

    let ready = wait_ready(&api, "app", &controller).await;
    let stored = artifact(&ready);
    assert_eq!(stored.revision, format!("latest@{first}"));
    assert_eq!(
        ready_message(&ready),
        format!("stored artifact for digest 'latest@{first}'")
    );
    let metadata = stored.metadata.clone().unwrap_or_default();
    assert_eq!(
        metadata
            .get("org.opencontainers.image.revision")
            .map(String::as_str),
        Some("main@sha1:1111111")
    );
    // Flux's default exclusions: images and VCS files stay out.
    let (bytes, tree) = download(&ready).await;
    assert_eq!(files(&tree), ["deploy/app.yaml"]);
    let latest = ready
        .status
        .as_ref()
        .and_then(|s| s.url.clone())
        .expect("status.url");
    assert!(
        latest.ends_with(&format!("/ocirepository/{namespace}/app/latest.tar.gz")),
        "{latest}"
    );
    let served = reqwest::get(&latest).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        served.to_vec(),
        bytes,
        "latest.tar.gz serves the current artifact"
    );

    // The event names the revision and the origin the artifact was pushed from.
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let announced = wait_until(|| async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("NewArtifact"))
    })
    .await
    .expect("NewArtifact event");
    assert_eq!(
        announced.message.as_deref(),
        Some(
            format!(
                "stored artifact with revision 'latest@{first}' from '{}', origin source 'https://git.example/app', origin revision 'main@sha1:1111111'",
                url(&registry, "manifests/app")
            )
            .as_str()
        )
    );

    // Unchanged remote: the artifact is not pulled or rewritten again.
    let again = request_reconcile(&api, "app", &controller).await;
    assert_eq!(artifact(&again).last_update_time, stored.last_update_time);
    assert_eq!(artifact(&again).path, stored.path);

    // A new push to the tag: the new content, a new revision.
    let second = push(
        &registry,
        "manifests/app",
        "latest",
        flux_artifact(
            &[("deploy/app.yaml", "kind: Secret\n")],
            "main@sha1:2222222",
        ),
    )
    .await;
    request_reconcile(&api, "app", &controller).await;
    let updated = wait_for(&api, "app", &controller, "the new revision", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .is_some_and(|a| a.revision == format!("latest@{second}"))
    })
    .await;
    let (_, tree) = download(&updated).await;
    assert_eq!(tree["deploy/app.yaml"].data, b"kind: Secret\n");

    // A changed ignore rule re-packs the same revision.
    let patch = json!({ "spec": { "ignore": "deploy/\n" } });
    api.patch(
        "app",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .unwrap();
    let repacked = wait_for(&api, "app", &controller, "ignore observed", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.observed_ignore.as_deref() == Some("deploy/\n"))
    })
    .await;
    assert_eq!(artifact(&repacked).revision, format!("latest@{second}"));
    let (_, tree) = download(&repacked).await;
    assert!(tree.is_empty(), "{:?}", files(&tree));
}
