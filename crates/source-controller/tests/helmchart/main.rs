//! HelmChart end to end: the real control plane, charts served by a chart repository the
//! real `helm` fills or committed to a Git server on loopback, the source-controller binary,
//! and the real `helm template` as the witness that a stored chart renders as the original.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod from_git;
mod from_registry;
mod from_repository;

use std::path::Path;

use driftless_api::source::{HelmChart, HelmRepository};
use driftless_testenv::charts::helm;
use kube::api::{Api, PostParams};

fn helm_chart(name: &str, spec: serde_json::Value) -> HelmChart {
    let mut full = serde_json::json!({ "interval": "10m" });
    if let (Some(full), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            full.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": { "name": name },
        "spec": full,
    }))
    .expect("HelmChart")
}

async fn create_helm_chart(api: &Api<HelmChart>, name: &str, spec: serde_json::Value) {
    api.create(&PostParams::default(), &helm_chart(name, spec))
        .await
        .expect("create HelmChart");
}

async fn create_helm_repository(api: &Api<HelmRepository>, name: &str, url: &str) {
    let repository: HelmRepository = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": { "name": name },
        "spec": { "interval": "10m", "url": url },
    }))
    .expect("HelmRepository");
    api.create(&PostParams::default(), &repository)
        .await
        .expect("create HelmRepository");
}

/// A chart with a subchart, a values file beside the defaults, a `.helmignore` and files the
/// templates read, so packaging has something to get wrong.
fn chart_files(version: &str) -> Vec<(String, String)> {
    let files: &[(&str, &str)] = &[
        (
            "values.yaml",
            "# defaults\nreplicas: 1\nimage:\n  repository: ghcr.io/org/app\n  tag: \"1.0\"\ndb:\n  enabled: true\n",
        ),
        ("values-prod.yaml", "replicas: 3\nimage:\n  tag: \"2.0\"\n"),
        (".helmignore", "*.bak\nnotes/\n"),
        ("ignored.bak", "not packaged\n"),
        ("notes/todo.txt", "not packaged\n"),
        ("files/banner.txt", "hello from the chart\n"),
        (
            "templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\n  labels:\n    chart: {{ .Chart.Name }}-{{ .Chart.Version | replace \"+\" \"_\" }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n  image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n  banner: {{ .Files.Get \"files/banner.txt\" | quote }}\n  ignored: {{ .Files.Get \"ignored.bak\" | quote }}\n",
        ),
        (
            "templates/_helpers.tpl",
            "{{- define \"app.name\" -}}{{ .Chart.Name }}{{- end -}}\n",
        ),
        (
            "charts/db/Chart.yaml",
            "apiVersion: v2\nname: db\nversion: 0.3.0\n",
        ),
        ("charts/db/values.yaml", "port: 5432\n"),
        (
            "charts/db/templates/service.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-db\nspec:\n  ports:\n  - port: {{ .Values.port }}\n",
        ),
    ];
    let mut all = vec![(
        "Chart.yaml".to_owned(),
        format!(
            "apiVersion: v2\nname: app\nversion: {version}\nappVersion: 1.10\ndescription: An app\ndependencies:\n- name: db\n  version: 0.3.x\n  condition: db.enabled\n"
        ),
    )];
    all.extend(files.iter().map(|(p, c)| (p.to_string(), c.to_string())));
    all
}

/// `helm template` of a chart directory or archive, with extra arguments.
fn template(chart: &Path, extra: &[&str]) -> String {
    let chart = chart.to_string_lossy();
    let mut args = vec!["template", "rel", chart.as_ref(), "--namespace", "apps"];
    args.extend_from_slice(extra);
    helm(&args).expect("helm template")
}

/// Downloads the chart artifact, checks its digest and size, and writes it to `dir`.
async fn download_chart(chart: &HelmChart, dir: &Path) -> std::path::PathBuf {
    let artifact = chart
        .status
        .as_ref()
        .and_then(|s| s.artifact.clone())
        .expect("artifact in status");
    let bytes = reqwest::get(&artifact.url)
        .await
        .expect("GET chart")
        .bytes()
        .await
        .expect("chart body")
        .to_vec();
    assert_eq!(Some(bytes.len() as i64), artifact.size);
    assert_eq!(
        driftless_artifact::Digest::of(&bytes).to_string(),
        artifact.digest
    );
    let file_name = artifact.path.rsplit('/').next().unwrap_or("chart.tgz");
    let path = dir.join(file_name);
    std::fs::write(&path, bytes).expect("writing the chart");
    path
}

fn status(chart: &HelmChart) -> &driftless_api::source::HelmChartStatus {
    chart.status.as_ref().expect("status")
}
