//! `type: oci`: no artifact, Ready once the registry answers, not Ready while it does not.

use driftless_api::source::HelmRepository;
use driftless_testenv::registry::{Registry, RegistryOptions};
use kube::api::Api;
use serde_json::json;

use super::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_oci_repository_is_ready_once_the_registry_answers() {
    let (plane, namespace, client) = setup("helmrepo-oci").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<HelmRepository> = Api::namespaced(client.clone(), &namespace);

    create_helm_repository(
        &api,
        "charts",
        json!({ "type": "oci", "url": format!("oci://{}/charts", registry.host), "insecure": true }),
    )
    .await;
    let ready = wait_ready(&api, "charts", &controller).await;
    assert_eq!(ready_message(&ready), "Helm repository is Ready");
    let status = ready.status.unwrap();
    assert!(
        status.artifact.is_none() && status.url.is_none(),
        "{status:?}"
    );

    let closed = driftless_testenv::free_ports::<1>().unwrap()[0];
    create_helm_repository(
        &api,
        "closed",
        json!({ "type": "oci", "url": format!("oci://127.0.0.1:{closed}/charts"), "insecure": true }),
    )
    .await;
    let failed = wait_not_ready(&api, "closed", &controller, "Failed").await;
    assert!(
        ready_message(&failed)
            .starts_with(&format!("failed to reach registry '127.0.0.1:{closed}'")),
        "{}",
        ready_message(&failed)
    );
}
