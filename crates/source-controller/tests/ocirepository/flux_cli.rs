//! The real `flux` CLI pushes a directory (`flux push artifact`) under a version tag, and
//! an OCIRepository following a semver range stores exactly those files.

use std::process::Command;

use driftless_api::source::OCIRepository;
use driftless_testenv::registry::{Registry, RegistryOptions};
use kube::api::Api;
use serde_json::json;

use super::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn what_flux_push_artifact_writes_is_stored_as_pushed() {
    let flux = driftless_testenv::FLUX
        .path()
        .expect("the flux CLI (cargo xtask testenv build installs it)");
    let (plane, namespace, client) = setup("oci-flux").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("apps")).unwrap();
    std::fs::write(
        dir.path().join("apps/app.yaml"),
        "kind: ConfigMap\nmetadata:\n  name: app\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n- apps/app.yaml\n",
    )
    .unwrap();
    let reference = format!("oci://{}/flux/app:1.2.3", registry.host);
    let digest = registry::flux_push_artifact(
        &reference,
        dir.path(),
        "https://git.example/app",
        "main@sha1:abc123",
    )
    .expect("flux push artifact");

    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<OCIRepository> = Api::namespaced(client.clone(), &namespace);
    create_oci(
        &api,
        "app",
        json!({ "url": url(&registry, "flux/app"), "insecure": true, "ref": { "semver": "1.x" } }),
    )
    .await;
    let ready = wait_ready(&api, "app", &controller).await;
    let stored = artifact(&ready);
    assert_eq!(stored.revision, format!("1.2.3@{digest}"));
    let metadata = stored.metadata.clone().unwrap_or_default();
    assert_eq!(
        metadata["org.opencontainers.image.source"],
        "https://git.example/app"
    );
    assert_eq!(
        metadata["org.opencontainers.image.revision"],
        "main@sha1:abc123"
    );
    let (_, tree) = download(&ready).await;
    assert_eq!(files(&tree), ["apps/app.yaml", "kustomization.yaml"]);
    assert_eq!(
        tree["kustomization.yaml"].data,
        b"resources:\n- apps/app.yaml\n"
    );

    // `flux get sources oci` reads the object as Flux's own would be.
    let listed = Command::new(&flux)
        .args(["get", "sources", "oci", "-n", &namespace])
        .env("KUBECONFIG", plane.kubeconfig_path())
        .output()
        .expect("run flux get");
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(
        table.contains(&format!("1.2.3@{}", &digest[..19])) || table.contains("1.2.3@sha256"),
        "{table}"
    );
    assert!(table.contains("True"), "{table}");
}
