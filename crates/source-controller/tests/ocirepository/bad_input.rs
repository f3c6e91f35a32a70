//! Bad input, each with its own reason: an invalid URL (stalled), a missing tag, an
//! unreachable registry, missing credentials, hostile tarballs, an oversized layer and a
//! verification that cannot be done yet (stalled).

use driftless_api::source::OCIRepository;
use driftless_testenv::registry::{Registry, RegistryOptions};
use flate2::Compression;
use flate2::write::GzEncoder;
use kube::api::Api;
use serde_json::json;

use super::*;
use crate::support::*;

/// A tar.gz whose one entry is `path` (written raw, so `..` survives) of `entry_type`.
fn hostile_tar_gz(path: &str, entry_type: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    let mut header = tar::Header::new_gnu();
    let name = &mut header.as_gnu_mut().expect("gnu header").name;
    name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_entry_type(entry_type);
    header.set_mode(0o644);
    if let Some(link) = link {
        header.set_link_name(link).expect("link name");
    }
    let data: &[u8] = if link.is_some() {
        b""
    } else {
        b"kind: Secret\n"
    };
    header.set_size(data.len() as u64);
    header.set_cksum();
    builder.append(&header, data).expect("append");
    builder.into_inner().expect("tar").finish().expect("gzip")
}

fn content(data: Vec<u8>) -> registry::Artifact {
    registry::Artifact {
        config_media_type: FLUX_CONFIG_MEDIA_TYPE.to_owned(),
        layers: vec![Layer {
            media_type: FLUX_CONTENT_MEDIA_TYPE.to_owned(),
            data,
        }],
        annotations: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_specific_reason() {
    let (plane, namespace, client) = setup("oci-bad").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    push(
        &registry,
        "app",
        "v1",
        flux_artifact(&[("a.yaml", "a: 1\n")], "main@sha1:0"),
    )
    .await;
    push(
        &registry,
        "traversal",
        "v1",
        content(hostile_tar_gz(
            "../../escape.yaml",
            tar::EntryType::Regular,
            None,
        )),
    )
    .await;
    push(
        &registry,
        "symlink",
        "v1",
        content(hostile_tar_gz(
            "passwd",
            tar::EntryType::Symlink,
            Some("../../../etc/passwd"),
        )),
    )
    .await;
    let big: String = "x".repeat(64 * 1024);
    push(
        &registry,
        "big",
        "v1",
        flux_artifact(&[("big.txt", &big)], "main@sha1:0"),
    )
    .await;
    let [closed_port] = driftless_testenv::free_ports().unwrap();
    // Layers beyond 16 KiB are refused by this controller.
    let controller = SourceController::start(plane, &namespace, &["--max-source-bytes=16384"]);
    let api: Api<OCIRepository> = Api::namespaced(client.clone(), &namespace);
    let app = url(&registry, "app");
    let insecure = |url: String, reference: serde_json::Value| json!({ "url": url, "insecure": true, "ref": reference });
    create_oci(
        &api,
        "tagged-url",
        json!({ "url": format!("{app}:v1"), "insecure": true }),
    )
    .await;
    create_oci(
        &api,
        "missing-tag",
        insecure(app.clone(), json!({ "tag": "v9" })),
    )
    .await;
    create_oci(
        &api,
        "no-match",
        insecure(app.clone(), json!({ "semver": ">=5.0.0" })),
    )
    .await;
    create_oci(
        &api,
        "unreachable",
        insecure(
            format!("oci://127.0.0.1:{closed_port}/app"),
            json!({ "tag": "v1" }),
        ),
    )
    .await;
    create_oci(
        &api,
        "traversal",
        insecure(url(&registry, "traversal"), json!({ "tag": "v1" })),
    )
    .await;
    create_oci(
        &api,
        "symlink",
        insecure(url(&registry, "symlink"), json!({ "tag": "v1" })),
    )
    .await;
    create_oci(
        &api,
        "too-big",
        insecure(url(&registry, "big"), json!({ "tag": "v1" })),
    )
    .await;
    create_oci(
        &api,
        "aws",
        json!({ "url": app, "provider": "aws", "ref": { "tag": "v1" } }),
    )
    .await;
    create_oci(
        &api,
        "verified",
        json!({ "url": app, "insecure": true, "ref": { "tag": "v1" },
                "verify": { "provider": "cosign" } }),
    )
    .await;

    let stalled = wait_not_ready(&api, "tagged-url", &controller, "URLInvalid").await;
    assert!(ready_message(&stalled).contains("URL must not contain a tag; remove ':v1'"));
    assert!(is_stalled(&stalled), "an invalid URL stalls");

    let missing = wait_not_ready(&api, "missing-tag", &controller, "OCIArtifactPullFailed").await;
    assert!(
        ready_message(&missing).starts_with("failed to determine artifact digest"),
        "{}",
        ready_message(&missing)
    );
    assert!(!is_stalled(&missing));
    let no_match = wait_not_ready(&api, "no-match", &controller, "ReadOperationFailed").await;
    assert!(
        ready_message(&no_match).ends_with("no match found for semver: >=5.0.0"),
        "{}",
        ready_message(&no_match)
    );
    let unreachable =
        wait_not_ready(&api, "unreachable", &controller, "OCIArtifactPullFailed").await;
    assert!(
        ready_message(&unreachable).contains("onnection refused"),
        "{}",
        ready_message(&unreachable)
    );

    let traversal = wait_not_ready(
        &api,
        "traversal",
        &controller,
        "OCIArtifactLayerOperationFailed",
    )
    .await;
    assert!(
        ready_message(&traversal).contains("unsafe path"),
        "{}",
        ready_message(&traversal)
    );
    let symlink = wait_not_ready(
        &api,
        "symlink",
        &controller,
        "OCIArtifactLayerOperationFailed",
    )
    .await;
    assert!(
        ready_message(&symlink).contains("symlink"),
        "{}",
        ready_message(&symlink)
    );
    let too_big = wait_not_ready(
        &api,
        "too-big",
        &controller,
        "OCIArtifactLayerOperationFailed",
    )
    .await;
    assert!(
        ready_message(&too_big).contains("exceeds"),
        "{}",
        ready_message(&too_big)
    );
    for object in [&traversal, &symlink, &too_big] {
        assert!(
            object
                .status
                .as_ref()
                .and_then(|s| s.artifact.as_ref())
                .is_none()
        );
    }
    // Nothing was written outside the object's directory.
    assert!(
        !controller
            .storage_path()
            .join("ocirepository/escape.yaml")
            .exists()
    );

    let aws = wait_not_ready(&api, "aws", &controller, "AuthenticationFailed").await;
    assert!(
        ready_message(&aws).contains("provider 'aws' is not supported"),
        "{}",
        ready_message(&aws)
    );
    assert!(is_stalled(&aws));
    let verified = wait_not_ready(&api, "verified", &controller, "VerificationError").await;
    assert!(is_stalled(&verified));
    let source_verified = verified
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "SourceVerified"))
        .expect("SourceVerified");
    assert_eq!(source_verified.status, "False");
    assert!(
        verified
            .status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .is_none(),
        "nothing unverified is stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_registry_needs_its_credentials_and_ca() {
    let (plane, namespace, client) = setup("oci-auth").await;
    let registry = Registry::start(RegistryOptions {
        basic_auth: Some(("ci".into(), "s3cret".into())),
        tls: true,
        ..RegistryOptions::default()
    })
    .expect("registry");
    registry::push_artifact(
        &registry.host,
        registry.ca_pem.as_deref(),
        &RegistryAuth::Basic("ci".into(), "s3cret".into()),
        "private/app",
        "v1",
        flux_artifact(&[("a.yaml", "a: 1\n")], "main@sha1:0"),
    )
    .await
    .expect("push");
    let ca = registry.ca_pem.clone().unwrap();
    let docker_config =
        json!({ "auths": { registry.host.clone(): { "username": "ci", "password": "s3cret" } } })
            .to_string();
    create_secrets(
        &client,
        &namespace,
        &[
            ("registry-ca", &[("ca.crt", ca.as_str())]),
            ("pull", &[(".dockerconfigjson", docker_config.as_str())]),
        ],
    )
    .await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<OCIRepository> = Api::namespaced(client.clone(), &namespace);
    let private = url(&registry, "private/app");
    create_oci(&api, "anonymous", json!({ "url": private, "ref": { "tag": "v1" }, "certSecretRef": { "name": "registry-ca" } })).await;
    create_oci(
        &api,
        "authenticated",
        json!({ "url": private, "ref": { "tag": "v1" },
                "certSecretRef": { "name": "registry-ca" }, "secretRef": { "name": "pull" } }),
    )
    .await;
    create_oci(
        &api,
        "missing-secret",
        json!({ "url": private, "ref": { "tag": "v1" }, "secretRef": { "name": "absent" } }),
    )
    .await;

    wait_not_ready(&api, "anonymous", &controller, "AuthenticationFailed").await;
    let ready = wait_ready(&api, "authenticated", &controller).await;
    let (_, tree) = download(&ready).await;
    assert_eq!(files(&tree), ["a.yaml"]);
    let missing = wait_not_ready(&api, "missing-secret", &controller, "AuthenticationFailed").await;
    assert!(
        ready_message(&missing).contains("absent"),
        "{}",
        ready_message(&missing)
    );
}

fn is_stalled(object: &OCIRepository) -> bool {
    object.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    })
}
