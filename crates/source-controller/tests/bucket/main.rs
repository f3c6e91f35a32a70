//! Bucket end to end: the real control plane, versitygw (an S3-compatible server) on
//! loopback filled through its S3 API, and the source-controller binary.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod fetch;

use driftless_api::source::Bucket;
use driftless_testenv::s3::S3Server;
use kube::api::{Api, PostParams};

fn bucket(name: &str, server: &S3Server, spec: serde_json::Value) -> Bucket {
    let mut full = serde_json::json!({
        "interval": "10m",
        "timeout": "20s",
        "provider": "generic",
        "endpoint": server.endpoint,
        "insecure": true,
    });
    if let (Some(full), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            full.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "Bucket",
        "metadata": { "name": name },
        "spec": full,
    }))
    .expect("Bucket")
}

async fn create_bucket(api: &Api<Bucket>, name: &str, server: &S3Server, spec: serde_json::Value) {
    api.create(&PostParams::default(), &bucket(name, server, spec))
        .await
        .expect("create Bucket");
}

/// A Secret with the server's root credentials, as Flux reads them.
async fn create_credentials(client: &kube::Client, namespace: &str, server: &S3Server) {
    support::create_secret(
        client,
        namespace,
        "s3-credentials",
        &[
            ("accesskey", server.access_key.as_str()),
            ("secretkey", server.secret_key.as_str()),
        ],
    )
    .await;
}

fn revision(bucket: &Bucket) -> String {
    bucket
        .status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .map(|a| a.revision.clone())
        .unwrap_or_default()
}
