//! HelmRepository end to end: the real control plane, a chart repository on loopback filled
//! by the real `helm` CLI (`helm package`, `helm repo index`), Debian's `docker-registry` for
//! `type: oci`, and the source-controller binary.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod index;
mod oci;

use driftless_api::meta::Artifact;
use driftless_api::source::HelmRepository;
use driftless_testenv::charts::ChartRepository;
use kube::api::{Api, PostParams};

fn helm_repository(name: &str, spec: serde_json::Value) -> HelmRepository {
    let mut full = serde_json::json!({ "interval": "10m", "timeout": "20s" });
    if let (Some(full), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            full.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": { "name": name },
        "spec": full,
    }))
    .expect("HelmRepository")
}

async fn create_helm_repository(api: &Api<HelmRepository>, name: &str, spec: serde_json::Value) {
    api.create(&PostParams::default(), &helm_repository(name, spec))
        .await
        .expect("create HelmRepository");
}

fn artifact(object: &HelmRepository) -> Artifact {
    object
        .status
        .as_ref()
        .and_then(|s| s.artifact.clone())
        .expect("artifact in status")
}

/// A minimal chart `name` at `version`, as `helm create` would lay one out.
fn chart_files(name: &str, version: &str) -> Vec<(String, String)> {
    vec![
        (
            "Chart.yaml".into(),
            format!("apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\n"),
        ),
        ("values.yaml".into(), "replicas: 1\n".into()),
        (
            "templates/configmap.yaml".into(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n".into(),
        ),
    ]
}

/// Packages `name` at `version` into `repository` and re-indexes it with the real helm.
fn publish(repository: &ChartRepository, name: &str, version: &str) {
    let files = chart_files(name, version);
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let dir = repository
        .write_chart(name, &borrowed)
        .expect("chart source");
    repository.publish(&dir).expect("helm package + repo index");
}
