//! Health checks: a rollout that never finishes fails at its timeout without delaying other
//! Kustomizations, and CEL expressions decide the health of custom kinds.

use std::time::{Duration, Instant};

use driftless_api::kustomize::Kustomization;
use kube::api::{Api, PostParams};

use crate::support::*;

const ROLLED_OUT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: idle\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: idle}\n  template:\n    metadata:\n      labels: {app: idle}\n    spec:\n      containers:\n      - name: idle\n        image: example.com/idle:1\n";

/// One worker (`--concurrent=1`): a Kustomization waiting on a rollout that never finishes
/// (no node here) must not delay another; it fails with HealthCheckFailed at its timeout.
/// Health against real Pods is `tests/health_on_node.rs`.
#[tokio::test(flavor = "multi_thread")]
async fn health_checks_report_without_blocking_other_kustomizations() {
    let (plane, namespace, client) = cluster("health").await;
    let stuck = ROLLED_OUT
        .replace("idle", "stuck")
        .replace("replicas: 0", "replicas: 1");
    let (git, _repo) = app_repository(
        &[
            ("idle/deployment.yaml", ROLLED_OUT),
            ("stuck/deployment.yaml", &stuck),
        ],
        "apps",
    );

    let controllers = Controllers::start(plane, &namespace, &[], &["--concurrent=1"]);
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    // The stuck one first, so that with one worker it is the one being reconciled.
    kustomizations
        .create(
            &PostParams::default(),
            &kustomization(
                "stuck",
                &namespace,
                serde_json::json!({ "path": "./stuck", "wait": true, "timeout": "8s" }),
            ),
        )
        .await
        .expect("stuck");
    let started = Instant::now();
    kustomizations
        .create(
            &PostParams::default(),
            &kustomization(
                "idle",
                &namespace,
                serde_json::json!({ "path": "./idle", "wait": true }),
            ),
        )
        .await
        .expect("idle");

    let healthy = wait_for(
        "idle healthy",
        async || {
            let k = kustomizations.get("idle").await.ok()?;
            let (ready, _, _) = ready(&k)?;
            let healthy = k
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Healthy" && c.status == "True")?;
            (ready == "True").then_some(healthy.message)
        },
        &logs,
    )
    .await;
    assert!(healthy.starts_with("Health check passed in"), "{healthy}");
    let stuck_state = ready(&kustomizations.get("stuck").await.unwrap());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the healthy Kustomization waited for the stuck one's timeout: {:?} ({stuck_state:?})",
        started.elapsed()
    );

    let (status, reason, message) = wait_for(
        "stuck fails its health check",
        async || ready(&kustomizations.get("stuck").await.ok()?).filter(|r| r.0 == "False"),
        &logs,
    )
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "HealthCheckFailed"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "Deployment/{namespace}/stuck status: 'InProgress'"
        )),
        "{message}"
    );
    let healthy_condition = kustomizations
        .get("stuck")
        .await
        .unwrap()
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Healthy")
        .unwrap();
    assert_eq!(
        (
            healthy_condition.status.as_str(),
            healthy_condition.reason.as_str()
        ),
        ("False", "HealthCheckFailed")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_check_expressions_decide_custom_health() {
    let (plane, namespace, client) = cluster("ksexprs").await;
    let state = |name: &str, state: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  state: {state}\n"
        )
    };
    let (git, _repo) = app_repository(
        &[
            ("ready/cm.yaml", &state("ready", "ready")),
            ("broken/cm.yaml", &state("broken", "broken")),
        ],
        "states",
    );
    let controllers = Controllers::start(plane, &namespace, &[], &["--requeue-dependency=1s"]);
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;

    // The state of these ConfigMaps is read by expressions, not by kstatus (for which every
    // ConfigMap is Current).
    let exprs = |current: &str| {
        serde_json::json!([{
            "apiVersion": "v1", "kind": "ConfigMap",
            "current": current, "failed": "data.state == 'broken'",
        }])
    };
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    for (name, path, current) in [
        ("ready", "./ready", "data.state == 'ready'"),
        ("broken", "./broken", "data.state == 'ready'"),
        ("invalid", "./ready", "data.state =="),
    ] {
        let spec = serde_json::json!({
            "path": path, "wait": true, "timeout": "30s", "healthCheckExprs": exprs(current),
        });
        create_kustomization(&kustomizations, name, &namespace, spec).await;
    }

    let (status, _, message, _) = wait_settled(&kustomizations, "ready", &logs).await;
    assert_eq!(status, "True", "{message}");
    // Failed by its expression, at once rather than at the timeout.
    let (status, reason, message, _) = wait_settled(&kustomizations, "broken", &logs).await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "HealthCheckFailed")
    );
    assert!(
        message.contains(&format!("ConfigMap/{namespace}/broken status: 'Failed'")),
        "{message}"
    );
    // An expression that does not parse stalls the Kustomization before anything is applied.
    let (status, reason, message, invalid) = wait_settled(&kustomizations, "invalid", &logs).await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "InvalidCELExpression")
    );
    assert!(
        message.starts_with("Reconciliation failed terminally due to configuration error: failed to create custom status evaluator for healthchecks[0]: failed to parse the expression Current"),
        "{message}"
    );
    let stalled = invalid
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Stalled");
    assert_eq!(stalled.map(|c| c.status), Some("True".to_owned()));
}
