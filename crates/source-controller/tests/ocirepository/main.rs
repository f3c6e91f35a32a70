//! OCIRepository end to end: the real control plane, Debian's `docker-registry` on loopback
//! with artifacts pushed in the shape `flux push artifact` writes (and by the real `flux` CLI),
//! and the source-controller binary.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod flux_cli;
mod layers;
mod pulls;
mod references;
mod verification;

use std::collections::BTreeMap;

use driftless_api::meta::Artifact;
use driftless_api::source::OCIRepository;
use driftless_artifact::FileEntry;
use driftless_testenv::registry::{
    self, FLUX_CONFIG_MEDIA_TYPE, FLUX_CONTENT_MEDIA_TYPE, Layer, Registry, RegistryAuth,
};
use kube::api::{Api, PostParams};

/// A tar.gz of `files` (path, contents).
fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let entries = files.iter().map(|(path, data)| FileEntry {
        path: (*path).to_owned(),
        executable: false,
        data: data.as_bytes().to_vec(),
    });
    driftless_artifact::pack(entries, Vec::new()).expect("pack")
}

/// `flux push artifact`'s shape: one Flux content layer and Flux's origin annotations.
fn flux_artifact(files: &[(&str, &str)], origin_revision: &str) -> registry::Artifact {
    registry::Artifact {
        config_media_type: FLUX_CONFIG_MEDIA_TYPE.to_owned(),
        layers: vec![Layer {
            media_type: FLUX_CONTENT_MEDIA_TYPE.to_owned(),
            data: tar_gz(files),
        }],
        annotations: BTreeMap::from([
            (
                "org.opencontainers.image.source".to_owned(),
                "https://git.example/app".to_owned(),
            ),
            (
                "org.opencontainers.image.revision".to_owned(),
                origin_revision.to_owned(),
            ),
            (
                "org.opencontainers.image.created".to_owned(),
                "2026-12-05T12:00:00Z".to_owned(),
            ),
        ]),
    }
}

/// Pushes `artifact` to the plain-HTTP `registry` as `repository:tag`; returns its digest.
async fn push(
    registry: &Registry,
    repository: &str,
    tag: &str,
    artifact: registry::Artifact,
) -> String {
    registry::push_artifact(
        &registry.host,
        registry.ca_pem.as_deref(),
        &RegistryAuth::Anonymous,
        repository,
        tag,
        artifact,
    )
    .await
    .expect("push artifact")
}

fn oci_repository(name: &str, spec: serde_json::Value) -> OCIRepository {
    let mut full = serde_json::json!({ "interval": "10m", "timeout": "20s" });
    if let (Some(full), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            full.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": { "name": name },
        "spec": full,
    }))
    .expect("OCIRepository")
}

async fn create_oci(api: &Api<OCIRepository>, name: &str, spec: serde_json::Value) {
    api.create(&PostParams::default(), &oci_repository(name, spec))
        .await
        .expect("create OCIRepository");
}

fn artifact(object: &OCIRepository) -> Artifact {
    object
        .status
        .as_ref()
        .and_then(|s| s.artifact.clone())
        .expect("artifact in status")
}

fn url(registry: &Registry, repository: &str) -> String {
    format!("oci://{}/{repository}", registry.host)
}
