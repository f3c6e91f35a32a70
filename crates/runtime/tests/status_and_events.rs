//! Status writes and events against the real API server and a local HTTP sink standing in for
//! notification-controller.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use driftless_api::conditions::{READY, RECONCILING};
use driftless_api::event::Severity;
use driftless_api::meta::Artifact;
use driftless_api::source::{GitRepository, GitRepositoryStatus};
use driftless_runtime::conditions;
use driftless_runtime::events::EventRecorder;
use driftless_runtime::status::apply_status;
use k8s_openapi::api::core::v1::Event as KubeEvent;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};

fn git_repository(name: &str) -> GitRepository {
    serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {
            "name": name,
            "annotations": { "event.toolkit.fluxcd.io/team": "platform" }
        },
        "spec": { "url": "https://example.com/app.git", "interval": "5m" }
    }))
    .unwrap()
}

#[tokio::test]
async fn status_is_server_side_applied_and_owned_by_the_controller() {
    let plane = driftless_testenv::shared().await.unwrap();
    let namespace = plane.namespace("status").await.unwrap();
    let api: Api<GitRepository> = Api::namespaced(plane.client().await.unwrap(), &namespace);
    let repo = api
        .create(&PostParams::default(), &git_repository("app"))
        .await
        .unwrap();
    let generation = repo.metadata.generation;

    let mut status = GitRepositoryStatus::default();
    conditions::mark_reconciling(
        &mut status.conditions,
        "Progressing",
        "fetching",
        generation,
    );
    let applied = apply_status(&api, &repo, "source-controller", &status)
        .await
        .unwrap();
    let stored = applied.status.clone().unwrap();
    assert!(conditions::is_true(&stored.conditions, RECONCILING));
    assert_eq!(
        conditions::get(&stored.conditions, READY).map(|c| c.status.as_str()),
        Some("Unknown")
    );
    // The schema default -1 stays until the controller observes the generation.
    assert_eq!(stored.observed_generation, Some(-1));

    status.observed_generation = generation;
    status.artifact = Some(Artifact {
        path: format!("gitrepository/{namespace}/app/abc.tar.gz"),
        url: format!("http://localhost:9090/gitrepository/{namespace}/app/abc.tar.gz"),
        revision: "main@sha1:0123456789abcdef0123456789abcdef01234567".into(),
        digest: "sha256:2f1f5b0a1c".into(),
        last_update_time: conditions::now(),
        size: Some(123),
        metadata: None,
    });
    conditions::mark_ready(
        &mut status.conditions,
        "Succeeded",
        "stored artifact",
        generation,
    );
    let applied = apply_status(&api, &repo, "source-controller", &status)
        .await
        .unwrap();
    let stored = applied.status.clone().unwrap();
    assert!(conditions::get(&stored.conditions, RECONCILING).is_none());
    assert_eq!(stored.artifact.as_ref().map(|a| a.size), Some(Some(123)));
    conditions::check_final_status(&stored.conditions, generation, stored.observed_generation)
        .unwrap();

    let manager = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("gotk-source-controller"))
        .expect("status field manager");
    assert_eq!(manager.subresource.as_deref(), Some("status"));
    assert_eq!(manager.operation.as_deref(), Some("Apply"));

    // Fields the controller stops setting are removed, because it owns them.
    status.artifact = None;
    let applied = apply_status(&api, &repo, "source-controller", &status)
        .await
        .unwrap();
    assert!(applied.status.unwrap().artifact.is_none());

    // A status write never touches the spec.
    assert_eq!(api.get("app").await.unwrap().spec, repo.spec);
}

type Received = Arc<Mutex<Vec<Value>>>;

async fn start_sink(status: StatusCode) -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::post(
                |State((received, status)): State<(Received, StatusCode)>,
                 Json(body): Json<Value>| async move {
                    received.lock().unwrap().push(body);
                    status
                },
            ),
        )
        .with_state((received.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A GitRepository in a fresh namespace and a recorder forwarding to a local sink that
/// answers `sink_status`.
struct EventsSetup {
    namespace: String,
    client: kube::Client,
    repo: GitRepository,
    received: Received,
    recorder: EventRecorder,
}

impl EventsSetup {
    async fn new(prefix: &str, sink_status: StatusCode) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let plane = driftless_testenv::shared().await.unwrap();
        let namespace = plane.namespace(prefix).await.unwrap();
        let client = plane.client().await.unwrap();
        let repo = Api::<GitRepository>::namespaced(client.clone(), &namespace)
            .create(&PostParams::default(), &git_repository("app"))
            .await
            .unwrap();
        let (url, received) = start_sink(sink_status).await;
        let recorder = EventRecorder::new(
            client.clone(),
            "source-controller",
            "source-controller-0",
            &url,
        );
        Self {
            namespace,
            client,
            repo,
            received,
            recorder,
        }
    }
}

#[tokio::test]
async fn events_are_recorded_and_forwarded_in_flux_shape() {
    let EventsSetup {
        namespace,
        client,
        repo,
        received,
        recorder,
    } = EventsSetup::new("events", StatusCode::ACCEPTED).await;

    let metadata = BTreeMap::from([(
        "source.toolkit.fluxcd.io/revision".to_owned(),
        "main@sha1:0123456789abcdef0123456789abcdef01234567".to_owned(),
    )]);
    recorder
        .publish(
            &repo,
            Severity::Info,
            "NewArtifact",
            "stored artifact for commit 'init'",
            metadata,
        )
        .await;
    recorder
        .publish(
            &repo,
            Severity::Trace,
            "ArtifactUpToDate",
            "artifact up-to-date",
            BTreeMap::new(),
        )
        .await;
    recorder
        .publish(
            &repo,
            Severity::Error,
            "GitOperationFailed",
            "authentication required",
            BTreeMap::new(),
        )
        .await;

    let bodies = wait_for("two forwarded events", async || {
        let bodies = received.lock().unwrap().clone();
        (bodies.len() >= 2).then_some(bodies)
    })
    .await;
    // Trace events stay in the cluster; info and error are forwarded.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received.lock().unwrap().len(), 2);
    let info = bodies
        .iter()
        .find(|b| b["reason"] == "NewArtifact")
        .unwrap();
    assert_eq!(
        info["involvedObject"],
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "name": "app",
            "namespace": namespace,
            "uid": repo.metadata.uid,
            "resourceVersion": repo.metadata.resource_version,
        })
    );
    assert_eq!(info["severity"], "info");
    assert_eq!(info["message"], "stored artifact for commit 'init'");
    assert_eq!(info["reportingController"], "source-controller");
    assert_eq!(info["reportingInstance"], "source-controller-0");
    assert_eq!(
        info["metadata"],
        json!({
            "event.toolkit.fluxcd.io/team": "platform",
            "source.toolkit.fluxcd.io/revision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
        })
    );
    let timestamp = info["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 20,
        "{timestamp}"
    );
    let error = bodies
        .iter()
        .find(|b| b["reason"] == "GitOperationFailed")
        .unwrap();
    assert_eq!(error["severity"], "error");

    // All three are core/v1 Events (what `flux events` lists); the error one is a Warning.
    let events: Api<KubeEvent> = Api::namespaced(client, &namespace);
    let recorded = wait_for("three Kubernetes events", async || {
        let list = events.list(&ListParams::default()).await.ok()?;
        (list.items.len() >= 3).then_some(list.items)
    })
    .await;
    let by_reason: BTreeMap<_, _> = recorded
        .iter()
        .map(|e| (e.reason.clone().unwrap_or_default(), e))
        .collect();
    assert_eq!(
        by_reason["GitOperationFailed"].type_.as_deref(),
        Some("Warning")
    );
    assert_eq!(
        by_reason["ArtifactUpToDate"].type_.as_deref(),
        Some("Normal")
    );
    let new_artifact = by_reason["NewArtifact"];
    assert_eq!(
        new_artifact.message.as_deref(),
        Some("stored artifact for commit 'init'")
    );
    assert_eq!(new_artifact.involved_object.name.as_deref(), Some("app"));
    assert_eq!(new_artifact.involved_object.uid, repo.metadata.uid);
    assert_eq!(
        new_artifact.reporting_component.as_deref(),
        Some("source-controller")
    );
    assert_eq!(new_artifact.count, Some(1));

    // A repeat is counted on the same Event; a new message is a new Event with its own text.
    recorder
        .publish(
            &repo,
            Severity::Info,
            "NewArtifact",
            "stored artifact for commit 'init'",
            BTreeMap::new(),
        )
        .await;
    recorder
        .publish(
            &repo,
            Severity::Info,
            "NewArtifact",
            "stored artifact for commit 'second'",
            BTreeMap::new(),
        )
        .await;
    let list = events.list(&ListParams::default()).await.unwrap().items;
    let new_artifacts: BTreeMap<_, _> = list
        .iter()
        .filter(|e| e.reason.as_deref() == Some("NewArtifact"))
        .map(|e| (e.message.clone().unwrap_or_default(), e.count))
        .collect();
    assert_eq!(
        new_artifacts,
        BTreeMap::from([
            ("stored artifact for commit 'init'".to_owned(), Some(2)),
            ("stored artifact for commit 'second'".to_owned(), Some(1)),
        ])
    );
}

#[tokio::test]
async fn an_unavailable_notification_endpoint_never_delays_the_caller() {
    let EventsSetup {
        repo,
        received,
        recorder,
        ..
    } = EventsSetup::new("events-down", StatusCode::SERVICE_UNAVAILABLE).await;
    let started = Instant::now();
    for i in 0..5 {
        recorder
            .publish(
                &repo,
                Severity::Error,
                "GitOperationFailed",
                &format!("attempt {i}"),
                BTreeMap::new(),
            )
            .await;
    }
    // Publishing only waits for the Kubernetes Event; forwarding retries in the background.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    wait_for("retries of every event", async || {
        (received.lock().unwrap().len() >= 15).then_some(())
    })
    .await;
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TestError(String);

#[tokio::test]
async fn a_stale_object_does_not_fail_adding_the_finalizer() {
    use driftless_api::meta::FINALIZER;
    use driftless_runtime::reconcile::with_finalizer;
    use kube::runtime::controller::Action;

    let plane = driftless_testenv::shared().await.unwrap();
    let namespace = plane.namespace("finalizer").await.unwrap();
    let api: Api<GitRepository> = Api::namespaced(plane.client().await.unwrap(), &namespace);
    let stale = Arc::new(
        api.create(&PostParams::default(), &git_repository("app"))
            .await
            .unwrap(),
    );
    let never =
        |_| async { Err::<Action, _>(TestError("reconciled without the finalizer".into())) };

    // The first run adds the finalizer and waits for the object carrying it.
    let action = with_finalizer(&api, stale.clone(), never, TestError).await;
    assert_eq!(action.unwrap(), Action::await_change());
    let live = api.get("app").await.unwrap();
    assert_eq!(live.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));

    // A second run from the same cached object: the server refuses the patch (its test of
    // the finalizers fails), which is no failure of the reconcile.
    let action = with_finalizer(&api, stale, never, TestError).await;
    assert_eq!(action.unwrap(), Action::await_change());
    assert_eq!(
        api.get("app").await.unwrap().metadata.finalizers,
        Some(vec![FINALIZER.to_owned()])
    );
}
