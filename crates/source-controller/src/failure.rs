//! Why a source reconcile failed, for every source kind: the condition that names the failed
//! step (FetchFailed, StorageOperationFailed, SourceVerified, ...), Flux's reason, and whether
//! only a new spec can fix it.

use std::time::Duration;

use driftless_api::conditions::{
    ARTIFACT_IN_STORAGE, FETCH_FAILED, SOURCE_VERIFIED, STORAGE_OPERATION_FAILED,
};
use driftless_api::meta::Condition;
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::reconcile::{Outcome, RetryAfter};

/// Why a reconcile failed, as conditions and events show it.
#[derive(Debug)]
pub struct Failure {
    pub condition: &'static str,
    pub reason: &'static str,
    pub message: String,
    /// The spec itself is wrong: retrying cannot help.
    pub stalled: bool,
}

impl Failure {
    pub fn fetch(reason: &'static str, message: String) -> Self {
        Self {
            condition: FETCH_FAILED,
            reason,
            message,
            stalled: false,
        }
    }

    pub fn storage(reason: &'static str, message: String) -> Self {
        Self {
            condition: STORAGE_OPERATION_FAILED,
            reason,
            message,
            stalled: false,
        }
    }
}

/// A step failed: its condition, and a retry on the failure backoff (never later than the
/// interval a fixed source would be noticed in) — or, for a spec no retry can fix, Stalled.
/// `steps` are the conditions of the kind that name a failed step; `interval` bounds the
/// backoff.
pub fn failed(
    conditions: &mut Vec<Condition>,
    steps: &[&str],
    has_artifact: bool,
    generation: Option<i64>,
    interval: Duration,
    failure: Failure,
) -> Outcome {
    // Only the step that failed now is reported: an earlier failure of another step (a
    // fixed Secret, say) no longer holds.
    for step in steps {
        if *step != failure.condition {
            cond::remove(conditions, step);
        }
    }
    // SourceVerified is a positive condition: a failed check makes it False.
    let polarity = if failure.condition == SOURCE_VERIFIED {
        Status::False
    } else {
        Status::True
    };
    cond::set(
        conditions,
        failure.condition,
        polarity,
        failure.reason,
        failure.message.clone(),
        generation,
    );
    if !has_artifact {
        cond::remove(conditions, ARTIFACT_IN_STORAGE);
    }
    if failure.stalled {
        Outcome::Stalled {
            reason: failure.reason,
            message: failure.message,
        }
    } else {
        Outcome::Retry {
            reason: failure.reason,
            message: failure.message,
            after: RetryAfter::Backoff { at_most: interval },
        }
    }
}
