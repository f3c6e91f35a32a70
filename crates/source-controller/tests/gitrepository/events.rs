//! Events are forwarded to the notification endpoint (`--events-addr`) in Flux's format.

use std::time::Duration;

use driftless_api::source::GitRepository;
use driftless_testenv::git::{GitAuth, GitServer};
use driftless_testenv::json::assert_includes;
use kube::api::Api;

use crate::init_tls;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_forwarded_to_the_notification_endpoint() {
    use std::sync::{Arc, Mutex};
    init_tls();
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = {
        let received = received.clone();
        axum::Router::new().fallback(move |axum::Json(event): axum::Json<serde_json::Value>| {
            let received = received.clone();
            async move {
                received.lock().unwrap().push(event);
                axum::http::StatusCode::ACCEPTED
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let events_addr = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, sink).await });

    let plane = driftless_testenv::shared().await.expect("control plane");
    let namespace = plane.namespace("gitevents").await.unwrap();
    let client = plane.client().await.unwrap();
    let server = GitServer::start(GitAuth::default()).unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.commit(&[("app.yaml", "a: 1\n")], "Deploy app v1")
        .unwrap();
    repo.push("main").unwrap();
    let controller = SourceController::start(
        plane,
        &namespace,
        &[&format!("--events-addr={events_addr}")],
    );
    let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    create_following(&api, "app", &server.url("app"), "main").await;
    create_following(&api, "broken", &server.url("app"), "gone").await;
    let object = wait_ready(&api, "app", &controller).await;
    let artifact = object.status.unwrap().artifact.unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let (info, error) = loop {
        let events = received.lock().unwrap().clone();
        let find = |name: &str| {
            events
                .iter()
                .find(|e| e["involvedObject"]["name"] == name)
                .cloned()
        };
        if let (Some(info), Some(error)) = (find("app"), find("broken")) {
            break (info, error);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "events received: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_includes(
        &info,
        &serde_json::json!({
            "severity": "info",
            "reason": "NewArtifact",
            "message": "stored artifact for commit 'Deploy app v1'",
            "reportingController": "source-controller",
            "involvedObject": {
                "kind": "GitRepository",
                "apiVersion": "source.toolkit.fluxcd.io/v1",
            },
            "metadata": {
                "source.toolkit.fluxcd.io/revision": artifact.revision,
                "source.toolkit.fluxcd.io/digest": artifact.digest,
            },
        }),
    );
    assert_includes(
        &error,
        &serde_json::json!({"severity": "error", "reason": "GitOperationFailed"}),
    );
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("refs/heads/gone"), "{error}");
}
