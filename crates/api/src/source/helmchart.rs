//! HelmChart (`source.toolkit.fluxcd.io/v1`): a packaged chart artifact built from a
//! HelmRepository, GitRepository or Bucket.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[cfg(doc)] // Only named in a doc link.
use super::ocirepository::OCIRepositoryVerification;
use super::ocirepository::{OCIVerificationProvider, OIDCIdentityMatch};
use crate::meta::{Artifact, Condition, DURATION_PATTERN, LocalObjectReference};

/// Reason: the chart was pulled from a repository without repackaging.
pub const CHART_PULL_SUCCEEDED_REASON: &str = "ChartPullSucceeded";
/// Reason: the chart was packaged (from a Git/Bucket source or with values files).
pub const CHART_PACKAGE_SUCCEEDED_REASON: &str = "ChartPackageSucceeded";

fn default_chart_version() -> Option<String> {
    Some("*".into())
}

fn default_reconcile_strategy() -> Option<ReconcileStrategy> {
    Some(ReconcileStrategy::ChartVersion)
}

/// Produces a packaged Helm chart artifact from a HelmRepository, GitRepository or Bucket.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "HelmChart",
    plural = "helmcharts",
    namespaced,
    status = "HelmChartStatus",
    shortname = "hc",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    printcolumn = r#"{"name":"Chart","type":"string","jsonPath":".spec.chart"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version"}"#,
    printcolumn = r#"{"name":"Source Kind","type":"string","jsonPath":".spec.sourceRef.kind"}"#,
    printcolumn = r#"{"name":"Source Name","type":"string","jsonPath":".spec.sourceRef.name"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.verify) || self.sourceRef.kind == 'HelmRepository'",
    "message": "spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'"
}]))]
pub struct HelmChartSpec {
    /// Chart name (HelmRepository) or path to the chart directory (GitRepository, Bucket).
    pub chart: String,
    /// Semantic version range of the chart; only used with HelmRepository sources.
    #[serde(
        default = "default_chart_version",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<String>,
    /// Where the chart comes from.
    pub source_ref: LocalHelmChartSourceReference,
    /// How often the source is checked for a new chart.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: String,
    /// What triggers a new artifact: a new chart version or a new source revision.
    #[serde(
        default = "default_reconcile_strategy",
        skip_serializing_if = "Option::is_none"
    )]
    pub reconcile_strategy: Option<ReconcileStrategy>,
    /// Values files (relative to the source) merged in order and packaged as the chart's
    /// `values.yaml`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Skip values files that do not exist instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_values_files: bool,
    /// Stop reconciling this object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Signature verification of OCI charts (HelmRepository sources of `type: oci` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<HelmChartVerification>,
}

/// A HelmChart's source, in the chart's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalHelmChartSourceReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: HelmChartSourceKind,
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum HelmChartSourceKind {
    #[default]
    HelmRepository,
    GitRepository,
    Bucket,
}

/// `ChartVersion`: new artifact when the chart version changes; `Revision`: when the source
/// revision changes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReconcileStrategy {
    #[default]
    ChartVersion,
    Revision,
}

/// Signature verification of an OCI chart; like [`OCIRepositoryVerification`] without a
/// custom Sigstore trusted root.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["provider"]))]
pub struct HelmChartVerification {
    /// Signing technology.
    #[serde(default)]
    pub provider: OCIVerificationProvider,
    /// Secret with trusted keys (cosign `*.pub`; notation CA certificates and
    /// `trustpolicy.json`). Cosign keyless verification when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Identities accepted for cosign keyless signatures; any match suffices.
    #[serde(
        default,
        rename = "matchOIDCIdentity",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_oidc_identity: Vec<OIDCIdentityMatch>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Source artifact revision the current artifact was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_source_artifact_revision: Option<String>,
    /// Chart name from the resolved chart reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_chart_name: Option<String>,
    /// Values files that were found and merged into the current artifact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed_values_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Address of the `latest.tar.gz` link to the current artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The artifact of the last successful reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

crate::impl_reconcilable!(HelmChart);
crate::impl_artifact_source!(HelmChart);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::spec_schema;
    use serde_json::json;

    #[test]
    fn flux_defaults_are_schema_defaults() {
        let chart = spec_schema::<HelmChart>();
        assert_eq!(chart["properties"]["version"]["default"], "*");
        assert_eq!(
            chart["properties"]["reconcileStrategy"]["default"],
            "ChartVersion"
        );
        assert_eq!(chart["required"], json!(["chart", "interval", "sourceRef"]));
        assert!(
            chart["properties"]["verify"]["properties"]
                .get("trustedRootSecretRef")
                .is_none()
        );
    }

    #[test]
    fn flux_manifest_round_trips() {
        let chart: HelmChart = serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmChart",
            "metadata": {"name": "podinfo"},
            "spec": {
                "chart": "podinfo",
                "interval": "5m",
                "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}
            }
        }))
        .unwrap();
        assert_eq!(chart.spec.version.as_deref(), Some("*"));
        assert_eq!(
            chart.spec.reconcile_strategy,
            Some(ReconcileStrategy::ChartVersion)
        );
    }
}
