//! kstatus conditions the way Flux's `runtime/conditions` keeps them: `Ready` always present,
//! `Reconciling` and `Stalled` only while true, transition times kept when status is unchanged.

use driftless_api::conditions::{READY, RECONCILING, STALLED};
use driftless_api::meta::{Condition, Time};
use k8s_openapi::jiff::{Timestamp, Unit};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// Current time at second precision, as Kubernetes serialises `metav1.Time`.
pub fn now() -> Time {
    Time(
        Timestamp::now()
            .round(Unit::Second)
            .unwrap_or(Timestamp::UNIX_EPOCH),
    )
}

pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == "True")
}

/// The last reconcile of `generation` stopped to wait for an input (Ready=False with one of
/// `waited`, Reconciling=True): kstatus already reads it as in progress, so a progress write
/// when the input arrives would change only a message. A failure being retried is not
/// waiting: its message must not stay up while the next attempt runs.
pub fn waiting_for_input(
    conditions: &[Condition],
    generation: Option<i64>,
    waited: &[&str],
) -> bool {
    let for_generation = |c: &&Condition| c.observed_generation == generation;
    is_true(conditions, RECONCILING)
        && get(conditions, READY)
            .filter(for_generation)
            .is_some_and(|c| c.status == "False" && waited.contains(&c.reason.as_str()))
}

/// Sets a condition; `lastTransitionTime` only moves when the status changes.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: Status,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
) {
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status.as_str() {
                existing.status = status.as_str().to_owned();
                existing.last_transition_time = now();
            }
            existing.reason = reason.to_owned();
            existing.message = message;
            existing.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_owned(),
            status: status.as_str().to_owned(),
            reason: reason.to_owned(),
            message,
            observed_generation,
            last_transition_time: now(),
        }),
    }
}

pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// Work towards a new state has started: Reconciling=True, Ready=Unknown, not Stalled.
pub fn mark_reconciling(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) {
    mark_in_progress(
        conditions,
        reason,
        (Status::Unknown, reason),
        message.into(),
        generation,
    );
}

/// The object cannot progress without a change to it: Stalled=True, Ready=False.
pub fn mark_stalled(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) {
    let message = message.into();
    remove(conditions, RECONCILING);
    set(
        conditions,
        STALLED,
        Status::True,
        reason,
        message.clone(),
        generation,
    );
    set(
        conditions,
        READY,
        Status::False,
        reason,
        message,
        generation,
    );
}

/// Reconciled successfully: Ready=True, neither Reconciling nor Stalled.
pub fn mark_ready(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) {
    remove(conditions, RECONCILING);
    remove(conditions, STALLED);
    set(conditions, READY, Status::True, reason, message, generation);
}

/// A failed attempt that will be retried: Ready=False, Reconciling=True with
/// `ProgressingWithRetry`.
pub fn mark_failed_with_retry(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) {
    mark_in_progress(
        conditions,
        driftless_api::conditions::PROGRESSING_WITH_RETRY,
        (Status::False, reason),
        message.into(),
        generation,
    );
}

/// Reconciling=True with `reconciling_reason`, Ready as given, not Stalled.
fn mark_in_progress(
    conditions: &mut Vec<Condition>,
    reconciling_reason: &str,
    (ready_status, ready_reason): (Status, &str),
    message: String,
    generation: Option<i64>,
) {
    remove(conditions, STALLED);
    set(
        conditions,
        RECONCILING,
        Status::True,
        reconciling_reason,
        message.clone(),
        generation,
    );
    set(
        conditions,
        READY,
        ready_status,
        ready_reason,
        message,
        generation,
    );
}

/// Conditions that report a problem when True (abnormal-true). None may be True while Ready is.
pub const NEGATIVE_POLARITY: &[&str] = &[
    RECONCILING,
    STALLED,
    driftless_api::conditions::FETCH_FAILED,
    driftless_api::conditions::BUILD_FAILED,
    driftless_api::conditions::STORAGE_OPERATION_FAILED,
    driftless_api::conditions::ARTIFACT_OUTDATED,
    driftless_api::source::INCLUDE_UNAVAILABLE_CONDITION,
];

/// Checks the invariants Flux's `conditions/check` enforces on the status a reconcile ends
/// with; the error names the first one broken. Meant as a test oracle for every reconciler.
pub fn check_final_status(
    conditions: &[Condition],
    generation: Option<i64>,
    observed_generation: Option<i64>,
) -> Result<(), String> {
    let ready = get(conditions, READY).ok_or("Ready condition missing")?;
    let reconciling = is_true(conditions, RECONCILING);
    let stalled = is_true(conditions, STALLED);
    if ready.status != "True" && ready.status != "False" {
        return Err(format!(
            "final Ready is {}, not True or False",
            ready.status
        ));
    }
    if get(conditions, RECONCILING).is_some() && get(conditions, STALLED).is_some() {
        return Err("Reconciling and Stalled are both present".into());
    }
    for c in conditions {
        if matches!(c.type_.as_str(), RECONCILING | STALLED) && c.status != "True" {
            return Err(format!("{} is present but not True", c.type_));
        }
    }
    if (reconciling || stalled) && ready.status != "False" {
        return Err("Ready is not False while Reconciling or Stalled".into());
    }
    if ready.status == "True"
        && let Some(c) = conditions
            .iter()
            .find(|c| NEGATIVE_POLARITY.contains(&c.type_.as_str()) && c.status == "True")
    {
        return Err(format!("{} is True while Ready=True", c.type_));
    }
    if let (Some(generation), Some(observed)) = (generation, observed_generation) {
        if observed > generation {
            return Err(format!(
                "observedGeneration {observed} > generation {generation}"
            ));
        }
        if observed < generation && ready.status == "True" {
            return Err("Ready=True for an unobserved generation".into());
        }
        if ready.status == "True"
            && let Some(c) = conditions
                .iter()
                .find(|c| c.observed_generation != Some(observed))
        {
            return Err(format!(
                "{}'s observedGeneration differs from the status' ({observed})",
                c.type_
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_for_input_only_after_a_wait_on_the_same_generation() {
        let waited = ["SourceNotReady"];
        let mut conditions = Vec::new();
        mark_failed_with_retry(&mut conditions, "SourceNotReady", "not ready", Some(2));
        assert!(waiting_for_input(&conditions, Some(2), &waited));
        // A newer generation has not been waited on yet.
        assert!(!waiting_for_input(&conditions, Some(3), &waited));
        // A failure being retried keeps its progress write.
        mark_failed_with_retry(&mut conditions, "InstallFailed", "boom", Some(2));
        assert!(!waiting_for_input(&conditions, Some(2), &waited));
        mark_ready(&mut conditions, "Succeeded", "done", Some(2));
        assert!(!waiting_for_input(&conditions, Some(2), &waited));
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut conditions = Vec::new();
        set(&mut conditions, READY, Status::False, "A", "first", Some(1));
        let mut first = conditions[0].clone();
        first.last_transition_time = Time(Timestamp::UNIX_EPOCH);
        conditions[0] = first;
        set(
            &mut conditions,
            READY,
            Status::False,
            "B",
            "second",
            Some(2),
        );
        assert_eq!(conditions[0].last_transition_time.0, Timestamp::UNIX_EPOCH);
        assert_eq!(
            (
                conditions[0].reason.as_str(),
                conditions[0].message.as_str()
            ),
            ("B", "second")
        );
        assert_eq!(conditions[0].observed_generation, Some(2));
        set(&mut conditions, READY, Status::True, "C", "third", Some(2));
        assert_ne!(conditions[0].last_transition_time.0, Timestamp::UNIX_EPOCH);
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn marks_follow_kstatus() {
        let mut c = Vec::new();
        mark_reconciling(&mut c, "Progressing", "fetching", Some(3));
        assert!(is_true(&c, RECONCILING));
        assert_eq!(get(&c, READY).map(|c| c.status.as_str()), Some("Unknown"));
        // Mid-reconcile state: not a valid final status.
        assert!(
            check_final_status(&c, Some(3), Some(2))
                .unwrap_err()
                .contains("Unknown")
        );

        mark_failed_with_retry(&mut c, "FetchFailed", "boom", Some(3));
        assert_eq!(
            get(&c, RECONCILING).map(|c| c.reason.as_str()),
            Some("ProgressingWithRetry")
        );
        assert_eq!(get(&c, READY).map(|c| c.status.as_str()), Some("False"));
        assert!(check_final_status(&c, Some(3), Some(2)).is_ok());

        mark_stalled(&mut c, "InvalidURL", "bad url", Some(3));
        assert!(is_true(&c, STALLED) && get(&c, RECONCILING).is_none());
        assert!(check_final_status(&c, Some(3), Some(3)).is_ok());

        mark_ready(&mut c, "Succeeded", "stored", Some(3));
        assert!(get(&c, STALLED).is_none() && get(&c, RECONCILING).is_none());
        assert!(check_final_status(&c, Some(3), Some(3)).is_ok());
    }

    #[test]
    fn invariant_checker_catches_violations() {
        let violation = |c: &[Condition], generation, observed| {
            check_final_status(c, generation, observed).unwrap_err()
        };
        let mut c = Vec::new();
        assert!(violation(&c, None, None).contains("missing"));
        mark_ready(&mut c, "Succeeded", "ok", Some(1));
        assert!(violation(&c, Some(2), Some(1)).contains("unobserved"));
        assert!(violation(&c, Some(1), Some(2)).contains(">"));

        set(
            &mut c,
            "FetchFailed",
            Status::True,
            "GitOperationFailed",
            "",
            Some(1),
        );
        assert!(violation(&c, Some(1), Some(1)).contains("FetchFailed is True"));
        remove(&mut c, "FetchFailed");
        set(
            &mut c,
            "ArtifactInStorage",
            Status::True,
            "Succeeded",
            "",
            Some(0),
        );
        assert!(violation(&c, Some(1), Some(1)).contains("ArtifactInStorage's observedGeneration"));
        remove(&mut c, "ArtifactInStorage");

        set(
            &mut c,
            RECONCILING,
            Status::True,
            "Progressing",
            "",
            Some(1),
        );
        assert!(violation(&c, Some(1), Some(1)).contains("not False"));
        set(&mut c, STALLED, Status::True, "X", "", Some(1));
        assert!(violation(&c, Some(1), Some(1)).contains("both"));

        let mut c = Vec::new();
        set(&mut c, READY, Status::False, "X", "", Some(1));
        set(&mut c, STALLED, Status::False, "X", "", Some(1));
        assert!(violation(&c, Some(1), Some(1)).contains("not True"));
    }
}
