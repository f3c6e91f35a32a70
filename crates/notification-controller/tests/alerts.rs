//! Events in, alerts out: the notification-controller binary on the real control plane posts
//! what Alerts select to local HTTP sinks that record the exact requests.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, PostParams};

#[derive(Clone, Debug)]
struct Received {
    target: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

type Sink = Arc<Mutex<Vec<Received>>>;

async fn record(
    State(sink): State<Sink>,
    UrlPath(target): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    sink.lock().unwrap().push(Received {
        target,
        headers,
        body: body.to_vec(),
    });
    "ok"
}

async fn start_sink() -> (String, Sink) {
    let sink: Sink = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route(
            "/reject",
            axum::routing::post(|| async {
                (axum::http::StatusCode::BAD_REQUEST, "invalid_payload")
            }),
        )
        .route("/{target}", axum::routing::post(record))
        .with_state(sink.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, sink)
}

fn received(sink: &Sink, target: &str) -> Vec<Received> {
    sink.lock()
        .unwrap()
        .iter()
        .filter(|r| r.target == target)
        .cloned()
        .collect()
}

fn event(
    kind: &str,
    name: &str,
    namespace: &str,
    severity: &str,
    message: &str,
) -> serde_json::Value {
    let api_version = if kind == "Kustomization" {
        "kustomize.toolkit.fluxcd.io/v1"
    } else {
        "source.toolkit.fluxcd.io/v1"
    };
    let group = api_version.split('/').next().unwrap();
    serde_json::json!({
        "involvedObject": { "apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace },
        "severity": severity, "timestamp": "2026-11-30T10:00:00Z", "message": message,
        "reason": if severity == "error" { "ReconciliationFailed" } else { "ReconciliationSucceeded" },
        "reportingController": "kustomize-controller",
        "metadata": { format!("{group}/revision"): "main@sha1:3b9a1f7c", format!("{group}/digest"): "sha256:00" },
    })
}

async fn create(client: &kube::Client, namespace: &str, object: serde_json::Value) {
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    let types = object.types.clone().unwrap();
    let (group, version) = types.api_version.rsplit_once('/').unwrap();
    let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
    let plural = format!("{}s", types.kind.to_lowercase());
    let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, &plural);
    Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_select_events_and_providers_send_what_targets_expect() {
    let support::Running {
        namespace,
        client,
        mut controller,
        events_port,
        ..
    } = support::start("alerts", &["--log-level=debug"]).await;
    let (sink_address, sink) = start_sink().await;

    // A Secret's address wins over the Provider's: Slack's webhook URL is a credential.
    for (name, data) in [
        (
            "hmac",
            serde_json::json!({ "token": "hmac-key", "headers": "X-Team: shop\n" }),
        ),
        (
            "slack",
            serde_json::json!({ "address": format!("{sink_address}/slack") }),
        ),
    ] {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name }, "stringData": data,
        }))
        .unwrap();
        Api::<Secret>::namespaced(client.clone(), &namespace)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let provider = |name: &str, spec: serde_json::Value| {
        serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": { "name": name }, "spec": spec,
        })
    };
    let alert = |name: &str, spec: serde_json::Value| {
        serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": { "name": name }, "spec": spec,
        })
    };
    for object in [
        provider(
            "generic",
            serde_json::json!({ "type": "generic", "address": format!("{sink_address}/generic") }),
        ),
        provider(
            "hmac",
            serde_json::json!({ "type": "generic-hmac", "address": format!("{sink_address}/hmac"), "secretRef": { "name": "hmac" } }),
        ),
        provider(
            "slack",
            serde_json::json!({ "type": "slack", "channel": "ops", "address": "http://127.0.0.1:9/unused", "secretRef": { "name": "slack" } }),
        ),
        alert(
            "all-kustomizations",
            serde_json::json!({
                "providerRef": { "name": "generic" },
                "eventSources": [{ "kind": "Kustomization", "name": "*" }],
                "eventMetadata": { "cluster": "test" },
            }),
        ),
        alert(
            "app-errors",
            serde_json::json!({
                "providerRef": { "name": "hmac" }, "eventSeverity": "error",
                "eventSources": [{ "kind": "Kustomization", "name": "app" }],
            }),
        ),
        alert(
            "sources",
            serde_json::json!({
                "providerRef": { "name": "slack" },
                "eventSources": [{ "kind": "GitRepository", "name": "*" }],
                "exclusionList": ["^no new"],
            }),
        ),
    ] {
        create(&client, &namespace, object).await;
    }

    let http = reqwest::Client::new();
    let post = async |body: serde_json::Value| {
        http.post(format!("http://127.0.0.1:{events_port}/"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let wait = async |target: &str, count: usize| {
        let started = Instant::now();
        loop {
            let got = received(&sink, target);
            if got.len() >= count {
                return got;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{target}: {} of {count} requests\n{}",
                got.len(),
                controller.log_tail(60)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    // Until the controller has seen the Alerts, probe with distinct messages.
    let started = Instant::now();
    let mut probe = 0;
    while received(&sink, "generic").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            controller.log_tail(20)
        );
        probe += 1;
        let status = post(event(
            "Kustomization",
            "probe",
            &namespace,
            "info",
            &format!("probe {probe}"),
        ))
        .await;
        assert_eq!(status, 202);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let generic_before = received(&sink, "generic").len();

    // An info event of a Kustomization: only the generic provider's Alert wants it.
    let finished = event(
        "Kustomization",
        "app",
        &namespace,
        "info",
        "Reconciliation finished in 1.2s",
    );
    assert_eq!(post(finished.clone()).await, 202);
    let generic = wait("generic", generic_before + 1).await;
    let sent = generic.last().unwrap();
    assert_eq!(sent.headers["content-type"], "application/json");
    assert_eq!(sent.headers["gotk-component"], "kustomize-controller");
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["involvedObject"]["name"], "app");
    assert_eq!(body["message"], "Reconciliation finished in 1.2s");
    // Metadata cleaned as Flux does (prefix stripped, digest dropped) and completed by the Alert.
    assert_eq!(
        body["metadata"],
        serde_json::json!({ "revision": "main@sha1:3b9a1f7c", "cluster": "test" })
    );

    // The same event again within the rate-limit interval is not sent twice.
    assert_eq!(post(finished).await, 202);
    // An error event reaches both Kustomization Alerts; the HMAC is over the exact body.
    let failed = event("Kustomization", "app", &namespace, "error", "apply failed");
    assert_eq!(post(failed).await, 202);
    let hmac = wait("hmac", 1).await;
    let generic = wait("generic", generic_before + 2).await;
    assert_eq!(
        generic.len(),
        generic_before + 2,
        "the duplicate was sent again"
    );
    let signed = &hmac[0];
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"hmac-key").unwrap();
    mac.update(&signed.body);
    assert_eq!(
        signed.headers["x-signature"],
        format!("sha256={}", hex::encode(mac.finalize().into_bytes())).as_str()
    );
    assert_eq!(signed.headers["x-team"], "shop");

    // A GitRepository event goes to Slack as an attachment, at the secret's address.
    let source = event(
        "GitRepository",
        "podinfo",
        &namespace,
        "info",
        "stored artifact for commit 'x'",
    );
    assert_eq!(post(source).await, 202);
    let skipped = event(
        "GitRepository",
        "podinfo",
        &namespace,
        "info",
        "no new revision",
    );
    assert_eq!(post(skipped).await, 202);
    let slack = wait("slack", 1).await;
    let body: serde_json::Value = serde_json::from_slice(&slack[0].body).unwrap();
    assert_eq!(body["channel"], "ops");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["author_name"],
        format!("gitrepository/podinfo.{namespace}")
    );
    assert_eq!(attachment["text"], "stored artifact for commit 'x'");
    assert_eq!(attachment["color"], "good");

    // Malformed events are refused.
    assert_eq!(
        post(serde_json::json!({ "message": "no object" })).await,
        400
    );
    let mut nameless = event("Kustomization", "", &namespace, "info", "x");
    nameless["involvedObject"]["name"] = serde_json::json!("");
    assert_eq!(post(nameless).await, 400);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        received(&sink, "slack").len(),
        1,
        "an excluded message was sent"
    );
    controller.terminate(Duration::from_secs(10));
}

/// A GitHub Enterprise stand-in: lists and records commit statuses.
async fn github_sink() -> (String, Arc<Mutex<Vec<(HeaderMap, serde_json::Value)>>>) {
    let statuses: Arc<Mutex<Vec<(HeaderMap, serde_json::Value)>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (listed, posted) = (statuses.clone(), statuses.clone());
    let router = axum::Router::new()
        .route(
            "/api/v3/repos/org/app/commits/{sha}/statuses",
            axum::routing::get(move || {
                let listed = listed.clone();
                async move {
                    // Newest first, as GitHub lists them.
                    let bodies: Vec<serde_json::Value> = listed
                        .lock()
                        .unwrap()
                        .iter()
                        .rev()
                        .map(|(_, b)| b.clone())
                        .collect();
                    axum::Json(bodies)
                }
            }),
        )
        .route(
            "/api/v3/repos/org/app/statuses/{sha}",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let posted = posted.clone();
                async move {
                    posted
                        .lock()
                        .unwrap()
                        .push((headers, serde_json::from_slice(&body).unwrap()));
                    (axum::http::StatusCode::CREATED, "{}")
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, statuses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_commit_statuses_are_posted_once_per_state() {
    let support::Running {
        namespace,
        client,
        mut controller,
        events_port,
        ..
    } = support::start("statuses", &[]).await;
    let (github, statuses) = github_sink().await;
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "github" }, "stringData": { "token": "ghp-token" },
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    create(&client, &namespace, serde_json::json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": { "name": "github" },
        "spec": { "type": "github", "address": format!("{github}/org/app"), "secretRef": { "name": "github" } },
    }))
    .await;
    create(&client, &namespace, serde_json::json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
        "metadata": { "name": "statuses" },
        "spec": { "providerRef": { "name": "github" }, "eventSources": [{ "kind": "Kustomization", "name": "*" }] },
    }))
    .await;

    let http = reqwest::Client::new();
    let post = async |message: &str, severity: &str| {
        let mut body = event("Kustomization", "app", &namespace, severity, message);
        body["metadata"]["kustomize.toolkit.fluxcd.io/commit_status"] = "update".into();
        let status = http
            .post(format!("http://127.0.0.1:{events_port}/"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 202);
    };
    let count = || statuses.lock().unwrap().len();
    let started = Instant::now();
    let mut n = 0;
    while count() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            controller.log_tail(20)
        );
        n += 1;
        post(&format!("Reconciliation finished ({n})"), "info").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (headers, first) = statuses.lock().unwrap()[0].clone();
    assert_eq!(headers["authorization"], "Bearer ghp-token");
    assert_eq!(headers["accept"], "application/vnd.github+json");
    assert_eq!(first["state"], "success");
    assert_eq!(first["description"], "reconciliation succeeded");
    assert!(
        first["context"]
            .as_str()
            .unwrap()
            .starts_with("kustomization/app/"),
        "{first}"
    );
    // Progress events without `commit_status: update` set no status.
    http.post(format!("http://127.0.0.1:{events_port}/"))
        .json(&event(
            "Kustomization",
            "app",
            &namespace,
            "error",
            "progress only",
        ))
        .send()
        .await
        .unwrap();
    // Further successes of the same commit add nothing; a failure does.
    assert_eq!(count(), 1, "a repeated state was posted again");
    post("another success", "info").await;
    // Deliveries run concurrently: let the success be handled before the failure arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    post("apply failed", "error").await;
    let started = Instant::now();
    while count() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            controller.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = statuses.lock().unwrap().clone();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1].1["state"], "failure");
    assert_eq!(all[1].1["description"], "reconciliation failed");
    controller.terminate(Duration::from_secs(10));
}
