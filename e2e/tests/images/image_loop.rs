//! See the crate docs: the whole loop, asserted at every hop, with the push-to-applied time.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use driftless_api::image::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
use driftless_api::kustomize::Kustomization;
use driftless_api::notification::Receiver;
use driftless_api::source::GitRepository;
use driftless_testenv::controller::ControllerProcess;
use driftless_testenv::git::{GitAuth, GitServer, git};
use driftless_testenv::registry::{Registry, RegistryOptions};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use serde_json::json;

use crate::support::*;

type Bodies = Arc<Mutex<Vec<serde_json::Value>>>;

/// A local alert target recording each event the generic provider posts.
async fn alert_sink() -> (String, Bodies) {
    let bodies: Bodies = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/alerts", listener.local_addr().unwrap());
    let recorded = bodies.clone();
    let router = axum::Router::new().route(
        "/alerts",
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

async fn create_dynamic(client: &kube::Client, namespace: &str, object: serde_json::Value) {
    driftless_testenv::objects::apply_json(client, namespace, object)
        .await
        .expect("apply object");
}

fn deployment(image: &str, namespace: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 0 # no node runs pods here\n  selector:\n    matchLabels: {{app: app}}\n  template:\n    metadata:\n      labels: {{app: app}}\n    spec:\n      containers:\n        - name: app\n          image: {image}:1.0.0 # {{\"$imagepolicy\": \"{namespace}:app\"}}\n"
    )
}

/// How the GitRepository learns of the automation's commit.
#[derive(Clone, Copy, PartialEq)]
enum Wakeup {
    /// The automation requests its reconcile.
    AutomationRequest,
    /// GitHub's signed push webhook, posted to a `github` Receiver.
    GitHubWebhook,
}

/// Waits until the automation `fleet` records a pushed commit; the commit.
async fn recorded_push(
    automations: &Api<ImageUpdateAutomation>,
    logs: &dyn Fn() -> String,
) -> String {
    wait_for(
        "the automation's recorded push",
        async || {
            automations
                .get("fleet")
                .await
                .ok()?
                .status?
                .last_push_commit
        },
        logs,
    )
    .await
}

async fn run_loop(prefix: &str, wakeup: Wakeup) {
    let (plane, namespace, client) = cluster(prefix).await;
    let notification = spawn_notification_controller(plane, &namespace);
    let (events_addr, receiver_port) =
        (notification.events_flag.clone(), notification.receiver_port);
    let confined = confined_args(&namespace, &[]);
    let controllers = Controllers::start(plane, &namespace, &[&events_addr], &[]);
    let storage = tempfile::tempdir().unwrap();
    let mut image_args = [
        confined.to_vec(),
        vec![
            events_addr.clone(),
            format!("--storage-path={}", storage.path().display()),
        ],
    ]
    .concat();
    if wakeup == Wakeup::GitHubWebhook {
        image_args.push("--request-source-reconcile=false".into());
    }
    let images: ControllerProcess = spawn(plane, "image-automation-controller", image_args);
    let logs = || {
        format!(
            "{}\nimage-automation-controller:\n{}\nnotification-controller:\n{}",
            controllers.logs(),
            images.log_tail(40),
            notification.process.log_tail(30)
        )
    };

    // Receivers first: the registry is configured with the webhook URL.
    create_dynamic(
        &client,
        &namespace,
        json!({"metadata": {"name": "webhooks"}, "apiVersion": "v1", "kind": "Secret",
               "stringData": {"token": "push-token"}}),
    )
    .await;
    create_dynamic(
        &client,
        &namespace,
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
               "metadata": {"name": "registry"},
               "spec": {"type": "generic", "secretRef": {"name": "webhooks"},
                        "resources": [{"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository", "name": "app"}]}}),
    )
    .await;
    create_dynamic(
        &client,
        &namespace,
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
               "metadata": {"name": "github"},
               "spec": {"type": "github", "events": ["push"], "secretRef": {"name": "webhooks"},
                        "resources": [{"kind": "GitRepository", "name": "fleet"}]}}),
    )
    .await;
    let receivers: Api<Receiver> = Api::namespaced(client.clone(), &namespace);
    let hook = |name: &'static str| {
        let receivers = receivers.clone();
        async move { receivers.get(name).await.ok()?.status?.webhook_path }
    };
    let registry_hook = wait_for(
        "registry webhook path",
        async || hook("registry").await,
        &logs,
    )
    .await;
    let github_hook = wait_for("github webhook path", async || hook("github").await, &logs).await;
    let registry = Registry::start(RegistryOptions {
        notify: vec![format!("http://127.0.0.1:{receiver_port}{registry_hook}")],
        ..RegistryOptions::default()
    })
    .expect("registry");
    registry.push("app", "1.0.0").await.unwrap();
    let image = registry.image("app");

    let git_server =
        GitServer::start_accepting_pushes(GitAuth::default(), "bot", "pushpass").unwrap();
    let repo = git_server.create_repo("fleet").unwrap();
    repo.commit(
        &[("deploy/deployment.yaml", &deployment(&image, &namespace))],
        "initial",
    )
    .unwrap();
    repo.push("main").unwrap();

    let (sink, alerts) = alert_sink().await;
    for object in [
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "git"},
               "stringData": {"username": "bot", "password": "pushpass"}}),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": "fleet"},
               "spec": {"url": git_server.url("fleet"), "interval": "1h", "ref": {"branch": "main"},
                        "secretRef": {"name": "git"}}}),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": "fleet"},
               "spec": {"interval": "1h", "prune": true, "path": "./deploy", "targetNamespace": namespace,
                        "sourceRef": {"kind": "GitRepository", "name": "fleet"}}}),
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
               "metadata": {"name": "app"},
               "spec": {"image": image, "interval": "1h", "insecure": true}}),
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
               "metadata": {"name": "app"},
               "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "^1.x"}}}}),
        json!({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
               "metadata": {"name": "fleet"},
               "spec": {"interval": "1h", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                        "git": {"commit": {"author": {"name": "Image Bot", "email": "bot@example.com"},
                                           "messageTemplate": "{{ range .Changed.Changes }}{{ print .OldValue }} -> {{ .NewValue | trimPrefix (printf \"%s/\" $.Values.registry) }}{{ end }}\n\nAutomation: {{ .AutomationObject }}",
                                           "messageTemplateValues": {"registry": registry.host}}},
                        "update": {"strategy": "Setters", "path": "./deploy"}}}),
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
               "metadata": {"name": "sink"}, "spec": {"type": "generic", "address": sink}}),
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
               "metadata": {"name": "images"},
               "spec": {"providerRef": {"name": "sink"},
                        "eventSources": [{"kind": "ImagePolicy", "name": "*"}, {"kind": "ImageUpdateAutomation", "name": "*"}]}}),
    ] {
        create_dynamic(&client, &namespace, object).await;
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let running = |deployments: Api<Deployment>| async move {
        deployments
            .get("app")
            .await
            .ok()?
            .spec?
            .template
            .spec?
            .containers
            .first()?
            .image
            .clone()
    };
    let first = wait_for(
        "the Deployment applied",
        async || running(deployments.clone()).await,
        &logs,
    )
    .await;
    assert_eq!(first, format!("{image}:1.0.0"));
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), &namespace);
    wait_for(
        "the automation settled on 1.0.0",
        async || {
            let status = automations.get("fleet").await.ok()?.status?;
            (status.observed_policies.get("app")?.tag == "1.0.0").then_some(())
        },
        &logs,
    )
    .await;

    // CI pushes 1.1.0.
    let pushed_at = Instant::now();
    registry.push("app", "1.1.0").await.unwrap();
    if wakeup == Wakeup::GitHubWebhook {
        // GitHub would send its push event once the automation's commit lands.
        let automation_pushed = recorded_push(&automations, &logs).await;
        assert_eq!(
            git(&repo.bare, &["rev-parse", "main"]).unwrap(),
            automation_pushed
        );
        let response = post_github_push(receiver_port, &github_hook, "push-token").await;
        assert_eq!(response.status(), 200);
    }
    let updated = wait_for(
        "the Deployment running 1.1.0",
        async || {
            running(deployments.clone())
                .await
                .filter(|i| i.ends_with(":1.1.0"))
        },
        &logs,
    )
    .await;
    let loop_time = pushed_at.elapsed();
    println!(
        "image push to Deployment updated: {} ms",
        loop_time.as_millis()
    );
    assert_eq!(updated, format!("{image}:1.1.0"));

    // Every hop says what it did.
    let repository = Api::<ImageRepository>::namespaced(client.clone(), &namespace)
        .get("app")
        .await
        .unwrap();
    assert_eq!(
        repository
            .status
            .unwrap()
            .last_scan_result
            .unwrap()
            .latest_tags,
        ["1.1.0", "1.0.0"]
    );
    let policy = Api::<ImagePolicy>::namespaced(client.clone(), &namespace)
        .get("app")
        .await
        .unwrap();
    let policy_status = policy.status.unwrap();
    assert_eq!(policy_status.latest_ref.unwrap().tag, "1.1.0");
    assert_eq!(policy_status.observed_previous_ref.unwrap().tag, "1.0.0");
    // The cluster can run the new image before each hop has written its status: the push
    // wakes the source at once, and the automation records the push after it.
    let commit = recorded_push(&automations, &logs).await;
    assert_eq!(git(&repo.bare, &["rev-parse", "main"]).unwrap(), commit);
    assert_eq!(
        git(&repo.bare, &["log", "-1", "--format=%an%n%B", "main"]).unwrap(),
        format!("Image Bot\n{image}:1.0.0 -> app:1.1.0\n\nAutomation: {namespace}/fleet")
    );
    let revision = format!("main@sha1:{commit}");
    let source = Api::<GitRepository>::namespaced(client.clone(), &namespace)
        .get("fleet")
        .await
        .unwrap();
    assert_eq!(source.status.unwrap().artifact.unwrap().revision, revision);
    let kustomizations = Api::<Kustomization>::namespaced(client.clone(), &namespace);
    wait_for(
        "the Kustomization's recorded revision",
        async || {
            let applied = kustomizations
                .get("fleet")
                .await
                .ok()?
                .status?
                .last_applied_revision;
            (applied.as_deref() == Some(revision.as_str())).then_some(())
        },
        &logs,
    )
    .await;

    // The Alert announced the new image and the commit.
    let announced = wait_for(
        "the alerts",
        async || {
            let bodies = alerts.lock().unwrap().clone();
            let selected = bodies.iter().any(|b| {
                b["involvedObject"]["kind"] == "ImagePolicy"
                    && b["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("resolved to 1.1.0"))
            });
            let pushed = bodies.iter().any(|b| {
                b["involvedObject"]["kind"] == "ImageUpdateAutomation"
                    && b["message"].as_str().is_some_and(|m| {
                        m.starts_with(&format!("pushed commit '{}'", &commit[..7]))
                    })
            });
            (selected && pushed).then_some(bodies.len())
        },
        &logs,
    )
    .await;
    assert!(announced >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_image_reaches_the_cluster_through_git() {
    run_loop("imgloop", Wakeup::AutomationRequest).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_github_push_webhook_closes_the_loop_instead() {
    run_loop("imgloop-gh", Wakeup::GitHubWebhook).await;
}
