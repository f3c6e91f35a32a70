//! Receiver (`notification.toolkit.fluxcd.io/v1`): a webhook that requests reconciliation of
//! the referenced objects.

use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::reference::CrossNamespaceObjectReference;
use crate::meta::{Condition, DURATION_PATTERN, LocalObjectReference, parse_duration};

/// Prefix of every `status.webhookPath`.
pub const RECEIVER_WEBHOOK_PATH: &str = "/hook/";
/// Audience expected by a `generic-oidc` provider without `audience`.
pub const DEFAULT_OIDC_AUDIENCE: &str = "notification-controller";
/// Receiver interval when `spec.interval` is unset.
pub const DEFAULT_RECEIVER_INTERVAL: Duration = Duration::from_secs(600);

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
    use crate::notification::ObjectKind;
    use crate::test_support::spec_schema;
    use serde_json::json;

    #[test]
    fn schema_matches_flux() {
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
    fn flux_manifest_round_trips() {
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
    }
}
