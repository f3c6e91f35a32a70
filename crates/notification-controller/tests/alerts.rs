//! Events in, alerts out: the notification-controller binary on the real control plane posts
//! what Alerts select to local HTTP sinks that record the exact requests.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use driftless_testenv::json::assert_includes;
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

/// Posts `event` to the controller's event endpoint and checks it is accepted.
async fn post_event(http: &reqwest::Client, events_port: u16, event: &serde_json::Value) {
    let status = http
        .post(format!("http://127.0.0.1:{events_port}/"))
        .json(event)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
}

/// A `notification.toolkit.fluxcd.io/v1beta3` object of `kind` named `name`.
fn notification_object(kind: &str, name: &str, spec: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": kind,
        "metadata": { "name": name }, "spec": spec,
    })
}

fn provider(name: &str, spec: serde_json::Value) -> serde_json::Value {
    notification_object("Provider", name, spec)
}

fn alert(name: &str, spec: serde_json::Value) -> serde_json::Value {
    notification_object("Alert", name, spec)
}

/// An Alert named after the Provider `provider` that sends it every Kustomization's events.
fn alert_on_kustomizations(provider: &str) -> serde_json::Value {
    let every_kustomization = serde_json::json!([{ "kind": "Kustomization", "name": "*" }]);
    alert(
        provider,
        serde_json::json!({ "providerRef": { "name": provider }, "eventSources": every_kustomization }),
    )
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
    create(&client, &namespace, provider("github", serde_json::json!({ "type": "github", "address": format!("{github}/org/app"), "secretRef": { "name": "github" } }))).await;
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
        post_event(&http, events_port, &body).await;
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
    assert_includes(
        &first,
        &serde_json::json!({"state": "success", "description": "reconciliation succeeded"}),
    );
    let context = first["context"].as_str().unwrap();
    assert!(context.starts_with("kustomization/app/"), "{first}");
    // Progress events without `commit_status: update` set no status.
    http.post(format!("http://127.0.0.1:{events_port}/"))
        .json(&event(
            "Kustomization",
            "app",
            &namespace,
            "info",
            "progress only",
        ))
        .send()
        .await
        .unwrap();
    // Further successes of the same commit add nothing; a failure does.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        count(),
        1,
        "a progress event or a repeated state was posted"
    );
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

/// One request as an HTTPS stand-in for chat services, Alertmanager and Git hosts saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

type SeenLog = Arc<Mutex<Vec<Seen>>>;

/// Answers as the APIs do: Bitbucket's keyed status reads 404 (no status yet), listed
/// statuses are empty, posts succeed.
async fn https_sink() -> (String, String, SeenLog) {
    let seen: SeenLog = Arc::default();
    let record = seen.clone();
    let router = axum::Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                let path = uri.path().to_owned();
                record.lock().unwrap().push(Seen {
                    method: method.to_string(),
                    uri: uri.to_string(),
                    headers,
                    body: body.to_vec(),
                });
                if method == axum::http::Method::GET {
                    if path.contains("/statuses/build/") || path.ends_with("/builds") {
                        return (axum::http::StatusCode::NOT_FOUND, String::new());
                    }
                    return (axum::http::StatusCode::OK, "[]".to_owned());
                }
                (axum::http::StatusCode::CREATED, "{}".to_owned())
            }
        },
    );
    let (address, ca) = driftless_testenv::tls::serve_https(router).await.unwrap();
    (address, ca, seen)
}

fn posts(seen: &SeenLog, prefix: &str) -> Vec<Seen> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == "POST" && s.uri.starts_with(prefix))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_post_over_https_what_each_api_expects() {
    let support::Running {
        namespace,
        client,
        mut controller,
        events_port,
        ..
    } = support::start("providers", &[]).await;
    let (https, ca, seen) = https_sink().await;
    let secrets = Api::<Secret>::namespaced(client.clone(), &namespace);
    for (name, data) in [
        ("sink-ca", serde_json::json!({ "ca.crt": ca })),
        ("alertmanager", serde_json::json!({ "token": "am-token" })),
        ("gitlab", serde_json::json!({ "token": "glpat-x" })),
        ("gitea", serde_json::json!({ "token": "gitea-x" })),
        (
            "bitbucket",
            serde_json::json!({ "token": "ci-bot:app-password" }),
        ),
        (
            "bitbucketserver",
            serde_json::json!({ "token": "bbs-token" }),
        ),
    ] {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name }, "stringData": data,
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let providers = [
        ("googlechat", format!("{https}/chat"), None, None),
        (
            "alertmanager",
            format!("{https}/api/v2/alerts"),
            Some("alertmanager"),
            None,
        ),
        ("msteams", format!("{https}/teams"), None, None),
        ("discord", format!("{https}/api/webhooks/1/t0k"), None, None),
        ("rocket", format!("{https}/hooks/rocket"), None, None),
        ("gitlab", format!("{https}/group/app"), Some("gitlab"), None),
        ("gitea", format!("{https}/org/app.git"), Some("gitea"), None),
        (
            "bitbucket",
            format!("{https}/team/app"),
            Some("bitbucket"),
            None,
        ),
        (
            "bitbucketserver",
            format!("{https}/scm/PRJ/app.git"),
            Some("bitbucketserver"),
            None,
        ),
        (
            "github",
            format!("{https}/org/app"),
            Some("gitea"),
            Some("event.involvedObject.name + '@' + event.metadata.cluster"),
        ),
    ];
    for (type_, address, secret, expression) in &providers {
        let mut spec = serde_json::json!({
            "type": type_, "address": address, "certSecretRef": { "name": "sink-ca" },
        });
        if let Some(secret) = secret {
            spec["secretRef"] = serde_json::json!({ "name": secret });
        }
        if let Some(expression) = expression {
            spec["commitStatusExpr"] = serde_json::json!(expression);
        }
        create(&client, &namespace, provider(type_, spec)).await;
        let alert_spec = serde_json::json!({
            "providerRef": { "name": type_ },
            "eventSources": [{ "kind": "Kustomization", "name": "*" }],
            "eventMetadata": { "cluster": "eu-1" },
        });
        create(&client, &namespace, alert(type_, alert_spec)).await;
    }
    // A suspended provider sends nothing.
    create(&client, &namespace, provider("quiet", serde_json::json!({ "type": "generic", "address": format!("{https}/quiet"), "certSecretRef": { "name": "sink-ca" }, "suspend": true }))).await;
    create(&client, &namespace, alert_on_kustomizations("quiet")).await;
    // A provider behind an HTTP proxy with credentials: the proxy gets the absolute request.
    let proxied: SeenLog = Arc::default();
    let proxy_address = {
        let record = proxied.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: HeaderMap,
                  body: Bytes| {
                let record = record.clone();
                async move {
                    record.lock().unwrap().push(Seen {
                        method: method.to_string(),
                        uri: uri.to_string(),
                        headers,
                        body: body.to_vec(),
                    });
                    "ok"
                }
            },
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        address
    };
    let proxy_secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "proxy" },
        "stringData": { "address": proxy_address, "username": "relay", "password": "pw" },
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &proxy_secret)
        .await
        .unwrap();
    create(&client, &namespace, provider("proxied", serde_json::json!({ "type": "generic", "address": "http://alerts.example.invalid/proxied", "proxySecretRef": { "name": "proxy" } }))).await;
    create(&client, &namespace, alert_on_kustomizations("proxied")).await;

    // The same sink without its CA: the certificate is refused, reported on the Alert.
    create(
        &client,
        &namespace,
        provider(
            "untrusted",
            serde_json::json!({ "type": "generic", "address": format!("{https}/untrusted") }),
        ),
    )
    .await;
    create(&client, &namespace, alert_on_kustomizations("untrusted")).await;

    let http = reqwest::Client::new();
    let post = async |body: serde_json::Value| {
        post_event(&http, events_port, &body).await;
    };
    // A change set goes to chats; the marked final result goes to Git hosts only.
    let change_set = |message: &str| event("Kustomization", "app", &namespace, "info", message);
    let finished = |message: &str| {
        let mut body = event("Kustomization", "app", &namespace, "info", message);
        body["metadata"]["kustomize.toolkit.fluxcd.io/commit_status"] = "update".into();
        body
    };
    let targets = [
        "/chat",
        "/api/v2/alerts",
        "/teams",
        "/api/webhooks/1/t0k/slack",
        "/hooks/rocket",
        "/api/v4/projects/group%2Fapp/statuses/3b9a1f7c",
        "/api/v1/repos/org/app/statuses/3b9a1f7c",
        "/2.0/repositories/team/app/commit/3b9a1f7c/statuses/build",
        "/rest/api/latest/projects/PRJ/repos/app/commits/3b9a1f7c/builds",
        "/api/v3/repos/org/app/statuses/3b9a1f7c",
    ];
    // Until the controller has seen every Alert and Provider, probe with distinct messages.
    let started = Instant::now();
    let mut probe = 0;
    while !targets.iter().all(|t| !posts(&seen, t).is_empty()) || proxied.lock().unwrap().is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "missing: {:?}\n{}",
            targets
                .iter()
                .filter(|t| posts(&seen, t).is_empty())
                .collect::<Vec<_>>(),
            controller.log_tail(30)
        );
        probe += 1;
        post(change_set(&format!("probe {probe}"))).await;
        post(finished(&format!("probe {probe}"))).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // Let the probes' deliveries finish (no request for a second) before starting afresh.
    let mut count = seen.lock().unwrap().len();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = seen.lock().unwrap().len();
        if now == count {
            break;
        }
        count = now;
    }
    seen.lock().unwrap().clear();

    post(change_set("Deployment/apps/web configured")).await;
    post(finished("Reconciliation finished in 1s, next run in 10m0s")).await;
    let started = Instant::now();
    while !targets.iter().all(|t| !posts(&seen, t).is_empty()) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "missing: {:?}\n{}",
            targets
                .iter()
                .filter(|t| posts(&seen, t).is_empty())
                .collect::<Vec<_>>(),
            controller.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let one = |target: &str| {
        let got = posts(&seen, target);
        assert_eq!(got.len(), 1, "{target}: {got:?}");
        let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
        (got[0].headers.clone(), body)
    };

    // Chats and Alertmanager got the change set, not the marked result.
    let (headers, chat) = one("/chat");
    assert_eq!(headers["content-type"], "application/json");
    let card = &chat["cards"][0];
    assert_eq!(
        card["header"]["title"],
        format!("kustomization/app.{namespace}")
    );
    assert_eq!(card["header"]["subtitle"], "kustomize-controller");
    assert_eq!(
        card["sections"][0]["widgets"][0]["textParagraph"]["text"],
        "Deployment/apps/web configured"
    );
    let facts: Vec<(String, String)> = card["sections"][1]["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["keyValue"]["topLabel"].as_str().unwrap().to_owned(),
                w["keyValue"]["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            ("cluster".into(), "eu-1".into()),
            ("revision".into(), "main@sha1:3b9a1f7c".into())
        ]
    );

    let (headers, alerts) = one("/api/v2/alerts");
    assert_eq!(headers["authorization"], "Bearer am-token");
    let alert = &alerts.as_array().unwrap()[0];
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alert["status"], "firing");
    assert_eq!(
        alert["labels"]["alertname"],
        "FluxKustomizationReconciliationsucceeded"
    );
    assert_eq!(alert["labels"]["namespace"], namespace.as_str());
    assert_eq!(alert["labels"]["cluster"], "eu-1");
    assert_eq!(
        alert["annotations"]["message"],
        "Deployment/apps/web configured"
    );
    assert_eq!(alert["startsAt"], "2026-11-30T10:00:00Z");

    let (_, teams) = one("/teams");
    let content = &teams["attachments"][0]["content"];
    assert_eq!(content["type"], "AdaptiveCard");
    assert_eq!(content["body"][1]["text"], "Deployment/apps/web configured");

    // Discord at its Slack-compatible endpoint and Rocket.Chat get Slack's attachment.
    for target in ["/api/webhooks/1/t0k/slack", "/hooks/rocket"] {
        let (_, slack) = one(target);
        let attachment = &slack["attachments"][0];
        assert_eq!(
            attachment["author_name"],
            format!("kustomization/app.{namespace}")
        );
        assert_eq!(attachment["text"], "Deployment/apps/web configured");
        assert_eq!(attachment["color"], "good");
    }

    // Git hosts got the result once each, keyed as Flux keys it, after reading the current one.
    let (headers, gitlab) = one("/api/v4/projects/group%2Fapp/statuses/3b9a1f7c");
    assert_eq!(headers["private-token"], "glpat-x");
    assert_eq!(gitlab["state"], "success");
    assert_eq!(gitlab["description"], "reconciliation succeeded");
    let gitlab_id = gitlab["name"].as_str().unwrap().to_owned();
    assert!(gitlab_id.starts_with("kustomization/app/"), "{gitlab_id}");

    let (headers, gitea) = one("/api/v1/repos/org/app/statuses/3b9a1f7c");
    assert_eq!(headers["authorization"], "token gitea-x");
    assert_eq!(
        (
            gitea["state"].as_str(),
            gitea["context"]
                .as_str()
                .unwrap()
                .starts_with("kustomization/app/")
        ),
        (Some("success"), true)
    );

    let (headers, cloud) = one("/2.0/repositories/team/app/commit/3b9a1f7c/statuses/build");
    assert_eq!(
        headers["authorization"],
        "Basic Y2ktYm90OmFwcC1wYXNzd29yZA=="
    );
    let key = cloud["key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 40);
    assert_eq!(cloud["state"], "SUCCESSFUL");
    assert_eq!(cloud["name"], "kustomization/app");
    assert_eq!(cloud["url"], "https://bitbucket.org");

    let (headers, server) = one("/rest/api/latest/projects/PRJ/repos/app/commits/3b9a1f7c/builds");
    assert_eq!(headers["authorization"], "Bearer bbs-token");
    assert_eq!(headers["x-atlassian-token"], "no-check");
    assert_eq!(
        server["name"],
        "kustomization/app [reconciliation succeeded]"
    );
    assert_eq!(server["url"], format!("{https}/scm/PRJ/app.git"));
    // Both Bitbucket flavours read the status of their key first.
    let reads: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == "GET")
        .map(|s| s.uri.clone())
        .collect();
    assert!(
        reads.contains(&format!(
            "/2.0/repositories/team/app/commit/3b9a1f7c/statuses/build/{key}"
        )),
        "{reads:?}"
    );
    assert!(
        reads.iter().any(|r| r
            .starts_with("/rest/api/latest/projects/PRJ/repos/app/commits/3b9a1f7c/builds?key=")),
        "{reads:?}"
    );

    // commitStatusExpr names the GitHub status from the event and the Alert's metadata.
    let (_, github) = one("/api/v3/repos/org/app/statuses/3b9a1f7c");
    assert_eq!(github["context"], "app@eu-1");

    // The proxy relayed the change set (and no marked result) to the unresolvable host.
    let started = Instant::now();
    let relayed = loop {
        let found: Vec<Seen> = proxied
            .lock()
            .unwrap()
            .iter()
            .filter(|s| String::from_utf8_lossy(&s.body).contains("Deployment/apps/web configured"))
            .cloned()
            .collect();
        if !found.is_empty() {
            break found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            controller.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(relayed[0].method, "POST");
    assert_eq!(relayed[0].uri, "http://alerts.example.invalid/proxied");
    assert_eq!(
        relayed[0].headers["proxy-authorization"],
        "Basic cmVsYXk6cHc="
    );
    assert!(
        proxied
            .lock()
            .unwrap()
            .iter()
            .all(|s| !String::from_utf8_lossy(&s.body).contains("Reconciliation finished in 1s")),
        "a marked result reached a chat provider"
    );

    assert!(
        posts(&seen, "/quiet").is_empty(),
        "a suspended provider sent"
    );
    // The untrusted sink got nothing; the failure is a Warning on its Alert and a metric.
    assert!(posts(&seen, "/untrusted").is_empty());
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(client.clone(), &namespace);
    let started = Instant::now();
    let warning = loop {
        let listed = events.list(&Default::default()).await.unwrap();
        // The Alert may have been seen before its Provider: look for the certificate failure.
        if let Some(found) = listed.items.into_iter().find(|e| {
            e.involved_object.name.as_deref() == Some("untrusted")
                && e.reason.as_deref() == Some("NotificationDispatchFailed")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("certificate"))
        }) {
            break found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            controller.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let message = warning.message.unwrap_or_default();
    assert!(message.contains("certificate is not trusted"), "{message}");
    assert!(!message.contains(&https), "the address leaked: {message}");
    let metrics = tokio::task::block_in_place(|| controller.metrics()).unwrap();
    assert!(
        metrics.contains(r#"gotk_event_http_request_duration_seconds_count{handler="/",method="POST",code="202"}"#),
        "{metrics}"
    );
    for (alert, result) in [("untrusted", "failure"), ("googlechat", "success")] {
        let (alert, result) = (
            format!(r#"alert="{alert}""#),
            format!(r#"result="{result}""#),
        );
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("driftless_alert_deliveries_total{")
                    && l.contains(&alert)
                    && l.contains(&result)),
            "{alert} {result}: {metrics}"
        );
    }
    controller.terminate(Duration::from_secs(10));
}
