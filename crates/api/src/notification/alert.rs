//! Alert (`notification.toolkit.fluxcd.io/v1beta3`): which events are sent to which
//! Provider. A static object without status.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::reference::CrossNamespaceObjectReference;
use crate::meta::LocalObjectReference;

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

impl_reconcilable_without_status!(Alert);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Reconcilable;
    use crate::test_support::spec_schema;
    use serde_json::json;

    #[test]
    fn schema_matches_flux() {
        let alert = spec_schema::<Alert>();
        assert_eq!(alert["properties"]["eventSeverity"]["default"], "info");
        assert_eq!(alert["required"], json!(["eventSources", "providerRef"]));
    }

    #[test]
    fn flux_manifest_round_trips() {
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
