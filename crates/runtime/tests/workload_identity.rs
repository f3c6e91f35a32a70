//! `kubeConfig.configMapRef` with the `generic` provider against the real API server: the
//! token requested for the ConfigMap's service account is what the "remote" cluster (here
//! the same one, which trusts its own issuer) sees, with that account's RBAC.

use driftless_api::meta::{KubeConfigReference, LocalObjectReference};
use driftless_runtime::apply::{Applier, ApplyOptions};
use driftless_runtime::clients::{Clients, KubeconfigPolicy, Target};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

async fn create<K>(api: &Api<K>, object: Value)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let object: K = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

async fn apply(applier: &Applier, object: Value) -> Result<(), String> {
    let options = ApplyOptions::new("identity-test", false, &[]);
    applier
        .apply_all(vec![object], &options)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_connection_acts_as_its_service_account() {
    let plane = driftless_testenv::shared().await.unwrap();
    let namespace = plane.namespace("identity").await.unwrap();
    let client = plane.client().await.unwrap();
    let config = plane
        .config_for("admin", &["system:masters"])
        .await
        .unwrap();

    // The account may write ConfigMaps in its namespace, and nothing else.
    create(
        &Api::<ServiceAccount>::namespaced(client.clone(), &namespace),
        json!({"metadata": {"name": "deployer"}}),
    )
    .await;
    create(
        &Api::<Role>::namespaced(client.clone(), &namespace),
        json!({"metadata": {"name": "deployer"}, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "patch"]}
        ]}),
    )
    .await;
    create(
        &Api::<RoleBinding>::namespaced(client.clone(), &namespace),
        json!({"metadata": {"name": "deployer"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
               "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}]}),
    )
    .await;
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), &namespace);
    // The API server accepts tokens for its issuer, `<server>/`.
    let connection = |name: &str, audiences: &str| {
        json!({"metadata": {"name": name}, "data": {
            "provider": "generic",
            "address": plane.server(),
            "ca.crt": plane.ca_pem(),
            "audiences": audiences,
            "serviceAccountName": "deployer",
        }})
    };
    let issuer = format!("{}/", plane.server());
    create(&config_maps, connection("remote", &issuer)).await;
    create(
        &config_maps,
        connection("elsewhere", "https://elsewhere.example"),
    )
    .await;

    let clients = Clients::new(
        client.clone(),
        config,
        "identity-test",
        None,
        KubeconfigPolicy::default(),
    );
    let reference = |name: &str| KubeConfigReference {
        config_map_ref: Some(LocalObjectReference { name: name.into() }),
        secret_ref: None,
    };
    let remote = reference("remote");
    let target = Target {
        namespace: &namespace,
        service_account_name: None,
        kube_config: Some(&remote),
    };
    let applier = clients.applier_for(&target).await.unwrap();
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "applied", "namespace": namespace}, "data": {"k": "v"}});
    apply(&applier, config_map).await.unwrap();
    assert!(config_maps.get_opt("applied").await.unwrap().is_some());
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "denied", "namespace": namespace}, "stringData": {"k": "v"}});
    let error = apply(&applier, secret).await.unwrap_err();
    assert!(
        error.contains(&format!("system:serviceaccount:{namespace}:deployer")),
        "{error}"
    );

    // A token for an audience the API server does not serve is refused.
    let elsewhere = reference("elsewhere");
    let target = Target {
        kube_config: Some(&elsewhere),
        ..target
    };
    let applier = clients.applier_for(&target).await.unwrap();
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "refused", "namespace": namespace}, "data": {"k": "v"}});
    let error = apply(&applier, config_map).await.unwrap_err();
    assert!(error.to_lowercase().contains("unauthorized"), "{error}");

    // An unsupported provider is named on the object.
    create(
        &config_maps,
        json!({"metadata": {"name": "cloud"}, "data": {"provider": "gcp"}}),
    )
    .await;
    let cloud = reference("cloud");
    let target = Target {
        kube_config: Some(&cloud),
        ..target
    };
    let error = clients.applier_for(&target).await.err().unwrap();
    assert!(error.contains("provider 'gcp'"), "{error}");
}
