//! Receivers end to end: the real control plane, the notification-controller binary, and
//! every real webhook payload in `../shared/webhooks/incoming/`, sent once signed as its
//! sender signs it (the target is asked to reconcile) and once wrongly (refused, nothing
//! asked).

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use driftless_api::notification::Receiver;
use driftless_api::source::GitRepository;
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
        let target: GitRepository = serde_json::from_value(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": { "name": name },
            "spec": { "url": "https://example.com/app.git", "interval": "1h" },
        }))
        .unwrap();
        sources
            .create(&PostParams::default(), &target)
            .await
            .unwrap();
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
