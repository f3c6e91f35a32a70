//! ImageUpdateAutomation (`image.toolkit.fluxcd.io/v1`): rewrites image references in a
//! Git repository from ImagePolicies, then commits and pushes.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::imagepolicy::ImageRef;
use crate::meta::{
    Condition, DURATION_PATTERN, LabelSelector, LocalObjectReference, Time, parse_duration,
};
use crate::source::GitRepositoryRef;

/// Commit message used when `messageTemplate` is empty.
pub const DEFAULT_COMMIT_MESSAGE: &str = "Update from image update automation";

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
    fn flux_manifest_round_trips() {
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
    }
}
