//! Create, update, drift, bad commit, prune and deletion, each checked on the cluster and on
//! the Kustomization's status.

use driftless_api::kustomize::Kustomization;
use driftless_api::source::GitRepository;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use crate::EXTRA;
use crate::support::*;

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: ${color}\n  size: ${size}\n  zone: ${zone:=a}\n";

const SERVICE: &str =
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n";

#[tokio::test(flavor = "multi_thread")]
async fn applies_updates_reverts_drift_prunes_and_survives_a_bad_commit() {
    let (plane, namespace, client) = cluster("ks").await;

    let (git, repo) = app_repository(
        &[
            ("deploy/configmap.yaml", CONFIG_MAP),
            ("deploy/service.yaml", SERVICE),
            ("extra/extra.yaml", EXTRA),
        ],
        "first",
    );

    let controllers = Controllers::start(
        plane,
        &namespace,
        &["--log-level=debug"],
        &["--requeue-dependency=1s"],
    );
    let logs = || controllers.logs();
    create_git_repository(&client, &namespace, git.url("app")).await;
    let sources: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);

    // Variables for post-build substitution.
    let vars: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "vars" }, "data": { "color": "blue", "size": "S" },
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &vars)
        .await
        .expect("vars");

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    let app = kustomization(
        "app",
        &namespace,
        serde_json::json!({
            "path": "./deploy",
            "commonMetadata": { "labels": { "team": "shop" } },
            "postBuild": {
                "substituteFrom": [{ "kind": "ConfigMap", "name": "vars" }, { "kind": "Secret", "name": "absent", "optional": true }],
                "substitute": { "size": "L" },
            },
        }),
    );
    kustomizations
        .create(&PostParams::default(), &app)
        .await
        .expect("create Kustomization");

    // Created: both objects, owned and labelled; Ready with the revision; inventory.
    let first = wait_for(
        "first revision applied",
        async || {
            let k = kustomizations.get("app").await.ok()?;
            (ready(&k)?.0 == "True").then(|| k.status.and_then(|s| s.last_applied_revision))?
        },
        &logs,
    )
    .await;
    assert!(first.starts_with("main@sha1:"), "{first}");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let settings = config_maps
        .get("settings")
        .await
        .expect("ConfigMap applied");
    let labels = settings.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("kustomize.toolkit.fluxcd.io/name")
            .map(String::as_str),
        Some("app")
    );
    assert_eq!(labels.get("team").map(String::as_str), Some("shop"));
    services.get("web").await.expect("Service applied");
    let data = settings.data.clone().unwrap_or_default();
    let get = |key: &str| data.get(key).cloned().unwrap_or_default();
    assert_eq!(
        (get("color"), get("size"), get("zone")),
        ("blue".into(), "L".into(), "a".into()),
        "substituted: {settings:?}\n{}",
        logs()
    );
    let status = kustomizations.get("app").await.unwrap().status.unwrap();
    let ids: Vec<String> = status
        .inventory
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(
        ids.contains(&format!("{namespace}_settings__ConfigMap"))
            && ids.contains(&format!("{namespace}_web__Service")),
        "{ids:?}"
    );
    let (_, reason, message) = ready(&kustomizations.get("app").await.unwrap()).unwrap();
    assert_eq!(
        (reason.as_str(), message),
        (
            "ReconciliationSucceeded",
            format!("Applied revision: {first}")
        )
    );
    // status.history: one snapshot of what was applied.
    let history = |k: Kustomization| k.status.map(|s| s.history).unwrap_or_default();
    let first_history = history(kustomizations.get("app").await.unwrap());
    assert_eq!(first_history.len(), 1, "{first_history:?}");
    assert_eq!(
        first_history[0].last_reconciled_status,
        "ReconciliationSucceeded"
    );
    assert_eq!(first_history[0].metadata["revision"], first);
    assert!(first_history[0].digest.starts_with("sha256:"));

    // Waits until the applied ConfigMap `settings` says `color`.
    let settings_color = async |what: &str, color: &str| {
        let color_is = async || {
            let settings = config_maps.get("settings").await.ok()?;
            (settings.data?.get("color")? == color).then_some(())
        };
        wait_for(what, color_is, &logs).await;
    };

    // Drift: a manual edit is reverted on the next reconcile.
    let drift = serde_json::json!({ "data": { "color": "red" } });
    config_maps
        .patch("settings", &PatchParams::default(), &Patch::Merge(&drift))
        .await
        .expect("drift");
    request_reconcile(&kustomizations, "app").await;
    settings_color("drift reverted", "blue").await;

    // The correction is reported with Flux's change-set line, nothing appended, so Alert
    // inclusion and exclusion rules written for Flux match it.
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(client.clone(), &namespace);
    let expected = format!("ConfigMap/{namespace}/settings configured");
    wait_for(
        "drift event",
        async || {
            let list = events.list(&Default::default()).await.ok()?;
            list.items
                .iter()
                .any(|e| {
                    e.message
                        .as_deref()
                        .is_some_and(|m| m.lines().any(|l| l == expected))
                })
                .then_some(())
        },
        &logs,
    )
    .await;

    // A substitution source with the watch label reconciles its Kustomization when it
    // changes, long before the ten-minute interval.
    let watched = serde_json::json!({
        "metadata": { "labels": { "reconcile.fluxcd.io/watch": "Enabled" } },
        "data": { "color": "purple" },
    });
    Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .patch("vars", &PatchParams::default(), &Patch::Merge(&watched))
        .await
        .expect("label and change vars");
    settings_color("substitution source change applied", "purple").await;

    // Update and prune: a new commit changes the ConfigMap and drops the Service.
    repo.remove("deploy/service.yaml").expect("remove");
    repo.commit(
        &[(
            "deploy/configmap.yaml",
            &CONFIG_MAP.replace("${color}", "green"),
        )],
        "second",
    )
    .expect("commit");
    repo.push("main").expect("push");
    request_reconcile(&sources, "app").await;
    let second = wait_for(
        "second revision applied",
        async || {
            let revision = kustomizations
                .get("app")
                .await
                .ok()?
                .status?
                .last_applied_revision?;
            (revision != first).then_some(revision)
        },
        &logs,
    )
    .await;
    assert_eq!(
        config_maps.get("settings").await.unwrap().data.unwrap()["color"],
        "green"
    );
    wait_for(
        "Service pruned",
        async || services.get_opt("web").await.ok()?.is_none().then_some(()),
        &logs,
    )
    .await;
    // Other objects, another snapshot in front.
    let second_history = history(kustomizations.get("app").await.unwrap());
    assert_eq!(second_history[0].metadata["revision"], second);
    assert_ne!(second_history[0].digest, first_history[0].digest);
    // In between, the substitution change built other objects too.
    let digests: Vec<&str> = second_history.iter().map(|s| s.digest.as_str()).collect();
    assert_eq!(digests.len(), 3, "{second_history:?}");
    assert_eq!(digests[2], first_history[0].digest);

    // A broken commit: Ready=False with the build error; nothing applied is deleted.
    repo.commit(&[("deploy/broken.yaml", "kind: [")], "broken")
        .expect("commit");
    repo.push("main").expect("push");
    request_reconcile(&sources, "app").await;
    let (status, reason, message) = wait_for(
        "build failure reported",
        async || {
            let k = kustomizations.get("app").await.ok()?;
            let ready = ready(&k)?;
            (ready.0 == "False").then_some(ready)
        },
        &logs,
    )
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "BuildFailed"),
        "{message}"
    );
    assert!(message.contains("broken.yaml"), "{message}");
    assert_eq!(
        kustomizations
            .get("app")
            .await
            .unwrap()
            .status
            .unwrap()
            .last_applied_revision
            .as_deref(),
        Some(second.as_str())
    );
    config_maps
        .get("settings")
        .await
        .expect("still applied after a failed build");

    // The next good commit recovers.
    repo.remove("deploy/broken.yaml").expect("remove");
    repo.commit(&[], "fixed").expect("commit");
    repo.push("main").expect("push");
    request_reconcile(&sources, "app").await;
    wait_kustomization_ready(&kustomizations, "app", "recovery", &logs).await;
    // A failed build records nothing; the fixed commit builds the second revision's objects
    // again, so that snapshot counts one more reconciliation under the new revision.
    let fixed_history = history(kustomizations.get("app").await.unwrap());
    assert_eq!(fixed_history.len(), 3, "{fixed_history:?}");
    assert_eq!(fixed_history[0].digest, second_history[0].digest);
    assert!(fixed_history[0].total_reconciliations > second_history[0].total_reconciliations);
    assert_ne!(fixed_history[0].metadata["revision"], second);

    // dependsOn: a Ready dependency lets a dependent apply; a missing one holds it back.
    for (name, depends_on, prefix) in [
        ("after", "app", "after-"),
        ("blocked", "missing", "blocked-"),
    ] {
        let dependent = kustomization(
            name,
            &namespace,
            serde_json::json!({
                "path": "./extra", "namePrefix": prefix, "dependsOn": [{ "name": depends_on }],
            }),
        );
        kustomizations
            .create(&PostParams::default(), &dependent)
            .await
            .expect("create dependent");
    }
    wait_kustomization_ready(&kustomizations, "after", "dependent applied", &logs).await;
    config_maps
        .get("after-extra")
        .await
        .expect("dependent's object applied");
    let (status, reason, message) = wait_for(
        "dependent held back",
        async || ready(&kustomizations.get("blocked").await.ok()?).filter(|r| r.0 == "False"),
        &logs,
    )
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "DependencyNotReady")
    );
    assert!(
        message.contains(&format!("dependency '{namespace}/missing' not found")),
        "{message}"
    );
    assert!(
        config_maps
            .get_opt("blocked-extra")
            .await
            .unwrap()
            .is_none()
    );

    // Impersonation: a service account without RBAC is refused by the API server; granted
    // access, the next reconcile applies.
    let account: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": "limited" } })).unwrap();
    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &account)
        .await
        .expect("service account");
    let denied = kustomization(
        "denied",
        &namespace,
        serde_json::json!({ "path": "./extra", "namePrefix": "denied-", "serviceAccountName": "limited" }),
    );
    kustomizations
        .create(&PostParams::default(), &denied)
        .await
        .expect("create denied");
    let (_, reason, message) = wait_for(
        "impersonated apply refused",
        async || ready(&kustomizations.get("denied").await.ok()?).filter(|r| r.0 == "False"),
        &logs,
    )
    .await;
    assert_eq!(reason, "ReconciliationFailed", "{message}");
    assert!(
        message.contains("forbidden")
            && message.contains(&format!("system:serviceaccount:{namespace}:limited")),
        "{message}"
    );
    assert!(config_maps.get_opt("denied-extra").await.unwrap().is_none());
    let rbac: Vec<serde_json::Value> = vec![
        serde_json::json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": { "name": "limited", "namespace": namespace },
            "rules": [{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"] }] }),
        serde_json::json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": { "name": "limited", "namespace": namespace },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "limited" },
            "subjects": [{ "kind": "ServiceAccount", "name": "limited", "namespace": namespace }] }),
    ];
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(client.clone(), &namespace);
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(rbac[0].clone()).unwrap(),
        )
        .await
        .expect("role");
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(client.clone(), &namespace);
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(rbac[1].clone()).unwrap(),
        )
        .await
        .expect("binding");
    request_reconcile(&kustomizations, "denied").await;
    wait_kustomization_ready(
        &kustomizations,
        "denied",
        "impersonated apply allowed",
        &logs,
    )
    .await;
    config_maps
        .get("denied-extra")
        .await
        .expect("applied as the service account");

    // Deleting the Kustomization prunes what it applied (prune: true, MirrorPrune).
    kustomizations
        .delete("app", &DeleteParams::default())
        .await
        .expect("delete");
    wait_for(
        "objects pruned on deletion",
        async || {
            config_maps
                .get_opt("settings")
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
        &logs,
    )
    .await;
    wait_for(
        "Kustomization gone",
        async || {
            kustomizations
                .get_opt("app")
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
        &logs,
    )
    .await;
}
