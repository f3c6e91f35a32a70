//! `image.toolkit.fluxcd.io/v1`: ImageRepository, ImagePolicy, ImageUpdateAutomation.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{
    Condition, DURATION_PATTERN, LabelSelector, LocalObjectReference, NamespacedObjectReference,
    TIMEOUT_PATTERN, Time, parse_duration,
};
use crate::source::GitRepositoryRef;

pub const GROUP: &str = "image.toolkit.fluxcd.io";
pub const VERSION: &str = "v1";

// image-reflector-controller reasons.
pub const IMAGE_URL_INVALID_REASON: &str = "ImageURLInvalid";
pub const DEPENDENCY_NOT_READY_REASON: &str = crate::conditions::DEPENDENCY_NOT_READY;
pub const AUTHENTICATION_FAILED_REASON: &str = "AuthenticationFailed";
pub const READ_OPERATION_FAILED_REASON: &str = "ReadOperationFailed";
pub const INTERVAL_NOT_CONFIGURED_REASON: &str = "IntervalNotConfigured";
pub const INVALID_POLICY_REASON: &str = "InvalidPolicy";
// Reconciling reasons of the image-reflector-controller.
pub const NEW_GENERATION_REASON: &str = "NewGeneration";
pub const SCANNING_REASON: &str = "Scanning";
pub const ACCESSING_REPOSITORY_REASON: &str = "AccessingRepository";
pub const APPLYING_POLICY_REASON: &str = "ApplyingPolicy";

// image-automation-controller reasons.
pub const INVALID_UPDATE_STRATEGY_REASON: &str = "InvalidUpdateStrategy";
pub const INVALID_SOURCE_CONFIG_REASON: &str = "InvalidSourceConfiguration";
pub const SOURCE_MANAGER_FAILED_REASON: &str = "SourceManagerFailed";
pub const GIT_OPERATION_FAILED_REASON: &str = "GitOperationFailed";
pub const UPDATE_FAILED_REASON: &str = "UpdateFailed";
pub const INVALID_POLICY_SELECTOR_REASON: &str = "InvalidPolicySelector";
pub const REMOVED_TEMPLATE_FIELD_REASON: &str = "RemovedTemplateField";

/// Tags excluded from scans unless `spec.exclusionList` says otherwise (cosign signatures).
pub const DEFAULT_EXCLUSION_LIST: &[&str] = &["^.*\\.sig$"];
/// Refresh period of `digestReflectionPolicy: Always` when `spec.interval` is unset.
pub const DEFAULT_POLICY_INTERVAL: Duration = Duration::from_secs(600);
/// Commit message used when `messageTemplate` is empty.
pub const DEFAULT_COMMIT_MESSAGE: &str = "Update from image update automation";

fn default_exclusion_list() -> Vec<String> {
    DEFAULT_EXCLUSION_LIST
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

fn default_image_provider() -> Option<ImageProvider> {
    Some(ImageProvider::Generic)
}

// ---------------------------------------------------------------------------------------------
// ImageRepository

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

// ---------------------------------------------------------------------------------------------
// ImagePolicy

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

impl Default for AlphabeticalPolicy {
    fn default() -> Self {
        Self {
            order: default_order(),
        }
    }
}

/// Orders tags as numbers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct NumericalPolicy {
    /// `asc` picks the largest number, `desc` the smallest.
    #[serde(default = "default_order", skip_serializing_if = "Option::is_none")]
    pub order: Option<SortOrder>,
}

impl Default for NumericalPolicy {
    fn default() -> Self {
        Self {
            order: default_order(),
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// ImageUpdateAutomation

fn default_update_strategy() -> Option<UpdateStrategy> {
    Some(UpdateStrategy::default())
}

fn default_update_strategy_name() -> Option<UpdateStrategyName> {
    Some(UpdateStrategyName::Setters)
}

/// Rewrites image references in a Git repository from ImagePolicies, then commits and pushes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "image.toolkit.fluxcd.io",
    version = "v1",
    kind = "ImageUpdateAutomation",
    plural = "imageupdateautomations",
    namespaced,
    status = "ImageUpdateAutomationStatus",
    shortname = "iua",
    shortname = "imgupd",
    shortname = "imgauto",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-images",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Last run","type":"string","jsonPath":".status.lastAutomationRunTime","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationSpec {
    /// The GitRepository to clone, update and push to.
    pub source_ref: AutomationSourceReference,
    /// Git checkout, commit and push settings.
    #[serde(default, rename = "git", skip_serializing_if = "Option::is_none")]
    pub git_spec: Option<GitSpec>,
    /// Lower bound on how often the automation runs.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: String,
    /// ImagePolicies to use; all policies in the namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_selector: Option<LabelSelector>,
    /// How files are updated.
    #[serde(
        default = "default_update_strategy",
        skip_serializing_if = "Option::is_none"
    )]
    pub update: Option<UpdateStrategy>,
    /// Stop running this automation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Reference to the GitRepository an automation works on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Flux's `kind` is both required and defaulted; a serde default alone would drop "required".
#[schemars(extend("required" = ["kind", "name"]))]
pub struct AutomationSourceReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    #[serde(default)]
    pub kind: AutomationSourceKind,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent; the automation's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AutomationSourceKind {
    #[default]
    GitRepository,
}

/// Git settings of an automation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GitSpec {
    /// What to clone; the GitRepository's own `ref` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<GitCheckoutSpec>,
    /// How to commit.
    pub commit: CommitSpec,
    /// Where to push; back to the checked-out branch when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
}

/// The reference to clone.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GitCheckoutSpec {
    #[serde(rename = "ref")]
    pub reference: GitRepositoryRef,
}

/// Commit author, signing and message.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitSpec {
    pub author: CommitUser,
    /// Key to sign commits with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKey>,
    /// Go template of the commit message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template: Option<String>,
    /// Extra values available to the template as `.Values`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub message_template_values: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CommitUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

/// A Secret with a commit signing key: `git.asc` (+`passphrase`) for gpg,
/// `identity` (+`password`) for ssh.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKey {
    pub secret_ref: LocalObjectReference,
    /// Key format; `gpg` when absent.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub key_type: Option<SigningKeyType>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyType {
    #[default]
    Gpg,
    Ssh,
}

/// Push target.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct PushSpec {
    /// Branch to push to, created from the checkout branch if missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Refspec to push with (no force `+`, no deletions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^$|^[^+:]"))]
    pub refspec: Option<String>,
    /// Git push options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// Update strategy and the directory it works in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct UpdateStrategy {
    #[serde(
        default = "default_update_strategy_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub strategy: Option<UpdateStrategyName>,
    /// Directory to update; the repository root when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Default for UpdateStrategy {
    fn default() -> Self {
        Self {
            strategy: default_update_strategy_name(),
            path: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UpdateStrategyName {
    /// Rewrite YAML fields marked with `# {"$imagepolicy": "<ns>:<name>[:tag|:name|:digest]"}`.
    #[default]
    Setters,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationStatus {
    /// When the automation last ran to completion (with or without changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_automation_run_time: Option<Time>,
    /// SHA of the last commit pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// ImagePolicy name to the image it selected, as used by the last run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub observed_policies: BTreeMap<String, ImageRef>,
    /// Source revision seen by the last run, e.g. `main@sha1:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_source_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

impl ImageUpdateAutomation {
    /// `spec.interval`, if it parses.
    pub fn interval(&self) -> Option<Duration> {
        parse_duration(&self.spec.interval).ok()
    }
}

crate::impl_reconcilable!(ImageUpdateAutomation);

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

        let auto = spec_schema::<ImageUpdateAutomation>();
        assert_eq!(
            auto["properties"]["update"]["default"],
            json!({"strategy": "Setters"})
        );
        let kind = &auto["properties"]["sourceRef"]["properties"]["kind"];
        assert_eq!(kind["default"], "GitRepository");
        assert_eq!(
            auto["properties"]["sourceRef"]["required"],
            json!(["kind", "name"])
        );
    }

    #[test]
    fn flux_manifests_round_trip() {
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

        let auto: ImageUpdateAutomation = serde_json::from_value(json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1",
            "kind": "ImageUpdateAutomation",
            "metadata": {"name": "flux-system"},
            "spec": {
                "interval": "30m",
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                "git": {
                    "checkout": {"ref": {"branch": "main"}},
                    "commit": {"author": {"email": "bot@example.com"}, "signingKey": {"type": "ssh", "secretRef": {"name": "k"}}},
                    "push": {"refspec": "refs/heads/main:refs/heads/auto"}
                }
            },
            "status": {"observedPolicies": {"podinfo": {"name": "ghcr.io/stefanprodan/podinfo", "tag": "5.0.3", "digest": "sha256:aa"}}}
        }))
        .unwrap();
        assert_eq!(
            auto.spec.update.as_ref().unwrap().strategy,
            Some(UpdateStrategyName::Setters)
        );
        let back = serde_json::to_value(&auto).unwrap();
        assert_eq!(back["spec"]["git"]["checkout"]["ref"]["branch"], "main");
        assert_eq!(back["spec"]["git"]["commit"]["signingKey"]["type"], "ssh");
        assert_eq!(
            back["status"]["observedPolicies"]["podinfo"]["digest"],
            "sha256:aa"
        );

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
