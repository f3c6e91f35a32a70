//! HelmRepository (`source.toolkit.fluxcd.io/v1`): an artifact from a Helm repository index,
//! or (`type: oci`) only the registry connection settings for HelmCharts.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ocirepository::{OCIProvider, default_oci_provider};
use crate::meta::{Artifact, Condition, DURATION_PATTERN, LocalObjectReference, TIMEOUT_PATTERN};

/// Reason: fetching or parsing the repository index failed.
pub const INDEXATION_FAILED_REASON: &str = "IndexationFailed";
/// Requeue interval of a HelmRepository without `spec.interval`.
pub const HELM_REPOSITORY_DEFAULT_INTERVAL: &str = "1m";
/// Timeout of a HelmRepository without `spec.timeout`.
pub const HELM_REPOSITORY_DEFAULT_TIMEOUT: &str = "60s";

/// Produces an artifact from a Helm repository index; `type: oci` objects only hold
/// connection settings for HelmCharts and produce no artifact.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "HelmRepository",
    plural = "helmrepositories",
    namespaced,
    status = "HelmRepositoryStatus",
    shortname = "helmrepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct HelmRepositorySpec {
    /// Repository address: `http://`, `https://` or `oci://`.
    #[schemars(regex(pattern = r"^(http|https|oci)://.*$"))]
    pub url: String,
    /// Secret with `username`/`password` (legacy `certFile`/`keyFile`/`caFile` keys too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Secret with `tls.crt`/`tls.key` and/or `ca.crt`; wins over TLS keys in `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Send the credentials also to hosts other than the one in `url`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_credentials: bool,
    /// How often the index is fetched; one minute when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Option<String>,
    /// Talk plain HTTP to the registry (`type: oci` only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Timeout of index fetches and of OCI chart pulls; 60s when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TIMEOUT_PATTERN))]
    pub timeout: Option<String>,
    /// Stop reconciling this object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Cross-namespace access list; accepted but not enforced (as in Flux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_from: Option<AccessFrom>,
    /// `default` (HTTP index) or `oci` (registry; `url` must start with `oci://`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub repository_type: Option<HelmRepositoryType>,
    /// Registry authentication provider (`type: oci` only).
    #[serde(
        default = "default_oci_provider",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider: Option<OCIProvider>,
}

impl HelmRepositorySpec {
    /// Whether this points at an OCI registry rather than an HTTP index.
    pub fn is_oci(&self) -> bool {
        self.repository_type == Some(HelmRepositoryType::Oci)
    }

    /// `spec.interval`, or the one-minute fallback.
    pub fn interval(&self) -> &str {
        self.interval
            .as_deref()
            .unwrap_or(HELM_REPOSITORY_DEFAULT_INTERVAL)
    }

    /// `spec.timeout`, or the 60s fallback.
    pub fn timeout(&self) -> &str {
        self.timeout
            .as_deref()
            .unwrap_or(HELM_REPOSITORY_DEFAULT_TIMEOUT)
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HelmRepositoryType {
    #[default]
    Default,
    Oci,
}

// Flux shares one `acl.AccessFrom`; ImageRepository keeps its own copy because the two differ in
// wording (which the CRDs carry) and in whether `matchLabels` is optional.
/// Namespaces allowed to reference an object (`fluxcd/pkg/apis/acl`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessFrom {
    /// Selectors, OR-ed together.
    pub namespace_selectors: Vec<NamespaceSelector>,
}

/// Selects namespaces by label; an empty selector matches all namespaces.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmRepositoryStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Address of the `index.yaml` link to the current artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The artifact of the last successful reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

crate::impl_reconcilable!(HelmRepository);
crate::impl_artifact_source!(HelmRepository);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::spec_schema;
    use serde_json::json;

    #[test]
    fn flux_defaults_are_schema_defaults() {
        let repo = spec_schema::<HelmRepository>();
        assert_eq!(repo["properties"]["provider"]["default"], "generic");
        assert!(repo["properties"]["timeout"].get("default").is_none());
        assert_eq!(repo["required"], json!(["url"]));
    }

    #[test]
    fn flux_manifest_round_trips() {
        let repo: HelmRepository = serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "HelmRepository",
            "metadata": {"name": "podinfo"},
            "spec": {"type": "oci", "url": "oci://ghcr.io/stefanprodan/charts"}
        }))
        .unwrap();
        assert!(repo.spec.is_oci());
        assert_eq!(repo.spec.interval(), "1m");
        assert_eq!(repo.spec.timeout(), "60s");
        assert_eq!(serde_json::to_value(&repo).unwrap()["spec"]["type"], "oci");
    }
}
