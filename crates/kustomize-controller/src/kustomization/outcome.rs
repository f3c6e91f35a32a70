//! How a Kustomization reconcile ends: the [`Outcome`] of each ending, the Kustomization's
//! own conditions (Healthy) and the events Flux sends with them, worded as Flux words them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use driftless_api::conditions::{
    DEPENDENCY_NOT_READY, HEALTH_CHECK_FAILED, HEALTHY, PROGRESSING, RECONCILIATION_SUCCEEDED,
    SUCCEEDED,
};
use driftless_api::event::Severity;
use driftless_api::kustomize::Kustomization;
use driftless_api::meta::parse_duration;
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::go_duration;
use driftless_runtime::reconcile::{Outcome, RetryAfter, Run};

use super::health_wait::{HEALTH_POLL, HealthOutcome};
use super::{Reconciler, key};
use crate::apply::{Action as Applied, Change};

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

impl Reconciler {
    /// A reconcile that stopped at `failure`: the Kustomization's own conditions and events
    /// that go with it.
    pub(super) fn failed(&self, run: &mut Run<Kustomization>, failure: Outcome) -> Outcome {
        let generation = run.generation();
        if failure.reason() == HEALTH_CHECK_FAILED {
            cond::set(
                &mut run.status.conditions,
                HEALTHY,
                Status::False,
                HEALTH_CHECK_FAILED,
                failure.message(),
                generation,
            );
        }
        if failure.reason() == DEPENDENCY_NOT_READY {
            let message = format!(
                "Dependencies do not meet ready condition, retrying in {}",
                go_duration(self.settings.requeue_dependency)
            );
            run.event(
                Severity::Info,
                DEPENDENCY_NOT_READY,
                message,
                BTreeMap::new(),
            );
        }
        failure
    }

    /// A revision applied: the change set, health and summary events, and Ready — or, while
    /// health checks wait on a rollout, a look again soon without holding a worker.
    pub(super) fn succeeded(
        &self,
        run: &mut Run<Kustomization>,
        revision: &str,
        changes: &[Change],
        health: HealthOutcome,
        started: Instant,
    ) -> Outcome {
        let generation = run.generation();
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
        if !changed.is_empty() {
            run.event(
                Severity::Info,
                PROGRESSING,
                change_lines(changed.iter().copied()),
                metadata.clone(),
            );
        }
        match health {
            HealthOutcome::Waiting(message) => {
                return Outcome::Progressing {
                    reason: PROGRESSING,
                    message,
                    after: HEALTH_POLL,
                };
            }
            HealthOutcome::Healthy(elapsed) => {
                let was_healthy = cond::is_true(&run.status.conditions, HEALTHY);
                let message = format!("Health check passed in {}", go_duration(elapsed));
                cond::set(
                    &mut run.status.conditions,
                    HEALTHY,
                    Status::True,
                    SUCCEEDED,
                    message.clone(),
                    generation,
                );
                if !was_healthy || !changed.is_empty() {
                    run.event(Severity::Info, PROGRESSING, message, metadata.clone());
                }
            }
            HealthOutcome::NotChecked => cond::remove(&mut run.status.conditions, HEALTHY),
        }
        run.status.last_applied_revision = Some(revision.to_owned());
        let interval = interval(&run.object);
        let finished = format!(
            "Reconciliation finished in {}, next run in {}",
            go_duration(started.elapsed()),
            go_duration(interval)
        );
        let mut metadata = metadata;
        metadata.insert(COMMIT_STATUS_METADATA.to_owned(), "update".to_owned());
        run.event(Severity::Info, RECONCILIATION_SUCCEEDED, finished, metadata);
        Outcome::Ready {
            reason: RECONCILIATION_SUCCEEDED,
            message: format!("Applied revision: {revision}"),
            interval,
        }
    }
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
                kustomization = %key(object),
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
    use crate::inventory::ObjectId;
    use driftless_api::kustomize::KustomizationSpec;

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
}
