//! A registry behind TLS (throwaway CA) and htpasswd basic auth: refused without
//! credentials, scanned with a `kubernetes.io/dockerconfigjson` Secret (directly or through
//! the ServiceAccount's image pull secrets) and the CA from `certSecretRef`.

use driftless_api::image::{ImagePolicy, ImageRepository};
use driftless_testenv::registry::{Registry, RegistryOptions};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_private_registry_needs_its_credentials_and_ca() {
    let (plane, namespace, client) = setup("img-auth").await;
    let registry = Registry::start(RegistryOptions {
        basic_auth: Some(("ci".into(), "s3cret".into())),
        tls: true,
        ..RegistryOptions::default()
    })
    .expect("registry");
    registry.push("private/app", "3.1.0").await.expect("push");
    let ca = registry.ca_pem.clone().unwrap();
    create_secret(&client, &namespace, "registry-ca", None, &[("ca.crt", &ca)]).await;
    create_pull_secret(&client, &namespace, "pull", &registry.host, "ci", "s3cret").await;
    create_pull_secret(&client, &namespace, "wrong", &registry.host, "ci", "nope").await;
    let storage = tempfile::tempdir().unwrap();
    let controller = Controller::start(plane, &namespace, storage.path(), &[]);
    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), &namespace);
    let image = registry.image("private/app");

    // An untrusted certificate: the scan fails, naming the TLS problem.
    create(
        &repos,
        &image_repository(
            "no-ca",
            json!({"image": image, "interval": "1h", "secretRef": {"name": "pull"}}),
        ),
    )
    .await;
    let failed = wait_ready_is(&repos, "no-ca", &controller, "False", "ReadOperationFailed").await;
    let message = ready(&failed).unwrap().2;
    assert!(message.starts_with("scan failed: "), "{message}");
    assert!(message.to_lowercase().contains("certificate"), "{message}");

    // Trusted, but anonymous or with a wrong password: AuthenticationFailed.
    create(
        &repos,
        &image_repository(
            "anonymous",
            json!({"image": image, "interval": "1h", "certSecretRef": {"name": "registry-ca"}}),
        ),
    )
    .await;
    wait_ready_is(
        &repos,
        "anonymous",
        &controller,
        "False",
        "AuthenticationFailed",
    )
    .await;
    create(
        &repos,
        &image_repository(
            "wrong",
            json!({"image": image, "interval": "1h",
            "certSecretRef": {"name": "registry-ca"}, "secretRef": {"name": "wrong"}}),
        ),
    )
    .await;
    wait_ready_is(
        &repos,
        "wrong",
        &controller,
        "False",
        "AuthenticationFailed",
    )
    .await;

    // The right Secret and CA.
    create(
        &repos,
        &image_repository(
            "app",
            json!({"image": image, "interval": "1h",
            "certSecretRef": {"name": "registry-ca"}, "secretRef": {"name": "pull"}}),
        ),
    )
    .await;
    let repo = wait_ready_is(&repos, "app", &controller, "True", "Succeeded").await;
    assert_eq!(
        repo.status.unwrap().last_scan_result.unwrap().latest_tags,
        ["3.1.0"]
    );

    // The same credentials through a ServiceAccount's imagePullSecrets.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    let account: ServiceAccount = serde_json::from_value(json!({
        "metadata": {"name": "scanner"}, "imagePullSecrets": [{"name": "pull"}]
    }))
    .unwrap();
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    create(
        &repos,
        &image_repository(
            "via-account",
            json!({"image": image, "interval": "1h",
            "certSecretRef": {"name": "registry-ca"}, "serviceAccountName": "scanner"}),
        ),
    )
    .await;
    wait_ready_is(&repos, "via-account", &controller, "True", "Succeeded").await;

    // A policy pinning digests reaches the private registry with the repository's access.
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), &namespace);
    create(
        &policies,
        &image_policy("app", json!({"imageRepositoryRef": {"name": "app"},
            "policy": {"semver": {"range": ">=3.0.0"}}, "digestReflectionPolicy": "Always", "interval": "1h"})),
    )
    .await;
    let policy = wait_ready_is(&policies, "app", &controller, "True", "Succeeded").await;
    let latest = policy.status.unwrap().latest_ref.unwrap();
    assert_eq!(latest.tag, "3.1.0");
    assert!(latest.digest.is_some_and(|d| d.starts_with("sha256:")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_with_token_auth_is_scanned_with_a_bearer_token() {
    let (plane, namespace, client) = setup("img-token").await;
    let registry = Registry::start(RegistryOptions {
        basic_auth: Some(("robot".into(), "t0ken".into())),
        token_auth: true,
        ..RegistryOptions::default()
    })
    .expect("registry");
    registry
        .push("org/app", "1.0.0")
        .await
        .expect("push through the token server");
    registry.push("org/app", "1.1.0").await.expect("push");
    create_pull_secret(
        &client,
        &namespace,
        "pull",
        &registry.host,
        "robot",
        "t0ken",
    )
    .await;
    let storage = tempfile::tempdir().unwrap();
    let controller = Controller::start(plane, &namespace, storage.path(), &[]);
    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), &namespace);
    let image = registry.image("org/app");
    create(
        &repos,
        &image_repository(
            "anonymous",
            json!({"image": image, "interval": "1h", "insecure": true}),
        ),
    )
    .await;
    wait_ready_is(
        &repos,
        "anonymous",
        &controller,
        "False",
        "AuthenticationFailed",
    )
    .await;
    create(
        &repos,
        &image_repository("app", json!({"image": image, "interval": "1h", "insecure": true, "secretRef": {"name": "pull"}})),
    )
    .await;
    let repo = wait_ready_is(&repos, "app", &controller, "True", "Succeeded").await;
    assert_eq!(
        repo.status.unwrap().last_scan_result.unwrap().latest_tags,
        ["1.1.0", "1.0.0"]
    );
}
