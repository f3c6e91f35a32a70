//! ExternalArtifact (`source.toolkit.fluxcd.io/v1`): an artifact another controller produced
//! and stored, in source-controller's format, for Flux's consumers to use (Flux RFC-0012).
//! Driftless reconciles none; kustomize-controller and helm-controller read them behind the
//! `ExternalArtifact` feature gate, as Flux's do.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{Artifact, Condition, NamespacedObjectKindReference};

/// An artifact produced by a third-party controller.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "ExternalArtifact",
    plural = "externalartifacts",
    namespaced,
    status = "ExternalArtifactStatus",
    shortname = "ea",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.sourceRef.name"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ExternalArtifactSpec {
    /// The custom resource the artifact is generated for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<NamespacedObjectKindReference>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalArtifactStatus {
    /// The artifact last produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

crate::impl_artifact_source!(ExternalArtifact);

impl ExternalArtifact {
    pub fn conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .map_or(&[], |s| s.conditions.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flux_manifest_round_trips() {
        let manifest = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "ExternalArtifact",
            "metadata": {"name": "my-artifact", "namespace": "flux-system"},
            "spec": {"sourceRef": {"apiVersion": "example.com/v1", "kind": "Source", "name": "my-source"}},
            "status": {
                "artifact": {
                    "digest": "sha256:35d47c9db0eee6ffe08a404dfb416bee31b2b79eabc3f2eb26749163ce487f52",
                    "lastUpdateTime": "2025-08-21T13:37:31Z",
                    "path": "source/flux-system/my-source/35d47c9d.tar.gz",
                    "revision": "v1.0.0@sha256:35d47c9db0eee6ffe08a404dfb416bee31b2b79eabc3f2eb26749163ce487f52",
                    "size": 20914,
                    "url": "http://example-controller.flux-system.svc.cluster.local./source/flux-system/my-source/35d47c9d.tar.gz"
                },
                "conditions": [{"lastTransitionTime": "2025-08-21T13:37:31Z", "message": "stored artifact for revision v1.0.0", "observedGeneration": 1, "reason": "Succeeded", "status": "True", "type": "Ready"}]
            }
        });
        let parsed: ExternalArtifact = serde_json::from_value(manifest.clone()).unwrap();
        assert_eq!(parsed.spec.source_ref.as_ref().unwrap().kind, "Source");
        assert_eq!(parsed.conditions()[0].reason, "Succeeded");
        assert_eq!(serde_json::to_value(&parsed).unwrap(), manifest);
    }
}
