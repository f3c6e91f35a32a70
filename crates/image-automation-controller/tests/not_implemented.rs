//! None of the image kinds is implemented yet: the controller binary marks their objects
//! Stalled with reason `NotImplemented` instead of ignoring them.

use std::path::Path;
use std::time::Duration;

use driftless_api::image::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
use driftless_testenv::controller::ControllerProcess;
use driftless_testenv::not_implemented::create_and_expect_stalled;
use serde_json::json;

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

    create_and_expect_stalled::<ImageRepository>(
        &client,
        &namespace,
        json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageRepository",
            "metadata": {"name": "podinfo"},
            "spec": {"image": "ghcr.io/stefanprodan/podinfo", "interval": "5m"}
        }),
        &controller,
    )
    .await;
    create_and_expect_stalled::<ImagePolicy>(
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
        &controller,
    )
    .await;
    create_and_expect_stalled::<ImageUpdateAutomation>(
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
                    "commit": {"author": {
                        "email": "fluxcdbot@users.noreply.github.com",
                        "name": "fluxcdbot"
                    }},
                    "push": {"branch": "main"}
                },
                "update": {"path": "./clusters/my-cluster", "strategy": "Setters"}
            }
        }),
        &controller,
    )
    .await;

    assert!(
        controller
            .terminate(Duration::from_secs(15))
            .is_some_and(|s| s.success()),
        "controller did not exit cleanly\n{}",
        controller.log_tail(30)
    );
}
