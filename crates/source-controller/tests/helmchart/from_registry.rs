//! A chart `helm push`ed to a registry, through a HelmRepository of `type: oci`: the newest
//! tag a constraint allows, pulled as pushed and rendered by the real helm as its source;
//! verification asked for is refused before anything is stored.

use driftless_api::source::{HelmChart, HelmRepository};
use driftless_testenv::charts::helm;
use driftless_testenv::registry::{Registry, RegistryOptions};
use kube::api::{Api, PostParams};
use serde_json::json;

use super::*;
use crate::support::*;

/// Writes the test chart at `version`, packages it with helm and pushes it.
fn push(registry: &Registry, work: &std::path::Path, version: &str) -> std::path::PathBuf {
    let dir = work.join(format!("src-{version}/app"));
    for (path, contents) in chart_files(version) {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, contents).unwrap();
    }
    let out = work.join(format!("pkg-{version}"));
    helm(&[
        "package",
        &dir.to_string_lossy(),
        "-d",
        &out.to_string_lossy(),
    ])
    .expect("helm package");
    let archive = out.join(format!("app-{version}.tgz"));
    helm(&[
        "push",
        &archive.to_string_lossy(),
        &format!("oci://{}/charts", registry.host),
        "--plain-http",
    ])
    .expect("helm push");
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_chart_is_pulled_by_constraint() {
    let (plane, namespace, client) = setup("helmchart-oci").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    let work = tempfile::tempdir().unwrap();
    push(&registry, work.path(), "1.0.0");
    let newest = push(&registry, work.path(), "1.2.0");
    push(&registry, work.path(), "2.0.0-rc.1");
    let controller = SourceController::start(plane, &namespace, &[]);
    let repositories: Api<HelmRepository> = Api::namespaced(client.clone(), &namespace);
    let repository: HelmRepository = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": { "name": "registry" },
        "spec": { "type": "oci", "interval": "10m", "insecure": true, "url": format!("oci://{}/charts", registry.host) },
    }))
    .unwrap();
    repositories
        .create(&PostParams::default(), &repository)
        .await
        .unwrap();
    let api: Api<HelmChart> = Api::namespaced(client.clone(), &namespace);
    create_helm_chart(
        &api,
        "app",
        json!({ "chart": "app", "version": "1.x", "sourceRef": { "kind": "HelmRepository", "name": "registry" } }),
    )
    .await;
    let ready = wait_ready(&api, "app", &controller).await;
    assert_eq!(
        ready_message(&ready),
        "pulled 'app' chart with version '1.2.0'"
    );
    assert_eq!(status(&ready).observed_source_artifact_revision, None);
    let pulled = download_chart(&ready, work.path()).await;
    let pushed = std::fs::read(work.path().join("pkg-1.2.0/app-1.2.0.tgz")).unwrap();
    assert_eq!(std::fs::read(&pulled).unwrap(), pushed, "pulled as pushed");
    assert_eq!(template(&pulled, &[]), template(&newest, &[]));

    // Nothing matches: Flux's reference error, nothing stored.
    create_helm_chart(
        &api,
        "none",
        json!({ "chart": "app", "version": "5.x", "sourceRef": { "kind": "HelmRepository", "name": "registry" } }),
    )
    .await;
    let refused = wait_not_ready(&api, "none", &controller, "InvalidChartReference").await;
    assert_eq!(
        ready_message(&refused),
        "invalid chart reference: failed to get chart version for remote reference: could not locate a version matching provided version string 5.x"
    );

    // Keyless verification is not implemented: refused, nothing unverified stored.
    create_helm_chart(
        &api,
        "keyless",
        json!({ "chart": "app", "sourceRef": { "kind": "HelmRepository", "name": "registry" }, "verify": { "provider": "cosign" } }),
    )
    .await;
    let refused = wait_not_ready(&api, "keyless", &controller, "VerificationError").await;
    assert!(status(&refused).artifact.is_none());
    assert!(driftless_testenv::conditions::has_condition(
        &status(&refused).conditions,
        "SourceVerified",
        "False"
    ));

    // Signed with the trusted key: verified; signed with another key: refused.
    let keys = tempfile::tempdir().unwrap();
    let trusted = driftless_testenv::cosign::key_pair(&keys.path().join("trusted")).unwrap();
    driftless_testenv::cosign::key_pair(&keys.path().join("other")).unwrap();
    driftless_testenv::cosign::sign(
        &keys.path().join("trusted"),
        &format!("{}/charts/app:1.2.0", registry.host),
    )
    .unwrap();
    driftless_testenv::cosign::sign(
        &keys.path().join("other"),
        &format!("{}/charts/app:1.0.0", registry.host),
    )
    .unwrap();
    create_secret(
        &client,
        &namespace,
        "cosign-keys",
        &[("cosign.pub", trusted.as_str())],
    )
    .await;
    let verify = json!({ "provider": "cosign", "secretRef": { "name": "cosign-keys" } });
    create_helm_chart(
        &api,
        "signed",
        json!({ "chart": "app", "version": "1.2.0", "sourceRef": { "kind": "HelmRepository", "name": "registry" }, "verify": verify }),
    )
    .await;
    let signed = wait_ready(&api, "signed", &controller).await;
    let verified = status(&signed)
        .conditions
        .iter()
        .find(|c| c.type_ == "SourceVerified")
        .cloned()
        .expect("SourceVerified");
    assert_eq!(
        (verified.status.as_str(), verified.message.as_str()),
        ("True", "verified signature of version 1.2.0")
    );
    create_helm_chart(
        &api,
        "foreign",
        json!({ "chart": "app", "version": "1.0.0", "sourceRef": { "kind": "HelmRepository", "name": "registry" }, "verify": verify }),
    )
    .await;
    let foreign = wait_not_ready(&api, "foreign", &controller, "VerificationError").await;
    assert!(
        ready_message(&foreign).starts_with(
            "chart verification error: failed to verify the signature using provider 'cosign': "
        ),
        "{}",
        ready_message(&foreign)
    );
    assert!(status(&foreign).artifact.is_none());
}
