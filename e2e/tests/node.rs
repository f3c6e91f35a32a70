//! The test control plane's node (`Options::node`): Pods pulled from the local registry
//! really run under containerd and runc, get addresses from the CNI bridge, pass or fail
//! their probes, reach each other through Services (by address and by DNS name) and the API
//! server through `kubernetes`.

use std::time::{Duration, Instant};

use driftless_testenv::registry::{Registry, RegistryOptions, push_layout};
use driftless_testenv::{ControlPlane, NodeBinaries, Options};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn netexec(name: &str, image: &str, readiness_port: u16) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{
                        "name": "netexec",
                        "image": image,
                        "args": ["netexec", "--http-port=8080"],
                        "ports": [{"containerPort": 8080}],
                        "readinessProbe": {
                            "httpGet": {"path": "/readyz", "port": readiness_port},
                            "periodSeconds": 1,
                        },
                    }],
                },
            },
        },
    }))
    .expect("a Deployment")
}

fn pod_ready(pod: &Pod) -> Option<bool> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status == "True")
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_pulled_from_the_local_registry_run_probe_and_reach_services_and_the_api() {
    let plane = ControlPlane::start(Options {
        node: true,
        ..Options::default()
    })
    .await
    .expect("control plane with a node");
    eprintln!(
        "control plane and node started in {:.1} s",
        plane.started_in().as_secs_f64()
    );
    let node = plane.node().expect("the node");
    let client = plane.client().await.expect("client");

    let info = Api::<Node>::all(client.clone())
        .get(&node.name)
        .await
        .expect("the Node object")
        .status
        .and_then(|status| status.node_info)
        .expect("node info");
    assert_eq!(info.kubelet_version, "v1.36.4");
    assert!(
        info.container_runtime_version
            .starts_with("containerd://1."),
        "{}",
        info.container_runtime_version
    );

    // The image comes over the node's link from a registry on the host, as a user's would.
    let registry = Registry::start(RegistryOptions {
        listen_on: Some(node.host_ip),
        ..RegistryOptions::default()
    })
    .expect("registry");
    node.allow_plain_http(&registry.host).expect("hosts.toml");
    let binaries = NodeBinaries::locate().expect("node binaries");
    let digest = push_layout(
        &registry.host,
        &binaries.agnhost_archive,
        "e2e/agnhost",
        "test",
    )
    .await
    .expect("push agnhost");
    let image = format!("{}/e2e/agnhost@{digest}", registry.host);

    let ns = plane.namespace("node").await.expect("namespace");
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    deployments
        .create(&PostParams::default(), &netexec("ready", &image, 8080))
        .await
        .expect("create ready");
    // Nothing listens on 9999: Running, never Ready.
    deployments
        .create(&PostParams::default(), &netexec("unready", &image, 9999))
        .await
        .expect("create unready");

    let ready_pod = eventually("the ready Deployment's Pod to be Ready", || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("app=ready"))
                .await
                .ok()?;
            list.items
                .into_iter()
                .find(|pod| pod_ready(pod) == Some(true))
        }
    })
    .await;
    let status = ready_pod.status.clone().expect("status");
    let pod_ip = status.pod_ip.clone().expect("a Pod IP");
    assert!(pod_ip.starts_with("10.244.0."), "{pod_ip}");
    let image_id = &status.container_statuses.expect("statuses")[0].image_id;
    assert!(image_id.ends_with(&digest), "{image_id} is not {digest}");
    let available = eventually("the ready Deployment to be Available", || {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("ready").await.ok()?;
            let available = d.status?.available_replicas?;
            (available == 1).then_some(available)
        }
    })
    .await;
    assert_eq!(available, 1);

    let running = eventually("the unready Pod to run", || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("app=unready"))
                .await
                .ok()?;
            list.items
                .into_iter()
                .find(|pod| pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        }
    })
    .await;
    // A few probe periods later it is still not Ready.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let name = running.metadata.name.expect("a name");
    let unready = pods.get(&name).await.expect("the unready Pod");
    assert_eq!(
        pod_ready(&unready),
        Some(false),
        "a failing probe keeps it unready"
    );

    // Pod → Service → Pod, through kube-proxy's rules in the node's namespace.
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "ready"},
        "spec": {"selector": {"app": "ready"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }))
    .expect("a Service");
    let service = Api::<Service>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &service)
        .await
        .expect("create Service");
    let cluster_ip = service
        .spec
        .and_then(|spec| spec.cluster_ip)
        .expect("a cluster IP");
    // By address, then by name through the cluster DNS, as controllers address each other
    // (source-controller's artifacts are at `source-controller.<ns>.svc.cluster.local.`).
    let jobs = Api::<Job>::namespaced(client.clone(), &ns);
    let by_name = format!("ready.{ns}.svc.cluster.local.:80");
    for (name, target) in [("by-ip", format!("{cluster_ip}:80")), ("by-name", by_name)] {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "backoffLimit": 20,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "connect",
                        "image": image,
                        "args": ["connect", target, "--timeout=2s"],
                    }],
                }},
            },
        }))
        .expect("a Job");
        jobs.create(&PostParams::default(), &job)
            .await
            .expect("create Job");
    }
    for name in ["by-ip", "by-name"] {
        eventually(
            &format!("Job {name} reaching the Service to succeed"),
            || {
                let jobs = jobs.clone();
                async move {
                    let status = jobs.get(name).await.ok()?.status?;
                    (status.succeeded? >= 1).then_some(())
                }
            },
        )
        .await;
    }

    // Pod → API server through the `kubernetes` Service with its service-account token; the
    // log comes back through the kubelet, authenticating the API server.
    let client_pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "in-cluster"},
        "spec": {"containers": [{
            "name": "client",
            "image": image,
            "args": ["inclusterclient", "--poll-interval=1"],
        }]},
    }))
    .expect("a Pod");
    pods.create(&PostParams::default(), &client_pod)
        .await
        .expect("create Pod");
    let log = eventually("the in-cluster client to call the API server", || {
        let pods = pods.clone();
        async move {
            let log = pods.logs("in-cluster", &LogParams::default()).await.ok()?;
            (log.matches("calling /healthz").count() >= 2).then_some(log)
        }
    })
    .await;
    assert!(!log.contains("status=failed"), "{log}");
    assert!(!log.contains("authz_header=<empty>"), "{log}");
}
