//! A signed push webhook to a Receiver reconciles at once, and an Alert reports to Slack.

use std::time::Instant;

use driftless_api::kustomize::Kustomization;
use driftless_api::source::GitRepository;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

use crate::EXTRA;
use crate::support::*;

/// A local stand-in for Slack's incoming webhook: records each request body.
async fn slack_sink() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let bodies: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/slack", listener.local_addr().unwrap());
    let recorded = bodies.clone();
    let router = axum::Router::new().route(
        "/slack",
        axum::routing::post(move |body: axum::body::Bytes| {
            let recorded = recorded.clone();
            async move {
                if let Ok(value) = serde_json::from_slice(&body) {
                    recorded.lock().unwrap().push(value);
                }
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, bodies)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_webhook_applies_at_once_and_alerts_slack() {
    use k8s_openapi::api::core::v1::Secret;

    let (plane, namespace, client) = cluster("kspush").await;
    let (git, repo) = app_repository(&[("deploy/configmap.yaml", EXTRA)], "first");
    let (slack_address, slack) = slack_sink().await;
    let notification = spawn_notification_controller(plane, &namespace);
    let receiver_port = notification.receiver_port;
    let controllers = Controllers::start(plane, &namespace, &[&notification.events_flag], &[]);
    let logs = || {
        format!(
            "{}\nnotification-controller:\n{}",
            controllers.logs(),
            notification.process.log_tail(40)
        )
    };
    // Intervals of an hour: only the webhook can make anything happen within the test.
    let source: GitRepository = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": { "name": "app" },
        "spec": { "url": git.url("app"), "interval": "1h", "ref": { "branch": "main" } },
    }))
    .unwrap();
    Api::<GitRepository>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &source)
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "webhooks" },
        "stringData": { "token": "push-token", "address": slack_address },
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    for object in [
        serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
            "metadata": { "name": "github" },
            "spec": { "type": "github", "events": ["push"], "secretRef": { "name": "webhooks" },
                      "resources": [{ "kind": "GitRepository", "name": "app" }] },
        }),
        serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": { "name": "slack" },
            "spec": { "type": "slack", "secretRef": { "name": "webhooks" } },
        }),
        serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": { "name": "deploys" },
            "spec": { "providerRef": { "name": "slack" },
                      "eventSources": [{ "kind": "Kustomization", "name": "*" }],
                      "inclusionList": [" configured"] },
        }),
    ] {
        let object: kube::api::DynamicObject = serde_json::from_value(object).unwrap();
        let types = object.types.clone().unwrap();
        let (group, version) = types.api_version.rsplit_once('/').unwrap();
        let resource = kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(group, version, &types.kind),
            &format!("{}s", types.kind.to_lowercase()),
        );
        Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), &namespace, &resource)
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    let mut app = kustomization("app", &namespace, serde_json::json!({ "path": "./deploy" }));
    app.spec.interval = "1h".to_owned();
    kustomizations
        .create(&PostParams::default(), &app)
        .await
        .unwrap();
    let (status, _, message, _) = wait_settled(&kustomizations, "app", &logs).await;
    assert_eq!(status, "True", "{message}");
    let receivers: Api<driftless_api::notification::Receiver> =
        Api::namespaced(client.clone(), &namespace);
    let hook = wait_for(
        "webhook path",
        async || receivers.get("github").await.ok()?.status?.webhook_path,
        &logs,
    )
    .await;

    // A new commit, and GitHub's push webhook for it.
    let pushed = repo
        .commit(
            &[(
                "deploy/configmap.yaml",
                &EXTRA.replace(
                    "name: extra\n",
                    "name: extra\n  labels:\n    pushed: \"yes\"\n",
                ),
            )],
            "second",
        )
        .unwrap();
    repo.push("main").unwrap();
    let started = Instant::now();
    let response = post_github_push(receiver_port, &hook, "push-token").await;
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );

    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    wait_for(
        "pushed commit applied",
        async || {
            let labels = config_maps.get("extra").await.ok()?.metadata.labels?;
            (labels.get("pushed").map(String::as_str) == Some("yes")).then_some(())
        },
        &logs,
    )
    .await;
    let latency = started.elapsed();
    println!("push to applied: {} ms", latency.as_millis());

    // And the alert for that revision arrives, Slack-shaped.
    let revision = format!("main@sha1:{pushed}");
    let alert = wait_for(
        "Slack alert for the pushed revision",
        async || {
            slack.lock().unwrap().iter().find_map(|body| {
                let attachment = &body["attachments"][0];
                let fields = attachment["fields"].as_array()?;
                fields
                    .iter()
                    .any(|f| f["title"] == "revision" && f["value"] == revision.as_str())
                    .then(|| attachment.clone())
            })
        },
        &logs,
    )
    .await;
    assert_eq!(
        alert["author_name"],
        format!("kustomization/app.{namespace}")
    );
    // The change set, as in Flux: the marked final result goes to commit statuses only.
    let text = alert["text"].as_str().unwrap();
    assert!(text.contains(" configured"), "{alert}");
    assert!(
        !slack
            .lock()
            .unwrap()
            .iter()
            .any(|body| body["attachments"][0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Reconciliation finished"))),
        "a result marked for commit statuses reached Slack"
    );
}
