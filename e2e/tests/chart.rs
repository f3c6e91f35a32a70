//! The Helm chart installs into a real API server, and each controller runs with exactly the
//! arguments and RBAC the chart gives it.

use std::process::Command;
use std::time::{Duration, Instant};

use driftless_api::image::ImageRepository;
use driftless_api::source::HelmRepository;
use driftless_e2e::{controller_binary, repo_root};
use driftless_testenv::controller::ControllerProcess;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Discovery;
use serde_json::Value;

const CONTROLLERS: [&str; 5] = [
    "helm-controller",
    "image-automation-controller",
    "kustomize-controller",
    "notification-controller",
    "source-controller",
];

fn render(namespace: &str) -> Vec<Value> {
    render_with(namespace, &[])
}

fn render_with(namespace: &str, extra: &[&str]) -> Vec<Value> {
    let helm = driftless_testenv::HELM
        .path()
        .expect("helm: run `cargo xtask testenv build`");
    let output = Command::new(helm)
        .args(["template", "driftless"])
        .arg(repo_root().join("charts/driftless"))
        .args(["--namespace", namespace, "--include-crds"])
        .args(extra)
        // Offline rendering has no server to ask; `helm install` would read it from the API.
        .args([
            "--kube-version",
            &driftless_testenv::KubernetesPins::load()
                .unwrap()
                .kubernetes_version,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "helm template failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

#[test]
fn images_are_pinned_by_digest_when_given_and_tagged_otherwise() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let objects = render_with(
        "flux-system",
        &[
            "--set",
            &format!("controllers.helm-controller.digest={digest}"),
            "--set",
            "image.registry=127.0.0.1:5000",
            "--set",
            "image.repositoryPrefix=driftless/",
            "--set",
            "image.tag=v1",
        ],
    );
    let image = |name: &str| {
        let deployment = objects
            .iter()
            .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == name)
            .unwrap();
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        image("helm-controller"),
        format!("127.0.0.1:5000/driftless/helm-controller@{digest}")
    );
    assert_eq!(
        image("source-controller"),
        "127.0.0.1:5000/driftless/source-controller:v1"
    );
}

#[test]
fn the_webhook_receiver_is_cluster_internal_unless_exposed() {
    let receiver = |objects: Vec<Value>| {
        objects
            .into_iter()
            .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "webhook-receiver")
            .expect("webhook-receiver Service")
    };
    let default = receiver(render("flux-system"));
    assert_eq!(default["spec"]["type"], "ClusterIP");
    assert!(default["spec"]["ports"][0].get("nodePort").is_none());
    // A node port given with ClusterIP would be refused by the API server: it is left out.
    let cluster_ip = receiver(render_with(
        "flux-system",
        &["--set", "webhookReceiver.service.nodePort=30292"],
    ));
    assert!(cluster_ip["spec"]["ports"][0].get("nodePort").is_none());
    let exposed = receiver(render_with(
        "flux-system",
        &[
            "--set",
            "webhookReceiver.service.type=NodePort",
            "--set",
            "webhookReceiver.service.nodePort=30292",
        ],
    ));
    assert_eq!(exposed["spec"]["type"], "NodePort");
    assert_eq!(exposed["spec"]["ports"][0]["nodePort"], 30292);
    assert_eq!(exposed["spec"]["ports"][0]["targetPort"], "http-webhook");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_installs_and_each_controller_runs_with_its_args_and_rbac() {
    let plane = driftless_testenv::shared().await.unwrap();
    let client = plane.client().await.unwrap();
    let namespace = plane.namespace("chart").await.unwrap();
    let objects = render(&namespace);

    let count = |kind: &str| objects.iter().filter(|o| o["kind"] == kind).count();
    assert_eq!(
        count("CustomResourceDefinition"),
        driftless_api::crds().len()
    );
    assert_eq!(count("Deployment"), 5);
    assert_eq!(count("ServiceAccount"), 5);
    // source-controller's artifact server, at the address it advertises.
    let service = objects
        .iter()
        .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "source-controller")
        .expect("source-controller Service");
    assert_eq!(service["spec"]["ports"][0]["port"], 80);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    let source = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "source-controller")
        .unwrap();
    let source_args = source["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(
        source_args.contains(
            "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."
        ),
        "{source_args}"
    );

    // Install everything for real with server-side apply, as `helm install` would create it.
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let params = PatchParams::apply("chart-test").force();
    for object in &objects {
        let (group, version) = object["apiVersion"]
            .as_str()
            .unwrap()
            .rsplit_once('/')
            .map_or(("", object["apiVersion"].as_str().unwrap()), |(g, v)| {
                (g, v)
            });
        let gvk = GroupVersionKind::gvk(group, version, object["kind"].as_str().unwrap());
        let (resource, capabilities) = discovery.resolve_gvk(&gvk).unwrap();
        let api: Api<DynamicObject> = match capabilities.scope {
            kube::discovery::Scope::Namespaced => {
                Api::namespaced_with(client.clone(), &namespace, &resource)
            }
            kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        let name = object["metadata"]["name"].as_str().unwrap();
        api.patch(name, &params, &Patch::Apply(object))
            .await
            .unwrap_or_else(|e| panic!("applying {} {name}: {e}", object["kind"]));
    }

    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let storage = tempfile::tempdir().unwrap();
    for deployment in objects.iter().filter(|o| o["kind"] == "Deployment") {
        let name = deployment["metadata"]["name"].as_str().unwrap();
        assert!(CONTROLLERS.contains(&name), "unexpected Deployment {name}");
        let pod = &deployment["spec"]["template"]["spec"];
        let service_account = pod["serviceAccountName"].as_str().unwrap();
        let container = &pod["containers"][0];
        let args: Vec<String> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            // The pod's volumes and ports become a private directory and a free port here.
            .map(|a| {
                if a.starts_with("--storage-path=") {
                    format!("--storage-path={}", storage.path().display())
                } else if a.starts_with("--storage-addr=") {
                    "--storage-addr=127.0.0.1:0".to_owned()
                } else if a.starts_with("--receiver-addr=") {
                    "--receiver-addr=127.0.0.1:0".to_owned()
                } else if a.starts_with("--events-addr=:") {
                    "--events-addr=127.0.0.1:0".to_owned()
                } else {
                    a
                }
            })
            // The pod's RUNTIME_NAMESPACE comes from the downward API.
            .chain([format!("--runtime-namespace={namespace}")])
            .collect();
        assert!(
            args.contains(&"--enable-leader-election=true".to_owned()),
            "{name}: {args:?}"
        );

        let kubeconfig = plane
            .write_impersonating_kubeconfig(
                &format!("{namespace}-{name}.kubeconfig"),
                &format!("system:serviceaccount:{namespace}:{service_account}"),
            )
            .unwrap();
        let mut controller = ControllerProcess::spawn(
            CONTROLLERS.iter().find(|c| **c == name).unwrap(),
            &controller_binary(name),
            &kubeconfig,
            plane.dir(),
            &args,
        )
        .unwrap();
        tokio::task::block_in_place(|| controller.wait_ready(Duration::from_secs(30)))
            .unwrap_or_else(|e| panic!("{name} with the chart's args: {e}"));

        // Taking the Lease proves the chart's RBAC covers leader election for this account.
        let lease_name = format!("{name}-leader-election");
        let deadline = Instant::now() + Duration::from_secs(20);
        let holder = loop {
            let holder = leases
                .get_opt(&lease_name)
                .await
                .unwrap()
                .and_then(|l| l.spec?.holder_identity);
            if holder.is_some() || Instant::now() > deadline {
                break holder;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            // Identities are `<hostname>_<pid>_<random>`.
            holder.as_deref().and_then(|h| h.rsplit('_').nth(1))
                == Some(controller.pid().to_string().as_str()),
            "{name} did not acquire its Lease as {service_account}:\n{}",
            controller.log_tail(30)
        );
        expect_status_and_event_writes(&client, &namespace, name, &controller).await;
        let status = tokio::task::block_in_place(|| controller.terminate(Duration::from_secs(15)));
        assert!(
            status.is_some_and(|s| s.success()),
            "{name} exit: {status:?}\n{}",
            controller.log_tail(40)
        );
    }
}

/// Waits until `name` is Stalled with `reason`.
async fn wait_stalled<K>(api: &Api<K>, name: &str, reason: &str, controller: &ControllerProcess)
where
    K: kube::Resource<DynamicType = ()>
        + driftless_api::meta::Reconcilable
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stalled = api.get(name).await.is_ok_and(|object| {
            object
                .conditions()
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True" && c.reason == reason)
        });
        if stalled {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not stalled with {reason}:\n{}",
            controller.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The chart's RBAC lets a controller write status and record events: an object it cannot
/// reconcile (a kind not implemented yet, or a spec it refuses) gets a Stalled status and a
/// Warning event.
async fn expect_status_and_event_writes(
    client: &kube::Client,
    namespace: &str,
    controller_name: &str,
    controller: &ControllerProcess,
) {
    let (kind, object_name, reason) = match controller_name {
        "source-controller" => {
            let repositories: Api<HelmRepository> = Api::namespaced(client.clone(), namespace);
            let repository: HelmRepository = serde_json::from_value(serde_json::json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "HelmRepository",
                "metadata": {"name": "chart-rbac"},
                // An oci:// URL without `type: oci`: refused at once, no network needed.
                "spec": {"url": "oci://ghcr.io/stefanprodan/charts"}
            }))
            .unwrap();
            repositories
                .create(&Default::default(), &repository)
                .await
                .unwrap();
            wait_stalled(&repositories, "chart-rbac", "URLInvalid", controller).await;
            ("HelmRepository", "chart-rbac", "URLInvalid")
        }
        "image-automation-controller" => {
            // A cloud provider this build cannot authenticate with stalls at once, without a
            // registry: status and event writes under the chart's RBAC.
            let repositories: Api<ImageRepository> = Api::namespaced(client.clone(), namespace);
            let repository: ImageRepository = serde_json::from_value(serde_json::json!({
                "apiVersion": "image.toolkit.fluxcd.io/v1",
                "kind": "ImageRepository",
                "metadata": {"name": "chart-rbac"},
                "spec": {"image": "ghcr.io/stefanprodan/podinfo", "interval": "5m", "provider": "aws"}
            }))
            .unwrap();
            repositories
                .create(&Default::default(), &repository)
                .await
                .unwrap();
            wait_stalled(
                &repositories,
                "chart-rbac",
                "InvalidProviderConfiguration",
                controller,
            )
            .await;
            (
                "ImageRepository",
                "chart-rbac",
                "InvalidProviderConfiguration",
            )
        }
        _ => return,
    };
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let recorded = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.involved_object.kind.as_deref() == Some(kind)
                    && e.involved_object.name.as_deref() == Some(object_name)
                    && e.reason.as_deref() == Some(reason)
                    && e.type_.as_deref() == Some("Warning")
            });
        if recorded {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{controller_name} recorded no {reason} event for {kind}/{object_name}:\n{}",
            controller.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
