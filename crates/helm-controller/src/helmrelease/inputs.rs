//! What a release is made of: the chart (from the HelmChart this controller keeps for
//! `spec.chart`, or from `spec.chartRef`), loaded from its verified artifact, and the values
//! (from `valuesFrom` and `values`).

use std::sync::Arc;

use driftless_api::helm::HelmRelease;
use driftless_api::meta::Artifact;
use driftless_api::source::HelmChart;
use driftless_helm::{Chart, ChartFile};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Map, Value, json};

use super::Reconciler;
use crate::values::{self, Fetched, ValuesError};

/// Field manager of the HelmCharts made from `spec.chart`.
const FIELD_MANAGER: &str = "helm-controller";

/// The object a release's chart artifact comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartSource {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ChartSource {
    pub fn of(release: &HelmRelease) -> ChartSource {
        let own = release.namespace().unwrap_or_default();
        match (&release.spec.chart, &release.spec.chart_ref) {
            (Some(template), _) => ChartSource {
                kind: "HelmChart".into(),
                namespace: template.spec.source_ref.namespace.clone().unwrap_or(own),
                name: release.helm_chart_name(),
            },
            (None, Some(reference)) => ChartSource {
                kind: reference.kind.clone(),
                namespace: reference.namespace.clone().unwrap_or(own),
                name: reference.name.clone(),
            },
            (None, None) => ChartSource {
                kind: String::new(),
                namespace: own,
                name: String::new(),
            },
        }
    }

    pub fn display(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// The HelmChart object `spec.chart` describes, as Flux's helm-controller writes it.
pub fn helm_chart_for(release: &HelmRelease) -> Option<Value> {
    let template = release.spec.chart.as_ref()?;
    let spec = &template.spec;
    let source = ChartSource::of(release);
    let owner_namespace = release.namespace().unwrap_or_default();
    let mut chart_spec = json!({
        "chart": spec.chart,
        "version": spec.version.clone().unwrap_or_else(|| "*".into()),
        "sourceRef": {"kind": spec.source_ref.kind, "name": spec.source_ref.name},
        "interval": spec.interval.clone().unwrap_or_else(|| release.spec.interval.clone()),
        "reconcileStrategy": spec.reconcile_strategy.clone().unwrap_or_else(|| "ChartVersion".into()),
    });
    if !spec.values_files.is_empty() {
        chart_spec["valuesFiles"] = json!(spec.values_files);
    }
    if spec.ignore_missing_values_files {
        chart_spec["ignoreMissingValuesFiles"] = json!(true);
    }
    if let Some(verify) = &spec.verify {
        chart_spec["verify"] = serde_json::to_value(verify).unwrap_or(Value::Null);
    }
    let metadata = template.metadata.clone().unwrap_or_default();
    let mut labels = metadata.labels;
    labels.insert(
        driftless_api::helm::NAME_LABEL.to_owned(),
        release.name_any(),
    );
    labels.insert(
        driftless_api::helm::NAMESPACE_LABEL.to_owned(),
        owner_namespace,
    );
    let mut chart = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {
            "name": source.name,
            "namespace": source.namespace,
            "labels": labels,
            // source-controller's own finalizer, set at creation so that it need not
            // patch every new chart before its first fetch.
            "finalizers": [driftless_api::meta::FINALIZER],
        },
        "spec": chart_spec,
    });
    // An empty map would be applied as a field the API server then drops, so every apply
    // would differ from the object.
    if !metadata.annotations.is_empty() {
        chart["metadata"]["annotations"] = json!(metadata.annotations);
    }
    Some(chart)
}

impl Reconciler {
    /// Creates or updates the HelmChart of `spec.chart` (server-side apply, so an unchanged
    /// one costs no write). True when it was written.
    /// Writes the HelmChart `spec.chart` asks for when the cached one differs; the
    /// generation written, or none when nothing was.
    pub(super) async fn ensure_helm_chart(
        &self,
        release: &HelmRelease,
    ) -> Result<Option<i64>, String> {
        let Some(chart) = helm_chart_for(release) else {
            return Ok(None);
        };
        let source = ChartSource::of(release);
        // Most reconciles find the HelmChart as it should be: no write then.
        if let Some(cached) = self.sources.helm_chart(&source.namespace, &source.name) {
            // An apply would re-add the finalizer source-controller is removing.
            if cached.metadata.deletion_timestamp.is_some() {
                return Err(format!("HelmChart {} is being deleted", source.display()));
            }
            let mut live = serde_json::to_value(&*cached).unwrap_or_default();
            // Finalizers others added are theirs: only source-controller's is compared.
            if let Some(finalizers) = live
                .pointer_mut("/metadata/finalizers")
                .and_then(Value::as_array_mut)
            {
                finalizers.retain(|f| f == driftless_api::meta::FINALIZER);
            }
            if contains(&live, &chart) {
                return Ok(None);
            }
        }
        let api: Api<HelmChart> = Api::namespaced(self.runtime.client.clone(), &source.namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(&source.name, &params, &Patch::Apply(&chart))
            .await
            .map(|written| Some(written.metadata.generation.unwrap_or(1)))
            .map_err(|e| {
                format!(
                    "failed to apply HelmChart {}: {}",
                    source.display(),
                    driftless_runtime::kube_errors::message(&e)
                )
            })
    }

    /// Deletes the HelmChart `<namespace>/<name>` made for a former `spec.chart`.
    pub(super) async fn delete_helm_chart(&self, reference: &str) -> Result<(), String> {
        let Some((namespace, name)) = reference.split_once('/') else {
            return Ok(());
        };
        let api: Api<HelmChart> = Api::namespaced(self.runtime.client.clone(), namespace);
        match api.delete(name, &kube::api::DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(format!("failed to delete HelmChart {reference}: {error}")),
        }
    }

    /// The chart of `artifact`, verified against its digest (shared by every release of the
    /// same artifact while cached).
    pub(super) async fn load_chart(&self, artifact: &Artifact) -> Result<Chart, String> {
        let tree = self
            .fetcher
            .fetch(artifact)
            .await
            .map_err(|e| format!("failed to fetch chart artifact: {e}"))?;
        chart_from_tree(&tree).map_err(|e| format!("failed to load chart: {e}"))
    }

    /// Reads every `valuesFrom` entry and composes the values.
    pub(super) async fn values(
        &self,
        release: &HelmRelease,
    ) -> Result<Map<String, Value>, ValuesError> {
        let namespace = release.namespace().unwrap_or_default();
        let client = self.runtime.client.clone();
        let mut fetched = Vec::with_capacity(release.spec.values_from.len());
        for reference in &release.spec.values_from {
            let key = reference.values_key();
            let lookup = match reference.kind.as_str() {
                "Secret" => {
                    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
                    api.get_opt(&reference.name).await.map(|found| {
                        found.map(|secret| {
                            secret.data.and_then(|data| {
                                data.get(key)
                                    .map(|v| String::from_utf8_lossy(&v.0).into_owned())
                            })
                        })
                    })
                }
                _ => {
                    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
                    api.get_opt(&reference.name).await.map(|found| {
                        found.map(|config| config.data.and_then(|data| data.get(key).cloned()))
                    })
                }
            };
            let found = lookup.map_err(|error| ValuesError::Unreadable {
                key: key.to_owned(),
                object: values::describe(&reference.kind, &namespace, &reference.name),
                error: driftless_runtime::kube_errors::message(&error),
            })?;
            fetched.push(Fetched {
                reference,
                object_found: found.is_some(),
                text: found.flatten(),
            });
        }
        values::compose(&namespace, &fetched, release.spec.values.as_ref())
    }
}

/// Whether `whole` has everything `part` has (maps compared key by key, the rest by value).
fn contains(whole: &Value, part: &Value) -> bool {
    match (whole, part) {
        (Value::Object(whole), Value::Object(part)) => part
            .iter()
            .all(|(key, value)| whole.get(key).is_some_and(|w| contains(w, value))),
        _ => whole == part,
    }
}

/// A packaged chart's files are under one top directory; the chart is what is below it.
fn chart_from_tree(tree: &Arc<driftless_artifact::Tree>) -> Result<Chart, String> {
    let mut top: Option<String> = None;
    let mut files = Vec::new();
    for (path, file) in tree.iter() {
        let Some((dir, rest)) = path.split_once('/') else {
            return Err(format!("chart file {path} is not in a directory"));
        };
        match &top {
            Some(existing) if existing != dir => {
                return Err("chart archive has more than one top directory".into());
            }
            Some(_) => {}
            None => top = Some(dir.to_owned()),
        }
        files.push(ChartFile {
            name: rest.to_owned(),
            data: file.data.clone(),
        });
    }
    Chart::load_files(files).map_err(|e| e.to_string())
}

/// `<version>+<digest[:12]>`: an OCIRepository's chart version carries its digest, so a new
/// digest of the same version upgrades (Flux's chart version mutation).
pub fn oci_chart_version(version: &str, digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    let short: String = hex.chars().take(12).collect();
    match version.split_once('+') {
        Some((base, _)) => format!("{base}+{short}"),
        None => format!("{version}+{short}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::helm::{
        CrossNamespaceObjectReference, HelmChartTemplate, HelmChartTemplateSpec, HelmReleaseSpec,
    };

    #[test]
    fn the_chart_template_becomes_flux_s_helm_chart() {
        let mut release = HelmRelease::new(
            "podinfo",
            HelmReleaseSpec {
                interval: "10m".into(),
                chart: Some(HelmChartTemplate {
                    metadata: None,
                    spec: HelmChartTemplateSpec {
                        chart: "podinfo".into(),
                        version: Some(">=6.0.0".into()),
                        source_ref: CrossNamespaceObjectReference {
                            kind: "HelmRepository".into(),
                            name: "podinfo".into(),
                            namespace: Some("flux-system".into()),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                }),
                ..Default::default()
            },
        );
        release.metadata.namespace = Some("apps".into());
        let chart = helm_chart_for(&release).unwrap();
        assert_eq!(chart["metadata"]["name"], "apps-podinfo");
        assert_eq!(chart["metadata"]["namespace"], "flux-system");
        assert_eq!(
            chart["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"],
            "podinfo"
        );
        assert_eq!(
            chart["metadata"]["finalizers"],
            json!(["finalizers.fluxcd.io"])
        );
        assert_eq!(
            chart["spec"],
            json!({
                "chart": "podinfo",
                "version": ">=6.0.0",
                "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
                "interval": "10m",
                "reconcileStrategy": "ChartVersion"
            })
        );
        assert_eq!(
            ChartSource::of(&release),
            ChartSource {
                kind: "HelmChart".into(),
                namespace: "flux-system".into(),
                name: "apps-podinfo".into()
            }
        );
    }

    #[test]
    fn an_applied_chart_is_found_in_the_live_one() {
        let live = json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}, "resourceVersion": "9"}, "spec": {"chart": "c", "valuesFiles": []}});
        assert!(contains(
            &live,
            &json!({"metadata": {"labels": {"x": "1"}}, "spec": {"chart": "c"}})
        ));
        assert!(!contains(&live, &json!({"spec": {"chart": "d"}})));
        assert!(!contains(
            &live,
            &json!({"metadata": {"annotations": {"a": "b"}}})
        ));
    }

    #[test]
    fn oci_versions_carry_the_digest() {
        assert_eq!(
            oci_chart_version("6.5.4", "sha256:0123456789abcdef0123"),
            "6.5.4+0123456789ab"
        );
        assert_eq!(
            oci_chart_version("1.0.0+build", "sha256:ffffffffffffff"),
            "1.0.0+ffffffffffff"
        );
    }
}
