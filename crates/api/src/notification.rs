//! `notification.toolkit.fluxcd.io`: Provider and Alert (`v1beta3`, static objects without
//! status) and Receiver (`v1`).

use std::collections::BTreeMap;
use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{
    Condition, DURATION_PATTERN, LocalObjectReference, Reconcilable, TIMEOUT_PATTERN,
    parse_duration,
};

pub const GROUP: &str = "notification.toolkit.fluxcd.io";
/// Version of Provider and Alert.
pub const VERSION_V1BETA3: &str = "v1beta3";
/// Version of Receiver.
pub const VERSION: &str = "v1";

pub const INITIALIZED_REASON: &str = "Initialized";
pub const VALIDATION_FAILED_REASON: &str = "ValidationFailed";
pub const TOKEN_NOT_FOUND_REASON: &str = "TokenNotFound";
pub const MIGRATION_REASON: &str = "Migration";
pub const INVALID_CONFIG_REASON: &str = "InvalidConfig";
pub const NOTIFICATION_DISPATCH_FAILED_REASON: &str = "NotificationDispatchFailed";
pub const SOURCE_FETCH_FAILED_REASON: &str = "SourceFetchFailed";
pub const METADATA_APPEND_FAILED_REASON: &str = "MetadataAppendFailed";

/// Prefix of every `status.webhookPath`.
pub const RECEIVER_WEBHOOK_PATH: &str = "/hook/";
/// Audience expected by a `generic-oidc` provider without `audience`.
pub const DEFAULT_OIDC_AUDIENCE: &str = "notification-controller";
/// Provider timeout when `spec.timeout` is unset.
pub const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_secs(15);
/// Receiver interval when `spec.interval` is unset.
pub const DEFAULT_RECEIVER_INTERVAL: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------------------------
// Provider

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

impl Reconcilable for Provider {
    fn suspended(&self) -> bool {
        self.spec.suspend
    }
    fn conditions(&self) -> &[Condition] {
        &[]
    }
    fn observed_generation(&self) -> Option<i64> {
        None
    }
    fn last_handled_reconcile_at(&self) -> Option<&str> {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Alert

fn default_event_severity() -> Option<EventSeverity> {
    Some(EventSeverity::Info)
}

/// Which events are sent to which Provider.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "notification.toolkit.fluxcd.io",
    version = "v1beta3",
    kind = "Alert",
    plural = "alerts",
    namespaced,
    category = "all",
    category = "fluxcd",
    category = "fluxcd-notifications",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct AlertSpec {
    /// Provider in the Alert's namespace to deliver to.
    pub provider_ref: LocalObjectReference,
    /// Lowest severity forwarded: `info` forwards everything.
    #[serde(
        default = "default_event_severity",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_severity: Option<EventSeverity>,
    /// Objects whose events are forwarded.
    pub event_sources: Vec<CrossNamespaceObjectReference>,
    /// Regular expressions; when set, only messages matching one are forwarded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_list: Vec<String>,
    /// Metadata added to every forwarded event, without overriding the event's own keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_metadata: BTreeMap<String, String>,
    /// Regular expressions; messages matching one are dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusion_list: Vec<String>,
    /// Deprecated: short summary added to event metadata; use `eventMetadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub summary: Option<String>,
    /// Stop forwarding events for this Alert.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventSeverity {
    #[default]
    Info,
    Error,
}

impl Alert {
    /// `spec.eventSeverity` with its default.
    pub fn event_severity(&self) -> EventSeverity {
        self.spec.event_severity.unwrap_or_default()
    }
}

impl Reconcilable for Alert {
    fn suspended(&self) -> bool {
        self.spec.suspend
    }
    fn conditions(&self) -> &[Condition] {
        &[]
    }
    fn observed_generation(&self) -> Option<i64> {
        None
    }
    fn last_handled_reconcile_at(&self) -> Option<&str> {
        None
    }
}

/// Kinds an Alert or Receiver can refer to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ObjectKind {
    Bucket,
    #[default]
    GitRepository,
    Kustomization,
    HelmRelease,
    HelmChart,
    HelmRepository,
    ImageRepository,
    ImagePolicy,
    ImageUpdateAutomation,
    #[serde(rename = "OCIRepository")]
    OciRepository,
    ArtifactGenerator,
    ExternalArtifact,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bucket => "Bucket",
            Self::GitRepository => "GitRepository",
            Self::Kustomization => "Kustomization",
            Self::HelmRelease => "HelmRelease",
            Self::HelmChart => "HelmChart",
            Self::HelmRepository => "HelmRepository",
            Self::ImageRepository => "ImageRepository",
            Self::ImagePolicy => "ImagePolicy",
            Self::ImageUpdateAutomation => "ImageUpdateAutomation",
            Self::OciRepository => "OCIRepository",
            Self::ArtifactGenerator => "ArtifactGenerator",
            Self::ExternalArtifact => "ExternalArtifact",
        }
    }
}

/// Reference to Toolkit objects by kind, name (or `*`) and namespace (or `*`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceObjectReference {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: ObjectKind,
    /// Name of the referent, or `*` for all objects of the kind.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referent (the referrer's when absent), or `*` for all namespaces
    /// (which needs `name: *`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub namespace: Option<String>,
    /// Labels the referents must have; needs `name: *`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Receiver

fn default_receiver_interval() -> Option<String> {
    Some("10m".into())
}

/// A webhook that requests reconciliation of the referenced objects.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "notification.toolkit.fluxcd.io",
    version = "v1",
    kind = "Receiver",
    plural = "receivers",
    namespaced,
    status = "ReceiverStatus",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-notifications",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type != 'generic-oidc' || (has(self.oidcProviders) && size(self.oidcProviders) > 0)", "message": "generic-oidc receivers must define at least one oidcProvider"},
    {"rule": "self.type == 'generic-oidc' || !has(self.oidcProviders) || size(self.oidcProviders) == 0", "message": "oidcProviders can only be set when type is generic-oidc"},
    {"rule": "self.type != 'generic-oidc' || !has(self.secretRef)", "message": "secretRef cannot be set when type is generic-oidc"},
    {"rule": "self.type == 'generic-oidc' || has(self.secretRef)", "message": "secretRef is required when type is not generic-oidc"}
]))]
pub struct ReceiverSpec {
    /// Webhook sender, which decides how requests are verified and parsed.
    #[serde(rename = "type")]
    pub type_: ReceiverType,
    /// How often the Secret references are re-checked.
    #[serde(
        default = "default_receiver_interval",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Option<String>,
    /// Event types to act on (e.g. `push`, `Push Hook`); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Objects to reconcile on a valid request.
    pub resources: Vec<ReceiverResource>,
    /// CEL expression over `res` (object metadata), `req` (request body) and, for
    /// generic-oidc, `claims`; a resource is reconciled only when it returns true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_filter: Option<String>,
    /// Secret with the `token` (gcr also `email` and `audience`); required unless
    /// the type is generic-oidc, which must not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// OIDC issuers trusted by a generic-oidc receiver.
    #[serde(
        default,
        rename = "oidcProviders",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["issuerURL"]))]
    pub oidc_providers: Vec<OidcProvider>,
    /// Ignore incoming requests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ReceiverType {
    #[default]
    #[serde(rename = "generic")]
    Generic,
    #[serde(rename = "generic-hmac")]
    GenericHmac,
    #[serde(rename = "generic-oidc")]
    GenericOidc,
    #[serde(rename = "github")]
    GitHub,
    #[serde(rename = "gitlab")]
    GitLab,
    #[serde(rename = "bitbucket")]
    Bitbucket,
    #[serde(rename = "harbor")]
    Harbor,
    #[serde(rename = "dockerhub")]
    DockerHub,
    #[serde(rename = "quay")]
    Quay,
    #[serde(rename = "gcr")]
    Gcr,
    #[serde(rename = "nexus")]
    Nexus,
    #[serde(rename = "acr")]
    Acr,
    #[serde(rename = "cdevents")]
    CdEvents,
}

/// An object (or `*` with labels) to reconcile, with an optional extra CEL filter.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ReceiverResource {
    #[serde(flatten)]
    pub reference: CrossNamespaceObjectReference,
    /// CEL expression evaluated per matched object, in addition to `resourceFilter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// An OIDC issuer trusted by a generic-oidc Receiver.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct OidcProvider {
    /// Issuer URL; must equal the token's `iss` claim.
    #[serde(rename = "issuerURL")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub issuer_url: String,
    /// Expected `aud` claim; `notification-controller` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Named CEL expressions over `claims`, exposed to later ones as `vars.<name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<OidcVariable>,
    /// CEL conditions over `claims` and `vars`; all must hold.
    #[schemars(length(min = 1))]
    pub validations: Vec<OidcValidation>,
}

impl OidcProvider {
    /// `audience` with its default.
    pub fn audience(&self) -> &str {
        match self.audience.as_deref() {
            Some(a) if !a.is_empty() => a,
            _ => DEFAULT_OIDC_AUDIENCE,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct OidcVariable {
    /// A CEL identifier.
    pub name: String,
    pub expression: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct OidcValidation {
    /// CEL boolean expression.
    pub expression: String,
    /// Returned to the caller when the expression is false.
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `/hook/<sha256(token + name + namespace)>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

impl Receiver {
    /// `spec.interval`, else 10m.
    pub fn interval(&self) -> Duration {
        self.spec
            .interval
            .as_deref()
            .and_then(|i| parse_duration(i).ok())
            .unwrap_or(DEFAULT_RECEIVER_INTERVAL)
    }
}

crate::impl_reconcilable!(Receiver);

#[cfg(test)]
mod tests {
    use super::*;
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
        let alert = spec_schema::<Alert>();
        assert_eq!(alert["properties"]["eventSeverity"]["default"], "info");
        assert_eq!(alert["required"], json!(["eventSources", "providerRef"]));
        let receiver = spec_schema::<Receiver>();
        assert_eq!(receiver["properties"]["interval"]["default"], "10m");
        assert_eq!(receiver["required"], json!(["resources", "type"]));
        assert_eq!(
            receiver["x-kubernetes-validations"]
                .as_array()
                .map(Vec::len),
            Some(4)
        );
        let oidc = &receiver["properties"]["oidcProviders"];
        assert_eq!(oidc["x-kubernetes-list-type"], "map");
        assert_eq!(oidc["items"]["properties"]["validations"]["minItems"], 1);
        let resource = &receiver["properties"]["resources"]["items"];
        assert_eq!(resource["required"], json!(["kind", "name"]));
        assert!(resource["properties"].get("filter").is_some());
    }

    #[test]
    fn flux_manifests_round_trip() {
        let receiver = json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1",
            "kind": "Receiver",
            "metadata": {"name": "gh"},
            "spec": {
                "type": "github",
                "interval": "10m",
                "events": ["push"],
                "secretRef": {"name": "token"},
                "resources": [{"kind": "GitRepository", "name": "*", "matchLabels": {"a": "b"}, "filter": "true"}]
            }
        });
        let r: Receiver = serde_json::from_value(receiver.clone()).unwrap();
        assert_eq!(r.spec.type_, ReceiverType::GitHub);
        assert_eq!(
            r.spec.resources[0].reference.kind,
            ObjectKind::GitRepository
        );
        assert_eq!(serde_json::to_value(&r).unwrap(), receiver);

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

        let alert: Alert = serde_json::from_value(json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
            "kind": "Alert",
            "metadata": {"name": "a"},
            "spec": {
                "providerRef": {"name": "p"},
                "eventSources": [{"kind": "OCIRepository", "name": "*", "namespace": "*"}]
            }
        }))
        .unwrap();
        assert_eq!(alert.event_severity(), EventSeverity::Info);
        assert_eq!(
            serde_json::to_value(&alert).unwrap()["spec"]["eventSources"][0]["kind"],
            "OCIRepository"
        );
        assert_eq!(alert.observed_generation(), None);
    }
}
