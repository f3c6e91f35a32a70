//! Types shared by every Toolkit kind (Flux's `fluxcd/pkg/apis/meta`).

use std::collections::BTreeMap;

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Go duration with units up to hours (`interval`, `retryInterval`, Kustomization `timeout`).
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";
/// Go duration with units up to minutes (source and image `timeout`).
pub const TIMEOUT_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$";
/// Pattern of `Artifact.digest`: `<algorithm>:<encoded>`.
pub const DIGEST_PATTERN: &str = r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$";

/// Finalizer every Toolkit controller puts on the objects it manages.
pub const FINALIZER: &str = "finalizers.fluxcd.io";
/// Annotation whose change requests an immediate reconcile.
pub const RECONCILE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";
/// Conventional label for sharding controllers with `--watch-label-selector`.
pub const SHARDING_LABEL: &str = "sharding.fluxcd.io/key";

/// Reference to an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the referent.
    pub name: String,
}

/// Reference to an object in any namespace (defaults to the referrer's).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NamespacedObjectReference {
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent, when not specified it acts as LocalObjectReference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Reference to an object of a given kind in any namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectKindReference {
    /// API version of the referent; if not specified the Kubernetes preferred version is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: String,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent; when not specified it acts as LocalObjectReference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Reference to a key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyReference {
    /// Name of the Secret.
    pub name: String,
    /// Key in the Secret, when not specified an implementation-specific default key is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A dependency on another object of the same kind (Kustomization `dependsOn`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyReference {
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent, defaults to the namespace of the dependent object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// CEL expression (variables `self` and `dep`) that must hold for the dependency to be ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_expr: Option<String>,
}

/// Where to find a kubeconfig for a remote cluster: exactly one of a ConfigMap or a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.configMapRef) || has(self.secretRef)", "message": "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified"},
    {"rule": "!has(self.configMapRef) || !has(self.secretRef)", "message": "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified"}
]))]
pub struct KubeConfigReference {
    /// ConfigMap describing a workload-identity connection to a cloud cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<LocalObjectReference>,
    /// Secret holding a kubeconfig (key `value` or `value.yaml` unless `key` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyReference>,
}

/// An artifact produced by a source and consumed over HTTP (`meta.Artifact`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Path of the artifact relative to the storage root.
    pub path: String,
    /// HTTP address the artifact is served at.
    pub url: String,
    /// Human-readable identifier of the artifact's source revision, e.g. `main@sha1:<hex>`.
    pub revision: String,
    /// Digest of the artifact file, `<algorithm>:<checksum>`.
    #[schemars(regex(pattern = DIGEST_PATTERN))]
    pub digest: String,
    /// When the artifact was last updated.
    pub last_update_time: Time,
    /// Size of the artifact file in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Metadata of the artifact, e.g. OCI annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Selects resources by group/version/kind/name/namespace (regular expressions) and label
/// or annotation selectors. Used by Kustomization patches and drift-ignore rules.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Label selector string, e.g. `app=web,tier!=db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Annotation selector string, same syntax as a label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
}

/// Strategic-merge or JSON6902 patch with an optional target (kustomize `Patch`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Patch {
    /// Strategic merge patch or JSON6902 patch, as a YAML or JSON string.
    pub patch: String,
    /// Objects the patch applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// An image override (kustomize `Image`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Image name as it appears in the manifests.
    pub name: String,
    /// Replacement image name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// Replacement tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// Replacement digest; takes precedence over `newTag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// What shared controller plumbing needs to know about any Toolkit object, whatever its kind.
pub trait Reconcilable {
    /// `spec.suspend`.
    fn suspended(&self) -> bool;
    /// Conditions of the current status (empty when the status is unset).
    fn conditions(&self) -> &[Condition];
    /// `status.observedGeneration`.
    fn observed_generation(&self) -> Option<i64>;
    /// `status.lastHandledReconcileAt`.
    fn last_handled_reconcile_at(&self) -> Option<&str>;
}

/// The status fields every reconciled Toolkit kind shares, borrowed for writing.
pub struct SharedStatusFields<'a> {
    pub conditions: &'a mut Vec<Condition>,
    pub observed_generation: &'a mut Option<i64>,
    pub last_handled_reconcile_at: &'a mut Option<String>,
}

/// Write access to the shared status fields, so one reconcile harness can record conditions,
/// `observedGeneration` and `lastHandledReconcileAt` for any kind.
pub trait SharedStatus: Reconcilable + kube::core::object::HasStatus {
    fn shared_fields(status: &mut Self::Status) -> SharedStatusFields<'_>;
}

/// Kinds whose status carries a `meta.Artifact` (sources).
pub trait ArtifactSource {
    fn artifact(&self) -> Option<&Artifact>;
}

/// Implements [`Reconcilable`] and [`SharedStatus`] for a kind whose spec has `suspend` and
/// whose status has `conditions`, `observedGeneration` and `lastHandledReconcileAt`.
#[macro_export]
macro_rules! impl_reconcilable {
    ($kind:ty) => {
        impl $crate::meta::Reconcilable for $kind {
            fn suspended(&self) -> bool {
                self.spec.suspend
            }
            fn conditions(&self) -> &[$crate::meta::Condition] {
                self.status
                    .as_ref()
                    .map_or(&[], |s| s.conditions.as_slice())
            }
            fn observed_generation(&self) -> Option<i64> {
                self.status.as_ref().and_then(|s| s.observed_generation)
            }
            fn last_handled_reconcile_at(&self) -> Option<&str> {
                self.status
                    .as_ref()
                    .and_then(|s| s.last_handled_reconcile_at.as_deref())
            }
        }

        impl $crate::meta::SharedStatus for $kind {
            fn shared_fields(
                status: &mut <Self as kube::core::object::HasStatus>::Status,
            ) -> $crate::meta::SharedStatusFields<'_> {
                $crate::meta::SharedStatusFields {
                    conditions: &mut status.conditions,
                    observed_generation: &mut status.observed_generation,
                    last_handled_reconcile_at: &mut status.last_handled_reconcile_at,
                }
            }
        }
    };
}

/// Implements [`ArtifactSource`] for a kind whose status has `artifact`.
#[macro_export]
macro_rules! impl_artifact_source {
    ($kind:ty) => {
        impl $crate::meta::ArtifactSource for $kind {
            fn artifact(&self) -> Option<&$crate::meta::Artifact> {
                self.status.as_ref().and_then(|s| s.artifact.as_ref())
            }
        }
    };
}

/// Parses a Go `time.Duration` string as the Toolkit APIs write them (`1m30s`, `1.5h`, `500ms`).
/// Negative durations and the bare `0` Go also accepts are not valid in these APIs.
pub fn parse_duration(input: &str) -> Result<std::time::Duration, DurationError> {
    let err = || DurationError(input.to_owned());
    if input.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    let mut rest = input;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number.parse().map_err(|_| err())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += value * seconds_per_unit;
        rest = tail;
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| err())
}

/// A duration string that is not a valid Go duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(pub String);

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid duration {:?}", self.0)
    }
}

impl std::error::Error for DurationError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h45m"), Ok(Duration::from_secs(9900)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in ["", "10", "m", "1x", "1m30", "-1s", "1..5s", "s10"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
