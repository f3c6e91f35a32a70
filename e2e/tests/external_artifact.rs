//! ExternalArtifacts (Flux RFC-0012) as sources: an artifact another controller stored and
//! described, read by kustomize-controller (`sourceRef`) and helm-controller (`chartRef`)
//! behind the `ExternalArtifact` feature gate, as Flux's controllers read them. The producer
//! here is the test: it serves the archives over HTTP and writes the status.

#[path = "support/mod.rs"]
mod support;

use driftless_api::helm::HelmRelease;
use driftless_api::kustomize::Kustomization;
use driftless_api::source::ExternalArtifact;
use driftless_artifact::{FileEntry, store_by_digest};
use driftless_testenv::charts::ChartRepository;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use support::{condition, ready, spawn, wait_for};

/// Stores `files` as an archive served by `server`, and points the ExternalArtifact `name`
/// at it (created when missing), as a producer does: `revision` is `<label>@<digest>`.
async fn produce(
    artifacts: &Api<ExternalArtifact>,
    server: &ChartRepository,
    name: &str,
    label: &str,
    files: &[(&str, String)],
) {
    let entries = files.iter().map(|(path, data)| FileEntry {
        path: (*path).to_owned(),
        executable: false,
        data: data.as_bytes().to_vec(),
    });
    let stored = store_by_digest(server.dir(), entries).expect("archive");
    let file = format!("{}.tar.gz", stored.digest.hex());
    if artifacts.get_opt(name).await.unwrap().is_none() {
        let object: ExternalArtifact = serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "ExternalArtifact",
            "metadata": {"name": name},
            "spec": {"sourceRef": {"apiVersion": "example.com/v1", "kind": "Generator", "name": name}},
        }))
        .unwrap();
        artifacts
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }
    let status = json!({"status": {
        "artifact": {
            "path": format!("example/{name}/{file}"),
            "url": format!("{}/{file}", server.url()),
            "revision": format!("{label}@{}", stored.digest),
            "digest": stored.digest.to_string(),
            "size": stored.size,
            "lastUpdateTime": "2026-12-07T00:00:00Z",
        },
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Succeeded",
            "message": format!("stored artifact for revision {label}"),
            "lastTransitionTime": "2026-12-07T00:00:00Z",
        }],
    }});
    artifacts
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

const CONFIGMAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: generated\ndata:\n  from: GREETING\n";
const CHART_YAML: &str = "apiVersion: v2\nname: web\nversion: 1.0.0\n";
const TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_artifacts_feed_kustomizations_and_helm_releases_behind_their_gate() {
    let server = ChartRepository::start(None).expect("file server");
    let (plane, namespace, client) = support::cluster("external").await;
    let artifacts: Api<ExternalArtifact> = Api::namespaced(client.clone(), &namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &namespace);

    produce(
        &artifacts,
        &server,
        "manifests",
        "v1",
        &[("cm.yaml", CONFIGMAP.replace("GREETING", "one"))],
    )
    .await;
    let chart_files = |greeting: &str| {
        [
            ("web/Chart.yaml", CHART_YAML.to_owned()),
            ("web/values.yaml", format!("greeting: {greeting}\n")),
            ("web/templates/cm.yaml", TEMPLATE.to_owned()),
        ]
    };
    produce(
        &artifacts,
        &server,
        "chart",
        "latest",
        &chart_files("hello"),
    )
    .await;

    let kustomization: Kustomization = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "generated"},
        "spec": {"interval": "10m", "prune": true, "targetNamespace": namespace,
            "sourceRef": {"kind": "ExternalArtifact", "name": "manifests"}},
    }))
    .unwrap();
    kustomizations
        .create(&PostParams::default(), &kustomization)
        .await
        .unwrap();
    let release: HelmRelease = serde_json::from_value(json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "web"},
        "spec": {"interval": "10m", "chartRef": {"kind": "ExternalArtifact", "name": "chart"}},
    }))
    .unwrap();
    releases
        .create(&PostParams::default(), &release)
        .await
        .unwrap();

    // Without the gate, as in Flux: both stall, naming it.
    {
        let kustomize = spawn(
            plane,
            "kustomize-controller",
            support::confined_args(&namespace, &[]),
        );
        let helm = spawn(
            plane,
            "helm-controller",
            support::confined_args(&namespace, &[]),
        );
        let logs = || format!("{}\n{}", kustomize.log_tail(30), helm.log_tail(30));
        wait_for(
            "the Kustomization stalled on the gate",
            async || {
                let object = kustomizations.get("generated").await.ok()?;
                let (status, reason, message) = condition(&object, "Stalled")?;
                (status == "True"
                    && reason == "FeatureGateDisabled"
                    && message.contains("--feature-gates=ExternalArtifact=true"))
                .then_some(())
            },
            &logs,
        )
        .await;
        wait_for(
            "the HelmRelease stalled on the gate",
            async || {
                let object = releases.get("web").await.ok()?;
                let (status, reason, _) = condition(&object, "Stalled")?;
                (status == "True" && reason == "FeatureGateDisabled").then_some(())
            },
            &logs,
        )
        .await;
        assert!(config_maps.get_opt("generated").await.unwrap().is_none());
    }

    // With it, both are made from the artifacts, and follow a new one.
    let gate = [
        "--feature-gates=ExternalArtifact=true",
        "--requeue-dependency=1s",
    ];
    let kustomize = spawn(
        plane,
        "kustomize-controller",
        support::confined_args(&namespace, &gate),
    );
    let helm = spawn(
        plane,
        "helm-controller",
        support::confined_args(&namespace, &gate),
    );
    let logs = || format!("{}\n{}", kustomize.log_tail(30), helm.log_tail(30));
    let greeting_of = async |name: &str, key: &str| {
        let found = config_maps.get_opt(name).await.ok()??;
        found.data?.get(key).cloned()
    };
    wait_for(
        "the Kustomization applied the artifact",
        async || {
            let object = kustomizations.get("generated").await.ok()?;
            let applied = object.status.as_ref()?.last_applied_revision.clone()?;
            (ready(&object)?.0 == "True" && greeting_of("generated", "from").await? == "one")
                .then_some(applied)
        },
        &logs,
    )
    .await;
    let installed = wait_for(
        "the HelmRelease installed the chart",
        async || {
            let object = releases.get("web").await.ok()?;
            let version = object
                .status
                .as_ref()?
                .history
                .first()?
                .chart_version
                .clone();
            (ready(&object)?.0 == "True" && greeting_of("web-config", "greeting").await? == "hello")
                .then_some(version)
        },
        &logs,
    )
    .await;
    assert!(installed.starts_with("1.0.0+"), "{installed}");

    produce(
        &artifacts,
        &server,
        "manifests",
        "v2",
        &[("cm.yaml", CONFIGMAP.replace("GREETING", "two"))],
    )
    .await;
    produce(
        &artifacts,
        &server,
        "chart",
        "latest",
        &chart_files("again"),
    )
    .await;
    wait_for(
        "the Kustomization followed the new artifact",
        async || (greeting_of("generated", "from").await? == "two").then_some(()),
        &logs,
    )
    .await;
    // The same chart version with new content: the digest in the version upgrades it.
    let upgraded = wait_for(
        "the HelmRelease upgraded to the new artifact",
        async || {
            let object = releases.get("web").await.ok()?;
            let latest = object.status.as_ref()?.history.first()?.clone();
            (latest.version == 2 && greeting_of("web-config", "greeting").await? == "again")
                .then_some(latest.chart_version)
        },
        &logs,
    )
    .await;
    assert_ne!(upgraded, installed);
    let kustomization = kustomizations.get("generated").await.unwrap();
    assert!(
        kustomization
            .status
            .and_then(|s| s.last_applied_revision)
            .is_some_and(|r| r.starts_with("v2@sha256:"))
    );
}
