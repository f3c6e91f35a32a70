//! Each kind of bad input with Flux's reason; nothing built yet means no artifact, and a
//! chart that built once keeps being served after its source breaks.

use driftless_api::source::{GitRepository, HelmChart, HelmRepository};
use driftless_testenv::charts::ChartRepository;
use driftless_testenv::git::{GitAuth, GitServer};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::*;
use crate::support::*;

fn stalled(chart: &HelmChart) -> bool {
    driftless_testenv::conditions::has_condition(&status(chart).conditions, "Stalled", "True")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_references_values_and_sources_are_reported() {
    let (plane, namespace, client) = setup("helmchart-bad").await;
    let charts = ChartRepository::start(None).expect("chart repository");
    let files = chart_files("1.0.0");
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    charts
        .publish(&charts.write_chart("app", &borrowed).unwrap())
        .unwrap();
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("charts").unwrap();
    let in_git: Vec<(String, String)> = files
        .iter()
        .map(|(p, c)| (format!("app/{p}"), c.clone()))
        .collect();
    let borrowed_git: Vec<(&str, &str)> = in_git
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    repo.commit(&borrowed_git, "chart").unwrap();
    repo.push("main").unwrap();

    let controller = SourceController::start(plane, &namespace, &[]);
    let repositories: Api<HelmRepository> = Api::namespaced(client.clone(), &namespace);
    create_helm_repository(&repositories, "charts", &charts.url()).await;
    let git: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_following(&git, "charts", &server.url("charts"), "main").await;
    let api: Api<HelmChart> = Api::namespaced(client.clone(), &namespace);

    // A version nothing matches: only a new spec can help.
    create_helm_chart(
        &api,
        "no-version",
        json!({ "chart": "app", "version": "9.x", "sourceRef": { "kind": "HelmRepository", "name": "charts" } }),
    )
    .await;
    let refused = wait_not_ready(&api, "no-version", &controller, "InvalidChartReference").await;
    assert_eq!(
        ready_message(&refused),
        "invalid chart reference: failed to get chart version for remote reference: no 'app' chart with version matching '9.x' found"
    );
    assert!(stalled(&refused));
    assert!(status(&refused).artifact.is_none());

    // A chart name the index does not list.
    create_helm_chart(
        &api,
        "no-chart",
        json!({ "chart": "nginx", "sourceRef": { "kind": "HelmRepository", "name": "charts" } }),
    )
    .await;
    let refused = wait_not_ready(&api, "no-chart", &controller, "InvalidChartReference").await;
    assert!(
        ready_message(&refused).ends_with("no chart name found: nginx"),
        "{}",
        ready_message(&refused)
    );

    // A path with no chart in the Git source.
    create_helm_chart(
        &api,
        "no-path",
        json!({ "chart": "./elsewhere", "sourceRef": { "kind": "GitRepository", "name": "charts" } }),
    )
    .await;
    let refused = wait_not_ready(&api, "no-path", &controller, "InvalidChartReference").await;
    assert_eq!(
        ready_message(&refused),
        "invalid chart reference: no chart directory or archive at './elsewhere' in the source artifact"
    );

    // A missing values file, not allowed to be missing.
    create_helm_chart(
        &api,
        "no-values",
        json!({ "chart": "app", "valuesFiles": ["app/values.yaml", "app/values-staging.yaml"], "sourceRef": { "kind": "GitRepository", "name": "charts" } }),
    )
    .await;
    let refused = wait_not_ready(&api, "no-values", &controller, "ValuesFilesError").await;
    assert_eq!(
        ready_message(&refused),
        "values files merge error: no values file found at path '/app/values-staging.yaml' (reference 'app/values-staging.yaml')"
    );
    assert!(stalled(&refused));

    // A source that does not exist: retried, not stalled.
    create_helm_chart(
        &api,
        "no-source",
        json!({ "chart": "app", "sourceRef": { "kind": "HelmRepository", "name": "nowhere" } }),
    )
    .await;
    let missing = wait_not_ready(&api, "no-source", &controller, "SourceUnavailable").await;
    assert!(
        ready_message(&missing).starts_with("failed to get source: "),
        "{}",
        ready_message(&missing)
    );
    assert!(!stalled(&missing));

    // Built once, then the chart breaks in Git: the last chart stays served.
    create_helm_chart(
        &api,
        "good",
        json!({ "chart": "app", "reconcileStrategy": "Revision", "sourceRef": { "kind": "GitRepository", "name": "charts" } }),
    )
    .await;
    let good = wait_ready(&api, "good", &controller).await;
    let served = status(&good).artifact.clone().unwrap();
    repo.commit(
        &[("app/Chart.yaml", "apiVersion: v2\nname: app\n")],
        "break the chart",
    )
    .unwrap();
    repo.push("main").unwrap();
    request_reconcile(&git, "charts", &controller).await;
    let broken = wait_not_ready(&api, "good", &controller, "InvalidChartReference").await;
    assert_eq!(
        ready_message(&broken),
        "invalid chart reference: validation: chart.metadata.version is required"
    );
    assert_eq!(status(&broken).artifact.as_ref(), Some(&served));
    let still = reqwest::get(&served.url).await.unwrap();
    assert_eq!(still.status(), 200);
    assert_eq!(
        driftless_artifact::Digest::of(&still.bytes().await.unwrap()).to_string(),
        served.digest
    );

    // A fixed spec clears Stalled.
    api.patch(
        "no-version",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "version": "1.x" } })),
    )
    .await
    .unwrap();
    wait_ready(&api, "no-version", &controller).await;
}
