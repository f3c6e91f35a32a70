//! Kustomization health checks against real Pods on the test node: a Deployment whose image
//! cannot be pulled and one whose readiness probe fails both fail with Flux's message at
//! `spec.timeout`, a healthy one passes meanwhile, and the broken one recovers once its
//! image is fixed in Git.

mod support;

use driftless_api::kustomize::Kustomization;
use driftless_api::source::GitRepository;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};

use support::node_images::{agnhost, node_plane};
use support::*;

fn deployment(name: &str, image: &str, readiness_port: u16) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: netexec
          image: {image}
          args: ["netexec", "--http-port=8080"]
          readinessProbe:
            httpGet: {{path: /readyz, port: {readiness_port}}}
            periodSeconds: 1
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn health_checks_follow_real_pods_fail_at_the_timeout_and_recover() {
    let (plane, client, registry) = node_plane(true).await;
    let namespace = plane.namespace("health").await.expect("namespace");
    let good = agnhost(&registry).await;
    // A tag never pushed: the kubelet reports ErrImagePull, the rollout never completes.
    let missing = format!("{}/e2e/agnhost:never-pushed", registry.host);

    let (git, repo) = app_repository(
        &[
            ("ready/app.yaml", &deployment("ready", &good, 8080)),
            ("unready/app.yaml", &deployment("unready", &good, 9999)),
            ("recovers/app.yaml", &deployment("recovers", &missing, 8080)),
        ],
        "apps",
    );
    let controllers = Controllers::start(&plane, &namespace, &[], &[]);
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    for (name, timeout) in [("unready", "12s"), ("recovers", "12s"), ("ready", "2m")] {
        kustomizations
            .create(
                &PostParams::default(),
                &kustomization(
                    name,
                    &namespace,
                    serde_json::json!({ "path": format!("./{name}"), "wait": true, "timeout": timeout }),
                ),
            )
            .await
            .expect("create Kustomization");
    }

    let healthy = wait_for(
        "ready healthy on its Pod's readiness",
        async || {
            let k = kustomizations.get("ready").await.ok()?;
            let healthy = k
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Healthy" && c.status == "True")?;
            Some(healthy.message)
        },
        &logs,
    )
    .await;
    assert!(healthy.starts_with("Health check passed in"), "{healthy}");

    for name in ["unready", "recovers"] {
        let (status, reason, message) = wait_for(
            &format!("{name} failing its health check"),
            async || ready(&kustomizations.get(name).await.ok()?).filter(|r| r.0 == "False"),
            &logs,
        )
        .await;
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", "HealthCheckFailed")
        );
        assert!(
            message.starts_with("health check failed after")
                && message.contains(&format!(
                    "timeout waiting for: [Deployment/{namespace}/{name} status: 'InProgress']"
                )),
            "{message}"
        );
    }
    // The failures are the real ones: a Pod that cannot pull, a Pod running but unready.
    let pods = Api::<Pod>::namespaced(client.clone(), &namespace);
    let waiting = pods
        .list(&ListParams::default().labels("app=recovers"))
        .await
        .expect("list")
        .items[0]
        .status
        .clone()
        .and_then(|s| {
            s.container_statuses?
                .first()?
                .state
                .clone()?
                .waiting?
                .reason
        });
    assert!(
        matches!(
            waiting.as_deref(),
            Some("ErrImagePull" | "ImagePullBackOff")
        ),
        "{waiting:?}"
    );
    let unready = &pods
        .list(&ListParams::default().labels("app=unready"))
        .await
        .expect("list")
        .items[0];
    let phase = unready.status.as_ref().and_then(|s| s.phase.clone());
    assert_eq!(phase.as_deref(), Some("Running"));

    // Fixing the image in Git heals it: the next revision rolls out and passes.
    repo.commit(
        &[("recovers/app.yaml", &deployment("recovers", &good, 8080))],
        "fix the image",
    )
    .expect("commit");
    repo.push("main").expect("push");
    request_reconcile(
        &Api::<GitRepository>::namespaced(client.clone(), &namespace),
        "app",
    )
    .await;
    request_reconcile(&kustomizations, "recovers").await;
    let message = wait_for(
        "recovers Ready once its image is fixed",
        async || {
            let (status, _, message) = ready(&kustomizations.get("recovers").await.ok()?)?;
            (status == "True").then_some(message)
        },
        &logs,
    )
    .await;
    assert!(
        message.starts_with("Applied revision: main@sha1:"),
        "{message}"
    );
}
