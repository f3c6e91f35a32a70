//! Manifests shipped as an OCI artifact, as most Flux users ship them today: the real `flux`
//! CLI pushes a directory to the local registry (`flux push artifact`), an OCIRepository
//! stores it, a Kustomization applies it; a second push to the same tag reaches the cluster,
//! a deleted tag leaves what was applied in place.

#[path = "../support/mod.rs"]
mod support;

use driftless_api::kustomize::Kustomization;
use driftless_testenv::registry::{self, Registry, RegistryOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::support::*;

fn flux_push(reference: &str, dir: &std::path::Path, revision: &str) {
    registry::flux_push_artifact(reference, dir, "https://git.example/app", revision)
        .expect("flux push artifact");
}

fn config_map(data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shipped\ndata:\n  version: \"{data}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_oci_artifact_is_applied_and_followed() {
    let (plane, namespace, client) = cluster("oci-apply").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("deploy")).unwrap();
    std::fs::write(dir.path().join("deploy/configmap.yaml"), config_map("1")).unwrap();
    let reference = format!("oci://{}/manifests/app:latest", registry.host);
    flux_push(&reference, dir.path(), "main@sha1:1111111");

    let controllers = Controllers::start(plane, &namespace, &[], &[]);
    let logs = || controllers.logs();
    let source: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
        "metadata": { "name": "app" },
        "spec": { "url": format!("oci://{}/manifests/app", registry.host), "insecure": true,
                  "interval": "1h", "ref": { "tag": "latest" } },
    }))
    .unwrap();
    let oci = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "OCIRepository"),
        "ocirepositories",
    );
    let sources: Api<kube::api::DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &oci);
    sources
        .create(&PostParams::default(), &source)
        .await
        .unwrap();
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    let app = kustomization(
        "app",
        &namespace,
        serde_json::json!({ "path": "./deploy", "sourceRef": { "kind": "OCIRepository", "name": "app" } }),
    );
    kustomizations
        .create(&PostParams::default(), &app)
        .await
        .unwrap();
    let (status, _, message, applied) = wait_settled(&kustomizations, "app", &logs).await;
    assert_eq!(status, "True", "{message}");
    let revision = applied
        .status
        .as_ref()
        .and_then(|s| s.last_applied_revision.clone())
        .unwrap_or_default();
    assert!(revision.starts_with("latest@sha256:"), "{revision}");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let version = |cm: ConfigMap| cm.data.and_then(|d| d.get("version").cloned());
    assert_eq!(
        version(config_maps.get("shipped").await.unwrap()).as_deref(),
        Some("1")
    );

    // A second push to the same tag: the source follows at a reconcile request, the
    // Kustomization applies it.
    std::fs::write(dir.path().join("deploy/configmap.yaml"), config_map("2")).unwrap();
    flux_push(&reference, dir.path(), "main@sha1:2222222");
    let requested = serde_json::json!({ "metadata": { "annotations": {
        "reconcile.fluxcd.io/requestedAt": "now-1" } } });
    sources
        .patch("app", &PatchParams::default(), &Patch::Merge(&requested))
        .await
        .unwrap();
    wait_for(
        "the second push applied",
        async || (version(config_maps.get("shipped").await.ok()?)? == "2").then_some(()),
        &logs,
    )
    .await;

    // The tag disappears from the registry: the source fails, nothing applied is deleted.
    let point_elsewhere = serde_json::json!({ "spec": { "ref": { "tag": "gone" } } });
    sources
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(&point_elsewhere),
        )
        .await
        .unwrap();
    wait_for(
        "the source failing on the missing tag",
        async || {
            let object = sources.get("app").await.ok()?;
            let conditions = object.data["status"]["conditions"].as_array()?.clone();
            conditions
                .iter()
                .any(|c| {
                    c["type"] == "Ready"
                        && c["status"] == "False"
                        && c["reason"] == "OCIArtifactPullFailed"
                })
                .then_some(())
        },
        &logs,
    )
    .await;
    let requested = serde_json::json!({ "metadata": { "annotations": {
        "reconcile.fluxcd.io/requestedAt": "now-2" } } });
    kustomizations
        .patch("app", &PatchParams::default(), &Patch::Merge(&requested))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        version(config_maps.get("shipped").await.expect("still applied")).as_deref(),
        Some("2")
    );
}
