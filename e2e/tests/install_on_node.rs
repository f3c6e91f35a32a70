//! `driftless install` and `driftless uninstall` on the test node, as a Flux user runs
//! `flux install` and `flux uninstall`: the controllers come up as Pods and reconcile, and
//! uninstalling removes controllers, CRDs and namespace but not what they applied.

use std::time::Duration;

use driftless_api::kustomize::Kustomization;
use driftless_testenv::git::GitServer;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};

mod support;
use support::node_images::{
    CONTROLLERS, driftless, image_flags, node_plane, push_controller_images,
};
use support::{create_git_repository, kustomization, ready, wait_for};

/// The real `flux` CLI against the test cluster.
fn flux(plane: &driftless_testenv::ControlPlane, args: &[&str]) -> (bool, String) {
    support::flux_cli(&plane.kubeconfig_path(), args)
}

#[tokio::test(flavor = "multi_thread")]
async fn install_brings_the_controllers_up_and_uninstall_keeps_what_they_applied() {
    let (plane, client, registry) = node_plane(false).await;
    let node = plane.node().expect("the node");
    let digests = push_controller_images(&registry.host, "e2e").await;

    let mut args = vec![
        "install".to_owned(),
        "--components-extra=image-reflector-controller,image-automation-controller".to_owned(),
        "--timeout=4m".to_owned(),
    ];
    args.extend(image_flags(&registry.host, "e2e", &digests));
    let (ok, output) = driftless(&plane, &args);
    assert!(ok, "{output}");
    for name in CONTROLLERS {
        assert!(
            output.contains(&format!("✔ {name}: deployment ready")),
            "{output}"
        );
    }
    assert!(
        output.trim_end().ends_with("✔ install finished"),
        "{output}"
    );

    // The installed controllers reconcile: a Kustomization applies a ConfigMap from Git.
    let apps = plane.namespace("apps").await.expect("namespace");
    let config_map =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: live\n";
    // On the node's link: source-controller's Pod cannot reach the host's loopback.
    let git = GitServer::start_on(Default::default(), node.host_ip).expect("git server");
    let repo = git.create_repo("app").expect("repo");
    repo.commit(&[("deploy/settings.yaml", config_map)], "settings")
        .expect("commit");
    repo.push("main").expect("push");
    create_git_repository(&client, "flux-system", git.url("app")).await;
    let kustomizations = Api::<Kustomization>::namespaced(client.clone(), "flux-system");
    let mut sync = kustomization("app", &apps, serde_json::json!({ "path": "./deploy" }));
    sync.metadata.namespace = Some("flux-system".to_owned());
    kustomizations
        .create(&PostParams::default(), &sync)
        .await
        .expect("create Kustomization");
    let no_logs = || String::new();
    wait_for(
        "the installed controllers to apply the ConfigMap",
        async || (ready(&kustomizations.get("app").await.ok()?)?.0 == "True").then_some(()),
        &no_logs,
    )
    .await;
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), &apps);
    assert!(
        config_maps
            .get_opt("settings")
            .await
            .expect("get")
            .is_some()
    );

    // The real flux CLI finds the controllers, as it finds Flux's: `flux version` by the
    // Deployments' labels, `flux logs` by their Pods and Flux's JSON log lines.
    let (ok, output) = flux(&plane, &["version", "--output=json"]);
    assert!(ok, "{output}");
    let versions: serde_json::Value = serde_json::from_str(&output).expect("flux version JSON");
    // The images are pinned by digest, which flux reads as `<name>@sha256: <hex>`.
    let listed = versions.as_object().expect("flux version JSON object");
    for name in CONTROLLERS {
        let digest = listed
            .get(&format!("{name}@sha256"))
            .and_then(|d| d.as_str());
        assert!(
            digest.is_some_and(|d| d.len() == 64),
            "{name} missing: {output}"
        );
    }
    wait_for(
        "flux logs to show the Kustomization's reconcile",
        async || {
            let (ok, output) = flux(&plane, &["logs", "--kind=Kustomization", "--name=app"]);
            let line = output
                .lines()
                .find(|l| l.contains("Kustomization/app.flux-system - Reconciliation finished in"));
            (ok && line.is_some()).then_some(())
        },
        &|| flux(&plane, &["logs", "--all-namespaces"]).1,
    )
    .await;

    let (ok, output) = driftless(&plane, &["uninstall".to_owned(), "--silent".to_owned()]);
    assert!(ok, "{output}");
    assert!(
        output.contains("✔ Kustomization/flux-system/app finalizers deleted"),
        "{output}"
    );
    assert!(
        output.trim_end().ends_with("✔ uninstall finished"),
        "{output}"
    );
    let deployments = Api::<Deployment>::namespaced(client.clone(), "flux-system");
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let namespaces = Api::<Namespace>::all(client.clone());
    wait_for(
        "controllers, CRDs and the namespace to be gone",
        async || {
            let left = deployments
                .list(&Default::default())
                .await
                .ok()?
                .items
                .len()
                + crds
                    .list(&Default::default())
                    .await
                    .ok()?
                    .items
                    .iter()
                    .filter(|crd| crd.spec.group.ends_with(".toolkit.fluxcd.io"))
                    .count()
                + usize::from(namespaces.get_opt("flux-system").await.ok()?.is_some());
            (left == 0).then_some(())
        },
        &no_logs,
    )
    .await;
    // What they applied stays, unchanged.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settings = config_maps
        .get_opt("settings")
        .await
        .expect("get")
        .expect("the ConfigMap stays after uninstall");
    assert_eq!(
        settings
            .data
            .and_then(|d| d.get("mode").cloned())
            .as_deref(),
        Some("live")
    );
}
