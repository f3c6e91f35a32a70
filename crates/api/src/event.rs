//! The event payload controllers POST to notification-controller
//! (Flux's `event.toolkit.fluxcd.io/v1beta1` `Event`; not a custom resource).

use std::collections::BTreeMap;

pub use k8s_openapi::api::core::v1::ObjectReference;
use serde::{Deserialize, Serialize};

/// Metadata key suffixes controllers attach as `<object group>/<key>`.
pub const META_REVISION_KEY: &str = "revision";
pub const META_ORIGIN_REVISION_KEY: &str = "originRevision";
pub const META_DIGEST_KEY: &str = "digest";
pub const META_TOKEN_KEY: &str = "token";
pub const META_COMMIT_STATUS_KEY: &str = "commit_status";
pub const META_COMMIT_STATUS_UPDATE_VALUE: &str = "update";
/// Object annotations with this prefix are copied into every event's metadata.
pub const EVENT_ANNOTATION_PREFIX: &str = "event.toolkit.fluxcd.io/";

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Recorded as a Kubernetes event only; never forwarded.
    Trace,
    Info,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Info => "info",
            Self::Error => "error",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The object the event is about.
    pub involved_object: ObjectReference,
    pub severity: Severity,
    /// RFC 3339 time the event was emitted.
    pub timestamp: String,
    /// Human-readable description; at most 39000 bytes are accepted.
    pub message: String,
    /// Short CamelCase reason, e.g. `NewArtifact` or `ReconciliationSucceeded`.
    pub reason: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Name of the emitting controller, e.g. `source-controller`.
    pub reporting_controller: String,
    /// Instance (pod hostname) of the emitting controller.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reporting_instance: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_like_flux() {
        let event = Event {
            involved_object: ObjectReference {
                api_version: Some("source.toolkit.fluxcd.io/v1".into()),
                kind: Some("GitRepository".into()),
                name: Some("podinfo".into()),
                namespace: Some("flux-system".into()),
                uid: Some("a1b2".into()),
                ..Default::default()
            },
            severity: Severity::Info,
            timestamp: "2026-11-22T01:00:00Z".into(),
            message: "stored artifact for commit 'init'".into(),
            reason: "NewArtifact".into(),
            metadata: BTreeMap::from([(
                "source.toolkit.fluxcd.io/revision".into(),
                "main@sha1:abc".into(),
            )]),
            reporting_controller: "source-controller".into(),
            reporting_instance: "source-controller-7d9f".into(),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "involvedObject": {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "GitRepository",
                    "name": "podinfo",
                    "namespace": "flux-system",
                    "uid": "a1b2"
                },
                "severity": "info",
                "timestamp": "2026-11-22T01:00:00Z",
                "message": "stored artifact for commit 'init'",
                "reason": "NewArtifact",
                "metadata": {"source.toolkit.fluxcd.io/revision": "main@sha1:abc"},
                "reportingController": "source-controller",
                "reportingInstance": "source-controller-7d9f"
            })
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
