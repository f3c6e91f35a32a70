//! The Helm chart installed for real, with the real `helm`, on the test node: the five
//! controllers run as Pods from images pushed to a local registry and go Ready through their
//! probes; they reconcile a Git repository whose Deployment's Pods really run, so `wait: true`
//! health checks real Pods; `helm upgrade` rolls a controller to a new image; `helm uninstall`
//! leaves nothing of the release behind.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use driftless_api::kustomize::Kustomization;
use driftless_api::source::GitRepository;
use driftless_e2e::repo_root;
use driftless_testenv::ControlPlane;
use driftless_testenv::git::{GitAuth, GitServer};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::json;

mod support;
use support::node_images::{CONTROLLERS, agnhost, node_plane, push_controller_images};
use support::ready;

const NAMESPACE: &str = "flux-system";
const TIMEOUT: Duration = Duration::from_secs(180);

fn helm(plane: &ControlPlane, args: &[String]) -> String {
    let helm = driftless_testenv::HELM
        .path()
        .expect("helm: run `cargo xtask testenv build`");
    let output = Command::new(helm)
        .env("KUBECONFIG", plane.kubeconfig_path())
        .env("HELM_CACHE_HOME", plane.dir().join("helm-cache"))
        .env("HELM_CONFIG_HOME", plane.dir().join("helm-config"))
        .args(args)
        .output()
        .expect("running helm");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "helm {args:?} failed:\n{text}");
    text
}

fn image_values(registry: &str, tag: &str, digests: &BTreeMap<String, String>) -> Vec<String> {
    let mut args = vec![
        "--set".to_owned(),
        format!("image.registry={registry}"),
        "--set".to_owned(),
        "image.repositoryPrefix=driftless/".to_owned(),
        "--set".to_owned(),
        format!("image.tag={tag}"),
    ];
    for (name, digest) in digests {
        args.push("--set".to_owned());
        args.push(format!("controllers.{name}.digest={digest}"));
    }
    args
}

async fn eventually<T>(
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
    diagnostics: impl AsyncFn() -> String,
) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}\n{}", diagnostics().await);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The last log lines of every controller Pod, read through the kubelet.
async fn controller_logs(pods: &Api<Pod>) -> String {
    let mut logs = String::new();
    for pod in pods
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let name = pod.metadata.name.unwrap_or_default();
        let params = LogParams {
            tail_lines: Some(15),
            ..LogParams::default()
        };
        let log = pods.logs(&name, &params).await.unwrap_or_default();
        logs.push_str(&format!("--- {name}\n{log}\n"));
    }
    logs
}

fn app_manifests(image: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: netexec
          image: {image}
          args: ["netexec", "--http-port=8080"]
          readinessProbe:
            httpGet: {{path: /readyz, port: 8080}}
            periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chart_runs_the_controllers_as_pods_that_reconcile_git_onto_real_pods() {
    // The chart installs the CRDs, as it would on a user's cluster.
    let (plane, client, registry) = node_plane(false).await;
    let node = plane.node().expect("the node");
    let digests = push_controller_images(&registry.host, "e2e").await;

    let chart = repo_root().join("charts/driftless");
    let mut install = vec![
        "install".to_owned(),
        "driftless".to_owned(),
        chart.display().to_string(),
        "--namespace".to_owned(),
        NAMESPACE.to_owned(),
        "--create-namespace".to_owned(),
        "--wait".to_owned(),
        "--timeout".to_owned(),
        "4m".to_owned(),
    ];
    install.extend(image_values(&registry.host, "e2e", &digests));
    helm(&plane, &install);

    // `--wait` returned: every Deployment has its Pod Ready through the readiness probe.
    let pods = Api::<Pod>::namespaced(client.clone(), NAMESPACE);
    for name in CONTROLLERS {
        let list = pods
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await
            .expect("list");
        assert_eq!(list.items.len(), 1, "{name}");
        let status = list.items[0].status.clone().expect("status");
        let container = &status.container_statuses.expect("statuses")[0];
        assert!(container.ready, "{name} is not Ready");
        assert!(
            container.image_id.ends_with(&digests[name]),
            "{name} runs {}, not {}",
            container.image_id,
            digests[name]
        );
    }

    // A Git repository on the host, reached by source-controller's Pod over the node's link.
    let git = GitServer::start_on(GitAuth::default(), node.host_ip).expect("git server");
    let repo = git.create_repo("app").expect("repo");
    let app_image = agnhost(&registry).await;
    repo.commit(&[("deploy/app.yaml", &app_manifests(&app_image))], "web")
        .expect("commit");
    repo.push("main").expect("push");

    let apps = plane.namespace("apps").await.expect("namespace");
    let git_repository: GitRepository = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": NAMESPACE},
        "spec": {"url": git.url("app"), "interval": "1m", "ref": {"branch": "main"}},
    }))
    .expect("GitRepository");
    Api::<GitRepository>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &git_repository)
        .await
        .expect("create GitRepository");
    let kustomization: Kustomization = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "app", "namespace": NAMESPACE},
        "spec": {
            "interval": "10m", "path": "./deploy", "prune": true, "wait": true,
            "timeout": "2m", "targetNamespace": apps,
            "sourceRef": {"kind": "GitRepository", "name": "app"},
        },
    }))
    .expect("Kustomization");
    let kustomizations = Api::<Kustomization>::namespaced(client.clone(), NAMESPACE);
    kustomizations
        .create(&PostParams::default(), &kustomization)
        .await
        .expect("create Kustomization");

    let logs = async || controller_logs(&pods).await;
    let message = eventually(
        "Kustomization app Ready after its Deployment's Pods are",
        async || {
            let (status, _, message) = ready(&kustomizations.get("app").await.ok()?)?;
            (status == "True").then_some(message)
        },
        logs,
    )
    .await;
    assert!(
        message.starts_with("Applied revision: main@sha1:"),
        "{message}"
    );
    // `wait: true` passed on real readiness: both replicas' Pods are Ready now.
    let web = Api::<Deployment>::namespaced(client.clone(), &apps)
        .get("web")
        .await
        .expect("web");
    assert_eq!(web.status.and_then(|s| s.ready_replicas), Some(2));

    // helm upgrade to a new source-controller image: its Pod is replaced and runs it.
    let new_digests = push_controller_images(&registry.host, "e2e-2").await;
    assert_ne!(
        new_digests["source-controller"],
        digests["source-controller"]
    );
    let mut upgraded = digests.clone();
    upgraded.insert(
        "source-controller".to_owned(),
        new_digests["source-controller"].clone(),
    );
    let mut upgrade = vec![
        "upgrade".to_owned(),
        "driftless".to_owned(),
        chart.display().to_string(),
        "--namespace".to_owned(),
        NAMESPACE.to_owned(),
        "--wait".to_owned(),
        "--timeout".to_owned(),
        "4m".to_owned(),
    ];
    upgrade.extend(image_values(&registry.host, "e2e", &upgraded));
    helm(&plane, &upgrade);
    let new_source = new_digests["source-controller"].clone();
    eventually(
        "source-controller running its new image alone",
        async || {
            let list = pods
                .list(&ListParams::default().labels("app=source-controller"))
                .await
                .ok()?;
            let running: Vec<String> = list
                .items
                .into_iter()
                .filter_map(|pod| Some(pod.status?.container_statuses?.first()?.image_id.clone()))
                .collect();
            (running.len() == 1 && running[0].ends_with(&new_source)).then_some(())
        },
        logs,
    )
    .await;

    // helm uninstall: no Deployment, Pod, ServiceAccount or binding of the release remains.
    helm(
        &plane,
        &[
            "uninstall".to_owned(),
            "driftless".to_owned(),
            "--namespace".to_owned(),
            NAMESPACE.to_owned(),
            "--wait".to_owned(),
        ],
    );
    let deployments = Api::<Deployment>::namespaced(client.clone(), NAMESPACE);
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE);
    let bindings = Api::<ClusterRoleBinding>::all(client.clone());
    let instance = ListParams::default().labels("app.kubernetes.io/instance=driftless");
    eventually(
        "the release's objects and Pods to be gone",
        async || {
            let left = deployments.list(&instance).await.ok()?.items.len()
                + accounts.list(&instance).await.ok()?.items.len()
                + bindings.list(&instance).await.ok()?.items.len()
                + pods.list(&ListParams::default()).await.ok()?.items.len();
            (left == 0).then_some(())
        },
        async || String::new(),
    )
    .await;
    // What the controllers applied stays: uninstalling the toolkit is not deleting workloads.
    assert!(
        Api::<Deployment>::namespaced(client.clone(), &apps)
            .get_opt("web")
            .await
            .expect("get web")
            .is_some()
    );
}
