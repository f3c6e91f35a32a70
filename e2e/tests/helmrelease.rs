//! helm-controller end to end: a real control plane, a chart repository filled by the real
//! `helm package`, source-controller and helm-controller as processes, and the real `helm`
//! CLI as the witness that releases are stored as Helm stores them.

#[path = "support/mod.rs"]
mod support;

use driftless_api::helm::HelmRelease;
use driftless_api::source::HelmRepository;
use driftless_testenv::charts::{ChartRepository, helm};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use support::{condition, ready, spawn, wait_for};

const CHART_YAML: &str = "apiVersion: v2\nname: web\nversion: VERSION\nappVersion: \"1.0\"\n";
const CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  chart: {{ .Chart.Version | quote }}\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  ports:\n    - port: {{ .Values.port }}\n";

fn publish(repository: &ChartRepository, version: &str, with_service: bool) {
    let chart_yaml = CHART_YAML.replace("VERSION", version);
    let mut files = vec![
        ("Chart.yaml", chart_yaml.as_str()),
        ("values.yaml", "greeting: hi\nport: 80\n"),
        ("templates/configmap.yaml", CONFIGMAP),
    ];
    if with_service {
        files.push(("templates/service.yaml", SERVICE));
    }
    let dir = repository.write_chart("web", &files).expect("chart");
    repository.publish(&dir).expect("publish");
}

/// A namespace of the shared control plane, source-controller and helm-controller watching
/// it, and a HelmRepository `charts` serving `repository`.
struct Stack {
    plane: &'static driftless_testenv::ControlPlane,
    namespace: String,
    client: kube::Client,
    source: driftless_testenv::controller::ControllerProcess,
    helm: driftless_testenv::controller::ControllerProcess,
    _storage: tempfile::TempDir,
}

impl Stack {
    async fn start(prefix: &str, repository: &ChartRepository) -> Stack {
        let (plane, namespace, client) = support::cluster(prefix).await;
        let (source, storage) =
            support::spawn_source_controller(plane, &namespace, &["--max-retry-delay=2s"]);
        let helm = spawn(
            plane,
            "helm-controller",
            support::confined_args(
                &namespace,
                &["--max-retry-delay=2s", "--requeue-dependency=1s"],
            ),
        );
        let helm_repository: HelmRepository = serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "charts"},
            "spec": {"url": repository.url(), "interval": "1m"},
        }))
        .expect("HelmRepository");
        Api::<HelmRepository>::namespaced(client.clone(), &namespace)
            .create(&PostParams::default(), &helm_repository)
            .await
            .expect("create HelmRepository");
        Stack {
            plane,
            namespace,
            client,
            source,
            helm,
            _storage: storage,
        }
    }

    fn kubeconfig(&self) -> String {
        self.plane.kubeconfig_path().to_string_lossy().into_owned()
    }

    fn logs(&self) -> String {
        format!(
            "source-controller:\n{}\nhelm-controller:\n{}",
            self.source.log_tail(30),
            self.helm.log_tail(80)
        )
    }
}

/// `helm <args> --namespace <namespace>` against the test cluster.
fn helm_cli(kubeconfig: &str, namespace: &str, args: &[&str]) -> String {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--namespace", namespace, "--kubeconfig", kubeconfig]);
    helm(&all).unwrap_or_else(|e| panic!("helm {}: {e}", args.join(" ")))
}

fn helm_json(kubeconfig: &str, namespace: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    serde_json::from_str(&helm_cli(kubeconfig, namespace, &all)).expect("helm JSON")
}

/// Merge-patches the HelmRelease `name` with `patch`.
async fn patch_spec(releases: &Api<HelmRelease>, name: &str, patch: Value) {
    releases
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patching {name}: {e}"));
}

/// Deletes the HelmRelease `name` and waits until it is gone (its uninstall done).
async fn delete_and_wait(releases: &Api<HelmRelease>, name: &str, logs: &dyn Fn() -> String) {
    releases
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
    wait_for(
        &format!("{name} uninstalled"),
        async || releases.get_opt(name).await.ok()?.is_none().then_some(()),
        logs,
    )
    .await;
}

/// Waits until HelmRelease `name` is Ready=False for `reason`; it and its Ready message.
async fn wait_not_ready(
    releases: &Api<HelmRelease>,
    name: &str,
    reason: &str,
    logs: &dyn Fn() -> String,
) -> (HelmRelease, String) {
    wait_for(
        &format!("{name} Ready=False with {reason}"),
        async || {
            let release = releases.get(name).await.ok()?;
            let (status, why, message) = ready(&release)?;
            (status == "False" && why == reason).then_some((release, message))
        },
        logs,
    )
    .await
}

/// Waits until HelmRelease `name` is Stalled=True with `reason` (and Ready=False): the
/// release and the Stalled message.
async fn wait_stalled(
    releases: &Api<HelmRelease>,
    name: &str,
    reason: &str,
    logs: &dyn Fn() -> String,
) -> (HelmRelease, String) {
    wait_for(
        &format!("{name} Stalled with {reason}"),
        async || {
            let release = releases.get(name).await.ok()?;
            let (status, why, message) = condition(&release, "Stalled")?;
            let stalled = status == "True" && why == reason && ready(&release)?.0 == "False";
            stalled.then_some((release, message))
        },
        logs,
    )
    .await
}

fn release_object(name: &str, spec: Value) -> HelmRelease {
    serde_json::from_value(json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("HelmRelease")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_upgrade_remediate_take_over_and_uninstall_as_helm_sees_them() {
    let repository = ChartRepository::start(None).expect("chart repository");
    publish(&repository, "0.1.0", true);

    let stack = Stack::start("helmrelease", &repository).await;
    let (namespace, client) = (stack.namespace.clone(), stack.client.clone());
    let kubeconfig = stack.kubeconfig();
    let logs = || stack.logs();
    let chart_repositories: Api<HelmRepository> = Api::namespaced(client.clone(), &namespace);

    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let spec = json!({
        "interval": "10m",
        "chart": {"spec": {
            "chart": "web", "version": "0.1.x",
            "sourceRef": {"kind": "HelmRepository", "name": "charts"},
            "interval": "1m"
        }},
        "values": {"greeting": "hello"},
        "upgrade": {"remediation": {"retries": 1}},
    });
    releases
        .create(&PostParams::default(), &release_object("web", spec))
        .await
        .expect("create HelmRelease");

    // Installed: the objects, the release record, and what `helm` makes of it.
    let installed = wait_ready_at(&releases, "web", 1, &logs).await;
    let (_, reason, message) = ready(&installed).unwrap();
    assert_eq!(reason, "InstallSucceeded");
    assert_eq!(
        message,
        format!("Helm install succeeded for release {namespace}/web.v1 with chart web@0.1.0")
    );
    let status = installed.status.as_ref().unwrap();
    assert_eq!(status.history[0].chart_version, "0.1.0");
    assert_eq!(status.history[0].status, "deployed");
    assert_eq!(
        status.storage_namespace.as_deref(),
        Some(namespace.as_str())
    );
    assert_eq!(
        status.helm_chart.as_deref(),
        Some(format!("{namespace}/{namespace}-web").as_str())
    );
    let config = config_maps.get("web-config").await.expect("ConfigMap");
    assert_eq!(config.data.as_ref().unwrap()["greeting"], "hello");
    let labels = config.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "Helm");
    assert_eq!(labels["helm.toolkit.fluxcd.io/name"], "web");
    let record = secrets
        .get("sh.helm.release.v1.web.v1")
        .await
        .expect("release record");
    assert_eq!(record.type_.as_deref(), Some("helm.sh/release.v1"));
    let listed = helm_json(&kubeconfig, &namespace, &["list"]);
    assert_eq!(listed[0]["name"], "web");
    assert_eq!(listed[0]["status"], "deployed");
    assert_eq!(listed[0]["chart"], "web-0.1.0");
    assert_eq!(listed[0]["revision"], "1");
    assert_eq!(
        helm_json(&kubeconfig, &namespace, &["get", "values", "web"]),
        json!({"greeting": "hello"})
    );
    let manifest = helm_cli(&kubeconfig, &namespace, &["get", "manifest", "web"]);
    assert!(
        manifest.contains("# Source: web/templates/configmap.yaml"),
        "{manifest}"
    );

    // A values change upgrades.
    patch_spec(
        &releases,
        "web",
        json!({"spec": {"values": {"greeting": "world"}}}),
    )
    .await;
    let upgraded = wait_ready_at(&releases, "web", 2, &logs).await;
    assert_eq!(ready(&upgraded).unwrap().1, "UpgradeSucceeded");
    let config = config_maps.get("web-config").await.unwrap();
    assert_eq!(config.data.as_ref().unwrap()["greeting"], "world");
    let history = helm_json(&kubeconfig, &namespace, &["history", "web"]);
    let statuses: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["superseded", "deployed"]);
    assert_eq!(history[1]["description"], "Upgrade complete");

    // A new chart version upgrades, and what it dropped is deleted.
    publish(&repository, "0.1.1", false);
    support::request_reconcile(&chart_repositories, "charts").await;
    let upgraded = wait_ready_at(&releases, "web", 3, &logs).await;
    assert_eq!(
        upgraded.status.as_ref().unwrap().history[0].chart_version,
        "0.1.1"
    );
    let config = config_maps.get("web-config").await.unwrap();
    assert_eq!(config.data.as_ref().unwrap()["chart"], "0.1.1");
    wait_for(
        "the dropped Service deleted",
        async || services.get_opt("web").await.ok()?.is_none().then_some(()),
        &logs,
    )
    .await;

    // The Service is back in 0.1.2.
    publish(&repository, "0.1.2", true);
    support::request_reconcile(&chart_repositories, "charts").await;
    wait_ready_at(&releases, "web", 4, &logs).await;
    assert!(services.get_opt("web").await.unwrap().is_some());

    // An upgrade the API server rejects fails, is rolled back, is tried once more (one
    // retry), is rolled back again and then stalls; the last good release stays as it was.
    patch_spec(
        &releases,
        "web",
        json!({"spec": {"values": {"greeting": "broken", "port": 999999}}}),
    )
    .await;
    let stalled = wait_stalled(&releases, "web", "RetriesExceeded", &logs).await;
    assert_eq!(stalled.1, "Failed to upgrade after 2 attempt(s)");
    // As Flux leaves it: Stalled says why nothing more is tried, Ready keeps what happened.
    let ready_now = ready(&stalled.0).unwrap();
    assert_eq!(
        (ready_now.0.as_str(), ready_now.1.as_str()),
        ("False", "RollbackSucceeded"),
        "{ready_now:?}"
    );
    let status = stalled.0.status.as_ref().unwrap();
    assert_eq!(status.upgrade_failures, 2);
    let remediated = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Remediated")
        .unwrap();
    assert_eq!(
        (remediated.status.as_str(), remediated.reason.as_str()),
        ("True", "RollbackSucceeded")
    );
    let history = helm_json(&kubeconfig, &namespace, &["history", "web", "--max", "20"]);
    let config = config_maps.get("web-config").await.unwrap();
    assert_eq!(
        config.data.as_ref().unwrap()["greeting"],
        "world",
        "{history}\n{}",
        logs()
    );
    let described: Vec<String> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{} {}",
                h["status"].as_str().unwrap(),
                h["description"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        described
            .iter()
            .any(|d| d.starts_with("failed Upgrade \"web\" failed")),
        "{described:?}"
    );
    assert!(
        described
            .last()
            .unwrap()
            .starts_with("deployed Rollback to"),
        "{described:?}"
    );

    // Good values recover: a new spec starts the counters again.
    patch_spec(
        &releases,
        "web",
        json!({"spec": {"values": {"greeting": "again", "port": 81}}}),
    )
    .await;
    let recovered = wait_for(
        "web recovered with good values",
        async || {
            let release = releases.get("web").await.ok()?;
            (ready(&release)?.0 == "True").then_some(release)
        },
        &logs,
    )
    .await;
    let latest = recovered.status.as_ref().unwrap().history[0].version;
    assert_eq!(
        config_maps.get("web-config").await.unwrap().data.unwrap()["greeting"],
        "again"
    );

    // A release made by the real `helm install` is taken over by an upgrade, not reinstalled.
    let chart = format!("{}/web-0.1.0.tgz", repository.dir().display());
    helm_cli(
        &kubeconfig,
        &namespace,
        &["install", "other", &chart, "--set", "greeting=by-helm"],
    );
    let spec = json!({
        "interval": "10m",
        "chart": {"spec": {"chart": "web", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        "values": {"greeting": "by-driftless"},
    });
    releases
        .create(&PostParams::default(), &release_object("other", spec))
        .await
        .unwrap();
    wait_ready_at(&releases, "other", 2, &logs).await;
    let history = helm_json(&kubeconfig, &namespace, &["history", "other"]);
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
    assert_eq!(
        config_maps.get("other-config").await.unwrap().data.unwrap()["greeting"],
        "by-driftless"
    );
    let listed = helm_json(&kubeconfig, &namespace, &["list"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other", "web"]);

    // Deleting the HelmRelease uninstalls the release: objects and records go.
    delete_and_wait(&releases, "web", &logs).await;
    assert!(config_maps.get_opt("web-config").await.unwrap().is_none());
    let records = secrets
        .list(&ListParams::default().labels("owner=helm,name=web"))
        .await
        .unwrap();
    assert!(
        records.items.is_empty(),
        "records left: {}",
        records.items.len()
    );
    let listed = helm_json(&kubeconfig, &namespace, &["list", "--all"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(latest >= 6, "revision {latest}");
}

const PRE_HOOK: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-pre\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-weight: \"-1\"\ndata:\n  revision: {{ .Release.Revision | quote }}\n";
const POST_HOOK: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-post\n  annotations:\n    helm.sh/hook: post-install\n    helm.sh/hook-delete-policy: hook-succeeded\nspec:\n  restartPolicy: Never\n  containers:\n    - name: post\n      image: busybox\n";
const TEST_HOOK: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations:\n    helm.sh/hook: test\nspec:\n  restartPolicy: Never\n  containers:\n    - name: test\n      image: busybox\n";

/// There is no node: a hook's Pod is finished by writing its status, as a kubelet would.
async fn finish_pod(pods: &Api<Pod>, name: &str, phase: &str, logs: &dyn Fn() -> String) {
    wait_for(
        &format!("pod {name}"),
        async || pods.get_opt(name).await.ok()?,
        logs,
    )
    .await;
    let patch = json!({"status": {"phase": phase}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("pod status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_in_order_and_tests_gate_readiness() {
    let repository = ChartRepository::start(None).expect("chart repository");
    let chart_yaml = CHART_YAML.replace("VERSION", "1.0.0");
    let files = [
        ("Chart.yaml", chart_yaml.as_str()),
        ("values.yaml", "greeting: hi\nport: 80\n"),
        ("templates/configmap.yaml", CONFIGMAP),
        ("templates/pre.yaml", PRE_HOOK),
        ("templates/post.yaml", POST_HOOK),
        ("templates/tests/test.yaml", TEST_HOOK),
    ];
    let dir = repository.write_chart("web", &files).expect("chart");
    repository.publish(&dir).expect("publish");
    let stack = Stack::start("helmhooks", &repository).await;
    let (namespace, client) = (stack.namespace.clone(), stack.client.clone());
    let kubeconfig = stack.kubeconfig();
    let logs = || stack.logs();
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let spec = json!({
        "interval": "10m",
        "timeout": "2m",
        "chart": {"spec": {"chart": "web", "version": "1.0.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        "test": {"enable": true},
    });
    releases
        .create(&PostParams::default(), &release_object("web", spec))
        .await
        .unwrap();

    // pre-install ran before the release's objects; post-install waits for its Pod, which is
    // deleted once it succeeded; then the test Pod gates readiness.
    finish_pod(&pods, "web-post", "Succeeded", &logs).await;
    let pre = config_maps.get("web-pre").await.expect("pre-install hook");
    assert_eq!(pre.data.unwrap()["revision"], "1");
    assert!(config_maps.get_opt("web-config").await.unwrap().is_some());
    wait_for(
        "post-install hook deleted",
        async || pods.get_opt("web-post").await.ok()?.is_none().then_some(()),
        &logs,
    )
    .await;
    finish_pod(&pods, "web-test", "Succeeded", &logs).await;
    let ready_release = wait_for(
        "web tested",
        async || {
            let release = releases.get("web").await.ok()?;
            (ready(&release)?.0 == "True").then_some(release)
        },
        &logs,
    )
    .await;
    let (_, reason, message) = ready(&ready_release).unwrap();
    assert_eq!(reason, "TestSucceeded");
    assert_eq!(
        message,
        format!(
            "Helm test succeeded for release {namespace}/web.v1 with chart web@1.0.0: 1 test hook(s) completed successfully"
        )
    );
    let tests = ready_release.status.as_ref().unwrap().history[0]
        .test_hooks
        .clone()
        .unwrap();
    assert_eq!(tests["web-test"].phase.as_deref(), Some("Succeeded"));
    let hooks = helm_cli(&kubeconfig, &namespace, &["get", "hooks", "web"]);
    assert!(
        hooks.contains("name: web-pre") && hooks.contains("name: web-test"),
        "{hooks}"
    );
    let status = helm_json(&kubeconfig, &namespace, &["status", "web"]);
    assert_eq!(status["info"]["status"], "deployed");

    // A failing test fails the upgrade; with no retries it stays failed and stalls.
    patch_spec(
        &releases,
        "web",
        json!({"spec": {"values": {"greeting": "again"}}}),
    )
    .await;
    wait_for(
        "the pre-upgrade hook re-created",
        async || (config_maps.get("web-pre").await.ok()?.data?["revision"] == "2").then_some(()),
        &logs,
    )
    .await;
    wait_for(
        "the old test pod replaced",
        async || {
            let pod = pods.get_opt("web-test").await.ok()??;
            (pod.status?.phase.as_deref() != Some("Succeeded")).then_some(())
        },
        &logs,
    )
    .await;
    finish_pod(&pods, "web-test", "Failed", &logs).await;
    let failed = wait_for(
        "web failed its test",
        async || {
            let release = releases.get("web").await.ok()?;
            let status = release.status.as_ref()?;
            let test = status
                .conditions
                .iter()
                .find(|c| c.type_ == "TestSuccess")?;
            (test.status == "False").then_some(release)
        },
        &logs,
    )
    .await;
    let test = failed
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "TestSuccess")
        .unwrap()
        .clone();
    assert_eq!(test.reason, "TestFailed");
    assert!(
        test.message.contains("failed test: Pod/") || test.message.contains("pod failed"),
        "{}",
        test.message
    );
    let (stalled, _) = wait_stalled(&releases, "web", "RetriesExceeded", &logs).await;
    assert_eq!(ready(&stalled).unwrap().0, "False");
    assert_eq!(
        config_maps.get("web-config").await.unwrap().data.unwrap()["greeting"],
        "again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_and_post_renderers_apply() {
    let repository = ChartRepository::start(None).expect("chart repository");
    publish(&repository, "0.1.0", true);
    let stack = Stack::start("helmdrift", &repository).await;
    let (namespace, client) = (stack.namespace.clone(), stack.client.clone());
    let logs = || stack.logs();
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let spec = json!({
        "interval": "10m",
        "chart": {"spec": {"chart": "web", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        "values": {"greeting": "hello"},
        "driftDetection": {"mode": "enabled", "ignore": [{"paths": ["/data/ignored"], "target": {"kind": "ConfigMap"}}]},
        "postRenderers": [{"kustomize": {"patches": [{
            "target": {"kind": "ConfigMap"},
            "patch": "- op: add\n  path: /metadata/annotations\n  value: {patched: \"yes\"}\n"
        }]}}],
    });
    releases
        .create(&PostParams::default(), &release_object("web", spec))
        .await
        .unwrap();
    wait_for(
        "web installed",
        async || (ready(&releases.get("web").await.ok()?)?.0 == "True").then_some(()),
        &logs,
    )
    .await;
    let config = config_maps.get("web-config").await.unwrap();
    assert_eq!(config.metadata.annotations.unwrap()["patched"], "yes");

    // dependsOn: a readyExpr over the dependency, and one that does not compile.
    let dependent = |name: &str, expr: &str| {
        release_object(
            name,
            json!({
                "interval": "10m", "releaseName": name,
                "chart": {"spec": {"chart": "web", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
                "dependsOn": [{"name": "web", "readyExpr": expr}],
            }),
        )
    };
    let ready_expr = "dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True') && self.metadata.name == 'api'";
    releases
        .create(&PostParams::default(), &dependent("api", ready_expr))
        .await
        .unwrap();
    releases
        .create(&PostParams::default(), &dependent("bad", "dep.status.("))
        .await
        .unwrap();
    wait_for(
        "api released after its dependency",
        async || (ready(&releases.get("api").await.ok()?)?.0 == "True").then_some(()),
        &logs,
    )
    .await;
    let (_, stalled) = wait_not_ready(&releases, "bad", "InvalidCELExpression", &logs).await;
    assert!(
        stalled.contains("failed to parse the CEL expression"),
        "{stalled}"
    );

    // Someone edits the ConfigMap with kubectl and deletes the Service.
    let edit = json!({"data": {"greeting": "edited", "ignored": "kept"}});
    config_maps
        .patch(
            "web-config",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Merge(&edit),
        )
        .await
        .unwrap();
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    support::request_reconcile(&releases, "web").await;
    wait_for(
        "drift corrected",
        async || {
            let data = config_maps.get("web-config").await.ok()?.data?;
            (data["greeting"] == "hello" && services.get_opt("web").await.ok()?.is_some())
                .then_some(data)
        },
        &logs,
    )
    .await;
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(client.clone(), &namespace);
    let corrected = wait_for(
        "DriftCorrected event",
        async || {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("DriftCorrected"))
        },
        &logs,
    )
    .await;
    let message = corrected.message.unwrap_or_default();
    assert!(
        message.contains(&format!("Service/{namespace}/web removed")),
        "{message}"
    );
    assert!(
        message.contains(&format!("ConfigMap/{namespace}/web-config changed")),
        "{message}"
    );
    // No new revision: drift is corrected in place.
    let release = releases.get("web").await.unwrap();
    assert_eq!(release.status.unwrap().history[0].version, 1);

    // A new release name is another release: the old one is uninstalled first.
    patch_spec(
        &releases,
        "web",
        json!({"spec": {"releaseName": "renamed"}}),
    )
    .await;
    wait_for(
        "renamed released, web uninstalled",
        async || {
            let renamed = config_maps.get_opt("renamed-config").await.ok()??;
            let old = config_maps.get_opt("web-config").await.ok()?;
            old.is_none().then_some(renamed)
        },
        &logs,
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let old_records = secrets
        .list(&ListParams::default().labels("owner=helm,name=web"))
        .await
        .unwrap();
    assert!(old_records.items.is_empty());

    // install.createNamespace: the target namespace is made for the release.
    let target = format!("{namespace}-apps");
    let spec = json!({
        "interval": "10m", "targetNamespace": target,
        "install": {"createNamespace": true},
        "chart": {"spec": {"chart": "web", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
    });
    releases
        .create(&PostParams::default(), &release_object("elsewhere", spec))
        .await
        .unwrap();
    wait_for(
        "elsewhere released into a new namespace",
        async || (ready(&releases.get("elsewhere").await.ok()?)?.0 == "True").then_some(()),
        &logs,
    )
    .await;
    let released = Api::<ConfigMap>::namespaced(client.clone(), &target);
    assert!(
        released
            .get_opt(&format!("{target}-elsewhere-config"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_act_as_their_service_account() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let repository = ChartRepository::start(None).expect("chart repository");
    publish(&repository, "0.1.0", false);
    let stack = Stack::start("helmsa", &repository).await;
    let (namespace, client) = (stack.namespace.clone(), stack.client.clone());
    let logs = || stack.logs();
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "tenant"}})).unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &namespace);
    let spec = json!({
        "interval": "10m",
        "serviceAccountName": "tenant",
        "chart": {"spec": {"chart": "web", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
    });
    releases
        .create(&PostParams::default(), &release_object("web", spec))
        .await
        .unwrap();
    // The tenant may do nothing yet: reading its release records is refused.
    let refused = wait_for(
        "web refused",
        async || {
            let (status, _, message) = ready(&releases.get("web").await.ok()?)?;
            (status == "False" && message.contains("forbidden")).then_some(message)
        },
        &logs,
    )
    .await;
    assert!(
        refused.contains(&format!("system:serviceaccount:{namespace}:tenant")),
        "{refused}"
    );
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), &namespace)
            .get_opt("web-config")
            .await
            .unwrap()
            .is_none()
    );

    // Allowed Secrets (release records) and ConfigMaps in its namespace, it releases.
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "tenant"},
        "rules": [{"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["*"]}],
    }))
    .unwrap();
    Api::<Role>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "tenant"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    wait_for(
        "web released as the tenant",
        async || (ready(&releases.get("web").await.ok()?)?.0 == "True").then_some(()),
        &logs,
    )
    .await;
    let config = Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .get("web-config")
        .await
        .unwrap();
    let managers: Vec<String> = config
        .metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains(&"helm-controller".to_owned()),
        "{managers:?}"
    );
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}{{ .Values.suffix }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels:\n      app: {{ .Release.Name }}{{ .Values.suffix }}\n  template:\n    metadata:\n      labels:\n        app: {{ .Release.Name }}{{ .Values.suffix }}\n    spec:\n      containers:\n        - name: web\n          image: registry.invalid/web:1\n";
const COLORED: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  color: {{ .Values.color | default \"none\" | quote }}\n";
const EXTRA: &str = "{{- if .Values.extra }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata: {}\n---\n{{- include \"extra-deployment\" . }}\n{{- end }}\n";
const HELPERS: &str = "{{- define \"extra-deployment\" }}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-extra\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {{ .Release.Name }}-extra\n  template:\n    metadata:\n      labels:\n        app: {{ .Release.Name }}-extra\n    spec:\n      containers:\n        - name: extra\n          image: registry.invalid/extra:1\n{{- end }}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preserved_values_cleanup_on_fail_and_uninstall_waits_for_deletion() {
    let repository = ChartRepository::start(None).expect("chart repository");
    let chart_yaml = CHART_YAML.replace("VERSION", "0.1.0");
    let dir = repository
        .write_chart(
            "web",
            &[
                ("Chart.yaml", chart_yaml.as_str()),
                (
                    "values.yaml",
                    "greeting: hi\nextra: false\nreplicas: 0\nsuffix: \"\"\n",
                ),
                ("templates/configmap.yaml", COLORED),
                ("templates/deployment.yaml", DEPLOYMENT),
                ("templates/extra.yaml", EXTRA),
                ("templates/_helpers.tpl", HELPERS),
            ],
        )
        .expect("chart");
    repository.publish(&dir).expect("publish");
    let stack = Stack::start("hr-preserve", &repository).await;
    let (client, namespace) = (stack.client.clone(), stack.namespace.clone());
    let kubeconfig = stack.kubeconfig();
    let logs = || stack.logs();
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), &namespace);
    let spec = json!({
        "interval": "10m",
        "timeout": "4s",
        "chart": {"spec": {"chart": "web", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        "values": {"greeting": "hello", "color": "blue"},
        "upgrade": {"preserveValues": true, "cleanupOnFail": true},
        "uninstall": {"deletionPropagation": "foreground"},
    });
    releases
        .create(&PostParams::default(), &release_object("web", spec))
        .await
        .unwrap();
    let version = |wanted: i64| {
        let releases = releases.clone();
        async move {
            let release = releases.get("web").await.ok()?;
            let latest = release.status.as_ref()?.history.first()?.clone();
            (latest.version == wanted && latest.status != "pending-upgrade").then_some(release)
        }
    };
    // Revision 1 may still be waiting for its objects when the values change below: the
    // change must upgrade all the same once the install completes.
    wait_for("web installed", async || version(1).await, &logs).await;

    // `preserveValues`: a key dropped from the spec keeps the current release's value.
    patch_spec(
        &releases,
        "web",
        json!({"spec": {"values": {"greeting": "world", "color": null}}}),
    )
    .await;
    wait_for("web upgraded", async || version(2).await, &logs).await;
    let data = config_maps.get("web-config").await.unwrap().data.unwrap();
    assert_eq!(
        (data["greeting"].as_str(), data["color"].as_str()),
        ("world", "blue")
    );
    let values = helm_json(&kubeconfig, &namespace, &["get", "values", "web"]);
    assert_eq!(values, json!({"greeting": "world", "color": "blue"}));

    // `cleanupOnFail`: an upgrade whose new Deployment never becomes ready (there is no node)
    // fails, and what it created goes; what the release had stays.
    patch_spec(
        &releases,
        "web",
        json!({"spec": {"values": {"extra": true}}}),
    )
    .await;
    let (_, failed) = wait_not_ready(&releases, "web", "UpgradeFailed", &logs).await;
    assert!(failed.contains("timed out waiting"), "{failed}");
    assert!(config_maps.get_opt("web-extra").await.unwrap().is_none());
    assert!(deployments.get_opt("web-extra").await.unwrap().is_none());
    assert!(config_maps.get_opt("web-config").await.unwrap().is_some());
    let history = helm_json(&kubeconfig, &namespace, &["history", "web"]);
    assert_eq!(history[2]["status"], "failed", "{history}");

    // Uninstall with foreground propagation waits until the objects are gone: the
    // Deployment (held by its ReplicaSet until the garbage collector is done) is gone once
    // the HelmRelease is.
    delete_and_wait(&releases, "web", &logs).await;
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    assert!(config_maps.get_opt("web-config").await.unwrap().is_none());
}

/// Waits until HelmRelease `name` is Ready=True.
async fn wait_ready(releases: &Api<HelmRelease>, name: &str, logs: &dyn Fn() -> String) {
    wait_for(
        &format!("{name} Ready"),
        async || ready(&releases.get(name).await.ok()?).filter(|r| r.0 == "True"),
        logs,
    )
    .await;
}

/// Waits until HelmRelease `name` is Ready with revision `version` its latest: the release.
async fn wait_ready_at(
    releases: &Api<HelmRelease>,
    name: &str,
    version: i64,
    logs: &dyn Fn() -> String,
) -> HelmRelease {
    wait_for(
        &format!("{name} Ready at revision {version}"),
        async || {
            let release = releases.get(name).await.ok()?;
            let latest = release.status.as_ref()?.history.first()?.version;
            (ready(&release)?.0 == "True" && latest == version).then_some(release)
        },
        logs,
    )
    .await
}

/// Waits until HelmRelease `name` reports Released=False; the condition's reason and message.
async fn wait_release_failed(
    releases: &Api<HelmRelease>,
    name: &str,
    logs: &dyn Fn() -> String,
) -> (String, String) {
    wait_for(
        &format!("{name} Released=False"),
        async || {
            let release = releases.get(name).await.ok()?;
            let (status, reason, message) = condition(&release, "Released")?;
            (status == "False").then_some((reason, message))
        },
        logs,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_and_name_reuse_are_checked_as_helm_checks_them() {
    let repository = ChartRepository::start(None).expect("chart repository");
    publish(&repository, "0.1.0", false);
    let stack = Stack::start("hr-owner", &repository).await;
    let (client, namespace) = (stack.client.clone(), stack.namespace.clone());
    let kubeconfig = stack.kubeconfig();
    let logs = || stack.logs();
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);

    // A ConfigMap of the release's name made by hand, which the real helm refuses to adopt.
    let by_hand: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "own-config"}, "data": {"greeting": "by hand"},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &by_hand)
        .await
        .unwrap();
    let url = repository.url();
    let helm_install = |extra: &[&str]| {
        let mut args = vec!["install", "own", "web", "--repo", url.as_str()];
        args.extend(extra);
        args.extend([
            "--namespace",
            namespace.as_str(),
            "--kubeconfig",
            &kubeconfig,
        ]);
        helm(&args).expect_err("helm install must fail").to_string()
    };
    let helm_refusal = helm_install(&[]);
    let helm_reason = helm_refusal
        .split("Unable to continue with install: ")
        .nth(1)
        .unwrap_or_else(|| panic!("helm's refusal: {helm_refusal}"))
        .trim()
        .to_owned();

    // `install.disableTakeOwnership`: refused as helm refuses, nothing recorded or changed.
    let spec = json!({
        "interval": "10m",
        "chart": {"spec": {"chart": "web", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        "values": {"greeting": "from the release"},
        "install": {"disableTakeOwnership": true},
        "uninstall": {"keepHistory": true},
    });
    releases
        .create(&PostParams::default(), &release_object("own", spec))
        .await
        .unwrap();
    let (reason, message) = wait_release_failed(&releases, "own", &logs).await;
    assert_eq!(reason, "InstallFailed");
    assert!(
        message.ends_with(&format!("Unable to continue with install: {helm_reason}")),
        "ours: {message}\nhelm's: {helm_reason}"
    );
    let history = helm_json(&kubeconfig, &namespace, &["list", "--all"]);
    assert_eq!(history, json!([]));
    let data = config_maps.get("own-config").await.unwrap().data.unwrap();
    assert_eq!(data["greeting"], "by hand");

    // Taking ownership (Flux's default) adopts it.
    patch_spec(
        &releases,
        "own",
        json!({"spec": {"install": {"disableTakeOwnership": false}}}),
    )
    .await;
    wait_ready(&releases, "own", &logs).await;
    let adopted = config_maps.get("own-config").await.unwrap();
    assert_eq!(adopted.data.unwrap()["greeting"], "from the release");
    assert_eq!(
        adopted.metadata.labels.unwrap()["app.kubernetes.io/managed-by"],
        "Helm"
    );

    // Uninstalled with `keepHistory`: the name stays in use, for helm and for a new
    // HelmRelease alike, until `install.replace`.
    delete_and_wait(&releases, "own", &logs).await;
    let history = helm_json(&kubeconfig, &namespace, &["history", "own"]);
    assert_eq!(history[0]["status"], "uninstalled", "{history}");
    let helm_refusal = helm_install(&[]);
    assert!(
        helm_refusal.contains("cannot re-use a name that is still in use"),
        "{helm_refusal}"
    );
    let spec = json!({
        "interval": "10m",
        "chart": {"spec": {"chart": "web", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
    });
    releases
        .create(&PostParams::default(), &release_object("own", spec))
        .await
        .unwrap();
    let (reason, message) = wait_release_failed(&releases, "own", &logs).await;
    assert_eq!(reason, "InstallFailed");
    assert!(
        message.ends_with(": cannot re-use a name that is still in use"),
        "{message}"
    );
    patch_spec(
        &releases,
        "own",
        json!({"spec": {"install": {"replace": true}}}),
    )
    .await;
    wait_ready(&releases, "own", &logs).await;
    let history = helm_json(&kubeconfig, &namespace, &["history", "own"]);
    let states: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["revision"].as_i64().unwrap(), r["status"].clone()))
        .collect();
    assert_eq!(
        states,
        vec![(1, json!("superseded")), (2, json!("deployed"))],
        "{history}"
    );
    delete_and_wait(&releases, "own", &logs).await;
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.legacy.driftless.test
spec:
  group: legacy.driftless.test
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";
/// Without a status subresource the manifest's status is stored: a Widget that kstatus
/// reads as not ready for as long as it exists. Rendered only when `.Capabilities` lists its
/// kind, which the chart's own CRD must make true on a first install.
const WIDGET: &str = "{{- if .Capabilities.APIVersions.Has \"legacy.driftless.test/v1/Widget\" }}
apiVersion: legacy.driftless.test/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}
status:
  conditions:
    - {type: Ready, status: \"False\", reason: Pending, message: never reconciled}
{{- end }}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_crds_come_first_and_legacy_waits_skip_kinds_helm_3_did_not_know() {
    let repository = ChartRepository::start(None).expect("chart repository");
    let chart_yaml = CHART_YAML.replace("VERSION", "0.1.0");
    let dir = repository
        .write_chart(
            "web",
            &[
                ("Chart.yaml", chart_yaml.as_str()),
                (
                    "values.yaml",
                    "greeting: hi\nreplicas: 0\nsuffix: \"\"\nport: 80\n",
                ),
                ("crds/widget.yaml", WIDGET_CRD),
                ("templates/configmap.yaml", CONFIGMAP),
                ("templates/widget.yaml", WIDGET),
                // Waited for by Helm 3's rules: the ReplicaSet of the Deployment's revision,
                // the Service's cluster IP.
                ("templates/deployment.yaml", DEPLOYMENT),
                ("templates/service.yaml", SERVICE),
            ],
        )
        .expect("chart");
    repository.publish(&dir).expect("publish");
    let stack = Stack::start("hr-legacy", &repository).await;
    let logs = || stack.logs();
    let releases: Api<HelmRelease> = Api::namespaced(stack.client.clone(), &stack.namespace);
    let spec = |strategy: &str| {
        json!({
            "interval": "10m",
            "timeout": "3s",
            "chart": {"spec": {"chart": "web", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
            "waitStrategy": {"name": strategy},
        })
    };
    for (name, strategy) in [("helm3", "legacy"), ("kstatus", "poller")] {
        releases
            .create(
                &PostParams::default(),
                &release_object(name, spec(strategy)),
            )
            .await
            .unwrap();
    }
    // Helm 3 never waited for custom resources: installed and Ready. The chart's CRD was
    // applied and established before the chart was rendered (its Widget is there).
    wait_ready(&releases, "helm3", &logs).await;
    let widgets = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("legacy.driftless.test", "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<kube::api::DynamicObject> =
        Api::namespaced_with(stack.client.clone(), &stack.namespace, &widgets);
    assert!(widgets.get_opt("helm3").await.unwrap().is_some());
    // kstatus waits for the Widget's Ready condition until the timeout.
    let (reason, message) = wait_release_failed(&releases, "kstatus", &logs).await;
    assert_eq!(reason, "InstallFailed");
    assert!(
        message.contains("timed out waiting for the condition") && message.contains("Widget"),
        "{message}"
    );
    for name in ["helm3", "kstatus"] {
        delete_and_wait(&releases, name, &logs).await;
    }
}

const LABELLED_CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n  labels:\n    {{- toYaml .Values.labels | nindent 4 }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  {{- if .Values.extra }}\n  extra: \"yes\"\n  {{- end }}\n";

/// The apply method the release record of `name`'s revision `version` names (Helm 4's
/// `apply_method`; none for Helm 3).
async fn recorded_apply_method(secrets: &Api<Secret>, name: &str, version: i64) -> Option<String> {
    let record = secrets
        .get(&format!("sh.helm.release.v1.{name}.v{version}"))
        .await
        .unwrap_or_else(|e| panic!("record {name} v{version}: {e}"));
    let data = &record.data.expect("record data")["release"].0;
    let release = driftless_helm::release::decode(data).expect("decodable record");
    release
        .extra
        .get("apply_method")
        .and_then(|m| m.as_str())
        .map(str::to_owned)
}

/// How each manager last wrote the ConfigMap `name`: (manager, operation) pairs.
async fn writers(config_maps: &Api<ConfigMap>, name: &str) -> Vec<(String, String)> {
    let object = config_maps.get(name).await.expect("ConfigMap");
    let mut writers: Vec<(String, String)> = object
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            (
                f.manager.unwrap_or_default(),
                f.operation.unwrap_or_default(),
            )
        })
        .collect();
    writers.sort();
    writers
}

/// What someone else writes into the ConfigMap between two upgrades: a data key and a label
/// of their own, and a new value for a key the chart sets.
async fn edit_by_hand(config_maps: &Api<ConfigMap>, name: &str) {
    let edit = json!({
        "metadata": {"labels": {"theirs": "label"}},
        "data": {"theirs": "kept", "greeting": "edited by hand"},
    });
    config_maps
        .patch(
            name,
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&edit),
        )
        .await
        .unwrap_or_else(|e| panic!("editing {name}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_apply_upgrades_as_helm_3_does() {
    let repository = ChartRepository::start(None).expect("chart repository");
    let dir = repository
        .write_chart(
            "labelled",
            &[
                (
                    "Chart.yaml",
                    "apiVersion: v2\nname: labelled\nversion: 0.1.0\n",
                ),
                (
                    "values.yaml",
                    "greeting: hi\nextra: true\nlabels:\n  chart: labelled\n  tier: web\n",
                ),
                ("templates/configmap.yaml", LABELLED_CONFIGMAP),
            ],
        )
        .expect("chart");
    repository.publish(&dir).expect("publish");
    let chart = format!("{}/labelled-0.1.0.tgz", repository.dir().display());
    let stack = Stack::start("hr-csa", &repository).await;
    let (client, namespace) = (stack.client.clone(), stack.namespace.clone());
    let kubeconfig = stack.kubeconfig();
    let logs = || stack.logs();
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);

    // The witness: the real helm (v3, client-side apply) installs, someone edits, helm
    // upgrades with the label `tier` and the `extra` key dropped.
    helm_cli(&kubeconfig, &namespace, &["install", "witness", &chart]);
    edit_by_hand(&config_maps, "witness-config").await;
    helm_cli(
        &kubeconfig,
        &namespace,
        &[
            "upgrade",
            "witness",
            &chart,
            "--set",
            "greeting=two",
            "--set",
            "extra=false",
            "--set",
            "labels.tier=null",
        ],
    );

    // The same with a HelmRelease installing client-side.
    let spec = json!({
        "interval": "10m",
        "chart": {"spec": {"chart": "labelled", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        "install": {"serverSideApply": false},
    });
    releases
        .create(&PostParams::default(), &release_object("csa", spec))
        .await
        .unwrap();
    wait_ready(&releases, "csa", &logs).await;
    assert_eq!(
        recorded_apply_method(&secrets, "csa", 1).await.as_deref(),
        Some("csa")
    );
    assert_eq!(
        writers(&config_maps, "csa-config").await,
        [("helm-controller".to_owned(), "Update".to_owned())]
    );
    edit_by_hand(&config_maps, "csa-config").await;
    // `upgrade.serverSideApply` left to `auto`: the release's own method, client-side. (A
    // replace: a merge patch cannot carry the `null` that drops the label.)
    let mut release = releases.get("csa").await.unwrap();
    release.spec.values = serde_json::from_value(
        json!({"greeting": "two", "extra": false, "labels": {"tier": null}}),
    )
    .unwrap();
    releases
        .replace("csa", &PostParams::default(), &release)
        .await
        .unwrap();
    wait_ready_at(&releases, "csa", 2, &logs).await;
    assert_eq!(
        recorded_apply_method(&secrets, "csa", 2).await.as_deref(),
        Some("csa")
    );
    let ours = config_maps.get("csa-config").await.unwrap();
    let witness = config_maps.get("witness-config").await.unwrap();
    // What helm kept of the edit (their key and label), set back (greeting) and removed
    // (what the chart dropped), so did the HelmRelease.
    assert_eq!(ours.data, witness.data);
    let mut expected = std::collections::BTreeMap::new();
    expected.insert("greeting".to_owned(), "two".to_owned());
    expected.insert("theirs".to_owned(), "kept".to_owned());
    assert_eq!(ours.data.as_ref(), Some(&expected));
    let labels_of = |c: &ConfigMap| {
        let mut labels = c.metadata.labels.clone().unwrap_or_default();
        labels.retain(|k, _| {
            k != "app.kubernetes.io/managed-by" && !k.starts_with("helm.toolkit.fluxcd.io/")
        });
        labels
    };
    assert_eq!(labels_of(&ours), labels_of(&witness));
    assert!(
        !labels_of(&ours).contains_key("tier"),
        "{:?}",
        labels_of(&ours)
    );

    // A release the real helm v3 made records no method: `auto` takes it over client-side,
    // as Flux does; `enabled` moves it to server-side apply.
    let spec = json!({
        "interval": "10m",
        "chart": {"spec": {"chart": "labelled", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        "values": {"greeting": "three"},
    });
    assert_eq!(recorded_apply_method(&secrets, "witness", 2).await, None);
    releases
        .create(&PostParams::default(), &release_object("witness", spec))
        .await
        .unwrap();
    wait_ready_at(&releases, "witness", 3, &logs).await;
    assert_eq!(
        recorded_apply_method(&secrets, "witness", 3)
            .await
            .as_deref(),
        Some("csa")
    );
    assert!(
        writers(&config_maps, "witness-config")
            .await
            .contains(&("helm-controller".to_owned(), "Update".to_owned()))
    );
    patch_spec(
        &releases,
        "witness",
        json!({"spec": {"values": {"greeting": "four"}, "upgrade": {"serverSideApply": "enabled"}}}),
    )
    .await;
    wait_ready_at(&releases, "witness", 4, &logs).await;
    assert_eq!(
        recorded_apply_method(&secrets, "witness", 4)
            .await
            .as_deref(),
        Some("ssa")
    );
    assert!(
        writers(&config_maps, "witness-config")
            .await
            .contains(&("helm-controller".to_owned(), "Apply".to_owned()))
    );
    let history = helm_json(&kubeconfig, &namespace, &["history", "witness"]);
    assert_eq!(history[3]["status"], "deployed", "{history}");
    assert_eq!(
        config_maps
            .get("witness-config")
            .await
            .unwrap()
            .data
            .unwrap()["greeting"],
        "four"
    );
    delete_and_wait(&releases, "csa", &logs).await;
    delete_and_wait(&releases, "witness", &logs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literal_values_and_a_chart_renamed_in_place() {
    let repository = ChartRepository::start(None).expect("chart repository");
    for name in ["web", "site"] {
        let chart_yaml = format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n");
        let dir = repository
            .write_chart(
                name,
                &[
                    ("Chart.yaml", chart_yaml.as_str()),
                    ("values.yaml", "greeting: hi\n"),
                    ("templates/configmap.yaml", CONFIGMAP),
                ],
            )
            .expect("chart");
        repository.publish(&dir).expect("publish");
    }
    let stack = Stack::start("hr-rename", &repository).await;
    let (client, namespace) = (stack.client.clone(), stack.namespace.clone());
    let kubeconfig = stack.kubeconfig();
    let logs = || stack.logs();
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);

    // A text `--set` would split at its commas, taken literally.
    let text = "a=1,b={2,3}";
    let source: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "greeting"}, "data": {"text": text},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &source)
        .await
        .unwrap();
    let spec = json!({
        "interval": "10m",
        "chart": {"spec": {"chart": "web", "version": "0.1.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        "valuesFrom": [{"kind": "ConfigMap", "name": "greeting", "valuesKey": "text", "targetPath": "greeting", "literal": true}],
        "upgrade": {"chartNameChangeStrategy": "InPlaceUpdate"},
    });
    releases
        .create(&PostParams::default(), &release_object("app", spec))
        .await
        .unwrap();
    wait_ready(&releases, "app", &logs).await;
    let data = config_maps.get("app-config").await.unwrap().data.unwrap();
    assert_eq!(data["greeting"], text);

    // Another chart name: upgraded in place, not uninstalled and installed again.
    patch_spec(
        &releases,
        "app",
        json!({"spec": {"chart": {"spec": {"chart": "site"}}}}),
    )
    .await;
    wait_for(
        "app upgraded to the chart site",
        async || {
            let release = releases.get("app").await.ok()?;
            let latest = release.status.as_ref()?.history.first()?.clone();
            (ready(&release)?.0 == "True" && latest.chart_name == "site").then_some(latest.version)
        },
        &logs,
    )
    .await;
    let history = helm_json(&kubeconfig, &namespace, &["history", "app"]);
    let charts: Vec<(i64, &str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_i64().unwrap(),
                r["chart"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        charts,
        [
            (1, "web-0.1.0", "superseded"),
            (2, "site-0.1.0", "deployed")
        ],
        "{history}"
    );

    // Back to `web` with Flux's default strategy, `Reinstall`: the release of `site` is
    // uninstalled and `web` installed afresh.
    patch_spec(
        &releases,
        "app",
        json!({"spec": {"chart": {"spec": {"chart": "web"}}, "upgrade": {"chartNameChangeStrategy": "Reinstall"}}}),
    )
    .await;
    wait_for(
        "app reinstalled with the chart web",
        async || {
            let release = releases.get("app").await.ok()?;
            let latest = release.status.as_ref()?.history.first()?.clone();
            (ready(&release)?.0 == "True" && latest.chart_name == "web").then_some(())
        },
        &logs,
    )
    .await;
    let history = helm_json(&kubeconfig, &namespace, &["history", "app"]);
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history[0]["chart"], "web-0.1.0", "{history}");
    delete_and_wait(&releases, "app", &logs).await;
}
