//! Kustomization (`kustomize.toolkit.fluxcd.io/v1`): builds a kustomize overlay (or plain
//! manifests) from a source artifact and applies it.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{
    Condition, DURATION_PATTERN, DependencyReference, Image, KubeConfigReference,
    LocalObjectReference, NamespacedObjectKindReference, Patch, Selector, Time, parse_duration,
};

/// Builds a kustomize overlay (or plain manifests) from a source artifact and applies it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kustomize.toolkit.fluxcd.io",
    version = "v1",
    kind = "Kustomization",
    plural = "kustomizations",
    namespaced,
    status = "KustomizationStatus",
    shortname = "ks",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-appliers",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    /// Labels and annotations set on every applied object, overriding existing keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// Kustomizations that must be ready before this one is reconciled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyReference>,
    /// How to decrypt SOPS-encrypted manifests before applying them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<Decryption>,
    /// How often to reconcile (approximate, jittered).
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: String,
    /// How soon to retry after a failure; `interval` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub retry_interval: Option<String>,
    /// Kubeconfig of a remote cluster to apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfigReference>,
    /// Directory in the artifact to build; the artifact root when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Actions run on the built manifests, such as variable substitution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,
    /// Delete objects that disappear from the source (garbage collection).
    pub prune: bool,
    /// What to do with applied objects when this Kustomization is deleted;
    /// `MirrorPrune` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Objects whose health gates readiness (ignored when `wait` is set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<NamespacedObjectKindReference>,
    /// Prefix added to the names of all applied objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name_prefix: Option<String>,
    /// Suffix added to the names of all applied objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name_suffix: Option<String>,
    /// Inline strategic-merge or JSON6902 patches with optional targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    /// Image name, tag and digest overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// ServiceAccount impersonated while applying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// The source whose artifact holds the manifests.
    pub source_ref: CrossNamespaceSourceReference,
    /// Stop reconciling this object; runs already started are not affected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Namespace set on all namespaced objects (kustomize `namespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub target_namespace: Option<String>,
    /// Timeout of build, apply and health-check operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<String>,
    /// Recreate objects when a patch fails on an immutable field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub force: bool,
    /// Wait for every applied object to become healthy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
    /// Paths of kustomize Components, relative to `path`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Drop `components` entries that do not exist in the source instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_components: bool,
    /// kustomize build metadata to add to the applied objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_metadata: Vec<BuildMetadataOption>,
    /// CEL expressions that compute the health of custom resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_check_exprs: Vec<CustomHealthCheck>,
    /// JSON-pointer paths excluded from drift detection and apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<IgnoreRule>,
}

/// Kind of source a Kustomization can build from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SourceKind {
    #[serde(rename = "OCIRepository")]
    OciRepository,
    #[default]
    GitRepository,
    Bucket,
    ExternalArtifact,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OciRepository => "OCIRepository",
            Self::GitRepository => "GitRepository",
            Self::Bucket => "Bucket",
            Self::ExternalArtifact => "ExternalArtifact",
        }
    }
}

/// Reference to a source object, in any namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: SourceKind,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent; the Kustomization's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Behaviour on deletion of the Kustomization.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the applied objects when `prune` is true, orphan them otherwise.
    #[default]
    MirrorPrune,
    Delete,
    /// Delete the applied objects and wait until they are gone.
    WaitForTermination,
    Orphan,
}

/// Labels and annotations applied to every object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CommonMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// SOPS decryption settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    /// Decryption engine.
    pub provider: DecryptionProvider,
    /// ServiceAccount used for secret-less KMS authentication; static credentials in
    /// `secretRef` take priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Secret holding private keys (`*.agekey`, `*.asc`) or KMS credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecryptionProvider {
    #[default]
    Sops,
}

/// Post-build actions on the rendered manifests.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// Variables substituted into `${var}` references; these win over `substituteFrom`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// ConfigMaps and Secrets whose data keys are substitution variables (later entries win).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
    /// When substitution runs; `WithVariables` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute_strategy: Option<SubstituteStrategy>,
}

/// When post-build substitution runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SubstituteStrategy {
    /// Only when at least one variable is defined.
    #[default]
    WithVariables,
    /// Even without variables, so `${var:=default}` expressions are expanded.
    Always,
}

/// A ConfigMap or Secret supplying substitution variables.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SubstituteReference {
    /// Kind of the referent.
    pub kind: SubstituteKind,
    /// Name of the referent, in the Kustomization's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Treat a missing referent as empty instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub optional: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SubstituteKind {
    Secret,
    #[default]
    ConfigMap,
}

/// kustomize `buildMetadata` options Flux allows.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BuildMetadataOption {
    OriginAnnotations,
    TransformerAnnotations,
}

/// CEL health expressions for one kind of custom resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomHealthCheck {
    /// API version of the resources (only the group is compared).
    pub api_version: String,
    /// Kind of the resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// True when the resource reached its desired state.
    pub current: String,
    /// True while the resource is still progressing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,
    /// True when the resource failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// Paths to leave alone during drift detection, for all objects or those matching `target`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct IgnoreRule {
    /// JSON Pointers (RFC 6901) into the object.
    pub paths: Vec<String>,
    /// Objects the rule applies to; every object when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Revision of the last artifact applied successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// Origin revision (e.g. `org.opencontainers.image.revision`) of the last applied artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_origin_revision: Option<String>,
    /// Revision of the last reconciliation attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// Objects applied by the last successful reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<ResourceInventory>,
    /// Recent reconciliations, most recent first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Snapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

/// The set of objects a Kustomization has applied.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceInventory {
    pub entries: Vec<ResourceRef>,
}

/// One applied object.
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub struct ResourceRef {
    /// `<namespace>_<name>_<group>_<kind>`.
    pub id: String,
    /// API version of the object.
    #[serde(rename = "v")]
    pub version: String,
}

/// A record of reconciliations of one build (`meta.Snapshot`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// `<algorithm>:<hex>` checksum of the built resources.
    pub digest: String,
    pub first_reconciled: Time,
    pub last_reconciled: Time,
    /// Go duration of the last reconciliation.
    pub last_reconciled_duration: String,
    /// Ready reason of the last reconciliation.
    pub last_reconciled_status: String,
    pub total_reconciliations: i64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Most snapshots kept in `status.history`.
pub const MAX_HISTORY_SNAPSHOTS: usize = 5;

impl Kustomization {
    /// `spec.interval`, if it parses.
    pub fn interval(&self) -> Option<Duration> {
        parse_duration(&self.spec.interval).ok()
    }

    /// `spec.retryInterval`, falling back to `spec.interval`.
    pub fn retry_interval(&self) -> Option<Duration> {
        match self.spec.retry_interval.as_deref() {
            Some(d) => parse_duration(d).ok(),
            None => self.interval(),
        }
    }

    /// `spec.timeout`, else `interval - 30s`; never less than 30s.
    pub fn timeout(&self) -> Duration {
        const FLOOR: Duration = Duration::from_secs(30);
        let d = match self.spec.timeout.as_deref() {
            Some(t) => parse_duration(t).unwrap_or_default(),
            None => self.interval().unwrap_or_default().saturating_sub(FLOOR),
        };
        d.max(FLOOR)
    }

    /// `spec.deletionPolicy` with its default.
    pub fn deletion_policy(&self) -> DeletionPolicy {
        self.spec.deletion_policy.unwrap_or_default()
    }

    /// `spec.postBuild.substituteStrategy` with its default.
    pub fn substitute_strategy(&self) -> SubstituteStrategy {
        self.spec
            .post_build
            .as_ref()
            .and_then(|p| p.substitute_strategy)
            .unwrap_or_default()
    }
}

crate::impl_reconcilable!(Kustomization);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::spec_schema;
    use serde_json::json;

    #[test]
    fn schema_matches_flux() {
        let spec = spec_schema::<Kustomization>();
        assert_eq!(spec["required"], json!(["interval", "prune", "sourceRef"]));
        let props = &spec["properties"];
        assert_eq!(props["force"]["default"], false);
        assert_eq!(props["timeout"]["pattern"], DURATION_PATTERN);
        assert_eq!(props["targetNamespace"]["maxLength"], 63);
        assert_eq!(props["namePrefix"]["minLength"], 1);
        assert_eq!(
            props["sourceRef"]["properties"]["kind"]["enum"],
            json!([
                "OCIRepository",
                "GitRepository",
                "Bucket",
                "ExternalArtifact"
            ])
        );
        assert_eq!(
            props["healthCheckExprs"]["items"]["required"],
            json!(["apiVersion", "current"])
        );
        let from = &props["postBuild"]["properties"]["substituteFrom"]["items"];
        assert_eq!(from["properties"]["optional"]["default"], false);
        assert_eq!(from["properties"]["name"]["maxLength"], 253);
        assert_eq!(
            props["kubeConfig"]["x-kubernetes-validations"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn flux_manifest_round_trips() {
        let manifest = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "podinfo", "namespace": "default"},
            "spec": {
                "interval": "10m",
                "targetNamespace": "default",
                "sourceRef": {"kind": "OCIRepository", "name": "podinfo"},
                "path": "./kustomize",
                "prune": false,
                "postBuild": {"substituteStrategy": "Always", "substitute": {"a": "b"}},
                "ignore": [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}]
            },
            "status": {
                "inventory": {"entries": [{"id": "default_podinfo_apps_Deployment", "v": "v1"}]}
            }
        });
        let ks: Kustomization = serde_json::from_value(manifest.clone()).unwrap();
        assert_eq!(ks.spec.source_ref.kind, SourceKind::OciRepository);
        assert_eq!(ks.substitute_strategy(), SubstituteStrategy::Always);
        assert_eq!(ks.deletion_policy(), DeletionPolicy::MirrorPrune);
        assert_eq!(ks.timeout(), Duration::from_secs(570));
        assert_eq!(ks.retry_interval(), Some(Duration::from_secs(600)));
        assert_eq!(serde_json::to_value(&ks).unwrap(), manifest);
    }

    #[test]
    fn timeout_has_a_floor() {
        let mut ks = Kustomization::new("x", KustomizationSpec::default());
        ks.spec.interval = "20s".into();
        assert_eq!(ks.timeout(), Duration::from_secs(30));
        ks.spec.timeout = Some("2h".into());
        assert_eq!(ks.timeout(), Duration::from_secs(7200));
    }
}
