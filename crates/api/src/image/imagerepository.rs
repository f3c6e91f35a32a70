//! ImageRepository (`image.toolkit.fluxcd.io/v1`): scans a container image repository
//! for tags.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{
    Condition, DURATION_PATTERN, LocalObjectReference, TIMEOUT_PATTERN, Time, parse_duration,
};

/// Tags excluded from scans unless `spec.exclusionList` says otherwise (cosign signatures).
pub const DEFAULT_EXCLUSION_LIST: &[&str] = &["^.*\\.sig$"];

fn default_exclusion_list() -> Vec<String> {
    DEFAULT_EXCLUSION_LIST
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

fn default_image_provider() -> Option<ImageProvider> {
    Some(ImageProvider::Generic)
}

/// Scans a container image repository for tags.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1",
    kind = "ImageRepository",
    plural = "imagerepositories",
    namespaced,
    status = "ImageRepositoryStatus",
    shortname = "imgrepo",
    shortname = "imagerepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    printcolumn = r#"{"name":"Image","type":"string","jsonPath":".spec.image"}"#,
    printcolumn = r#"{"name":"Tags","type":"string","jsonPath":".status.lastScanResult.tagCount"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Last scan","type":"string","jsonPath":".status.lastScanResult.scanTime","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositorySpec {
    /// Image repository without tag, e.g. `ghcr.io/stefanprodan/podinfo` or `alpine`.
    pub image: String,
    /// Time between scans.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: String,
    /// Timeout of a scan; `interval` (at least 1s) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TIMEOUT_PATTERN))]
    pub timeout: Option<String>,
    /// Secret of type `kubernetes.io/dockerconfigjson` with registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Secret with `address`, `username`, `password` of a proxy for the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// ServiceAccount whose image pull secrets (generic) or workload identity (cloud
    /// providers) authenticate the scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,
    /// Secret with `tls.crt`/`tls.key` (client certificate) and/or `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Stop scanning; scans already started are not affected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Namespaces whose ImagePolicies may reference this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_from: Option<AccessFrom>,
    /// Regular expressions of tags to leave out of the scan result.
    #[serde(
        default = "default_exclusion_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(length(max = 25))]
    pub exclusion_list: Vec<String>,
    /// Authentication provider.
    #[serde(
        default = "default_image_provider",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider: Option<ImageProvider>,
    /// Talk plain HTTP to the registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageProvider {
    #[default]
    Generic,
    Aws,
    Azure,
    Gcp,
}

// Flux shares one `acl.AccessFrom`; HelmRepository keeps its own copy because the two differ in
// wording (which the CRDs carry) and in whether `matchLabels` is optional.
/// Cross-namespace access list (`acl.AccessFrom`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessFrom {
    /// Selectors of namespaces allowed access; any match grants it.
    pub namespace_selectors: Vec<NamespaceSelector>,
}

/// Selects namespaces by label; an empty selector matches every namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// Summary of the last scan.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// Checksum of the scanned tag set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Number of tags kept after exclusions.
    pub tag_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_time: Option<Time>,
    /// The first 10 tags in descending alphabetical order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latest_tags: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositoryStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `spec.image` with implied parts made explicit, e.g. `docker.io/library/alpine`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_image_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_result: Option<ScanResult>,
    /// Exclusion list used for `lastScanResult`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed_exclusion_list: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

impl ImageRepository {
    /// `spec.interval`, if it parses.
    pub fn interval(&self) -> Option<Duration> {
        parse_duration(&self.spec.interval).ok()
    }

    /// `spec.timeout`, else `interval`; at least one second.
    pub fn timeout(&self) -> Duration {
        let d = match self.spec.timeout.as_deref() {
            Some(t) => parse_duration(t).unwrap_or_default(),
            None => self.interval().unwrap_or_default(),
        };
        d.max(Duration::from_secs(1))
    }

    /// `spec.exclusionList`, else the default list.
    pub fn exclusion_list(&self) -> Vec<String> {
        if self.spec.exclusion_list.is_empty() {
            default_exclusion_list()
        } else {
            self.spec.exclusion_list.clone()
        }
    }

    /// `spec.provider` with its default.
    pub fn provider(&self) -> ImageProvider {
        self.spec.provider.unwrap_or_default()
    }
}

crate::impl_reconcilable!(ImageRepository);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::spec_schema;
    use serde_json::json;

    #[test]
    fn flux_defaults_are_schema_defaults() {
        let repo = spec_schema::<ImageRepository>();
        assert_eq!(repo["properties"]["provider"]["default"], "generic");
        assert_eq!(
            repo["properties"]["exclusionList"]["default"],
            json!(["^.*\\.sig$"])
        );
        assert_eq!(repo["properties"]["exclusionList"]["maxItems"], 25);
        assert_eq!(repo["properties"]["timeout"]["pattern"], TIMEOUT_PATTERN);
        assert_eq!(repo["required"], json!(["image", "interval"]));
    }

    #[test]
    fn flux_manifest_round_trips() {
        let repo: ImageRepository = serde_json::from_value(json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageRepository",
            "metadata": {"name": "podinfo"},
            "spec": {"image": "ghcr.io/stefanprodan/podinfo", "interval": "5m"}
        }))
        .unwrap();
        assert_eq!(repo.provider(), ImageProvider::Generic);
        assert_eq!(repo.exclusion_list(), vec!["^.*\\.sig$".to_owned()]);
        assert_eq!(repo.timeout(), Duration::from_secs(300));
    }
}
