//! OCIRepository (`source.toolkit.fluxcd.io/v1`): an artifact from one layer of an OCI
//! artifact. Also home of the registry provider and signature-verification types that
//! HelmRepository and HelmChart reuse.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::default_source_timeout;
use crate::meta::{Artifact, Condition, DURATION_PATTERN, LocalObjectReference, TIMEOUT_PATTERN};

/// Scheme every OCIRepository (and OCI HelmRepository) URL starts with.
pub const OCI_REPOSITORY_PREFIX: &str = "oci://";
/// Reason: pulling the OCI artifact from the registry failed.
pub const OCI_PULL_FAILED_REASON: &str = "OCIArtifactPullFailed";
/// Reason: extracting or copying the selected layer failed.
pub const OCI_LAYER_OPERATION_FAILED_REASON: &str = "OCIArtifactLayerOperationFailed";

pub(super) fn default_oci_provider() -> Option<OCIProvider> {
    Some(OCIProvider::Generic)
}

/// Produces an artifact from one layer of an OCI artifact in a container registry.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "OCIRepository",
    plural = "ocirepositories",
    namespaced,
    status = "OCIRepositoryStatus",
    shortname = "ocirepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositorySpec {
    /// Repository address, `oci://<registry>/<repository>` without tag or digest.
    #[schemars(regex(pattern = r"^oci://.*$"))]
    pub url: String,
    /// Tag, semver range or digest to pull; the `latest` tag when absent.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<OCIRepositoryRef>,
    /// Which layer ends up in the artifact; the first layer when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_selector: Option<OCILayerSelector>,
    /// Registry authentication provider.
    #[serde(
        default = "default_oci_provider",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider: Option<OCIProvider>,
    /// Secret of type `kubernetes.io/dockerconfigjson` with registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Signature verification of the pulled artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<OCIRepositoryVerification>,
    /// ServiceAccount whose image pull secrets (or workload identity) are used to authenticate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Secret with `tls.crt`/`tls.key` (client certificate) and/or `ca.crt` for the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Secret with `address`, `username`, `password` of a proxy for the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// How often the registry is checked for a new digest.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: String,
    /// Timeout of registry operations such as pulling.
    #[serde(
        default = "default_source_timeout",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = TIMEOUT_PATTERN))]
    pub timeout: Option<String>,
    /// Exclusion patterns in `.gitignore` syntax; replaces the default exclusions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Talk plain HTTP to the registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Stop reconciling this object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Authentication provider for container registries (OCIRepository, OCI HelmRepository).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OCIProvider {
    #[default]
    Generic,
    Aws,
    Azure,
    Gcp,
}

/// The OCI reference to pull. Precedence: digest, semver, tag.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryRef {
    /// Manifest digest, `sha256:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Semantic version range; the highest matching tag is pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// Regular expression that tags must match before the semver range is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver_filter: Option<String>,
    /// Tag to pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// Chooses a layer of the OCI artifact by media type and what to do with it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCILayerSelector {
    /// Media type of the layer; the first layer with this type is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `extract` the (tar+gzip) layer into the artifact, or `copy` it as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OCILayerOperation>,
}

impl OCILayerSelector {
    /// The operation, `extract` when unset.
    pub fn operation(&self) -> OCILayerOperation {
        self.operation.unwrap_or_default()
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OCILayerOperation {
    #[default]
    Extract,
    Copy,
}

/// How the signature of an OCI artifact is verified.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("required" = ["provider"]))]
pub struct OCIRepositoryVerification {
    /// Signing technology.
    #[serde(default)]
    pub provider: OCIVerificationProvider,
    /// Secret with trusted keys: `*.pub` for cosign, CA certificates and `trustpolicy.json`
    /// for notation. Cosign keyless verification when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Identities accepted for cosign keyless signatures; any match suffices.
    #[serde(
        default,
        rename = "matchOIDCIdentity",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_oidc_identity: Vec<OIDCIdentityMatch>,
    /// Secret with key `trusted_root.json` describing a self-hosted Sigstore instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root_secret_ref: Option<LocalObjectReference>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OCIVerificationProvider {
    #[default]
    Cosign,
    Notation,
}

/// Matches the issuer and subject of a Fulcio certificate (Go regular expressions).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct OIDCIdentityMatch {
    /// Pattern for the OIDC issuer.
    pub issuer: String,
    /// Pattern for the identity subject.
    pub subject: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Address of the `latest.tar.gz` link to the current artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The artifact of the last successful reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ignore: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_layer_selector: Option<OCILayerSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

crate::impl_reconcilable!(OCIRepository);
crate::impl_artifact_source!(OCIRepository);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::spec_schema;
    use serde_json::json;

    #[test]
    fn flux_defaults_are_schema_defaults() {
        let oci = spec_schema::<OCIRepository>();
        assert_eq!(oci["properties"]["provider"]["default"], "generic");
        assert_eq!(oci["properties"]["timeout"]["default"], "60s");
        assert_eq!(
            oci["properties"]["verify"]["properties"]["provider"]["default"],
            "cosign"
        );
        assert_eq!(oci["properties"]["verify"]["required"], json!(["provider"]));
    }

    #[test]
    fn flux_manifest_round_trips() {
        let manifest = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "podinfo"},
            "spec": {
                "interval": "5m",
                "url": "oci://ghcr.io/stefanprodan/manifests/podinfo",
                "ref": {"semver": "6.x", "semverFilter": ".*-rc.*"},
                "layerSelector": {"mediaType": "application/x-tar", "operation": "copy"},
                "verify": {"matchOIDCIdentity": [{"issuer": "i", "subject": "s"}]}
            }
        });
        let oci: OCIRepository = serde_json::from_value(manifest).unwrap();
        assert_eq!(oci.spec.provider, Some(OCIProvider::Generic));
        assert_eq!(oci.spec.timeout.as_deref(), Some("60s"));
        let verify = oci.spec.verify.as_ref().unwrap();
        assert_eq!(verify.provider, OCIVerificationProvider::Cosign);
        assert_eq!(
            oci.spec.layer_selector.as_ref().unwrap().operation(),
            OCILayerOperation::Copy
        );
        let back = serde_json::to_value(&oci).unwrap();
        assert_eq!(back["spec"]["ref"]["semverFilter"], ".*-rc.*");
        assert_eq!(back["spec"]["verify"]["provider"], "cosign");
        assert_eq!(
            back["spec"]["verify"]["matchOIDCIdentity"][0]["subject"],
            "s"
        );
    }
}
