//! ImagePolicy (`image.toolkit.fluxcd.io/v1`): selects the latest image of an
//! ImageRepository by a tag ordering policy. [`ImageRef`], the selected image, is also what
//! ImageUpdateAutomation records.

use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{Condition, DURATION_PATTERN, NamespacedObjectReference, parse_duration};

/// Refresh period of `digestReflectionPolicy: Always` when `spec.interval` is unset.
pub const DEFAULT_POLICY_INTERVAL: Duration = Duration::from_secs(600);

fn default_reflection_policy() -> Option<ReflectionPolicy> {
    Some(ReflectionPolicy::Never)
}

fn default_order() -> Option<SortOrder> {
    Some(SortOrder::Asc)
}

/// Selects the latest image of an ImageRepository by a tag ordering policy.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1",
    kind = "ImagePolicy",
    plural = "imagepolicies",
    namespaced,
    status = "ImagePolicyStatus",
    shortname = "imgpol",
    shortname = "imagepol",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    printcolumn = r#"{"name":"Image","type":"string","jsonPath":".status.latestRef.name"}"#,
    printcolumn = r#"{"name":"Tag","type":"string","jsonPath":".status.latestRef.tag"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.interval) || (has(self.digestReflectionPolicy) && self.digestReflectionPolicy == 'Always')", "message": "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'"},
    {"rule": "has(self.interval) || !has(self.digestReflectionPolicy) || self.digestReflectionPolicy != 'Always'", "message": "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'"}
]))]
pub struct ImagePolicySpec {
    /// The ImageRepository whose tags are considered.
    pub image_repository_ref: NamespacedObjectReference,
    /// How to order tags to find the latest.
    pub policy: ImagePolicyChoice,
    /// Filter (and optionally rewrite) tags before ordering them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tags: Option<TagFilter>,
    /// When to fill in `status.latestRef.digest`.
    #[serde(
        default = "default_reflection_policy",
        skip_serializing_if = "Option::is_none"
    )]
    pub digest_reflection_policy: Option<ReflectionPolicy>,
    /// How often the digest is refreshed; only allowed (and then required) with
    /// `digestReflectionPolicy: Always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Option<String>,
    /// Stop reconciling this object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// When to reflect a value from the registry into the status.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ReflectionPolicy {
    /// Re-resolve on every reconciliation.
    Always,
    /// Resolve once per selected tag.
    IfNotPresent,
    #[default]
    Never,
}

/// Exactly one ordering policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ImagePolicyChoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<SemVerPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabetical: Option<AlphabeticalPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical: Option<NumericalPolicy>,
}

/// Picks the highest version satisfying a semver range.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SemVerPolicy {
    /// Semver constraint, e.g. `>=1.0.0 <2.0.0`.
    pub range: String,
}

/// Orders tags lexically.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct AlphabeticalPolicy {
    /// `asc` picks the last tag (Z), `desc` the first (A).
    #[serde(default = "default_order", skip_serializing_if = "Option::is_none")]
    pub order: Option<SortOrder>,
}

/// Orders tags as numbers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct NumericalPolicy {
    /// `asc` picks the largest number, `desc` the smallest.
    #[serde(default = "default_order", skip_serializing_if = "Option::is_none")]
    pub order: Option<SortOrder>,
}

/// Both ordering policies default to the `order` an absent field gets, so a bare
/// `alphabetical: {}` and `AlphabeticalPolicy::default()` agree.
macro_rules! impl_default_order {
    ($($policy:ty),+) => {
        $(impl Default for $policy {
            fn default() -> Self {
                Self { order: default_order() }
            }
        })+
    };
}

impl_default_order!(AlphabeticalPolicy, NumericalPolicy);

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

/// Keeps tags matching `pattern`; `extract` rewrites each kept tag from the capture groups.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TagFilter {
    /// Regular expression tags must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Replacement template such as `$ts` used as the value to order by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
}

/// A selected image: repository name, tag and optional digest.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ImageRef {
    /// Image name, as written in the ImageRepository's `spec.image`.
    pub name: String,
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl std::fmt::Display for ImageRef {
    /// `name:tag[@digest]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)?;
        match self.digest.as_deref() {
            Some(d) if !d.is_empty() => write!(f, "@{d}"),
            _ => Ok(()),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicyStatus {
    /// The image the policy currently selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ref: Option<ImageRef>,
    /// The previously selected image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_previous_ref: Option<ImageRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

impl ImagePolicy {
    /// `spec.digestReflectionPolicy` with its default.
    pub fn digest_reflection_policy(&self) -> ReflectionPolicy {
        self.spec.digest_reflection_policy.unwrap_or_default()
    }

    /// Digest refresh period: `spec.interval` (10m when unset or zero) under
    /// `digestReflectionPolicy: Always`, otherwise none.
    pub fn interval(&self) -> Option<Duration> {
        if self.digest_reflection_policy() != ReflectionPolicy::Always {
            return None;
        }
        match self.spec.interval.as_deref().map(parse_duration) {
            Some(Ok(d)) if !d.is_zero() => Some(d),
            _ => Some(DEFAULT_POLICY_INTERVAL),
        }
    }
}

crate::impl_reconcilable!(ImagePolicy);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::spec_schema;
    use serde_json::json;

    #[test]
    fn flux_defaults_are_schema_defaults() {
        let policy = spec_schema::<ImagePolicy>();
        assert_eq!(
            policy["properties"]["digestReflectionPolicy"]["default"],
            "Never"
        );
        assert_eq!(
            policy["properties"]["policy"]["properties"]["alphabetical"]["properties"]["order"]["default"],
            "asc"
        );
        assert_eq!(
            policy["x-kubernetes-validations"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn ordering_policies_default_to_ascending() {
        assert_eq!(AlphabeticalPolicy::default().order, Some(SortOrder::Asc));
        assert_eq!(NumericalPolicy::default().order, Some(SortOrder::Asc));
    }

    #[test]
    fn flux_manifest_round_trips() {
        let policy: ImagePolicy = serde_json::from_value(json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImagePolicy",
            "metadata": {"name": "podinfo"},
            "spec": {
                "imageRepositoryRef": {"name": "podinfo"},
                "policy": {"numerical": {}},
                "digestReflectionPolicy": "Always"
            },
            "status": {"latestRef": {"name": "ghcr.io/stefanprodan/podinfo", "tag": "5.0.3"}}
        }))
        .unwrap();
        assert_eq!(
            policy.spec.policy.numerical.as_ref().unwrap().order,
            Some(SortOrder::Asc)
        );
        assert_eq!(policy.interval(), Some(DEFAULT_POLICY_INTERVAL));
        let latest = policy.status.as_ref().unwrap().latest_ref.as_ref().unwrap();
        assert_eq!(latest.to_string(), "ghcr.io/stefanprodan/podinfo:5.0.3");
    }
}
