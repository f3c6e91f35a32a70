//! Credentials, and each kind of bad input with its own reason; the last good index keeps
//! being served.

use driftless_api::source::HelmRepository;
use driftless_testenv::charts::ChartRepository;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_is_sent_and_its_absence_reported() {
    let (plane, namespace, client) = setup("helmrepo-auth").await;
    let charts = ChartRepository::start(Some(("flux", "s3cret"))).expect("chart repository");
    publish(&charts, "podinfo", "6.0.0");
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<HelmRepository> = Api::namespaced(client.clone(), &namespace);

    create_helm_repository(&api, "anonymous", json!({ "url": charts.url() })).await;
    let refused = wait_not_ready(&api, "anonymous", &controller, "AuthenticationFailed").await;
    assert!(
        ready_message(&refused).contains("401 Unauthorized"),
        "{}",
        ready_message(&refused)
    );

    create_helm_repository(
        &api,
        "missing-secret",
        json!({ "url": charts.url(), "secretRef": { "name": "nowhere" } }),
    )
    .await;
    let missing = wait_not_ready(&api, "missing-secret", &controller, "AuthenticationFailed").await;
    assert!(
        ready_message(&missing).starts_with(&format!("failed to get secret '{namespace}/nowhere'")),
        "{}",
        ready_message(&missing)
    );

    create_secret(
        &client,
        &namespace,
        "charts-auth",
        &[("username", "flux"), ("password", "s3cret")],
    )
    .await;
    create_helm_repository(
        &api,
        "authenticated",
        json!({ "url": charts.url(), "secretRef": { "name": "charts-auth" } }),
    )
    .await;
    wait_ready(&api, "authenticated", &controller).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_specific_reason_and_keeps_the_last_index() {
    let (plane, namespace, client) = setup("helmrepo-bad").await;
    let charts = ChartRepository::start(None).expect("chart repository");
    publish(&charts, "podinfo", "6.0.0");
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<HelmRepository> = Api::namespaced(client.clone(), &namespace);

    // An oci:// URL needs `type: oci`: no retry can fix it.
    create_helm_repository(
        &api,
        "oci-url",
        json!({ "url": "oci://127.0.0.1:1/charts" }),
    )
    .await;
    let stalled = wait_not_ready(&api, "oci-url", &controller, "URLInvalid").await;
    assert_eq!(
        ready_message(&stalled),
        "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository type"
    );
    assert!(
        driftless_testenv::conditions::has_condition(
            &stalled.status.as_ref().unwrap().conditions,
            "Stalled",
            "True"
        ),
        "{stalled:?}"
    );

    // Nothing listens there.
    let closed = format!(
        "http://127.0.0.1:{}",
        driftless_testenv::free_ports::<1>().unwrap()[0]
    );
    create_helm_repository(&api, "unreachable", json!({ "url": closed })).await;
    let failed = wait_not_ready(&api, "unreachable", &controller, "Failed").await;
    assert!(
        ready_message(&failed).starts_with("failed to fetch Helm repository index"),
        "{}",
        ready_message(&failed)
    );

    // A good index first, then a corrupt one: IndexationFailed, the last index still served.
    create_helm_repository(&api, "podinfo", json!({ "url": charts.url() })).await;
    let good = wait_ready(&api, "podinfo", &controller).await;
    let kept = artifact(&good);
    std::fs::write(
        charts.dir().join("index.yaml"),
        "apiVersion: v1\nentries: [broken\n",
    )
    .unwrap();
    request_reconcile(&api, "podinfo", &controller).await;
    let corrupt = wait_not_ready(&api, "podinfo", &controller, "IndexationFailed").await;
    assert!(
        ready_message(&corrupt).starts_with("failed to load Helm repository from index YAML"),
        "{}",
        ready_message(&corrupt)
    );
    assert_eq!(artifact(&corrupt), kept, "the last good index stays");
    let served = reqwest::get(&kept.url).await.unwrap();
    assert_eq!(served.status(), 200);

    // An index without apiVersion is refused as Helm refuses it.
    std::fs::write(charts.dir().join("index.yaml"), "entries: {}\n").unwrap();
    request_reconcile(&api, "podinfo", &controller).await;
    let unversioned = wait_for(&api, "podinfo", &controller, "no API version", |o| {
        ready_message(o).ends_with("no API version specified")
    })
    .await;
    assert_eq!(artifact(&unversioned), kept);

    // The repository moves away: 404 is a fetch failure, not an indexation one.
    std::fs::remove_file(charts.dir().join("index.yaml")).unwrap();
    let patch = json!({ "spec": { "interval": "11m" } });
    api.patch("podinfo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let gone = wait_for(&api, "podinfo", &controller, "404", |o| {
        ready_message(o).contains("404 Not Found")
    })
    .await;
    assert_eq!(artifact(&gone), kept);
}
