//! OCIRepository, Bucket, HelmRepository and HelmChart are not implemented yet: the controller
//! binary marks their objects Stalled with reason `NotImplemented` instead of ignoring them.

use std::path::Path;
use std::time::Duration;

use driftless_api::source::{Bucket, HelmChart, HelmRepository, OCIRepository};
use driftless_testenv::controller::ControllerProcess;
use driftless_testenv::not_implemented::create_and_expect_stalled;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_unimplemented_source_kinds_end_stalled_not_implemented() {
    let plane = driftless_testenv::shared()
        .await
        .expect("test control plane");
    let namespace = plane.namespace("source-kinds").await.unwrap();
    let client = plane.client().await.unwrap();
    let storage = tempfile::tempdir().expect("storage directory");
    let mut controller = ControllerProcess::spawn(
        "source-controller",
        Path::new(env!("CARGO_BIN_EXE_source-controller")),
        &plane.kubeconfig_path(),
        plane.dir(),
        &[
            "--watch-all-namespaces=false".to_owned(),
            format!("--runtime-namespace={namespace}"),
            format!("--storage-path={}", storage.path().display()),
            "--storage-addr=127.0.0.1:0".to_owned(),
        ],
    )
    .unwrap();
    controller.wait_ready(Duration::from_secs(30)).unwrap();

    create_and_expect_stalled::<OCIRepository>(
        &client,
        &namespace,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "podinfo"},
            "spec": {
                "interval": "5m",
                "url": "oci://ghcr.io/stefanprodan/manifests/podinfo",
                "ref": {"tag": "latest"}
            }
        }),
        &controller,
    )
    .await;
    create_and_expect_stalled::<Bucket>(
        &client,
        &namespace,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "Bucket",
            "metadata": {"name": "podinfo"},
            "spec": {"interval": "5m", "bucketName": "podinfo", "endpoint": "minio.example.com"}
        }),
        &controller,
    )
    .await;
    create_and_expect_stalled::<HelmRepository>(
        &client,
        &namespace,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "podinfo"},
            "spec": {"interval": "5m", "url": "https://stefanprodan.github.io/podinfo"}
        }),
        &controller,
    )
    .await;
    create_and_expect_stalled::<HelmChart>(
        &client,
        &namespace,
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmChart",
            "metadata": {"name": "podinfo"},
            "spec": {
                "chart": "podinfo",
                "interval": "5m",
                "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}
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
