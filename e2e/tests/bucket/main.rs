//! Manifests kept in an S3-compatible bucket (versitygw on loopback): a Bucket stores them, a
//! Kustomization applies them; a changed object reaches the cluster, and a bucket that stops
//! answering leaves what was applied in place.

#[path = "../support/mod.rs"]
mod support;

use driftless_api::kustomize::Kustomization;
use driftless_api::source::Bucket;
use driftless_testenv::s3::S3Server;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::support::*;

fn config_map(version: &str) -> Vec<u8> {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-bucket\ndata:\n  version: \"{version}\"\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_is_applied_and_followed() {
    let (plane, namespace, client) = cluster("bucket-apply").await;
    let server = S3Server::start().expect("S3 server");
    server.create_bucket("deploy").unwrap();
    server
        .put("deploy", &[("app/configmap.yaml", &config_map("1"))])
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "s3" },
        "stringData": { "accesskey": server.access_key, "secretkey": server.secret_key },
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    let controllers = Controllers::start(plane, &namespace, &[], &[]);
    let logs = || controllers.logs();
    let buckets: Api<Bucket> = Api::namespaced(client.clone(), &namespace);
    let bucket: Bucket = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
        "metadata": { "name": "deploy" },
        "spec": { "bucketName": "deploy", "endpoint": server.endpoint, "insecure": true,
                  "interval": "1h", "secretRef": { "name": "s3" } },
    }))
    .unwrap();
    buckets
        .create(&PostParams::default(), &bucket)
        .await
        .unwrap();
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    let app = kustomization(
        "app",
        &namespace,
        serde_json::json!({ "path": "./app", "sourceRef": { "kind": "Bucket", "name": "deploy" } }),
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
    assert!(revision.starts_with("sha256:"), "{revision}");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let version = |cm: ConfigMap| cm.data.and_then(|d| d.get("version").cloned());
    assert_eq!(
        version(config_maps.get("from-bucket").await.unwrap()).as_deref(),
        Some("1")
    );

    // A changed object: the Bucket follows at a reconcile request, the Kustomization applies.
    server
        .put("deploy", &[("app/configmap.yaml", &config_map("2"))])
        .await
        .unwrap();
    let requested = serde_json::json!({ "metadata": { "annotations": {
        "reconcile.fluxcd.io/requestedAt": "now-1" } } });
    buckets
        .patch("deploy", &PatchParams::default(), &Patch::Merge(&requested))
        .await
        .unwrap();
    wait_for(
        "the changed object applied",
        async || (version(config_maps.get("from-bucket").await.ok()?)? == "2").then_some(()),
        &logs,
    )
    .await;

    // The server goes away: the Bucket fails, nothing applied is deleted.
    drop(server);
    let requested = serde_json::json!({ "metadata": { "annotations": {
        "reconcile.fluxcd.io/requestedAt": "now-2" } } });
    buckets
        .patch("deploy", &PatchParams::default(), &Patch::Merge(&requested))
        .await
        .unwrap();
    wait_for(
        "the bucket failing",
        async || {
            let object = buckets.get("deploy").await.ok()?;
            object
                .status?
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "False")
                .then_some(())
        },
        &logs,
    )
    .await;
    kustomizations
        .patch("app", &PatchParams::default(), &Patch::Merge(&requested))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        version(config_maps.get("from-bucket").await.expect("still applied")).as_deref(),
        Some("2")
    );
}
