//! `spec.kubeConfig`: applying to a remote cluster as the identity its kubeconfig names.

use driftless_api::kustomize::Kustomization;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

use crate::EXTRA;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn kube_config_applies_to_the_remote_cluster_as_its_identity() {
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};

    let (plane, namespace, client) = cluster("ksremote").await;
    let (git, _repo) = app_repository(&[("extra/extra.yaml", EXTRA)], "extra");
    let controllers = Controllers::start(plane, &namespace, &[], &["--requeue-dependency=1s"]);
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;

    // The "remote" cluster is the test cluster reached with another identity, which may only
    // manage ConfigMaps in one namespace.
    let allowed = plane.namespace("remote-ok").await.expect("namespace");
    let forbidden = plane.namespace("remote-no").await.expect("namespace");
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "configmaps" },
        "rules": [{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"] }],
    }))
    .unwrap();
    Api::<Role>::namespaced(client.clone(), &allowed)
        .create(&PostParams::default(), &role)
        .await
        .expect("Role");
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "remote-deployer" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "remote-deployer" }],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), &allowed)
        .create(&PostParams::default(), &binding)
        .await
        .expect("RoleBinding");
    let kubeconfig = plane
        .kubeconfig_for("remote-deployer", &[])
        .expect("kubeconfig");
    let exec_kubeconfig = kubeconfig.replace(
        "    client-certificate-data:",
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/true\n    client-certificate-data:",
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    for (name, key, value) in [
        ("remote", "value", &kubeconfig),
        ("remote-custom-key", "cluster.yaml", &kubeconfig),
        ("remote-exec", "value", &exec_kubeconfig),
    ] {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name }, "stringData": { key: value },
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("kubeconfig Secret");
    }

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    for (name, target, kube_config) in [
        (
            "applied",
            &allowed,
            serde_json::json!({ "secretRef": { "name": "remote" } }),
        ),
        (
            "custom-key",
            &allowed,
            serde_json::json!({ "secretRef": { "name": "remote-custom-key", "key": "cluster.yaml" } }),
        ),
        (
            "denied",
            &forbidden,
            serde_json::json!({ "secretRef": { "name": "remote" } }),
        ),
        (
            "missing",
            &allowed,
            serde_json::json!({ "secretRef": { "name": "absent" } }),
        ),
        (
            "exec",
            &allowed,
            serde_json::json!({ "secretRef": { "name": "remote-exec" } }),
        ),
    ] {
        let prefix = format!("{name}-");
        let spec = serde_json::json!({ "path": "./extra", "namePrefix": prefix, "kubeConfig": kube_config });
        create_kustomization(&kustomizations, name, target, spec).await;
    }

    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &allowed);
    for name in ["applied", "custom-key"] {
        let (status, _, message, _) = wait_settled(&kustomizations, name, &logs).await;
        assert_eq!(status, "True", "{name}: {message}");
        assert!(
            config_maps
                .get_opt(&format!("{name}-extra"))
                .await
                .unwrap()
                .is_some()
        );
    }
    // The remote identity's RBAC applies, not the controller's (it is a cluster admin here).
    let (status, reason, message, _) = wait_settled(&kustomizations, "denied", &logs).await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ReconciliationFailed")
    );
    assert!(message.contains("\"remote-deployer\""), "{message}");
    let (status, _, message, _) = wait_settled(&kustomizations, "missing", &logs).await;
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!("Secret '{namespace}/absent' not found")),
        "{message}"
    );
    let (status, _, message, _) = wait_settled(&kustomizations, "exec", &logs).await;
    assert_eq!(status, "False");
    assert!(message.contains("--insecure-kubeconfig-exec"), "{message}");
}
