//! A repository laid out as Flux's example repositories are: a cluster directory whose
//! Kustomizations reconcile infrastructure controllers, then their configuration, then the
//! apps (`dependsOn`), across several namespaces, plus a tenant applying as its own service
//! account. Everything must end Ready and present; deleting the root removes all of it.
//! The controllers watch every namespace here, so this file has its own control plane.

mod support;

use driftless_api::kustomize::Kustomization;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind};
use support::*;

/// `(path, contents)` of the repository, with names made unique by `id`.
fn repository(root: &str, id: &str) -> Vec<(String, String)> {
    let ks = |name: &str, path: &str, extra: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {root}\nspec:\n  interval: 10m\n  prune: true\n  path: {path}\n  sourceRef:\n    kind: GitRepository\n    name: app\n{extra}"
        )
    };
    let infra = format!(
        "{}---\n{}",
        ks("infra-controllers", "./infrastructure/controllers", ""),
        ks(
            "infra-configs",
            "./infrastructure/configs",
            "  dependsOn:\n  - name: infra-controllers\n"
        ),
    );
    let apps = ks(
        "apps",
        "./apps/local",
        "  dependsOn:\n  - name: infra-configs\n",
    );
    let tenant = format!("tenant-{id}");
    let files = vec![
        ("clusters/local/infrastructure.yaml".into(), infra),
        ("clusters/local/apps.yaml".into(), apps),
        ("clusters/local/tenants.yaml".into(), ks("tenants", "./tenants/local", "")),
        // Infrastructure controllers: a namespace, a CRD the configs layer uses, RBAC.
        ("infrastructure/controllers/kustomization.yaml".into(),
         "resources:\n- namespace.yaml\n- crd.yaml\n- controller.yaml\n".into()),
        ("infrastructure/controllers/namespace.yaml".into(),
         format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: infra-{id}\n")),
        ("infrastructure/controllers/crd.yaml".into(), format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets{id}.example.com\nspec:\n  group: example.com\n  names:\n    kind: Widget{id}\n    plural: widgets{id}\n    singular: widget{id}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            x-kubernetes-preserve-unknown-fields: true\n")),
        ("infrastructure/controllers/controller.yaml".into(), format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: widget-controller\n  namespace: infra-{id}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widget-controller-{id}\nrules:\n- apiGroups: [example.com]\n  resources: [widgets{id}]\n  verbs: [get, list, watch]\n")),
        // Infrastructure configs: a custom resource of the CRD above.
        ("infrastructure/configs/widget.yaml".into(), format!(
            "apiVersion: example.com/v1\nkind: Widget{id}\nmetadata:\n  name: default\n  namespace: infra-{id}\nspec:\n  size: 3\n")),
        // Apps: a base and an overlay, as `apps/base` and `apps/<cluster>` are laid out.
        ("apps/base/podinfo/kustomization.yaml".into(),
         format!("namespace: podinfo-{id}\nresources:\n- namespace.yaml\n- deployment.yaml\n")),
        ("apps/base/podinfo/namespace.yaml".into(),
         format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo-{id}\n")),
        ("apps/base/podinfo/deployment.yaml".into(),
         "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: podinfo}\n  template:\n    metadata:\n      labels: {app: podinfo}\n    spec:\n      containers:\n      - name: podinfo\n        image: example.com/podinfo:6.0.0\n".into()),
        ("apps/local/kustomization.yaml".into(),
         "resources:\n- ../base/podinfo\nconfigMapGenerator:\n- name: podinfo-settings\n  namespace: podinfo-ID\n  literals:\n  - cluster=local\nimages:\n- name: example.com/podinfo\n  newTag: 6.1.0\n".replace("ID", id)),
        // A tenant: its namespace, service account and binding, and its own Kustomization
        // applying as that account.
        ("tenants/local/kustomization.yaml".into(), "resources:\n- ../base/dev-team\n".into()),
        ("tenants/base/dev-team/kustomization.yaml".into(), "resources:\n- rbac.yaml\n- sync.yaml\n".into()),
        ("tenants/base/dev-team/rbac.yaml".into(), format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {tenant}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: dev-team\n  namespace: {tenant}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: dev-team-reconciler\n  namespace: {tenant}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n  name: dev-team\n  namespace: {tenant}\n")),
        ("tenants/base/dev-team/sync.yaml".into(), format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: dev-team\n  namespace: {tenant}\nspec:\n  interval: 5m\n  prune: true\n  serviceAccountName: dev-team\n  targetNamespace: {tenant}\n  path: ./tenant-apps\n  sourceRef:\n    kind: GitRepository\n    name: app\n    namespace: {root}\n")),
        ("tenant-apps/app.yaml".into(),
         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: team-settings\ndata:\n  owner: dev-team\n".into()),
    ];
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flux_style_repository_reconciles_in_layers_and_deletes_cleanly() {
    let (plane, root, client) = cluster("fluxlayout").await;
    let id: String = root.rsplit('-').next().unwrap_or("x").to_owned();
    let files = repository(&root, &id);
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let (git, _repo) = app_repository(&borrowed, "flux layout");
    let controllers = Controllers::start(
        plane,
        &root,
        &["--watch-all-namespaces=true"],
        &["--requeue-dependency=1s"],
    );
    let logs = || controllers.logs();
    create_git_repository(&client, &root, git.url("app")).await;
    let kustomizations = create_root_kustomization(&client, &root).await;

    let tenant = format!("tenant-{id}");
    let every = [
        (root.clone(), "flux-system"),
        (root.clone(), "infra-controllers"),
        (root.clone(), "infra-configs"),
        (root.clone(), "apps"),
        (root.clone(), "tenants"),
        (tenant.clone(), "dev-team"),
    ];
    for (namespace, name) in &every {
        let api: Api<Kustomization> = Api::namespaced(client.clone(), namespace);
        let (status, reason, message) = wait_for(
            &format!("{namespace}/{name} Ready"),
            async || {
                let ready = ready(&api.get(name).await.ok()?)?;
                (ready.0 == "True").then_some(ready)
            },
            &logs,
        )
        .await;
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("True", "ReconciliationSucceeded"),
            "{message}"
        );
    }

    // Every object is there, in its namespace, with the overlay's changes.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for namespace in [
        format!("infra-{id}"),
        format!("podinfo-{id}"),
        tenant.clone(),
    ] {
        namespaces.get(&namespace).await.expect("namespace applied");
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.get(&format!("widgets{id}.example.com"))
        .await
        .expect("CRD applied");
    let widget = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", &format!("Widget{id}")),
        &format!("widgets{id}"),
    );
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &format!("infra-{id}"), &widget);
    let default_widget = widgets
        .get("default")
        .await
        .expect("custom resource applied");
    assert_eq!(default_widget.data["spec"]["size"], 3);
    let deployment = Api::<Deployment>::namespaced(client.clone(), &format!("podinfo-{id}"))
        .get("podinfo")
        .await
        .expect("app applied");
    let image = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("example.com/podinfo:6.1.0"));
    let generated = Api::<ConfigMap>::namespaced(client.clone(), &format!("podinfo-{id}"))
        .list(&Default::default())
        .await
        .unwrap();
    assert!(
        generated.items.iter().any(|c| c
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("podinfo-settings-"))),
        "generated ConfigMap with its hash suffix"
    );
    let team = Api::<ConfigMap>::namespaced(client.clone(), &tenant)
        .get("team-settings")
        .await
        .expect("tenant's object applied as its service account");
    assert_eq!(
        team.metadata.managed_fields.unwrap_or_default()[0]
            .manager
            .as_deref(),
        Some("kustomize-controller")
    );

    // Deleting the root prunes the layers, which prune what they applied.
    kustomizations
        .delete("flux-system", &DeleteParams::default())
        .await
        .expect("delete root");
    let gone =
        async |namespace: &str| -> bool { matches!(namespaces.get_opt(namespace).await, Ok(None)) };
    wait_for(
        "everything removed",
        async || {
            let mut done = crds
                .get_opt(&format!("widgets{id}.example.com"))
                .await
                .ok()?
                .is_none();
            for namespace in [
                format!("infra-{id}"),
                format!("podinfo-{id}"),
                tenant.clone(),
            ] {
                done &= gone(&namespace).await;
            }
            for (namespace, name) in &every[..5] {
                done &= Api::<Kustomization>::namespaced(client.clone(), namespace)
                    .get_opt(name)
                    .await
                    .ok()?
                    .is_none();
            }
            let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
            done &= roles
                .get_opt(&format!("widget-controller-{id}"))
                .await
                .ok()?
                .is_none();
            done.then_some(())
        },
        &logs,
    )
    .await;
}
