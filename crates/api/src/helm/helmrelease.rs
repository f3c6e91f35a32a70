//! HelmRelease (`helm.toolkit.fluxcd.io/v2`): a Helm chart released into a cluster, as Flux's
//! `api/v2/helmrelease_types.go` declares it. The actions' options are in [`super::actions`],
//! the status in [`super::status`].

use std::collections::BTreeMap;
use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actions::{DriftDetection, Install, Rollback, Test, Uninstall, Upgrade};
use super::status::HelmReleaseStatus;
use crate::kustomize::{CommonMetadata, CustomHealthCheck};
use crate::meta::{
    DURATION_PATTERN, DependencyReference, Image, KubeConfigReference, LocalObjectReference, Patch,
    parse_duration,
};

/// A Helm release of a chart from a HelmRepository, GitRepository, Bucket or OCIRepository.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "helm.toolkit.fluxcd.io",
    version = "v2",
    kind = "HelmRelease",
    plural = "helmreleases",
    namespaced,
    status = "HelmReleaseStatus",
    shortname = "hr",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-appliers",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))", "message": "either chart or chartRef must be set"}
]))]
pub struct HelmReleaseSpec {
    /// Template of the HelmChart the controller creates (with source-controller) for this release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<HelmChartTemplate>,
    /// An existing source of the chart: an OCIRepository or a HelmChart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ref: Option<CrossNamespaceSourceReference>,
    /// How often to reconcile (approximate, jittered).
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: String,
    /// Kubeconfig of a remote cluster to release into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfigReference>,
    /// Stop reconciling; the release stays as it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Helm release name; `[<targetNamespace>-]<name>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 53))]
    pub release_name: Option<String>,
    /// Namespace the release's objects go to; the HelmRelease's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub target_namespace: Option<String>,
    /// Namespace of the Helm release records; the HelmRelease's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub storage_namespace: Option<String>,
    /// HelmReleases that must be ready before this one is reconciled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyReference>,
    /// Time allowed for each Helm action (hooks, waits); 5m when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// Release revisions kept in storage; 5 when absent, 0 for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history: Option<i64>,
    /// ServiceAccount impersonated for every action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,
    /// Reuse one client for all the steps of an action; true when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_client: Option<bool>,
    /// Detecting (and correcting) changes made to the release's objects in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_detection: Option<DriftDetection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Install>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Upgrade>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Test>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstall: Option<Uninstall>,
    /// ConfigMaps and Secrets whose values are merged in order, below `values`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesReference>,
    /// Values over the chart's defaults, merged last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::helm::free_form_object")]
    pub values: Option<Value>,
    /// Labels and annotations set on every rendered object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// Kustomize patches and images applied to the rendered objects, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_renderers: Vec<PostRenderer>,
    /// Whether the post-renderers see the chart's hooks; `combined` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_render_strategy: Option<PostRenderStrategy>,
    /// How waits decide an object is ready; `poller` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_strategy: Option<WaitStrategy>,
    /// CEL health checks of custom resources, used when an action waits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_check_exprs: Vec<CustomHealthCheck>,
}

/// Which rendered documents the post-renderers are given (Helm 4's post-render modes).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostRenderStrategy {
    /// Hooks are left out, as in Helm 3.
    Nohooks,
    /// Hooks and templates together, as Helm 4 does by default.
    #[default]
    Combined,
    /// Hooks and templates each on their own.
    Separate,
}

/// The HelmChart to create for a release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct HelmChartTemplate {
    /// Labels and annotations of the HelmChart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<HelmChartTemplateObjectMeta>,
    pub spec: HelmChartTemplateSpec,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct HelmChartTemplateObjectMeta {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplateSpec {
    /// Chart name (HelmRepository) or path to the chart directory (GitRepository, Bucket).
    #[schemars(length(min = 1, max = 2048))]
    pub chart: String,
    /// Semantic version range of the chart; only used with HelmRepository sources.
    #[serde(default = "any_version", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "*"))]
    pub version: Option<String>,
    pub source_ref: CrossNamespaceObjectReference,
    /// How often the HelmChart checks its source; the HelmRelease's interval when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Option<String>,
    /// What makes a new chart artifact: a new chart version or a new source revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "ChartVersion", "enum" = ["ChartVersion", "Revision"]))]
    pub reconcile_strategy: Option<String>,
    /// Values files in the source merged in order into the packaged chart's values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Skip values files that are missing instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_values_files: bool,
    /// Signature verification of an OCI chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<HelmChartTemplateVerification>,
}

fn any_version() -> Option<String> {
    Some("*".into())
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplateVerification {
    /// `cosign` or `notation`.
    #[schemars(extend("default" = "cosign", "enum" = ["cosign", "notation"]))]
    pub provider: String,
    /// Secret holding the trusted public keys or certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
}

/// The source of a templated HelmChart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceObjectReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `HelmRepository`, `GitRepository` or `Bucket`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(extend("enum" = ["HelmRepository", "GitRepository", "Bucket"]))]
    pub kind: String,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// An existing chart source: an OCIRepository or a HelmChart.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `OCIRepository`, `HelmChart` or `ExternalArtifact`.
    #[schemars(extend("enum" = ["OCIRepository", "HelmChart", "ExternalArtifact"]))]
    pub kind: String,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The HelmRelease's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// Values from a key of a ConfigMap or Secret in the HelmRelease's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValuesReference {
    /// `Secret` or `ConfigMap`.
    #[schemars(extend("enum" = ["Secret", "ConfigMap"]))]
    pub kind: String,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key holding the values; `values.yaml` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), regex(pattern = r"^[\-._a-zA-Z0-9]+$"))]
    pub values_key: Option<String>,
    /// Where the key's text goes in the values, as a Helm `--set` path; the key is read as
    /// YAML values when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 250),
        regex(pattern = r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$")
    )]
    pub target_path: Option<String>,
    /// A missing object or key is skipped instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// With `targetPath`: the key's text is the value as it is (`helm --set-literal`), not
    /// read with `--set` syntax.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub literal: bool,
}

impl ValuesReference {
    pub fn values_key(&self) -> &str {
        self.values_key.as_deref().unwrap_or("values.yaml")
    }
}

/// A post-renderer: kustomize patches and images over the rendered objects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct PostRenderer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizePostRenderer>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct KustomizePostRenderer {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct WaitStrategy {
    /// `poller` (kstatus health of each object) or `legacy` (Helm 3's readiness checks).
    #[schemars(extend("enum" = ["poller", "legacy"]))]
    pub name: String,
}

/// Longest release name Helm accepts.
pub const MAX_RELEASE_NAME_LENGTH: usize = 53;
/// Revisions kept when `spec.maxHistory` is absent.
pub const DEFAULT_MAX_HISTORY: i64 = 5;
/// Timeout of each action when `spec.timeout` is absent.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

impl HelmRelease {
    fn namespace_or_default(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }

    fn name_or_empty(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    /// The Helm release name as the spec gives it: `spec.releaseName`, else
    /// `[<targetNamespace>-]<name>` (the controller shortens one longer than Helm allows).
    pub fn release_name(&self) -> String {
        match (&self.spec.release_name, &self.spec.target_namespace) {
            (Some(name), _) => name.clone(),
            (None, Some(target)) => format!("{target}-{}", self.name_or_empty()),
            (None, None) => self.name_or_empty().to_owned(),
        }
    }

    /// Namespace of the release's objects.
    pub fn release_namespace(&self) -> &str {
        self.spec
            .target_namespace
            .as_deref()
            .unwrap_or_else(|| self.namespace_or_default())
    }

    /// Namespace of the Helm release records.
    pub fn storage_namespace(&self) -> &str {
        self.spec
            .storage_namespace
            .as_deref()
            .unwrap_or_else(|| self.namespace_or_default())
    }

    /// Name of the HelmChart made from `spec.chart`: `<namespace>-<name>`.
    pub fn helm_chart_name(&self) -> String {
        format!("{}-{}", self.namespace_or_default(), self.name_or_empty())
    }

    /// `spec.interval`, if it parses.
    pub fn interval(&self) -> Option<Duration> {
        parse_duration(&self.spec.interval).ok()
    }

    /// `spec.timeout`, 5 minutes when absent or unreadable.
    pub fn timeout(&self) -> Duration {
        self.spec
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }

    /// `spec.maxHistory`, 5 when absent.
    pub fn max_history(&self) -> i64 {
        self.spec.max_history.unwrap_or(DEFAULT_MAX_HISTORY)
    }
}

crate::impl_reconcilable!(HelmRelease);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::{ActionStrategyName, CrdsPolicy, RemediationStrategy};
    use serde_json::{Value, json};

    /// The spec schema as written to `crds/` (after the derive's `null`s are stripped).
    fn spec_schema() -> Value {
        let crd = crate::crds()
            .into_iter()
            .find(|crd| crd.spec.names.kind == "HelmRelease")
            .unwrap();
        let crd = serde_json::to_value(crd).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
    }

    #[test]
    fn schema_matches_flux() {
        let spec = spec_schema();
        assert_eq!(spec["required"], json!(["interval"]));
        assert_eq!(
            spec["x-kubernetes-validations"][0]["message"],
            "either chart or chartRef must be set"
        );
        let props = &spec["properties"];
        assert_eq!(props["releaseName"]["maxLength"], 53);
        assert_eq!(props["storageNamespace"]["maxLength"], 63);
        assert_eq!(
            props["values"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(
            props["chartRef"]["properties"]["kind"]["enum"],
            json!(["OCIRepository", "HelmChart", "ExternalArtifact"])
        );
        let template = &props["chart"]["properties"]["spec"]["properties"];
        assert_eq!(template["version"]["default"], "*");
        assert_eq!(template["reconcileStrategy"]["default"], "ChartVersion");
        assert_eq!(
            props["upgrade"]["properties"]["remediation"]["properties"]["strategy"]["enum"],
            json!(["rollback", "uninstall"])
        );
        assert_eq!(
            props["install"]["properties"]["crds"]["enum"],
            json!(["Skip", "Create", "CreateReplace"])
        );
        assert_eq!(
            props["uninstall"]["properties"]["deletionPropagation"]["default"],
            "background"
        );
    }

    #[test]
    fn flux_example_round_trips() {
        // The shape of fluxcd/flux2-kustomize-helm-example's podinfo release.
        let manifest = json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "podinfo"},
            "spec": {
                "releaseName": "podinfo",
                "chart": {"spec": {
                    "chart": "podinfo",
                    "version": ">=6.0.0",
                    "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
                    "interval": "12h"
                }},
                "interval": "50m",
                "install": {"remediation": {"retries": 3}},
                "upgrade": {
                    "strategy": {"name": "RetryOnFailure", "retryInterval": "2m"},
                    "remediation": {"retries": -1, "strategy": "uninstall"},
                    "crds": "CreateReplace"
                },
                "valuesFrom": [{"kind": "ConfigMap", "name": "podinfo-values", "targetPath": "ui.message"}],
                "values": {"ingress": {"enabled": true, "hosts": [{"host": "podinfo.example"}]}},
                "driftDetection": {"mode": "enabled", "ignore": [{"paths": ["/spec/replicas"]}]},
                "postRenderers": [{"kustomize": {"images": [{"name": "podinfo", "newTag": "6.5.0"}]}}]
            },
            "status": {
                "history": [{
                    "apiVersion": "v2",
                    "digest": "sha256:00",
                    "name": "podinfo", "namespace": "podinfo", "version": 2,
                    "status": "deployed", "chartName": "podinfo", "chartVersion": "6.5.4",
                    "configDigest": "sha256:11",
                    "firstDeployed": "2024-01-02T03:04:05Z", "lastDeployed": "2024-01-02T03:05:05Z"
                }],
                "upgradeFailures": 1
            }
        });
        let release: HelmRelease = serde_json::from_value(manifest.clone()).unwrap();
        let upgrade = release.spec.upgrade.as_ref().unwrap();
        assert_eq!(
            upgrade.strategy.as_ref().map(|s| s.name),
            Some(ActionStrategyName::RetryOnFailure)
        );
        assert_eq!(upgrade.crds, Some(CrdsPolicy::CreateReplace));
        let remediation = upgrade.remediation.as_ref().unwrap();
        assert_eq!(remediation.strategy, Some(RemediationStrategy::Uninstall));
        assert_eq!(release.spec.values_from[0].values_key(), "values.yaml");
        assert_eq!(release.release_name(), "podinfo");
        assert_eq!(release.helm_chart_name(), "podinfo-podinfo");
        assert_eq!(release.max_history(), 5);
        assert_eq!(release.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(serde_json::to_value(&release).unwrap(), manifest);
    }

    #[test]
    fn names_and_namespaces_default_as_in_flux() {
        let mut release = HelmRelease::new("web", HelmReleaseSpec::default());
        release.metadata.namespace = Some("apps".into());
        assert_eq!(release.release_name(), "web");
        assert_eq!(release.release_namespace(), "apps");
        assert_eq!(release.storage_namespace(), "apps");
        release.spec.target_namespace = Some("prod".into());
        release.spec.storage_namespace = Some("flux-system".into());
        assert_eq!(release.release_name(), "prod-web");
        assert_eq!(release.release_namespace(), "prod");
        assert_eq!(release.storage_namespace(), "flux-system");
    }
}
