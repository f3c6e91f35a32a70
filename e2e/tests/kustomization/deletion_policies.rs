//! `spec.deletionPolicy`: orphaning objects, or waiting for their termination.

use std::time::Duration;

use driftless_api::kustomize::Kustomization;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

use crate::EXTRA;
use crate::support::*;

const HELD: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers:\n  - example.com/hold\n";

#[tokio::test(flavor = "multi_thread")]
async fn deletion_policies_orphan_or_wait_for_termination() {
    let (plane, namespace, client) = cluster("ksdelete").await;
    let (git, _repo) = app_repository(
        &[("extra/extra.yaml", EXTRA), ("held/held.yaml", HELD)],
        "objects",
    );
    let controllers = Controllers::start(plane, &namespace, &[], &["--requeue-dependency=1s"]);
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    for (name, path, policy) in [
        ("orphan", "./extra", "Orphan"),
        ("waiting", "./held", "WaitForTermination"),
    ] {
        let spec = serde_json::json!({ "path": path, "namePrefix": format!("{name}-"), "deletionPolicy": policy, "timeout": "1m" });
        create_kustomization(&kustomizations, name, &namespace, spec).await;
    }
    for name in ["orphan", "waiting"] {
        wait_kustomization_ready(&kustomizations, name, &format!("{name} Ready"), &logs).await;
    }
    let gone = async |name: &str| {
        kustomizations
            .get_opt(name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    };
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);

    // Orphan: the Kustomization goes, what it applied stays.
    kustomizations
        .delete("orphan", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for("orphan gone", async || gone("orphan").await, &logs).await;
    assert!(config_maps.get_opt("orphan-extra").await.unwrap().is_some());

    // WaitForTermination: the Kustomization stays while its objects are terminating.
    kustomizations
        .delete("waiting", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for(
        "held ConfigMap terminating",
        async || {
            let held = config_maps.get_opt("waiting-held").await.ok()??;
            held.metadata.deletion_timestamp.is_some().then_some(())
        },
        &logs,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        kustomizations.get_opt("waiting").await.unwrap().is_some(),
        "the Kustomization went before its objects"
    );
    let release = serde_json::json!({ "metadata": { "finalizers": null } });
    config_maps
        .patch(
            "waiting-held",
            &PatchParams::default(),
            &Patch::Merge(&release),
        )
        .await
        .expect("release the held ConfigMap");
    wait_for("waiting gone", async || gone("waiting").await, &logs).await;
}
