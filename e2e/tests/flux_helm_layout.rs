//! A repository laid out as Flux's flux2-kustomize-helm-example: a cluster directory whose
//! Kustomizations apply the infrastructure (a HelmRepository and a HelmRelease whose chart
//! brings a CRD), then the apps (podinfo's chart from a HelmRepository, its values patched by
//! the cluster's overlay), with `dependsOn`. The charts are served by a local chart
//! repository (no internet here): a small infrastructure chart, and podinfo from the Helm
//! corpus. Everything must end Ready, `helm list` must show both releases, and deleting the
//! root must uninstall them. The controllers watch every namespace, so this file has its own
//! control plane.

mod support;

use driftless_api::helm::HelmRelease;
use driftless_e2e::repo_root;
use driftless_testenv::charts::{ChartRepository, helm};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams};
use support::*;

/// The infrastructure chart: a CRD in `crds/` and a ConfigMap.
fn infrastructure_chart(repository: &ChartRepository, id: &str) {
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: certificates{id}.example.com\nspec:\n  group: example.com\n  names:\n    kind: Certificate{id}\n    plural: certificates{id}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n"
    );
    let files = [
        (
            "Chart.yaml",
            "apiVersion: v2\nname: cert-manager\nversion: 1.16.0\n",
        ),
        ("values.yaml", "replicaCount: 0\n"),
        ("crds/certificates.yaml", crd.as_str()),
        (
            "templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  replicas: {{ .Values.replicaCount | quote }}\n",
        ),
    ];
    let dir = repository
        .write_chart("cert-manager", &files)
        .expect("chart");
    repository.publish(&dir).expect("publish");
}

/// `(path, contents)` of the repository, with names made unique by `id`.
fn repository(root: &str, id: &str, charts: &str) -> Vec<(String, String)> {
    let ks = |name: &str, path: &str, extra: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: {root}\nspec:\n  interval: 10m\n  prune: true\n  wait: true\n  path: {path}\n  sourceRef:\n    kind: GitRepository\n    name: app\n{extra}"
        )
    };
    let helm_repository = |namespace: &str| {
        format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: charts\n  namespace: {namespace}\nspec:\n  interval: 1h\n  url: {charts}\n"
        )
    };
    let infra_ns = format!("cert-manager-{id}");
    let apps_ns = format!("podinfo-{id}");
    vec![
        (
            "clusters/local/infrastructure.yaml".into(),
            ks("infra-controllers", "./infrastructure/controllers", ""),
        ),
        (
            "clusters/local/apps.yaml".into(),
            ks(
                "apps",
                "./apps/local",
                "  dependsOn:\n  - name: infra-controllers\n",
            ),
        ),
        (
            "infrastructure/controllers/kustomization.yaml".into(),
            "resources:\n- cert-manager.yaml\n".into(),
        ),
        (
            "infrastructure/controllers/cert-manager.yaml".into(),
            format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {infra_ns}\n---\n{}---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: cert-manager\n  namespace: {infra_ns}\nspec:\n  interval: 12h\n  chart:\n    spec:\n      chart: cert-manager\n      version: \"1.x\"\n      sourceRef:\n        kind: HelmRepository\n        name: charts\n        namespace: {infra_ns}\n  install:\n    crds: Create\n  upgrade:\n    crds: CreateReplace\n",
                helm_repository(&infra_ns)
            ),
        ),
        (
            "apps/base/podinfo/kustomization.yaml".into(),
            format!("namespace: {apps_ns}\nresources:\n- namespace.yaml\n- repository.yaml\n- release.yaml\n"),
        ),
        (
            "apps/base/podinfo/namespace.yaml".into(),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {apps_ns}\n"),
        ),
        ("apps/base/podinfo/repository.yaml".into(), helm_repository(&apps_ns)),
        (
            "apps/base/podinfo/release.yaml".into(),
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\nspec:\n  releaseName: podinfo\n  interval: 50m\n  chart:\n    spec:\n      chart: podinfo\n      version: \">=6.0.0\"\n      sourceRef:\n        kind: HelmRepository\n        name: charts\n  install:\n    remediation:\n      retries: 3\n  values:\n    replicaCount: 0\n    ingress:\n      enabled: false\n".into(),
        ),
        (
            "apps/local/kustomization.yaml".into(),
            "resources:\n- ../base/podinfo\npatches:\n- path: podinfo-values.yaml\n  target:\n    kind: HelmRelease\n".into(),
        ),
        (
            "apps/local/podinfo-values.yaml".into(),
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\nspec:\n  values:\n    ui:\n      message: Hello from the local cluster\n".into(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_flux_kustomize_helm_example_layout_reconciles_and_uninstalls() {
    let (plane, root, client) = cluster("fluxhelm").await;
    let id: String = root.rsplit('-').next().unwrap_or("x").to_owned();
    let charts = ChartRepository::start(None).expect("chart repository");
    infrastructure_chart(&charts, &id);
    charts
        .publish(&repo_root().join("../shared/conformance/helm/charts/podinfo"))
        .expect("podinfo chart (the Helm corpus lives in ../shared beside the checkout)");
    let files = repository(&root, &id, &charts.url());
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let (git, _repo) = app_repository(&borrowed, "flux2-kustomize-helm-example layout");
    let controllers = Controllers::start(
        plane,
        &root,
        &["--watch-all-namespaces=true"],
        &["--requeue-dependency=1s"],
    );
    let helm_controller = spawn(
        plane,
        "helm-controller",
        support::confined_args(
            &root,
            &["--watch-all-namespaces=true", "--requeue-dependency=1s"],
        ),
    );
    let logs = || {
        format!(
            "{}\nhelm-controller:\n{}",
            controllers.logs(),
            helm_controller.log_tail(40)
        )
    };
    create_git_repository(&client, &root, git.url("app")).await;
    let kustomizations = create_root_kustomization(&client, &root).await;

    let infra_ns = format!("cert-manager-{id}");
    let apps_ns = format!("podinfo-{id}");
    for name in ["flux-system", "infra-controllers", "apps"] {
        let what = format!("Kustomization {name} Ready");
        wait_kustomization_ready(&kustomizations, name, &what, &logs).await;
    }
    for (namespace, name) in [(&infra_ns, "cert-manager"), (&apps_ns, "podinfo")] {
        let releases: Api<HelmRelease> = Api::namespaced(client.clone(), namespace);
        wait_for(
            &format!("HelmRelease {namespace}/{name} Ready"),
            async || (ready(&releases.get(name).await.ok()?)?.0 == "True").then_some(()),
            &logs,
        )
        .await;
    }

    // The chart's CRD, the app with the overlay's values, both releases as helm sees them.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.get(&format!("certificates{id}.example.com"))
        .await
        .expect("the infrastructure chart's CRD");
    let deployment = Api::<Deployment>::namespaced(client.clone(), &apps_ns)
        .get("podinfo")
        .await
        .expect("podinfo released");
    let container = &deployment.spec.unwrap().template.spec.unwrap().containers[0];
    let message = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "PODINFO_UI_MESSAGE")
        .and_then(|e| e.value.clone());
    assert_eq!(message.as_deref(), Some("Hello from the local cluster"));
    let kubeconfig = plane.kubeconfig_path().to_string_lossy().into_owned();
    let listed: serde_json::Value = serde_json::from_str(
        &helm(&[
            "list",
            "--all-namespaces",
            "--output",
            "json",
            "--kubeconfig",
            &kubeconfig,
        ])
        .expect("helm list"),
    )
    .unwrap();
    let mut releases: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["namespace"].as_str().is_some_and(|n| n.ends_with(&id)))
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    releases.sort();
    assert_eq!(
        releases,
        [
            ("cert-manager".to_owned(), "deployed".to_owned()),
            ("podinfo".to_owned(), "deployed".to_owned())
        ]
    );

    // Deleting the root prunes the layers; their HelmReleases uninstall on the way.
    kustomizations
        .delete("flux-system", &DeleteParams::default())
        .await
        .expect("delete root");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    wait_for(
        "everything removed",
        async || {
            let apps_gone = matches!(namespaces.get_opt(&apps_ns).await, Ok(None));
            let infra_gone = matches!(namespaces.get_opt(&infra_ns).await, Ok(None));
            (apps_gone && infra_gone).then_some(())
        },
        &logs,
    )
    .await;
}
