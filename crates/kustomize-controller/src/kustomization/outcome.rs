//! How a Kustomization reconcile ends: the [`Outcome`] of each ending, the Kustomization's
//! own conditions (Healthy) and the events Flux sends with them, worded as Flux words them.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::conditions::{
    DEPENDENCY_NOT_READY, HEALTH_CHECK_FAILED, HEALTHY, PROGRESSING, RECONCILIATION_SUCCEEDED,
    SUCCEEDED,
};
use driftless_api::event::Severity;
use driftless_api::kustomize::{Kustomization, KustomizationStatus};
use driftless_api::meta::parse_duration;
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::go_duration;
use driftless_runtime::reconcile::outcome::Notice;
use driftless_runtime::reconcile::{Outcome, RetryAfter};

use super::health_wait::{HEALTH_POLL, HealthOutcome};
use driftless_runtime::apply::{Action as Applied, Change};
use driftless_runtime::reconcile::object_key;

pub(super) const REVISION_METADATA: &str = "kustomize.toolkit.fluxcd.io/revision";
const COMMIT_STATUS_METADATA: &str = "kustomize.toolkit.fluxcd.io/commit_status";

/// `spec.interval` (ten minutes when unreadable).
pub(super) fn interval(object: &Kustomization) -> Duration {
    parse_duration(&object.spec.interval).unwrap_or(Duration::from_secs(600))
}

/// `spec.retryInterval`, else the interval.
pub(super) fn retry_interval(object: &Kustomization) -> Duration {
    object
        .spec
        .retry_interval
        .as_deref()
        .and_then(|r| parse_duration(r).ok())
        .unwrap_or_else(|| interval(object))
}

/// A failure retried after `spec.retryInterval`, with a Warning event.
pub(super) fn failure(
    object: &Kustomization,
    reason: &'static str,
    message: impl Into<String>,
) -> Outcome {
    Outcome::Retry {
        reason,
        message: message.into(),
        after: RetryAfter::Fixed(retry_interval(object)),
    }
}

/// Waiting on something else (a source, a dependency): no Warning event.
pub(super) fn waiting(
    reason: &'static str,
    message: impl Into<String>,
    after: Duration,
) -> Outcome {
    Outcome::Waiting {
        reason,
        message: message.into(),
        after,
    }
}

/// The revision an event is about, as event metadata.
pub(super) fn revision_metadata(revision: Option<&str>) -> BTreeMap<String, String> {
    revision
        .map(|revision| BTreeMap::from([(REVISION_METADATA.to_owned(), revision.to_owned())]))
        .unwrap_or_default()
}

/// How a reconcile ends: its outcome, and the Kustomization's own events sent once the status
/// is written.
#[derive(Debug, PartialEq)]
pub(super) struct Ending {
    pub outcome: Outcome,
    pub events: Vec<Notice>,
}

fn info(reason: &str, message: String, metadata: BTreeMap<String, String>) -> Notice {
    Notice {
        severity: Severity::Info,
        reason: reason.to_owned(),
        message,
        metadata,
    }
}

/// A reconcile that stopped at `failure`: the Healthy condition of a failed health check, and
/// Flux's event for a dependency that is not ready.
pub(super) fn failed(
    status: &mut KustomizationStatus,
    generation: Option<i64>,
    failure: Outcome,
    requeue_dependency: Duration,
) -> Ending {
    if failure.reason() == HEALTH_CHECK_FAILED {
        cond::set(
            &mut status.conditions,
            HEALTHY,
            Status::False,
            HEALTH_CHECK_FAILED,
            failure.message(),
            generation,
        );
    }
    let mut events = Vec::new();
    if failure.reason() == DEPENDENCY_NOT_READY {
        let message = format!(
            "Dependencies do not meet ready condition, retrying in {}",
            go_duration(requeue_dependency)
        );
        events.push(info(DEPENDENCY_NOT_READY, message, BTreeMap::new()));
    }
    Ending {
        outcome: failure,
        events,
    }
}

/// A revision applied in `elapsed`: the change set, health and summary events, and Ready —
/// or, while health checks wait on a rollout, a look again soon without holding a worker.
pub(super) fn succeeded(
    object: &Kustomization,
    status: &mut KustomizationStatus,
    revision: &str,
    changes: &[Change],
    health: HealthOutcome,
    elapsed: Duration,
) -> Ending {
    let generation = kube::Resource::meta(object).generation;
    let metadata = revision_metadata(Some(revision));
    let changed: Vec<&Change> = changes
        .iter()
        .filter(|c| {
            matches!(
                c.action,
                Applied::Created | Applied::Configured | Applied::Deleted
            )
        })
        .collect();
    let mut events = Vec::new();
    if !changed.is_empty() {
        let lines = change_lines(changed.iter().copied());
        events.push(info(PROGRESSING, lines, metadata.clone()));
    }
    match health {
        HealthOutcome::Waiting(message) => {
            let outcome = Outcome::Progressing {
                reason: PROGRESSING,
                message,
                after: HEALTH_POLL,
            };
            return Ending { outcome, events };
        }
        HealthOutcome::Healthy(took) => {
            let was_healthy = cond::is_true(&status.conditions, HEALTHY);
            let message = format!("Health check passed in {}", go_duration(took));
            cond::set(
                &mut status.conditions,
                HEALTHY,
                Status::True,
                SUCCEEDED,
                message.clone(),
                generation,
            );
            if !was_healthy || !changed.is_empty() {
                events.push(info(PROGRESSING, message, metadata.clone()));
            }
        }
        HealthOutcome::NotChecked => cond::remove(&mut status.conditions, HEALTHY),
    }
    status.last_applied_revision = Some(revision.to_owned());
    let interval = interval(object);
    let finished = format!(
        "Reconciliation finished in {}, next run in {}",
        go_duration(elapsed),
        go_duration(interval)
    );
    let mut metadata = metadata;
    metadata.insert(COMMIT_STATUS_METADATA.to_owned(), "update".to_owned());
    events.push(info(RECONCILIATION_SUCCEEDED, finished, metadata));
    let outcome = Outcome::Ready {
        reason: RECONCILIATION_SUCCEEDED,
        message: format!("Applied revision: {revision}"),
        interval,
    };
    Ending { outcome, events }
}

/// One line per object that changed, exactly as Flux's events list them
/// (`Kind/namespace/name action`), so Alert inclusion and exclusion rules written for Flux
/// match the same events.
pub(super) fn change_lines<'a>(changes: impl IntoIterator<Item = &'a Change>) -> String {
    changes
        .into_iter()
        .map(|c| format!("{} {}", c.id.display(), c.action.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Objects changed while re-applying the revision last applied had drifted in the cluster:
/// logged with the fields that differed, apart from the change-set event Flux defines.
pub(super) fn log_reverted_drift(object: &Kustomization, changes: &[Change]) {
    for change in changes {
        if change.action == Applied::Configured {
            tracing::info!(
                kustomization = %object_key(object),
                object = %change.id.display(),
                fields = ?change.drifted,
                "reverted drift"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::kustomize::KustomizationSpec;
    use driftless_runtime::inventory::ObjectId;

    #[test]
    fn change_sets_read_exactly_as_flux_writes_them() {
        let id = |kind: &str, namespace: &str, name: &str| ObjectId {
            group: String::new(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        let changes = [
            Change {
                id: id("Service", "podinfo", "podinfo"),
                action: Applied::Configured,
                drifted: vec!["/spec/ports/0/port".into()],
            },
            Change {
                id: id("Namespace", "", "podinfo"),
                action: Applied::Created,
                drifted: Vec::new(),
            },
        ];
        assert_eq!(
            change_lines(&changes),
            "Service/podinfo/podinfo configured\nNamespace/podinfo created"
        );
    }

    #[test]
    fn failures_retry_after_the_retry_interval_and_waits_do_not_warn() {
        let mut object = Kustomization::new("apps", KustomizationSpec::default());
        object.spec.interval = "10m".into();
        assert_eq!(retry_interval(&object), Duration::from_secs(600));
        object.spec.retry_interval = Some("1m".into());
        assert_eq!(
            failure(&object, "BuildFailed", "kustomize build failed"),
            Outcome::Retry {
                reason: "BuildFailed",
                message: "kustomize build failed".into(),
                after: RetryAfter::Fixed(Duration::from_secs(60)),
            }
        );
        assert!(matches!(
            waiting(DEPENDENCY_NOT_READY, "not ready", Duration::from_secs(30)),
            Outcome::Waiting { after, .. } if after == Duration::from_secs(30)
        ));
    }

    #[test]
    fn failure_events_carry_the_revision_attempted() {
        assert_eq!(
            revision_metadata(Some("main@sha1:abc")),
            BTreeMap::from([(REVISION_METADATA.to_owned(), "main@sha1:abc".to_owned())])
        );
        assert!(revision_metadata(None).is_empty());
    }

    fn kustomization() -> Kustomization {
        let mut object = Kustomization::new("apps", KustomizationSpec::default());
        object.spec.interval = "10m".into();
        object.metadata.generation = Some(3);
        object
    }

    fn change(kind: &str, action: Applied) -> Change {
        Change {
            id: ObjectId {
                group: "apps".into(),
                version: "v1".into(),
                kind: kind.into(),
                namespace: "apps".into(),
                name: "podinfo".into(),
            },
            action,
            drifted: Vec::new(),
        }
    }

    #[test]
    fn a_failed_health_check_marks_healthy_false_and_a_dependency_wait_says_when_it_retries() {
        let mut status = KustomizationStatus::default();
        let failure = failure(
            &kustomization(),
            HEALTH_CHECK_FAILED,
            "timeout waiting for: []",
        );
        let ending = failed(
            &mut status,
            Some(3),
            failure.clone(),
            Duration::from_secs(30),
        );
        assert_eq!(ending.outcome, failure);
        assert!(ending.events.is_empty());
        let healthy = cond::get(&status.conditions, HEALTHY).unwrap();
        assert_eq!(
            (healthy.status.as_str(), healthy.reason.as_str()),
            ("False", HEALTH_CHECK_FAILED)
        );

        let wait = waiting(
            DEPENDENCY_NOT_READY,
            "dependency 'apps/infra' is not ready",
            Duration::from_secs(30),
        );
        let ending = failed(&mut status, Some(3), wait, Duration::from_secs(30));
        let messages: Vec<&str> = ending.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            ["Dependencies do not meet ready condition, retrying in 30s"]
        );
        assert_eq!(ending.events[0].severity, Severity::Info);
    }

    #[test]
    fn an_applied_revision_reports_the_change_set_health_and_summary_as_flux_does() {
        let object = kustomization();
        let mut status = KustomizationStatus::default();
        let changes = [
            change("Deployment", Applied::Configured),
            change("Service", Applied::Unchanged),
        ];
        let ending = succeeded(
            &object,
            &mut status,
            "main@sha1:abc",
            &changes,
            HealthOutcome::Healthy(Duration::from_millis(1500)),
            Duration::from_secs(2),
        );
        assert_eq!(
            ending.outcome,
            Outcome::Ready {
                reason: RECONCILIATION_SUCCEEDED,
                message: "Applied revision: main@sha1:abc".into(),
                interval: Duration::from_secs(600),
            }
        );
        let events: Vec<(&str, &str)> = ending
            .events
            .iter()
            .map(|e| (e.reason.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            events,
            [
                (PROGRESSING, "Deployment/apps/podinfo configured"),
                (PROGRESSING, "Health check passed in 1.5s"),
                (
                    RECONCILIATION_SUCCEEDED,
                    "Reconciliation finished in 2s, next run in 10m0s"
                ),
            ]
        );
        assert_eq!(
            ending.events[2]
                .metadata
                .get(COMMIT_STATUS_METADATA)
                .map(String::as_str),
            Some("update")
        );
        assert_eq!(
            status.last_applied_revision.as_deref(),
            Some("main@sha1:abc")
        );
        assert!(cond::is_true(&status.conditions, HEALTHY));

        // Nothing changed and still healthy: only the summary.
        let again = succeeded(
            &object,
            &mut status,
            "main@sha1:abc",
            &[change("Service", Applied::Unchanged)],
            HealthOutcome::Healthy(Duration::ZERO),
            Duration::from_secs(1),
        );
        assert_eq!(again.events.len(), 1);
        assert_eq!(again.events[0].reason, RECONCILIATION_SUCCEEDED);
    }

    #[test]
    fn a_rollout_in_progress_is_looked_at_again_soon_without_a_summary() {
        let mut status = KustomizationStatus::default();
        let ending = succeeded(
            &kustomization(),
            &mut status,
            "main@sha1:abc",
            &[change("Deployment", Applied::Created)],
            HealthOutcome::Waiting("Waiting for health checks".into()),
            Duration::from_secs(1),
        );
        assert_eq!(
            ending.outcome,
            Outcome::Progressing {
                reason: PROGRESSING,
                message: "Waiting for health checks".into(),
                after: HEALTH_POLL,
            }
        );
        assert_eq!(ending.events.len(), 1, "only the change set");
        assert_eq!(
            status.last_applied_revision, None,
            "not applied until healthy"
        );
    }
}
