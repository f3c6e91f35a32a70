//! Provider (`notification.toolkit.fluxcd.io/v1beta3`): where and how notifications are
//! delivered. A static object without status.

use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{DURATION_PATTERN, LocalObjectReference, TIMEOUT_PATTERN, parse_duration};

/// Provider timeout when `spec.timeout` is unset.
pub const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_secs(15);

/// Where and how notifications are delivered.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "notification.toolkit.fluxcd.io",
    version = "v1beta3",
    kind = "Provider",
    plural = "providers",
    namespaced,
    category = "all",
    category = "fluxcd",
    category = "fluxcd-notifications",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.type == 'github' || self.type == 'gitlab' || self.type == 'gitea' || self.type == 'bitbucketserver' || self.type == 'bitbucket' || self.type == 'azuredevops' || !has(self.commitStatusExpr)",
    "message": "spec.commitStatusExpr is only supported for the 'github', 'gitlab', 'gitea', 'bitbucketserver', 'bitbucket', 'azuredevops' provider types"
}]))]
pub struct ProviderSpec {
    /// Which notification service to talk to.
    #[serde(rename = "type")]
    pub type_: ProviderType,
    /// Deprecated and unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Option<String>,
    /// Destination channel (chat channel, topic, room, subject, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub channel: Option<String>,
    /// Name events are posted under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub username: Option<String>,
    /// Endpoint to send to; its meaning depends on `type`. The Secret's `address` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub address: Option<String>,
    /// Timeout of a delivery; 15s when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TIMEOUT_PATTERN))]
    pub timeout: Option<String>,
    /// Deprecated: HTTP/S proxy address; use `proxySecretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(http|https)://.*$"), length(max = 2048))]
    pub proxy: Option<String>,
    /// Secret with the proxy `address` and optional `username`/`password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// Secret with credentials (`token`, `username`, `password`, `address`, `headers`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// ServiceAccount for workload identity (azureeventhub, azuredevops, googlepubsub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Secret with `ca.crt` and/or `tls.crt`/`tls.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Stop delivering to this provider.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// CEL expression (variables `event`, `provider`, `alert`) giving the commit status
    /// identifier; only for the git commit-status types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_status_expr: Option<String>,
}

/// Notification service a Provider delivers to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ProviderType {
    #[serde(rename = "slack")]
    Slack,
    #[serde(rename = "discord")]
    Discord,
    #[serde(rename = "msteams")]
    MsTeams,
    #[serde(rename = "rocket")]
    Rocket,
    #[default]
    #[serde(rename = "generic")]
    Generic,
    #[serde(rename = "generic-hmac")]
    GenericHmac,
    #[serde(rename = "github")]
    GitHub,
    #[serde(rename = "gitlab")]
    GitLab,
    #[serde(rename = "gitea")]
    Gitea,
    #[serde(rename = "giteapullrequestcomment")]
    GiteaPullRequestComment,
    #[serde(rename = "bitbucketserver")]
    BitbucketServer,
    #[serde(rename = "bitbucket")]
    Bitbucket,
    #[serde(rename = "azuredevops")]
    AzureDevOps,
    #[serde(rename = "googlechat")]
    GoogleChat,
    #[serde(rename = "googlepubsub")]
    GooglePubSub,
    #[serde(rename = "webex")]
    Webex,
    #[serde(rename = "sentry")]
    Sentry,
    #[serde(rename = "azureeventhub")]
    AzureEventHub,
    #[serde(rename = "telegram")]
    Telegram,
    #[serde(rename = "lark")]
    Lark,
    #[serde(rename = "matrix")]
    Matrix,
    #[serde(rename = "opsgenie")]
    Opsgenie,
    #[serde(rename = "alertmanager")]
    AlertManager,
    #[serde(rename = "grafana")]
    Grafana,
    #[serde(rename = "githubdispatch")]
    GitHubDispatch,
    #[serde(rename = "githubpullrequestcomment")]
    GitHubPullRequestComment,
    #[serde(rename = "gitlabmergerequestcomment")]
    GitLabMergeRequestComment,
    #[serde(rename = "pagerduty")]
    PagerDuty,
    #[serde(rename = "datadog")]
    DataDog,
    #[serde(rename = "nats")]
    Nats,
    #[serde(rename = "zulip")]
    Zulip,
    #[serde(rename = "otel")]
    Otel,
    #[serde(rename = "zoom")]
    Zoom,
    #[serde(rename = "incident.io")]
    IncidentIo,
}

impl ProviderType {
    /// Types that set commit statuses on a Git server (the only ones allowing `commitStatusExpr`).
    pub fn is_commit_status(self) -> bool {
        matches!(
            self,
            Self::GitHub
                | Self::GitLab
                | Self::Gitea
                | Self::BitbucketServer
                | Self::Bitbucket
                | Self::AzureDevOps
        )
    }

    /// Types that comment on pull or merge requests.
    pub fn is_change_request_comment(self) -> bool {
        matches!(
            self,
            Self::GitHubPullRequestComment
                | Self::GiteaPullRequestComment
                | Self::GitLabMergeRequestComment
        )
    }
}

impl Provider {
    /// `spec.timeout`, else 15s.
    pub fn timeout(&self) -> Duration {
        self.spec
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_PROVIDER_TIMEOUT)
    }
}

impl_reconcilable_without_status!(Provider);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Reconcilable;
    use crate::test_support::spec_schema;
    use serde_json::json;

    #[test]
    fn schema_matches_flux() {
        let provider = spec_schema::<Provider>();
        assert_eq!(provider["required"], json!(["type"]));
        assert_eq!(
            provider["properties"]["timeout"]["pattern"],
            TIMEOUT_PATTERN
        );
        assert_eq!(provider["properties"]["address"]["maxLength"], 2048);
    }

    #[test]
    fn flux_manifest_round_trips() {
        let provider: Provider = serde_json::from_value(json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
            "kind": "Provider",
            "metadata": {"name": "p"},
            "spec": {"type": "incident.io", "suspend": true}
        }))
        .unwrap();
        assert_eq!(provider.spec.type_, ProviderType::IncidentIo);
        assert_eq!(provider.timeout(), DEFAULT_PROVIDER_TIMEOUT);
        assert!(provider.suspended() && provider.conditions().is_empty());
    }
}
