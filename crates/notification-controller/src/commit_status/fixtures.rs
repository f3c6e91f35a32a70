//! Objects the commit status tests build statuses from: a Provider with a fixed UID, an
//! Alert, an event naming commit `3b9a1f7c`, a Secret holding a token, and `build`'s status.

use driftless_api::event::Event;
use driftless_api::notification::{Alert, Provider};

use super::CommitStatus;
use crate::providers::ProviderSecret;

pub(super) fn provider(spec: serde_json::Value) -> Provider {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": { "name": "p", "namespace": "apps", "uid": "5f0c9f3e-aaaa-bbbb" },
        "spec": spec,
    }))
    .unwrap()
}

pub(super) fn alert() -> Alert {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
        "metadata": { "name": "statuses", "namespace": "apps" },
        "spec": { "providerRef": { "name": "p" }, "eventSources": [{ "kind": "Kustomization", "name": "*" }] },
    }))
    .unwrap()
}

pub(super) fn event(severity: &str, reason: &str) -> Event {
    serde_json::from_value(serde_json::json!({
        "involvedObject": { "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": "podinfo", "namespace": "apps" },
        "severity": severity, "timestamp": "2026-11-30T10:00:00Z",
        "message": "m", "reason": reason, "reportingController": "kustomize-controller",
        "metadata": { "revision": "main@sha1:3b9a1f7c", "cluster": "prod-eu" },
    }))
    .unwrap()
}

/// A Provider of `type_` at `address`, as most tests need one.
pub(super) fn provider_at(type_: &str, address: &str) -> Provider {
    provider(serde_json::json!({ "type": type_, "address": address }))
}

/// `build`'s status for an event that must set one.
pub(super) fn built(
    provider: &Provider,
    id: &str,
    secret: &ProviderSecret,
    event: &Event,
) -> CommitStatus {
    super::build(provider, id, secret, event)
        .unwrap()
        .expect("the event sets a status")
}

pub(super) fn secret_with_token(token: &str) -> ProviderSecret {
    ProviderSecret {
        token: Some(token.into()),
        ..Default::default()
    }
}
