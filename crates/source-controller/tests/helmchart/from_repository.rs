//! A chart from a HelmRepository: pulled byte for byte as `helm package` wrote it, rendered
//! by the real helm exactly as its source directory; a new version in the index is followed
//! without a request to the chart; `valuesFiles` re-package it with merged values.

use driftless_api::source::{HelmChart, HelmRepository};
use driftless_testenv::charts::ChartRepository;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::*;
use crate::support::*;

fn publish(charts: &ChartRepository, version: &str) -> std::path::PathBuf {
    let files = chart_files(version);
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let dir = charts.write_chart("app", &borrowed).expect("chart source");
    charts.publish(&dir).expect("helm package + repo index");
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn pulled_verbatim_followed_and_repackaged_with_values_files() {
    let (plane, namespace, client) = setup("helmchart-repo").await;
    let charts = ChartRepository::start(None).expect("chart repository");
    let source_dir = publish(&charts, "1.0.0");
    let controller = SourceController::start(plane, &namespace, &[]);
    let repositories: Api<HelmRepository> = Api::namespaced(client.clone(), &namespace);
    let api: Api<HelmChart> = Api::namespaced(client.clone(), &namespace);
    create_helm_repository(&repositories, "charts", &charts.url()).await;
    create_helm_chart(
        &api,
        "app",
        json!({
            "chart": "app",
            "version": "1.x",
            "sourceRef": { "kind": "HelmRepository", "name": "charts" },
        }),
    )
    .await;

    let ready = wait_ready(&api, "app", &controller).await;
    assert_eq!(
        ready_message(&ready),
        "pulled 'app' chart with version '1.0.0'"
    );
    let condition = ready
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .clone();
    assert_eq!(condition.reason, "ChartPullSucceeded");
    let repository = wait_ready(&repositories, "charts", &controller).await;
    let index_revision = repository
        .status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .unwrap()
        .revision
        .clone();
    let first_status = status(&ready);
    assert_eq!(first_status.observed_chart_name.as_deref(), Some("app"));
    assert_eq!(
        first_status.observed_source_artifact_revision.as_deref(),
        Some(index_revision.as_str())
    );
    let artifact = first_status.artifact.clone().unwrap();
    assert_eq!(artifact.revision, "1.0.0");
    assert!(
        artifact
            .path
            .ends_with(&format!("helmchart/{namespace}/app/app-1.0.0.tgz")),
        "{}",
        artifact.path
    );
    assert!(
        first_status
            .url
            .as_deref()
            .unwrap()
            .ends_with(&format!("helmchart/{namespace}/app/latest.tar.gz"))
    );

    let work = tempfile::tempdir().unwrap();
    let pulled = download_chart(&ready, work.path()).await;
    let published = std::fs::read(charts.dir().join("app-1.0.0.tgz")).unwrap();
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        published,
        "pulled verbatim"
    );
    assert_eq!(template(&pulled, &[]), template(&source_dir, &[]));
    let announced = wait_for_event(&client, &namespace, "ChartPullSucceeded").await;
    assert_eq!(
        announced.message.as_deref(),
        Some("pulled 'app' chart with version '1.0.0'")
    );

    // Another HelmChart of the same version and repository: no second download.
    create_helm_chart(
        &api,
        "twin",
        json!({
            "chart": "app",
            "version": "1.0.x",
            "sourceRef": { "kind": "HelmRepository", "name": "charts" },
        }),
    )
    .await;
    let twin = wait_ready(&api, "twin", &controller).await;
    assert_eq!(
        status(&twin).artifact.as_ref().unwrap().digest,
        artifact.digest
    );
    let downloads = charts
        .requests()
        .iter()
        .filter(|p| p.ends_with("app-1.0.0.tgz"))
        .count();
    assert_eq!(downloads, 1, "{:?}", charts.requests());

    // The same version on the next reconcile: no chart download.
    let before = charts.requests().len();
    request_reconcile(&api, "app", &controller).await;
    assert!(
        !charts.requests()[before..]
            .iter()
            .any(|p| p.ends_with(".tgz")),
        "{:?}",
        charts.requests()
    );

    // A new version in the index: the repository's new artifact rebuilds the chart.
    let next_dir = publish(&charts, "1.1.0");
    request_reconcile(&repositories, "charts", &controller).await;
    let followed = wait_for(&api, "app", &controller, "version 1.1.0", |c| {
        c.status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .is_some_and(|a| a.revision == "1.1.0")
    })
    .await;
    assert_eq!(
        ready_message(&followed),
        "pulled 'app' chart with version '1.1.0'"
    );

    // Values files: merged in order into values.yaml, the version marked with the generation.
    api.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "valuesFiles": ["values.yaml", "values-prod.yaml"] } })),
    )
    .await
    .unwrap();
    let merged = wait_for(&api, "app", &controller, "packaged with values", |c| {
        c.status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .is_some_and(|a| a.revision.starts_with("1.1.0+"))
    })
    .await;
    let generation = merged.metadata.generation.unwrap();
    assert_eq!(
        ready_message(&merged),
        format!(
            "packaged 'app' chart with version '1.1.0+{generation}' and merged values files [values.yaml values-prod.yaml]"
        )
    );
    let packaged = download_chart(&merged, work.path()).await;
    let prod = next_dir.join("values-prod.yaml");
    let expected = template(&next_dir, &["-f", &prod.to_string_lossy()]);
    // Only the version label differs: the package carries `1.1.0+<generation>`.
    assert_eq!(
        template(&packaged, &[]),
        expected.replace("app-1.1.0\n", &format!("app-1.1.0_{generation}\n"))
    );
}
