//! The test control plane is a real, RBAC-enforcing cluster with the controllers tests need.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn config_map(name: &str, owner: Option<&ConfigMap>) -> ConfigMap {
    let mut metadata = json!({ "name": name });
    if let Some(owner) = owner {
        metadata["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "ConfigMap",
            "name": owner.metadata.name, "uid": owner.metadata.uid,
        }]);
    }
    serde_json::from_value(json!({ "metadata": metadata, "data": { "k": "v" } })).unwrap()
}

#[tokio::test]
async fn starts_quickly_with_crds_established() {
    let plane = driftless_testenv::shared().await.unwrap();
    eprintln!("control plane started in {:?}", plane.started_in());
    assert!(plane.started_in() < Duration::from_secs(60));
    let version = plane
        .client()
        .await
        .unwrap()
        .apiserver_version()
        .await
        .unwrap();
    let pins = driftless_testenv::KubernetesPins::load().unwrap();
    assert_eq!(version.git_version, pins.kubernetes_version);
    let crds = Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(
        plane.client().await.unwrap(),
    );
    let crd = crds
        .get("gitrepositories.source.toolkit.fluxcd.io")
        .await
        .unwrap();
    assert!(kube::runtime::wait::Condition::matches_object(
        &conditions::is_crd_established(),
        Some(&crd)
    ));
}

#[tokio::test]
async fn rbac_is_enforced_for_users_and_impersonation() {
    let plane = driftless_testenv::shared().await.unwrap();
    let namespace = plane.namespace("rbac").await.unwrap();

    let nobody = plane.client_as("nobody", &[]).await.unwrap();
    let error = Api::<ConfigMap>::namespaced(nobody, &namespace)
        .list(&Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 403),
        "{error}"
    );

    // The admin may impersonate, and the impersonated user gets only its own rights.
    let mut config = plane
        .config_for("admin", &["system:masters"])
        .await
        .unwrap();
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:tenant"));
    let impersonating = kube::Client::try_from(config).unwrap();
    let error = Api::<ConfigMap>::namespaced(impersonating, &namespace)
        .create(&PostParams::default(), &config_map("x", None))
        .await
        .unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 403),
        "{error}"
    );

    let admin = Api::<ConfigMap>::namespaced(plane.client().await.unwrap(), &namespace);
    admin
        .create(&PostParams::default(), &config_map("x", None))
        .await
        .unwrap();
}

#[tokio::test]
async fn controller_manager_deletes_namespaces_collects_garbage_and_aggregates_roles() {
    let plane = driftless_testenv::shared().await.unwrap();
    let client = plane.client().await.unwrap();

    // Aggregated roles are filled in by the clusterrole-aggregation controller.
    let roles = Api::<ClusterRole>::all(client.clone());
    eventually("the admin ClusterRole to be aggregated", || {
        let roles = roles.clone();
        async move {
            roles
                .get("admin")
                .await
                .is_ok_and(|r| r.rules.is_some_and(|rules| !rules.is_empty()))
        }
    })
    .await;

    // The serviceaccount controller creates `default` in every namespace.
    let namespace = plane.namespace("kcm").await.unwrap();
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), &namespace);
    eventually("the default ServiceAccount", || {
        let accounts = accounts.clone();
        async move { accounts.get_opt("default").await.is_ok_and(|a| a.is_some()) }
    })
    .await;

    // Owner-reference garbage collection.
    let maps = Api::<ConfigMap>::namespaced(client.clone(), &namespace);
    let owner = maps
        .create(&PostParams::default(), &config_map("owner", None))
        .await
        .unwrap();
    maps.create(
        &PostParams::default(),
        &config_map("dependent", Some(&owner)),
    )
    .await
    .unwrap();
    maps.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually("the dependent ConfigMap to be collected", || {
        let maps = maps.clone();
        async move { maps.get_opt("dependent").await.is_ok_and(|m| m.is_none()) }
    })
    .await;

    // Namespace deletion empties and removes the namespace.
    let namespaces = Api::<Namespace>::all(client.clone());
    let uid = namespaces
        .get(&namespace)
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    namespaces
        .delete(&namespace, &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(namespaces, &namespace, conditions::is_deleted(&uid)),
    )
    .await
    .expect("namespace deleted within 60s")
    .unwrap();
}
