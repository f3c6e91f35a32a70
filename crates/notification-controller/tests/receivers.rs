//! Receivers end to end: the real control plane, the notification-controller binary, and
//! every real webhook payload in `../shared/webhooks/incoming/`, sent once signed as its
//! sender signs it (the target is asked to reconcile) and once wrongly (refused, nothing
//! asked).

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use driftless_api::notification::Receiver;
use driftless_api::source::GitRepository;
use driftless_testenv::conditions::condition;
use driftless_testenv::wait;
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};

const TOKEN: &str = "s3cret-webhook-token";
const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

fn incoming() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/webhooks/incoming")
}

macro_rules! hmac_hex {
    ($digest:ty, $key:expr, $body:expr) => {{
        let mut mac = Hmac::<$digest>::new_from_slice($key).unwrap();
        mac.update($body);
        hex::encode(mac.finalize().into_bytes())
    }};
}

/// The sender's headers for `body` with the placeholders filled in, signed with `key`.
fn headers(file: &Path, body: &[u8], key: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let sha256 = hmac_hex!(sha2::Sha256, key.as_bytes(), body);
    let sha1 = hmac_hex!(sha1::Sha1, key.as_bytes(), body);
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(": "))
        .map(|(name, value)| {
            let mut value = value
                .replace("{{hmac-sha256-hex}}", &sha256)
                .replace("{{hmac-sha1-hex}}", &sha1)
                .replace("{{token}}", key)
                .replace("{{uuid}}", "2f8d1a4e-5b7c-4e0a-9d3f-6c1b2a3e4f50");
            // Other placeholders are values receivers must not depend on.
            while let (Some(start), Some(end)) = (value.find("{{"), value.find("}}")) {
                value.replace_range(start..end + 2, "x");
            }
            (name.to_owned(), value)
        })
        .collect()
}

/// Flux's receiver type for each sender (Gitea speaks GitHub's protocol).
fn receiver_type(sender: &str) -> &'static str {
    match sender {
        "github" | "gitea" => "github",
        "gitlab" => "gitlab",
        "bitbucketserver" => "bitbucket",
        "harbor" => "harbor",
        "nexus" => "nexus",
        "dockerhub" => "dockerhub",
        "quay" => "quay",
        "acr" => "acr",
        other => panic!("no receiver type for {other}"),
    }
}

async fn requested_at(api: &Api<GitRepository>, name: &str) -> Option<String> {
    api.get(name)
        .await
        .ok()?
        .metadata
        .annotations?
        .get(REQUESTED_AT)
        .cloned()
}

/// Creates the GitRepository `name` with `labels` for Receivers to act on (no source-controller
/// runs here, so it is never fetched).
async fn create_source(sources: &Api<GitRepository>, name: &str, labels: serde_json::Value) {
    let source: GitRepository = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": { "name": name, "labels": labels },
        "spec": { "url": "https://example.com/app.git", "interval": "1h" },
    }))
    .unwrap();
    sources
        .create(&PostParams::default(), &source)
        .await
        .unwrap();
}

/// The path the Receiver `name` serves its webhook on, once it has one.
async fn webhook_path(receivers: &Api<Receiver>, name: &str) -> Option<String> {
    receivers.get(name).await.unwrap().status?.webhook_path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_real_payload_triggers_when_genuine_and_nothing_otherwise() {
    let support::Running {
        namespace,
        client,
        mut controller,
        receiver_port: port,
        ..
    } = support::start("receivers", &["--receiver-max-body-bytes=65536"]).await;

    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "webhook-token" }, "stringData": { "token": TOKEN },
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let sources: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let receivers: Api<Receiver> = Api::namespaced(client.clone(), &namespace);

    let mut payloads: Vec<PathBuf> = std::fs::read_dir(incoming())
        .expect("../shared/webhooks/incoming")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    payloads.sort();
    assert!(payloads.len() >= 14, "{payloads:?}");

    // One Receiver and one target GitRepository per payload.
    let mut cases = Vec::new();
    for payload in &payloads {
        let stem = payload.file_stem().unwrap().to_string_lossy().into_owned();
        let sender = stem.split('-').next().unwrap().to_owned();
        let name = stem.replace('_', "-");
        create_source(&sources, &name, serde_json::json!({})).await;
        let receiver: Receiver = serde_json::from_value(serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
            "metadata": { "name": name },
            "spec": {
                "type": receiver_type(&sender),
                "secretRef": { "name": "webhook-token" },
                "resources": [{ "kind": "GitRepository", "name": name }],
            },
        }))
        .unwrap();
        receivers
            .create(&PostParams::default(), &receiver)
            .await
            .unwrap();
        cases.push((payload.clone(), stem, name));
    }
    // Each publishes its secret path, as Flux computes it.
    let started = Instant::now();
    let mut paths = std::collections::BTreeMap::new();
    while paths.len() < cases.len() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            controller.log_tail(30)
        );
        for (_, _, name) in &cases {
            if let Some(path) = receivers
                .get(name)
                .await
                .ok()
                .and_then(|r| r.status?.webhook_path)
            {
                paths.insert(name.clone(), path);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let digest = |name: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{TOKEN}{name}{namespace}")))
    };
    for (name, path) in &paths {
        assert_eq!(path, &format!("/hook/{}", digest(name)));
    }

    let http = reqwest::Client::new();
    let post = async |path: &str, body: Vec<u8>, headers: Vec<(String, String)>| {
        let mut request = http
            .post(format!("http://127.0.0.1:{port}{path}"))
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    };
    for (payload, stem, name) in &cases {
        let body = std::fs::read(payload).unwrap();
        let header_file = payload.with_extension("headers");
        let path = &paths[name];
        let signed = !matches!(
            stem.split('-').next().unwrap(),
            "dockerhub" | "quay" | "acr"
        );

        // Wrongly signed (or, for senders that sign nothing, at a wrong path): refused.
        let (status, text) = if signed {
            post(
                path,
                body.clone(),
                headers(&header_file, &body, "not-the-token"),
            )
            .await
        } else {
            post(
                "/hook/0000",
                body.clone(),
                headers(&header_file, &body, TOKEN),
            )
            .await
        };
        let expected = if signed { 401 } else { 404 };
        assert_eq!(status, expected, "{stem} wrongly signed: {text}");
        assert_eq!(requested_at(&sources, name).await, None, "{stem}");

        // As the sender sends it: accepted and the target asked to reconcile (a ping only
        // acknowledged).
        let (status, text) = post(path, body.clone(), headers(&header_file, &body, TOKEN)).await;
        assert_eq!(status, 200, "{stem}: {text}\n{}", controller.log_tail(20));
        let requested = requested_at(&sources, name).await;
        if stem == "github-ping" {
            assert_eq!(requested, None, "a ping reconciles nothing");
        } else {
            assert!(requested.is_some(), "{stem}: not annotated ({text})");
        }
    }

    // Bodies over the limit are refused before anything is read further.
    let (first_name, first_path) = paths.iter().next().unwrap();
    let (status, _) = post(first_path, vec![b' '; 70_000], Vec::new()).await;
    assert_eq!(status, 413);
    let _ = first_name;

    // A flood at one Receiver is cut off (10 a second, bursts of 20), before any check.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(post(first_path, b"{}".to_vec(), Vec::new()).await.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // The burst is answered as an unsigned request deserves; nothing gets through.
    assert!(statuses[..20].iter().all(|s| *s != 429), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s >= 400), "{statuses:?}");

    // Events a Receiver does not list are acknowledged and ignored.
    let filtered: Receiver = serde_json::from_value(serde_json::json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": { "name": "releases-only" },
        "spec": {
            "type": "github", "events": ["release"],
            "secretRef": { "name": "webhook-token" },
            "resources": [{ "kind": "GitRepository", "name": "github-push" }],
        },
    }))
    .unwrap();
    receivers
        .create(&PostParams::default(), &filtered)
        .await
        .unwrap();
    let path = format!("/hook/{}", digest("releases-only"));
    let body = std::fs::read(incoming().join("github-push.json")).unwrap();
    let before = requested_at(&sources, "github-push").await;
    let started = Instant::now();
    loop {
        let (status, text) = post(
            &path,
            body.clone(),
            headers(&incoming().join("github-push.headers"), &body, TOKEN),
        )
        .await;
        if status == 200 {
            assert!(text.starts_with("ignored"), "{text}");
            break;
        }
        assert_eq!(status, 404, "{text}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "path never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(requested_at(&sources, "github-push").await, before);
    controller.terminate(Duration::from_secs(10));
}

/// A local OIDC issuer: discovery document and one P-256 signing key (`kid` "k1").
struct Issuer {
    url: String,
    key: jsonwebtoken::EncodingKey,
}

async fn start_issuer() -> Issuer {
    use base64::Engine as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let pair = rcgen::KeyPair::generate().unwrap();
    let point = pair.public_key_raw();
    assert_eq!(
        (point.len(), point[0]),
        (65, 4),
        "an uncompressed P-256 point"
    );
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwks = serde_json::json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": b64(&point[1..33]), "y": b64(&point[33..65]),
    }]});
    let discovery = serde_json::json!({ "issuer": url, "jwks_uri": format!("{url}/keys") });
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/keys",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    Issuer {
        url,
        key: jsonwebtoken::EncodingKey::from_ec_der(pair.serialized_der()),
    }
}

fn sign_token(key: &jsonwebtoken::EncodingKey, claims: serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_tokens_and_filters_decide_what_reconciles() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let issuer = start_issuer().await;
    let support::Running {
        namespace,
        client,
        mut controller,
        receiver_port: port,
        ..
    } = support::start(
        "oidc-receivers",
        &[&format!("--gcr-token-issuer={}", issuer.url)],
    )
    .await;
    let email = "push@project.iam.gserviceaccount.com";
    let audience = "https://hooks.example.com/gcr";
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "gcr" },
        "stringData": { "token": TOKEN, "email": email, "audience": audience },
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let sources: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    for (name, labels) in [
        ("podinfo", serde_json::json!({ "app": "images" })),
        ("other", serde_json::json!({ "app": "images" })),
        ("deployed-by-ci", serde_json::json!({})),
    ] {
        create_source(&sources, name, labels).await;
    }
    let receivers: Api<Receiver> = Api::namespaced(client.clone(), &namespace);
    for receiver in [
        serde_json::json!({
            "metadata": { "name": "gcr" },
            "spec": {
                "type": "gcr", "secretRef": { "name": "gcr" },
                "resources": [{ "kind": "GitRepository", "name": "*", "matchLabels": { "app": "images" } }],
                "resourceFilter": "req.tag.contains(res.metadata.name)",
            },
        }),
        serde_json::json!({
            "metadata": { "name": "ci" },
            "spec": {
                "type": "generic-oidc",
                "oidcProviders": [{
                    "issuerURL": issuer.url,
                    "variables": [{ "name": "owner", "expression": "claims.repository.split('/')[0]" }],
                    "validations": [{ "expression": "vars.owner == 'org'", "message": "the repository is not org's" }],
                }],
                "resources": [{ "kind": "GitRepository", "name": "deployed-by-ci" }],
            },
        }),
        serde_json::json!({
            "metadata": { "name": "broken" },
            "spec": {
                "type": "generic", "secretRef": { "name": "gcr" },
                "resources": [{ "kind": "GitRepository", "name": "podinfo" }],
                "resourceFilter": "req.tag.(",
            },
        }),
    ] {
        let mut object = receiver;
        object["apiVersion"] = "notification.toolkit.fluxcd.io/v1".into();
        object["kind"] = "Receiver".into();
        let receiver: Receiver = serde_json::from_value(object).unwrap();
        receivers
            .create(&PostParams::default(), &receiver)
            .await
            .unwrap();
    }
    let digest = |token: &str, name: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{token}{name}{namespace}")))
    };
    // gcr's path is salted with its token, generic-oidc's with nothing, as in Flux.
    let gcr_path = format!("/hook/{}", digest(TOKEN, "gcr"));
    let ci_path = format!("/hook/{}", digest("", "ci"));
    let logs = || controller.log_tail(30);
    let paths = wait::until(
        "the webhook paths of gcr and ci",
        Duration::from_secs(30),
        Duration::from_millis(100),
        async || {
            Some((
                webhook_path(&receivers, "gcr").await?,
                webhook_path(&receivers, "ci").await?,
            ))
        },
        logs,
    )
    .await;
    assert_eq!(paths, (gcr_path.clone(), ci_path.clone()));
    // An expression that does not compile stalls its Receiver, which serves no path.
    let status = wait::until(
        "the broken Receiver to stall",
        Duration::from_secs(30),
        Duration::from_millis(100),
        async || {
            let status = receivers
                .get("broken")
                .await
                .unwrap()
                .status
                .unwrap_or_default();
            status
                .conditions
                .iter()
                .any(|c| c.type_ == "Stalled")
                .then_some(status)
        },
        logs,
    )
    .await;
    assert_eq!(
        condition(&status.conditions, "Stalled").reason,
        "InvalidCELExpression"
    );
    let ready = condition(&status.conditions, "Ready");
    assert_eq!(ready.status, "False");
    assert!(
        ready.message.starts_with(
            "Reconciliation failed terminally due to configuration error: invalid resourceFilter"
        ),
        "{}",
        ready.message
    );
    assert_eq!(status.webhook_path, None);

    let http = reqwest::Client::new();
    let post = async |path: &str, token: Option<&str>, body: &serde_json::Value| {
        let mut request = http
            .post(format!("http://127.0.0.1:{port}{path}"))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    };
    // A Pub/Sub push of an Artifact Registry notification.
    let push = {
        use base64::Engine as _;
        let notification = serde_json::json!({ "action": "INSERT", "digest": "europe-docker.pkg.dev/p/r/podinfo@sha256:0a", "tag": "europe-docker.pkg.dev/p/r/podinfo:6.5.0" });
        serde_json::json!({
            "message": { "data": base64::engine::general_purpose::STANDARD.encode(notification.to_string()), "messageId": "1", "publishTime": "2026-11-30T10:00:00Z" },
            "subscription": "projects/p/subscriptions/flux",
        })
    };
    let google = |changes: serde_json::Value| {
        let mut claims = serde_json::json!({
            "iss": issuer.url, "aud": audience, "email": email, "email_verified": true,
            "sub": "1234", "iat": now(), "exp": now() + 600,
        });
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        sign_token(&issuer.key, claims)
    };
    let rogue = jsonwebtoken::EncodingKey::from_ec_der(
        rcgen::KeyPair::generate().unwrap().serialized_der(),
    );
    let refused = [
        (None, "the Authorization header is missing or malformed"),
        (
            Some(google(serde_json::json!({ "aud": "https://elsewhere" }))),
            "InvalidAudience",
        ),
        // A token without an audience is not one for this subscription.
        (
            Some(google(serde_json::json!({ "aud": null }))),
            "Missing required claim: aud",
        ),
        (
            Some(google(
                serde_json::json!({ "email": "someone@example.com" }),
            )),
            "token email is 'someone@example.com'",
        ),
        (
            Some(google(serde_json::json!({ "email_verified": false }))),
            "is not verified",
        ),
        (
            Some(google(serde_json::json!({ "exp": now() - 3600 }))),
            "ExpiredSignature",
        ),
        (
            Some(sign_token(
                &rogue,
                serde_json::json!({ "iss": issuer.url, "aud": audience, "email": email, "email_verified": true, "exp": now() + 600 }),
            )),
            "InvalidSignature",
        ),
    ];
    for (token, expected) in &refused {
        let (status, text) = post(&gcr_path, token.as_deref(), &push).await;
        assert_eq!(status, 401, "{expected}: {text}");
        // The caller learns nothing of what the Receiver expects; the log says why.
        assert_eq!(text.trim(), "cannot authenticate the request");
        let log = controller.log_tail(3);
        assert!(log.contains(expected), "{expected}: {log}");
    }
    for name in ["podinfo", "other"] {
        assert_eq!(
            requested_at(&sources, name).await,
            None,
            "{name} annotated by a refused push"
        );
    }
    let (status, text) = post(&gcr_path, Some(&google(serde_json::json!({}))), &push).await;
    assert_eq!(status, 200, "{text}\n{}", controller.log_tail(20));
    // The filter keeps the wildcard to the repository named in the pushed tag.
    assert!(requested_at(&sources, "podinfo").await.is_some());
    assert_eq!(requested_at(&sources, "other").await, None);

    // generic-oidc: the token's issuer picks the provider; its validations decide.
    let ci = |repository: &str, iss: &str| {
        sign_token(
            &issuer.key,
            serde_json::json!({
                "iss": iss, "aud": "notification-controller", "repository": repository,
                "iat": now(), "exp": now() + 600,
            }),
        )
    };
    let empty = serde_json::json!({});
    let (status, text) = post(&ci_path, Some(&ci("evil/app", &issuer.url)), &empty).await;
    assert_eq!(
        (status, text.trim()),
        (401, "cannot authenticate the request")
    );
    let log = controller.log_tail(3);
    assert!(
        log.contains("token validation failed: the repository is not org's"),
        "{log}"
    );
    let (status, _) = post(&ci_path, Some(&ci("org/app", "http://127.0.0.1:9")), &empty).await;
    assert_eq!(status, 401);
    let log = controller.log_tail(3);
    assert!(
        log.contains("no oidcProvider configured for issuer"),
        "{log}"
    );
    assert_eq!(requested_at(&sources, "deployed-by-ci").await, None);
    let (status, text) = post(&ci_path, Some(&ci("org/app", &issuer.url)), &empty).await;
    assert_eq!(status, 200, "{text}\n{}", controller.log_tail(20));
    assert!(requested_at(&sources, "deployed-by-ci").await.is_some());
    let metrics = tokio::task::block_in_place(|| controller.metrics()).unwrap();
    for line in [
        r#"gotk_receiver_http_request_duration_seconds_count{handler="/hook/{digest}",method="POST",code="401"} 9"#,
        r#"gotk_receiver_http_request_duration_seconds_count{handler="/hook/{digest}",method="POST",code="200"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
    controller.terminate(Duration::from_secs(10));
}
