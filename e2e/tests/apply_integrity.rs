//! What the apply promises an operator, on a real control plane: edits made with `kubectl`
//! (and the other managers Flux takes over) are reverted on the next reconcile, fields of
//! other tools are left alone; a stage with an invalid object applies nothing of that stage
//! and names every bad object; what an apply wrote before failing stays in the inventory, so
//! deleting the Kustomization removes all of it.

mod support;

use std::collections::BTreeMap;

use driftless_api::kustomize::Kustomization;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use support::*;

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - name: http\n    port: 9898\n    targetPort: 9898\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: example.com/web:6.0.0\n        env:\n        - name: A\n          value: \"1\"\n";
const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n";

/// Replaces `name` as `manager` would with an update (`kubectl edit`, `kubectl set`, a
/// client-side `kubectl apply`): managedFields record the manager and `Update`.
async fn update_as<K>(api: &Api<K>, name: &str, manager: &str, edit: impl FnOnce(&mut K))
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let mut object = api.get(name).await.expect("get for edit");
    edit(&mut object);
    let params = PostParams {
        field_manager: Some(manager.to_owned()),
        ..PostParams::default()
    };
    api.replace(name, &params, &object)
        .await
        .unwrap_or_else(|e| panic!("{manager} edit of {name}: {e}"));
}

fn managers(meta: &kube::api::ObjectMeta) -> Vec<(String, String)> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|m| m.subresource.as_deref().unwrap_or("").is_empty())
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_by_other_managers_are_reverted_and_failed_stages_apply_nothing() {
    let (plane, namespace, client) = cluster("integrity").await;
    let cluster_role = format!("{namespace}-reader");
    let role_yaml = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {cluster_role}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get]\n"
    );
    let (git, repo) = app_repository(
        &[
            ("deploy/service.yaml", SERVICE),
            ("deploy/deployment.yaml", DEPLOYMENT),
            ("deploy/configmap.yaml", CONFIG_MAP),
        ],
        "first",
    );
    let controllers = Controllers::start(
        plane,
        &namespace,
        &[],
        &["--requeue-dependency=1s", "--override-manager=helm"],
    );
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;
    let sources: Api<driftless_api::source::GitRepository> =
        Api::namespaced(client.clone(), &namespace);
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    create_kustomization(
        &kustomizations,
        "app",
        &namespace,
        serde_json::json!({ "path": "./deploy" }),
    )
    .await;
    wait_kustomization_ready(&kustomizations, "app", "first revision applied", &logs).await;

    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);

    // kubectl edit: the Service's port changed (a list item keyed by port: applying the
    // declared port beside the edited one would be refused as a duplicate name).
    update_as(&services, "web", "kubectl-edit", |service| {
        if let Some(port) = service
            .spec
            .as_mut()
            .and_then(|s| s.ports.as_mut())
            .and_then(|p| p.first_mut())
        {
            port.port = 9899;
        }
    })
    .await;
    // kubectl set image (a declared field), kubectl patch adding an env var (a list item)
    // and a label (a map entry).
    update_as(&deployments, "web", "kubectl-set", |deployment| {
        if let Some(container) = deployment
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
            .and_then(|s| s.containers.first_mut())
        {
            container.image = Some("example.com/web:6.0.1".into());
        }
    })
    .await;
    let env_patch = serde_json::json!({
        "metadata": { "labels": { "edited": "yes" } },
        "spec": { "template": { "spec": { "containers": [
            { "name": "web", "env": [{ "name": "B", "value": "2" }] },
        ] } } },
    });
    deployments
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-patch".into()),
                ..PatchParams::default()
            },
            &Patch::Strategic(&env_patch),
        )
        .await
        .expect("kubectl patch");
    // Server-side kubectl apply adds a key; kubectl edit deletes a declared one; a
    // before-first-apply update, and helm (taken over with --override-manager) add keys;
    // a tool Flux does not take over keeps its annotation.
    let server_side = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "settings" },
        "data": { "server-side": "x" },
    });
    config_maps
        .patch(
            "settings",
            &PatchParams::apply("kubectl").force(),
            &Patch::Apply(&server_side),
        )
        .await
        .expect("kubectl apply --server-side");
    update_as(&config_maps, "settings", "kubectl-edit", |cm| {
        if let Some(data) = cm.data.as_mut() {
            data.remove("a");
        }
    })
    .await;
    update_as(&config_maps, "settings", "before-first-apply", |cm| {
        cm.data
            .get_or_insert_with(BTreeMap::new)
            .insert("before".into(), "x".into());
    })
    .await;
    update_as(&config_maps, "settings", "helm", |cm| {
        cm.data
            .get_or_insert_with(BTreeMap::new)
            .insert("helm".into(), "x".into());
    })
    .await;
    update_as(&config_maps, "settings", "other-tool", |cm| {
        cm.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("other-tool/note".into(), "kept".into());
    })
    .await;

    request_reconcile(&kustomizations, "app").await;
    wait_for(
        "every edit reverted",
        async || {
            let service = services.get("web").await.ok()?;
            let ports: Vec<i32> = service.spec?.ports?.iter().map(|p| p.port).collect();
            let deployment = deployments.get("web").await.ok()?;
            let labels = deployment.metadata.labels.clone().unwrap_or_default();
            let container = deployment.spec?.template.spec?.containers.first()?.clone();
            let env: Vec<String> = container.env?.iter().map(|e| e.name.clone()).collect();
            let data = config_maps.get("settings").await.ok()?.data?;
            let keys: Vec<&String> = data.keys().collect();
            (ports == [9898]
                && container.image.as_deref() == Some("example.com/web:6.0.0")
                && env == ["A"]
                && !labels.contains_key("edited")
                && keys == ["a"])
            .then_some(())
        },
        &logs,
    )
    .await;
    let (status, reason, message) = ready(&kustomizations.get("app").await.unwrap()).unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "ReconciliationSucceeded"),
        "{message}"
    );
    let settings = config_maps.get("settings").await.unwrap();
    assert_eq!(
        settings
            .metadata
            .annotations
            .unwrap_or_default()
            .get("other-tool/note")
            .map(String::as_str),
        Some("kept"),
        "a manager Flux does not take over keeps its fields"
    );
    for (kind, meta) in [
        ("Service", services.get("web").await.unwrap().metadata),
        ("Deployment", deployments.get("web").await.unwrap().metadata),
        (
            "ConfigMap",
            config_maps.get("settings").await.unwrap().metadata,
        ),
    ] {
        let taken: Vec<(String, String)> = managers(&meta)
            .into_iter()
            .filter(|(m, _)| m.starts_with("kubectl") || m == "before-first-apply" || m == "helm")
            .collect();
        assert!(taken.is_empty(), "{kind} still has {taken:?}");
    }

    // A commit whose last stage has an invalid Service and an object of a kind the cluster
    // does not serve: the ClusterRole (an earlier stage) is applied, nothing of the last
    // stage is, and both bad objects are named.
    repo.commit(
        &[
            ("deploy/role.yaml", &role_yaml),
            ("deploy/configmap.yaml", &CONFIG_MAP.replace("\"1\"", "\"2\"")),
            ("deploy/second.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\n"),
            ("deploy/bad.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports:\n  - {name: http, port: 80}\n  - {name: http, port: 81}\n"),
            ("deploy/widget.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"),
            // A version Flux v2.8 removed: named with the version the cluster serves.
            ("deploy/oci.yaml", "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata:\n  name: old\nspec:\n  url: oci://example.com/app\n  interval: 1m\n"),
        ],
        "one bad object",
    )
    .expect("commit");
    repo.push("main").expect("push");
    request_reconcile(&sources, "app").await;
    let (_, reason, message) = wait_for(
        "invalid stage reported",
        async || ready(&kustomizations.get("app").await.ok()?).filter(|r| r.0 == "False"),
        &logs,
    )
    .await;
    assert_eq!(reason, "ReconciliationFailed", "{message}");
    assert!(
        message.contains(&format!("Service/{namespace}/bad dry-run failed (Invalid)"))
            && message.contains("Duplicate value"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "Widget/{namespace}/w: no matches for kind \"Widget\" in version \"example.com/v1\""
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "OCIRepository/{namespace}/old: no matches for kind \"OCIRepository\" in version \"source.toolkit.fluxcd.io/v1beta2\" (the cluster serves OCIRepository as source.toolkit.fluxcd.io/v1)"
        )),
        "{message}"
    );
    assert!(
        config_maps.get_opt("second").await.unwrap().is_none(),
        "nothing of the failed stage is applied"
    );
    assert!(services.get_opt("bad").await.unwrap().is_none());
    assert_eq!(
        config_maps.get("settings").await.unwrap().data.unwrap()["a"],
        "1"
    );
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles
        .get(&cluster_role)
        .await
        .expect("the earlier stage is applied");
    let inventory: Vec<String> = kustomizations
        .get("app")
        .await
        .unwrap()
        .status
        .unwrap()
        .inventory
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    for id in [
        format!("_{cluster_role}_rbac.authorization.k8s.io_ClusterRole"),
        format!("{namespace}_web__Service"),
        format!("{namespace}_web_apps_Deployment"),
        format!("{namespace}_settings__ConfigMap"),
    ] {
        assert!(inventory.contains(&id), "{id} missing from {inventory:?}");
    }

    // The failure is logged once per reconcile at error level with its reason, and the
    // reconciles are timed under Flux's metric.
    let log = controllers.kustomize.log_tail(400);
    assert!(
        log.lines().any(|l| l.contains("ERROR")
            && l.contains("reconciliation failed")
            && l.contains("ReconciliationFailed")
            && l.contains("dry-run failed")),
        "{log}"
    );
    let metrics = controllers.kustomize.metrics().expect("metrics");
    assert!(
        metrics.contains(&format!(
            "gotk_reconcile_duration_seconds_count{{kind=\"Kustomization\",name=\"app\",namespace=\"{namespace}\"}}"
        )),
        "{metrics}"
    );

    // Deleting the failing Kustomization prunes everything it ever applied, the ClusterRole
    // from the failed run included.
    kustomizations
        .delete("app", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for(
        "everything pruned",
        async || {
            (roles.get_opt(&cluster_role).await.ok()?.is_none()
                && services.get_opt("web").await.ok()?.is_none()
                && deployments.get_opt("web").await.ok()?.is_none()
                && config_maps.get_opt("settings").await.ok()?.is_none())
            .then_some(())
        },
        &logs,
    )
    .await;
}
