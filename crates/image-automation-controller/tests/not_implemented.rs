//! None of the image kinds is implemented yet: the controller binary marks their objects
//! Stalled with reason `NotImplemented` instead of ignoring them.

use std::path::Path;
use std::time::{Duration, Instant};

use driftless_api::conditions::{READY, STALLED};
use driftless_api::image::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
use driftless_api::meta::Reconcilable;
use driftless_testenv::controller::ControllerProcess;
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

async fn create<K>(client: &kube::Client, namespace: &str, manifest: serde_json::Value) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let object: K = serde_json::from_value(manifest).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
    api
}

/// Waits until the object named `podinfo` is Stalled and not Ready with reason
/// `NotImplemented` at its current generation.
async fn wait_stalled<K>(api: &Api<K>, controller: &ControllerProcess)
where
    K: Resource<DynamicType = ()> + Reconcilable + Clone + DeserializeOwned + std::fmt::Debug,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let object = api.get("podinfo").await.unwrap();
        let generation = object.meta().generation;
        let stalled = [(STALLED, "True"), (READY, "False")]
            .iter()
            .all(|(type_, status)| {
                object.conditions().iter().any(|c| {
                    c.type_ == *type_
                        && c.status == *status
                        && c.reason == "NotImplemented"
                        && c.observed_generation == generation
                })
            });
        if stalled && object.observed_generation() == generation {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} {} not marked NotImplemented: {:?}\n{}",
            K::kind(&()),
            object.name_any(),
            object.conditions(),
            controller.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_every_image_kind_end_stalled_not_implemented() {
    let plane = driftless_testenv::shared()
        .await
        .expect("test control plane");
    let namespace = plane.namespace("image-kinds").await.unwrap();
    let client = plane.client().await.unwrap();
    let mut controller = ControllerProcess::spawn(
        "image-automation-controller",
        Path::new(env!("CARGO_BIN_EXE_image-automation-controller")),
        &plane.kubeconfig_path(),
        plane.dir(),
        &[
            "--watch-all-namespaces=false".to_owned(),
            format!("--runtime-namespace={namespace}"),
        ],
    )
    .unwrap();
    controller.wait_ready(Duration::from_secs(30)).unwrap();

    let repositories: Api<ImageRepository> = create(
        &client,
        &namespace,
        json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageRepository",
            "metadata": {"name": "podinfo"},
            "spec": {"image": "ghcr.io/stefanprodan/podinfo", "interval": "5m"}
        }),
    )
    .await;
    let policies: Api<ImagePolicy> = create(
        &client,
        &namespace,
        json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImagePolicy",
            "metadata": {"name": "podinfo"},
            "spec": {
                "imageRepositoryRef": {"name": "podinfo"},
                "policy": {"semver": {"range": "5.0.x"}}
            }
        }),
    )
    .await;
    let automations: Api<ImageUpdateAutomation> = create(
        &client,
        &namespace,
        json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageUpdateAutomation",
            "metadata": {"name": "podinfo"},
            "spec": {
                "interval": "30m",
                "sourceRef": {"kind": "GitRepository", "name": "podinfo"},
                "git": {
                    "commit": {"author": {"email": "fluxcdbot@users.noreply.github.com", "name": "fluxcdbot"}},
                    "push": {"branch": "main"}
                },
                "update": {"path": "./clusters/my-cluster", "strategy": "Setters"}
            }
        }),
    )
    .await;
    wait_stalled(&repositories, &controller).await;
    wait_stalled(&policies, &controller).await;
    wait_stalled(&automations, &controller).await;

    assert!(
        controller
            .terminate(Duration::from_secs(15))
            .is_some_and(|s| s.success()),
        "controller did not exit cleanly\n{}",
        controller.log_tail(30)
    );
}
