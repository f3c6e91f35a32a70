//! How a reconcile ended, and the one pure function that turns that into what Flux shows:
//! kstatus conditions (Ready, Reconciling, Stalled), the Warning event, the log line, the
//! reconcile metric and the requeue.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::conditions::{READY, STALLED};
use driftless_api::event::Severity;
use driftless_api::meta::Condition;

use crate::conditions;
use crate::metrics::ReconcileOutcome;

/// How one reconcile ended, as a reconciler reports it. Reasons are Flux's condition reasons.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The object is in the state its spec asks for: Ready=True. Looked at again after
    /// `interval` (plus jitter), or at once on a new generation or reconcile request.
    Ready {
        reason: &'static str,
        message: String,
        interval: Duration,
    },
    /// Work is under way that a later look finishes (objects rolling out):
    /// Reconciling=True, Ready=Unknown; looked at again after `after`.
    Progressing {
        reason: &'static str,
        message: String,
        after: Duration,
    },
    /// Waiting on another object (a dependency, a source without an artifact yet): Ready=False
    /// and Reconciling=True, but no error: no Warning event, an info log line.
    Waiting {
        reason: &'static str,
        message: String,
        after: Duration,
    },
    /// Failed, and retried: Ready=False, Reconciling=True, a Warning event.
    Retry {
        reason: &'static str,
        message: String,
        after: RetryAfter,
    },
    /// A configuration error no retry can fix: Stalled=True, Ready=False, a Warning event once
    /// per generation; nothing happens until the object changes.
    Stalled {
        reason: &'static str,
        message: String,
    },
    /// Remediation cannot go on (Flux's helm-controller: retries used up, no rollback
    /// target): Stalled=True with `reason`, while a failed Ready keeps the failure that led
    /// here, so the reason users and alerts see stays the one that matters (`UpgradeFailed`,
    /// say). Otherwise as [`Outcome::Stalled`].
    Exhausted {
        reason: &'static str,
        message: String,
    },
}

/// When a failed reconcile is retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RetryAfter {
    /// After a fixed delay (`spec.retryInterval`, say).
    Fixed(Duration),
    /// After the object's failure backoff (`--min-retry-delay` doubling to
    /// `--max-retry-delay`), but never later than `at_most`.
    Backoff { at_most: Duration },
}

/// When the object is reconciled next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Requeue {
    /// After the interval plus the controller's jitter.
    Interval(Duration),
    After(Duration),
    Backoff {
        at_most: Duration,
    },
    /// Only when the object changes.
    OnChange,
}

/// The log line a reconcile ends with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogLine {
    None,
    /// Info: "Reconciliation finished in …, next run in …", as Flux logs a success.
    Finished,
    /// Info: waiting is not an error.
    Waiting,
    /// Error: "reconciliation failed".
    Failed,
    /// Error: "reconciliation stalled", once per generation.
    Stalled,
}

/// An event about the reconciled object.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub severity: Severity,
    pub reason: String,
    pub message: String,
    pub metadata: BTreeMap<String, String>,
}

/// Everything that follows from an [`Outcome`].
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub conditions: Vec<Condition>,
    /// The generation to record as `status.observedGeneration`, when this outcome settles it
    /// (Ready or Stalled); otherwise the recorded one stays.
    pub observed_generation: Option<Option<i64>>,
    /// The Warning event of a failure.
    pub event: Option<Notice>,
    pub log: LogLine,
    pub metric: ReconcileOutcome,
    pub requeue: Requeue,
    /// A success forgets the object's earlier failures.
    pub reset_backoff: bool,
}

impl Outcome {
    /// A configuration error, worded as Flux words it.
    pub fn configuration_error(reason: &'static str, error: impl std::fmt::Display) -> Self {
        Self::Stalled {
            reason,
            message: format!(
                "Reconciliation failed terminally due to configuration error: {error}"
            ),
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Self::Ready { reason, .. }
            | Self::Progressing { reason, .. }
            | Self::Waiting { reason, .. }
            | Self::Retry { reason, .. }
            | Self::Stalled { reason, .. }
            | Self::Exhausted { reason, .. } => reason,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Ready { message, .. }
            | Self::Progressing { message, .. }
            | Self::Waiting { message, .. }
            | Self::Retry { message, .. }
            | Self::Stalled { message, .. }
            | Self::Exhausted { message, .. } => message,
        }
    }
}

/// Decides the conditions, event, log line, metric and requeue that follow from `outcome`,
/// given the object's `generation` and its `previous` conditions (whose transition times are
/// kept where the status does not change). `event_metadata` goes with a failure's event.
pub fn decide(
    outcome: &Outcome,
    previous: &[Condition],
    generation: Option<i64>,
    event_metadata: BTreeMap<String, String>,
) -> Decision {
    let mut conditions = previous.to_vec();
    let (reason, message) = (outcome.reason(), outcome.message());
    let warning = || {
        Some(Notice {
            severity: Severity::Error,
            reason: reason.to_owned(),
            message: message.to_owned(),
            metadata: event_metadata.clone(),
        })
    };
    match outcome {
        Outcome::Ready { interval, .. } => {
            conditions::mark_ready(&mut conditions, reason, message, generation);
            Decision {
                conditions,
                observed_generation: Some(generation),
                event: None,
                log: LogLine::Finished,
                metric: ReconcileOutcome::Success,
                requeue: Requeue::Interval(*interval),
                reset_backoff: true,
            }
        }
        Outcome::Progressing { after, .. } => {
            conditions::mark_reconciling(&mut conditions, reason, message, generation);
            Decision {
                conditions,
                observed_generation: None,
                event: None,
                log: LogLine::None,
                metric: ReconcileOutcome::Requeue,
                requeue: Requeue::After(*after),
                reset_backoff: false,
            }
        }
        Outcome::Waiting { after, .. } => {
            conditions::mark_failed_with_retry(&mut conditions, reason, message, generation);
            Decision {
                conditions,
                observed_generation: None,
                event: None,
                log: LogLine::Waiting,
                metric: ReconcileOutcome::Requeue,
                requeue: Requeue::After(*after),
                reset_backoff: false,
            }
        }
        Outcome::Retry { after, .. } => {
            conditions::mark_failed_with_retry(&mut conditions, reason, message, generation);
            Decision {
                conditions,
                observed_generation: None,
                event: warning(),
                log: LogLine::Failed,
                metric: ReconcileOutcome::Error,
                requeue: match *after {
                    RetryAfter::Fixed(delay) => Requeue::After(delay),
                    RetryAfter::Backoff { at_most } => Requeue::Backoff { at_most },
                },
                reset_backoff: false,
            }
        }
        Outcome::Stalled { .. } | Outcome::Exhausted { .. } => {
            // Said once per generation: a restart or a reconcile request of a stalled object
            // repeats nothing.
            let already_said = conditions::get(previous, STALLED).is_some_and(|c| {
                c.status == "True"
                    && c.reason == reason
                    && c.message == message
                    && c.observed_generation == generation
            }) && conditions::get(previous, READY)
                .is_some_and(|c| c.status == "False" && c.observed_generation == generation);
            let last_failure = conditions::get(previous, READY)
                .filter(|c| c.status == "False")
                .cloned();
            conditions::mark_stalled(&mut conditions, reason, message, generation);
            if let (Outcome::Exhausted { .. }, Some(failure)) = (outcome, last_failure) {
                conditions::set(
                    &mut conditions,
                    READY,
                    conditions::Status::False,
                    &failure.reason,
                    failure.message,
                    generation,
                );
            }
            Decision {
                conditions,
                observed_generation: Some(generation),
                event: if already_said { None } else { warning() },
                log: if already_said {
                    LogLine::None
                } else {
                    LogLine::Stalled
                },
                metric: ReconcileOutcome::Error,
                requeue: Requeue::OnChange,
                reset_backoff: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::{Status, check_final_status};
    use driftless_api::conditions::{PROGRESSING, PROGRESSING_WITH_RETRY, RECONCILING};

    const MINUTE: Duration = Duration::from_secs(60);

    fn ready() -> Outcome {
        Outcome::Ready {
            reason: "Succeeded",
            message: "stored artifact for revision 'main@sha1:abc'".into(),
            interval: MINUTE,
        }
    }

    fn progressing() -> Outcome {
        Outcome::Progressing {
            reason: PROGRESSING,
            message: "Waiting for health checks".into(),
            after: Duration::from_secs(2),
        }
    }

    fn waiting() -> Outcome {
        Outcome::Waiting {
            reason: "DependencyNotReady",
            message: "dependency 'apps/infra' is not ready".into(),
            after: Duration::from_secs(30),
        }
    }

    fn retry() -> Outcome {
        Outcome::Retry {
            reason: "GitOperationFailed",
            message: "failed to checkout and determine revision".into(),
            after: RetryAfter::Backoff { at_most: MINUTE },
        }
    }

    fn stalled() -> Outcome {
        Outcome::configuration_error("InvalidCELExpression", "undeclared reference to 'x'")
    }

    /// The (status, reason) of Ready, Reconciling and Stalled; "-" where absent.
    fn summary(conditions: &[Condition]) -> [(String, String); 3] {
        [READY, RECONCILING, STALLED].map(|type_| {
            conditions::get(conditions, type_).map_or(("-".into(), "-".into()), |c| {
                (c.status.clone(), c.reason.clone())
            })
        })
    }

    fn pair(status: &str, reason: &str) -> (String, String) {
        (status.into(), reason.into())
    }

    fn none() -> (String, String) {
        pair("-", "-")
    }

    /// Every outcome from every state Flux can leave an object in.
    #[test]
    fn each_outcome_sets_kstatus_conditions_as_flux_does_from_any_earlier_state() {
        let earlier_states = [
            ("new", Vec::new()),
            (
                "ready",
                decide(&ready(), &[], Some(1), BTreeMap::new()).conditions,
            ),
            (
                "progressing",
                decide(&progressing(), &[], Some(1), BTreeMap::new()).conditions,
            ),
            (
                "waiting",
                decide(&waiting(), &[], Some(1), BTreeMap::new()).conditions,
            ),
            (
                "failing",
                decide(&retry(), &[], Some(1), BTreeMap::new()).conditions,
            ),
            (
                "stalled",
                decide(&stalled(), &[], Some(1), BTreeMap::new()).conditions,
            ),
        ];
        let cases = [
            (ready(), [pair("True", "Succeeded"), none(), none()]),
            (
                progressing(),
                [
                    pair("Unknown", PROGRESSING),
                    pair("True", PROGRESSING),
                    none(),
                ],
            ),
            (
                waiting(),
                [
                    pair("False", "DependencyNotReady"),
                    pair("True", PROGRESSING_WITH_RETRY),
                    none(),
                ],
            ),
            (
                retry(),
                [
                    pair("False", "GitOperationFailed"),
                    pair("True", PROGRESSING_WITH_RETRY),
                    none(),
                ],
            ),
            (
                stalled(),
                [
                    pair("False", "InvalidCELExpression"),
                    none(),
                    pair("True", "InvalidCELExpression"),
                ],
            ),
        ];
        for (state, previous) in &earlier_states {
            for (outcome, expected) in &cases {
                let decision = decide(outcome, previous, Some(2), BTreeMap::new());
                assert_eq!(
                    summary(&decision.conditions),
                    *expected,
                    "{outcome:?} after {state}"
                );
                let ready = conditions::get(&decision.conditions, READY).unwrap();
                assert_eq!(
                    ready.message,
                    outcome.message(),
                    "{outcome:?} after {state}"
                );
                assert!(
                    decision
                        .conditions
                        .iter()
                        .all(|c| c.observed_generation == Some(2)),
                    "{outcome:?} after {state}: every condition is of this generation"
                );
            }
        }
    }

    /// Flux's helm-controller marks only Stalled when retries run out: Ready keeps the
    /// failure that used the last one.
    #[test]
    fn exhausted_retries_stall_and_keep_the_failure_on_ready() {
        let exhausted = Outcome::Exhausted {
            reason: "RetriesExceeded",
            message: "Failed to upgrade after 1 attempt(s)".into(),
        };
        let upgrade_failed = Outcome::Retry {
            reason: "UpgradeFailed",
            message: "Helm upgrade failed for release ns/web: timed out waiting".into(),
            after: RetryAfter::Backoff { at_most: MINUTE },
        };
        let failed = decide(&upgrade_failed, &[], Some(2), BTreeMap::new()).conditions;
        let decision = decide(&exhausted, &failed, Some(2), BTreeMap::new());
        assert_eq!(
            summary(&decision.conditions),
            [
                pair("False", "UpgradeFailed"),
                none(),
                pair("True", "RetriesExceeded")
            ]
        );
        let ready = conditions::get(&decision.conditions, READY).unwrap();
        assert_eq!(ready.message, upgrade_failed.message());
        assert_eq!(decision.observed_generation, Some(Some(2)));
        assert_eq!(decision.requeue, Requeue::OnChange);
        check_final_status(&decision.conditions, Some(2), Some(2)).unwrap();
        // Said once: the same stall again (a restart, a reconcile request) is quiet.
        assert!(decision.event.is_some());
        let again = decide(&exhausted, &decision.conditions, Some(2), BTreeMap::new());
        assert_eq!(again.event, None);
        assert_eq!(again.conditions, decision.conditions);
        // With no failure on Ready to keep (a restart mid-release left it Unknown), Ready
        // says why nothing more is tried.
        let progressing = decide(&progressing(), &[], Some(2), BTreeMap::new()).conditions;
        let decision = decide(&exhausted, &progressing, Some(2), BTreeMap::new());
        assert_eq!(
            summary(&decision.conditions)[0],
            pair("False", "RetriesExceeded")
        );
    }

    #[test]
    fn settled_outcomes_pass_fluxs_status_checks_and_record_the_generation() {
        for outcome in [ready(), stalled(), retry(), waiting()] {
            let decision = decide(&outcome, &[], Some(3), BTreeMap::new());
            let observed = decision.observed_generation.unwrap_or(Some(2));
            check_final_status(&decision.conditions, Some(3), observed)
                .unwrap_or_else(|e| panic!("{outcome:?}: {e}"));
        }
        // Only a success or a configuration error settles a generation; a failure retried
        // or a wait leaves the last settled one.
        let settles = |o: Outcome| decide(&o, &[], Some(3), BTreeMap::new()).observed_generation;
        assert_eq!(settles(ready()), Some(Some(3)));
        assert_eq!(settles(stalled()), Some(Some(3)));
        assert_eq!(settles(retry()), None);
        assert_eq!(settles(waiting()), None);
        assert_eq!(settles(progressing()), None);
    }

    #[test]
    fn failures_are_announced_waits_and_progress_are_not() {
        let metadata = BTreeMap::from([("revision".to_owned(), "main@sha1:abc".to_owned())]);
        let failed = decide(&retry(), &[], Some(1), metadata.clone());
        assert_eq!(
            failed.event,
            Some(Notice {
                severity: Severity::Error,
                reason: "GitOperationFailed".into(),
                message: "failed to checkout and determine revision".into(),
                metadata: metadata.clone(),
            })
        );
        assert_eq!(failed.log, LogLine::Failed);
        for quiet in [ready(), progressing(), waiting()] {
            let decision = decide(&quiet, &[], Some(1), metadata.clone());
            assert_eq!(decision.event, None, "{quiet:?}");
        }
        assert_eq!(
            decide(&waiting(), &[], Some(1), BTreeMap::new()).log,
            LogLine::Waiting
        );
        assert_eq!(
            decide(&ready(), &[], Some(1), BTreeMap::new()).log,
            LogLine::Finished
        );
    }

    #[test]
    fn a_stalled_generation_is_announced_once() {
        let first = decide(&stalled(), &[], Some(1), BTreeMap::new());
        assert!(first.event.is_some());
        assert_eq!(first.log, LogLine::Stalled);
        let again = decide(&stalled(), &first.conditions, Some(1), BTreeMap::new());
        assert_eq!(again.event, None);
        assert_eq!(again.log, LogLine::None);
        assert_eq!(again.conditions, first.conditions);
        let next_generation = decide(&stalled(), &first.conditions, Some(2), BTreeMap::new());
        assert!(next_generation.event.is_some());
        let other_error = Outcome::configuration_error("InvalidCELExpression", "other");
        assert!(
            decide(&other_error, &first.conditions, Some(1), BTreeMap::new())
                .event
                .is_some()
        );
    }

    #[test]
    fn metrics_requeues_and_backoff_follow_the_outcome() {
        let expect = |outcome: Outcome, metric, requeue, reset| {
            let decision = decide(&outcome, &[], Some(1), BTreeMap::new());
            assert_eq!(
                (decision.metric, decision.requeue, decision.reset_backoff),
                (metric, requeue, reset),
                "{outcome:?}"
            );
        };
        expect(
            ready(),
            ReconcileOutcome::Success,
            Requeue::Interval(MINUTE),
            true,
        );
        expect(
            progressing(),
            ReconcileOutcome::Requeue,
            Requeue::After(Duration::from_secs(2)),
            false,
        );
        expect(
            waiting(),
            ReconcileOutcome::Requeue,
            Requeue::After(Duration::from_secs(30)),
            false,
        );
        expect(
            retry(),
            ReconcileOutcome::Error,
            Requeue::Backoff { at_most: MINUTE },
            false,
        );
        expect(
            Outcome::Retry {
                reason: "BuildFailed",
                message: "kustomize build failed".into(),
                after: RetryAfter::Fixed(MINUTE),
            },
            ReconcileOutcome::Error,
            Requeue::After(MINUTE),
            false,
        );
        expect(stalled(), ReconcileOutcome::Error, Requeue::OnChange, false);
    }

    #[test]
    fn transition_times_move_only_when_a_status_changes() {
        let mut old = decide(&retry(), &[], Some(1), BTreeMap::new()).conditions;
        for condition in &mut old {
            condition.last_transition_time =
                driftless_api::meta::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        }
        let still_failing = decide(&retry(), &old, Some(1), BTreeMap::new()).conditions;
        let ready_time = |c: &[Condition]| {
            conditions::get(c, READY)
                .unwrap()
                .last_transition_time
                .clone()
        };
        assert_eq!(ready_time(&still_failing), ready_time(&old));
        let recovered = decide(&ready(), &old, Some(1), BTreeMap::new()).conditions;
        assert_ne!(ready_time(&recovered), ready_time(&old));
        assert_eq!(
            conditions::get(&recovered, READY).unwrap().status,
            Status::True.as_str()
        );
    }

    #[test]
    fn configuration_errors_are_worded_as_flux_words_them() {
        assert_eq!(
            stalled().message(),
            "Reconciliation failed terminally due to configuration error: undeclared \
             reference to 'x'"
        );
    }
}
