//! An index made by the real helm is stored as JSON named by the digest of the fetched bytes,
//! served (also at `status.url`), announced, and followed; an unchanged index is not rewritten.

use driftless_api::source::HelmRepository;
use driftless_artifact::Digest;
use driftless_testenv::charts::ChartRepository;
use kube::api::Api;
use serde_json::{Value, json};

use super::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_index_is_stored_served_announced_and_followed() {
    let (plane, namespace, client) = setup("helmrepo-index").await;
    let charts = ChartRepository::start(None).expect("chart repository");
    publish(&charts, "podinfo", "6.0.0");
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<HelmRepository> = Api::namespaced(client.clone(), &namespace);
    // No trailing slash: Flux adds one before resolving `index.yaml`.
    create_helm_repository(&api, "podinfo", json!({ "url": charts.url() })).await;

    let ready = wait_ready(&api, "podinfo", &controller).await;
    let served_index = std::fs::read(charts.dir().join("index.yaml")).expect("index.yaml");
    let revision = Digest::of(&served_index).to_string();
    let stored = artifact(&ready);
    assert_eq!(stored.revision, revision);
    assert_eq!(
        ready_message(&ready),
        format!("stored artifact: revision '{revision}'")
    );
    assert!(
        stored.path.ends_with(&format!(
            "helmrepository/{namespace}/podinfo/index-{}.yaml",
            revision.trim_start_matches("sha256:")
        )),
        "{}",
        stored.path
    );
    let bytes = reqwest::get(&stored.url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(Some(bytes.len() as i64), stored.size);
    assert_eq!(Digest::of(&bytes).to_string(), stored.digest);
    let index: Value = serde_json::from_slice(&bytes).expect("the artifact is JSON");
    assert_eq!(index["apiVersion"], "v1");
    assert_eq!(index["entries"]["podinfo"][0]["version"], "6.0.0");
    assert_eq!(
        index["entries"]["podinfo"][0]["urls"],
        json!(["podinfo-6.0.0.tgz"])
    );
    let link = ready.status.as_ref().and_then(|s| s.url.clone()).unwrap();
    assert!(
        link.ends_with(&format!("/helmrepository/{namespace}/podinfo/index.yaml")),
        "{link}"
    );
    let linked = reqwest::get(&link).await.unwrap().bytes().await.unwrap();
    assert_eq!(linked, bytes, "index.yaml serves the current artifact");

    let announced = wait_for_event(&client, &namespace, "NewArtifact").await;
    assert_eq!(
        announced.message.as_deref(),
        Some(
            format!(
                "stored fetched index of size {} from '{}/'",
                source_controller::helmrepository::index::human_size(served_index.len() as u64),
                charts.url()
            )
            .as_str()
        )
    );

    // Unchanged index: one GET, nothing rewritten.
    let fetched_before = charts.requests().len();
    let again = request_reconcile(&api, "podinfo", &controller).await;
    assert_eq!(artifact(&again).last_update_time, stored.last_update_time);
    assert_eq!(artifact(&again).path, stored.path);
    assert_eq!(
        charts.requests()[fetched_before..],
        ["/index.yaml".to_owned()]
    );

    // A new chart version: a new revision, newest version first.
    publish(&charts, "podinfo", "6.1.0");
    request_reconcile(&api, "podinfo", &controller).await;
    let updated = wait_for(&api, "podinfo", &controller, "the new index", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .is_some_and(|a| a.revision != revision)
    })
    .await;
    let bytes = reqwest::get(&artifact(&updated).url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let index: Value = serde_json::from_slice(&bytes).unwrap();
    let versions: Vec<&str> = index["entries"]["podinfo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(versions, ["6.1.0", "6.0.0"]);
}
