//! Which Alerts an event goes to, and the event as a provider gets it. Pure: no I/O.

use std::collections::BTreeMap;

use driftless_api::event::{Event, Severity};
use driftless_api::notification::{Alert, EventSeverity};
use kube::ResourceExt;

/// The API group of an `apiVersion` (`""` for the core group).
fn group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// Whether an Alert's sources need the involved object's labels to decide.
pub fn needs_labels(alert: &Alert) -> bool {
    alert
        .spec
        .event_sources
        .iter()
        .any(|s| !s.match_labels.is_empty())
}

/// Whether `alert` forwards `event`. `labels` are the involved object's labels, when an
/// event source selects by label; `no_cross_namespace_refs` keeps Alerts to their namespace.
pub fn matches(
    alert: &Alert,
    event: &Event,
    labels: Option<&BTreeMap<String, String>>,
    no_cross_namespace_refs: bool,
) -> Result<bool, regex::Error> {
    if alert.spec.suspend {
        return Ok(false);
    }
    if event.severity == Severity::Trace
        || (alert.event_severity() == EventSeverity::Error && event.severity != Severity::Error)
    {
        return Ok(false);
    }
    let alert_namespace = alert.namespace().unwrap_or_default();
    let object = &event.involved_object;
    let (kind, name, namespace) = (
        object.kind.as_deref().unwrap_or_default(),
        object.name.as_deref().unwrap_or_default(),
        object.namespace.as_deref().unwrap_or_default(),
    );
    if no_cross_namespace_refs && namespace != alert_namespace {
        return Ok(false);
    }
    let source_matches = alert.spec.event_sources.iter().any(|source| {
        let source_namespace = source.namespace.as_deref().unwrap_or(&alert_namespace);
        source.kind.as_str() == kind
            && (source.name == "*" || source.name == name)
            && (source_namespace == "*" || source_namespace == namespace)
            && source
                .match_labels
                .iter()
                .all(|(k, v)| labels.is_some_and(|labels| labels.get(k) == Some(v)))
    });
    if !source_matches {
        return Ok(false);
    }
    if !alert.spec.inclusion_list.is_empty() {
        let mut included = false;
        for pattern in &alert.spec.inclusion_list {
            if regex::Regex::new(pattern)?.is_match(&event.message) {
                included = true;
                break;
            }
        }
        if !included {
            return Ok(false);
        }
    }
    for pattern in &alert.spec.exclusion_list {
        if regex::Regex::new(pattern)?.is_match(&event.message) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The event as providers get it for `alert`, its metadata merged as Flux merges it, from
/// lowest to highest precedence: the object's `event.toolkit.fluxcd.io/*` annotations (prefix
/// stripped), the Alert's `eventMetadata`, its `summary`, and the controller's keys of the
/// object's API group (prefix stripped). Other keys, tokens and digests are dropped.
pub fn for_alert(event: &Event, alert: Option<&Alert>) -> Event {
    let object_group = group(
        event
            .involved_object
            .api_version
            .as_deref()
            .unwrap_or_default(),
    );
    let stripped = |prefix: &str| {
        event
            .metadata
            .iter()
            .filter_map(move |(key, value)| {
                let key = key.strip_prefix(prefix)?;
                (!matches!(key, "checksum" | "digest" | "token"))
                    .then(|| (key.to_owned(), value.clone()))
            })
            .collect::<Vec<_>>()
    };
    let mut metadata: BTreeMap<String, String> =
        stripped(driftless_api::event::EVENT_ANNOTATION_PREFIX)
            .into_iter()
            .collect();
    if let Some(alert) = alert {
        metadata.extend(alert.spec.event_metadata.clone());
        if let Some(summary) = alert.spec.summary.as_deref().filter(|s| !s.is_empty()) {
            metadata.insert("summary".to_owned(), summary.to_owned());
        }
    }
    metadata.extend(stripped(&format!("{object_group}/")));
    // Events from senders that use no prefixes keep their metadata, as in Flux.
    if metadata.is_empty() {
        metadata = event
            .metadata
            .iter()
            .filter(|(key, _)| !key.ends_with("token"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    }
    Event {
        metadata,
        ..event.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(spec: serde_json::Value) -> Alert {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": { "name": "a", "namespace": "apps" }, "spec": spec,
        }))
        .unwrap()
    }

    fn event(kind: &str, name: &str, namespace: &str, severity: &str, message: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "involvedObject": {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": kind,
                "name": name, "namespace": namespace,
            },
            "severity": severity, "timestamp": "2026-11-30T10:00:00Z", "message": message,
            "reason": "ReconciliationSucceeded", "reportingController": "kustomize-controller",
            "metadata": {
                "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
                "kustomize.toolkit.fluxcd.io/digest": "sha256:0",
                "other.io/key": "dropped",
            },
        }))
        .unwrap()
    }

    #[test]
    fn sources_severity_and_namespaces() {
        let all = alert(serde_json::json!({
            "providerRef": { "name": "p" },
            "eventSources": [{ "kind": "Kustomization", "name": "*" }],
        }));
        let info = event("Kustomization", "app", "apps", "info", "done");
        assert!(matches(&all, &info, None, false).unwrap());
        assert!(
            !matches(
                &all,
                &event("GitRepository", "app", "apps", "info", "x"),
                None,
                false
            )
            .unwrap()
        );
        // Sources default to the Alert's namespace.
        assert!(
            !matches(
                &all,
                &event("Kustomization", "app", "other", "info", "x"),
                None,
                false
            )
            .unwrap()
        );
        let errors = alert(serde_json::json!({
            "providerRef": { "name": "p" }, "eventSeverity": "error",
            "eventSources": [{ "kind": "Kustomization", "name": "app", "namespace": "*" }],
        }));
        assert!(!matches(&errors, &info, None, false).unwrap());
        let failed = event("Kustomization", "app", "other", "error", "failed");
        assert!(matches(&errors, &failed, None, false).unwrap());
        assert!(
            !matches(&errors, &failed, None, true).unwrap(),
            "cross-namespace refused"
        );
        let trace = event("Kustomization", "app", "apps", "trace", "x");
        assert!(!matches(&all, &trace, None, false).unwrap());
    }

    #[test]
    fn labels_and_message_filters() {
        let labelled = alert(serde_json::json!({
            "providerRef": { "name": "p" },
            "eventSources": [{ "kind": "Kustomization", "name": "*", "matchLabels": { "team": "shop" } }],
            "inclusionList": [".*finished.*"], "exclusionList": ["^Dependencies"],
        }));
        assert!(needs_labels(&labelled));
        let shop = BTreeMap::from([("team".to_owned(), "shop".to_owned())]);
        let finished = event(
            "Kustomization",
            "app",
            "apps",
            "info",
            "Reconciliation finished in 1s",
        );
        assert!(matches(&labelled, &finished, Some(&shop), false).unwrap());
        assert!(!matches(&labelled, &finished, None, false).unwrap());
        let other = event(
            "Kustomization",
            "app",
            "apps",
            "info",
            "Health check passed",
        );
        assert!(!matches(&labelled, &other, Some(&shop), false).unwrap());
        let excluded = event(
            "Kustomization",
            "app",
            "apps",
            "info",
            "Dependencies finished",
        );
        assert!(!matches(&labelled, &excluded, Some(&shop), false).unwrap());
    }

    #[test]
    fn metadata_is_merged_as_flux_merges_it() {
        let mut original = event("Kustomization", "app", "apps", "info", "x");
        let cleaned = for_alert(&original, None);
        assert_eq!(
            cleaned.metadata,
            BTreeMap::from([("revision".to_owned(), "main@sha1:abc".to_owned())])
        );
        original
            .metadata
            .insert("event.toolkit.fluxcd.io/env".into(), "annotated".into());
        original
            .metadata
            .insert("event.toolkit.fluxcd.io/team".into(), "shop".into());
        let alert = alert(serde_json::json!({
            "providerRef": { "name": "p" }, "summary": "prod",
            "eventSources": [{ "kind": "Kustomization", "name": "*" }],
            "eventMetadata": { "env": "prod", "revision": "never overrides" },
        }));
        let sent = for_alert(&original, Some(&alert));
        // The controller's own keys win; the Alert's win over the object's annotations.
        assert_eq!(sent.metadata["revision"], "main@sha1:abc");
        assert_eq!(sent.metadata["env"], "prod");
        assert_eq!(sent.metadata["team"], "shop");
        assert_eq!(sent.metadata["summary"], "prod");
        assert!(!sent.metadata.contains_key("other.io/key"));
        // Without a key of either prefix, the event keeps what it has (but tokens).
        let mut plain = event("Kustomization", "app", "apps", "info", "x");
        plain.metadata = BTreeMap::from([
            ("revision".to_owned(), "v1".to_owned()),
            ("token".to_owned(), "secret".to_owned()),
        ]);
        assert_eq!(
            for_alert(&plain, None).metadata,
            BTreeMap::from([("revision".to_owned(), "v1".to_owned())])
        );
    }
}
