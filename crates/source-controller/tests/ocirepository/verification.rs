//! `spec.verify` with cosign keys: an artifact signed by the real cosign CLI with a trusted
//! key is stored and shown verified; one signed by another key, or not signed at all, is
//! refused and nothing is stored.

use std::path::Path;

use driftless_api::source::OCIRepository;
use driftless_testenv::registry::{Registry, RegistryOptions};
use kube::api::Api;
use serde_json::json;

use super::*;
use crate::support::*;

fn key_pair(dir: &Path) -> String {
    driftless_testenv::cosign::key_pair(dir).expect("cosign generate-key-pair")
}

fn sign(dir: &Path, reference: &str) {
    driftless_testenv::cosign::sign(dir, reference).expect("cosign sign");
}

fn source_verified(object: &OCIRepository) -> Option<(String, String)> {
    object
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "SourceVerified")
        .map(|c| (c.status.clone(), c.message.clone()))
}

#[tokio::test(flavor = "multi_thread")]
async fn cosign_signatures_are_checked_against_the_trusted_keys() {
    let (plane, namespace, client) = setup("oci-cosign").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    let signed = push(
        &registry,
        "app",
        "signed",
        flux_artifact(&[("a.yaml", "a: 1\n")], "main@sha1:1"),
    )
    .await;
    let foreign = push(
        &registry,
        "app",
        "foreign",
        flux_artifact(&[("a.yaml", "a: 2\n")], "main@sha1:2"),
    )
    .await;
    push(
        &registry,
        "app",
        "unsigned",
        flux_artifact(&[("a.yaml", "a: 3\n")], "main@sha1:3"),
    )
    .await;
    let keys = tempfile::tempdir().unwrap();
    let trusted = key_pair(&keys.path().join("trusted"));
    key_pair(&keys.path().join("other"));
    sign(
        &keys.path().join("trusted"),
        &format!("{}/app@{signed}", registry.host),
    );
    sign(
        &keys.path().join("other"),
        &format!("{}/app@{foreign}", registry.host),
    );
    create_secret(
        &client,
        &namespace,
        "cosign-keys",
        &[("cosign.pub", trusted.as_str())],
    )
    .await;

    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<OCIRepository> = Api::namespaced(client.clone(), &namespace);
    let url = format!("oci://{}/app", registry.host);
    let verify = json!({ "provider": "cosign", "secretRef": { "name": "cosign-keys" } });
    for tag in ["signed", "foreign", "unsigned"] {
        create_oci(
            &api,
            tag,
            json!({ "url": url, "insecure": true, "ref": { "tag": tag }, "verify": verify }),
        )
        .await;
    }

    let ready = wait_ready(&api, "signed", &controller).await;
    let revision = format!("signed@{signed}");
    assert_eq!(
        source_verified(&ready),
        Some((
            "True".to_owned(),
            format!("verified signature of revision {revision}")
        ))
    );
    // Verified once per revision: a reconcile keeps the condition without asking again.
    let again = request_reconcile(&api, "signed", &controller).await;
    assert_eq!(source_verified(&again), source_verified(&ready));

    for tag in ["foreign", "unsigned"] {
        let refused = wait_not_ready(&api, tag, &controller, "VerificationError").await;
        let (status, message) = source_verified(&refused).expect("SourceVerified");
        assert_eq!(status, "False");
        assert!(
            message.starts_with("failed to verify the signature using provider 'cosign': "),
            "{message}"
        );
        assert!(
            refused
                .status
                .as_ref()
                .and_then(|s| s.artifact.as_ref())
                .is_none()
        );
    }
}
