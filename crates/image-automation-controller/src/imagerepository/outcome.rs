//! Pure decisions of the ImageRepository reconciler: whether to scan now, how a failure reads
//! (reason, message, retry or stall), and which event a finished scan is worth.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::conditions::{AUTHENTICATION_FAILED, READ_OPERATION_FAILED, READY, SUCCEEDED};
use driftless_api::event::Severity;
use driftless_api::image::ImageRepositoryStatus;
use driftless_api::meta::Condition;
use driftless_runtime::conditions as cond;
use driftless_runtime::reconcile::outcome::Notice;
use driftless_runtime::reconcile::{Outcome, RetryAfter};

use crate::registry::RegistryError;
use crate::registry::access::AccessError;
use crate::registry::reference::ReferenceError;

use driftless_api::image::IMAGE_URL_INVALID_REASON as IMAGE_URL_INVALID;

/// Stalled reason of a cloud provider this build cannot authenticate with.
pub const INVALID_PROVIDER_CONFIGURATION: &str = "InvalidProviderConfiguration";

/// Why a scan happens now, worded as Flux words it in the Reconciling message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanReason {
    NeverScanned,
    ReconcileRequested,
    NewImageName,
    UpdatedExclusionList,
    EmptyStore,
    Interval,
}

impl ScanReason {
    pub fn message(self) -> &'static str {
        match self {
            Self::NeverScanned => "first scan",
            Self::ReconcileRequested => "reconcile requested",
            Self::NewImageName => "new image name",
            Self::UpdatedExclusionList => "updated exclusion list",
            Self::EmptyStore => "no tags in database",
            Self::Interval => "triggered by interval",
        }
    }
}

/// Scan now, or wait this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    Now(ScanReason),
    After(Duration),
}

/// What the last scan left behind, as far as deciding the next one goes.
pub struct Observed<'a> {
    pub status: &'a ImageRepositoryStatus,
    /// Seconds since the last scan, if there was one.
    pub since_last_scan: Option<Duration>,
    /// Whether the tag store has a list for the object (after a restart: on disk).
    pub stored: bool,
}

/// Flux's rule for when to scan: never scanned, a new reconcile request, a new image name or
/// exclusion list, tags missing from the store, or the interval gone by.
pub fn schedule(
    observed: &Observed<'_>,
    canonical_name: &str,
    exclusion_list: &[String],
    reconcile_requested: bool,
    interval: Duration,
) -> Schedule {
    let status = observed.status;
    let Some(since) = observed
        .since_last_scan
        .filter(|_| status.last_scan_result.is_some())
    else {
        return Schedule::Now(ScanReason::NeverScanned);
    };
    if reconcile_requested {
        return Schedule::Now(ScanReason::ReconcileRequested);
    }
    if status.canonical_image_name.as_deref() != Some(canonical_name) {
        return Schedule::Now(ScanReason::NewImageName);
    }
    let mut wanted = exclusion_list.to_vec();
    let mut observed_list = status.observed_exclusion_list.clone();
    wanted.sort();
    observed_list.sort();
    if wanted != observed_list {
        return Schedule::Now(ScanReason::UpdatedExclusionList);
    }
    if !observed.stored {
        return Schedule::Now(ScanReason::EmptyStore);
    }
    match interval.checked_sub(since) {
        Some(left) if left >= Duration::from_secs(1) => Schedule::After(left),
        _ => Schedule::Now(ScanReason::Interval),
    }
}

/// Flux's Ready message of a scanned repository.
pub fn ready_message(tag_count: i64, revision: &str) -> String {
    format!("successful scan: found {tag_count} tags with checksum {revision}")
}

/// The Normal event a finished reconcile is worth: when the scan result changed the Ready
/// message, or the object recovered. An unchanged result says nothing.
pub fn ready_event(previous: &[Condition], message: &str) -> Option<Notice> {
    let was = cond::get(previous, READY);
    let unchanged = was.is_some_and(|c| c.status == "True" && c.message == message);
    (!unchanged).then(|| Notice {
        severity: Severity::Info,
        reason: SUCCEEDED.to_owned(),
        message: message.to_owned(),
        metadata: BTreeMap::new(),
    })
}

/// The outcome of an unparsable image: no retry fixes the spec.
pub fn invalid_image(error: &ReferenceError) -> Outcome {
    Outcome::Stalled {
        reason: IMAGE_URL_INVALID,
        message: error.to_string(),
    }
}

pub fn access_failed(error: &AccessError, interval: Duration) -> Outcome {
    if error.is_permanent() {
        return Outcome::Stalled {
            reason: match error {
                AccessError::UnsupportedProvider(_) => INVALID_PROVIDER_CONFIGURATION,
                _ => AUTHENTICATION_FAILED,
            },
            message: error.to_string(),
        };
    }
    Outcome::Retry {
        reason: AUTHENTICATION_FAILED,
        message: format!("failed to configure authentication options: {error}"),
        after: RetryAfter::Backoff { at_most: interval },
    }
}

/// An exclusion pattern that does not compile stalls: the list must change.
pub fn invalid_exclusion(pattern: &str, error: &regex::Error) -> Outcome {
    Outcome::Stalled {
        reason: READ_OPERATION_FAILED,
        message: format!("scan failed: failed to compile regex {pattern}: {error}"),
    }
}

pub fn scan_failed(error: &RegistryError, interval: Duration) -> Outcome {
    let reason = match error {
        RegistryError::Unauthorized(_) => AUTHENTICATION_FAILED,
        _ => READ_OPERATION_FAILED,
    };
    Outcome::Retry {
        reason,
        message: format!("scan failed: {error}"),
        after: RetryAfter::Backoff { at_most: interval },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::image::ScanResult;

    const HOUR: Duration = Duration::from_secs(3600);
    const NAME: &str = "index.docker.io/library/alpine";

    fn scanned() -> ImageRepositoryStatus {
        ImageRepositoryStatus {
            canonical_image_name: Some(NAME.into()),
            observed_exclusion_list: vec!["^.*\\.sig$".into()],
            last_scan_result: Some(ScanResult {
                tag_count: 3,
                ..ScanResult::default()
            }),
            ..ImageRepositoryStatus::default()
        }
    }

    fn decide(status: &ImageRepositoryStatus, since: Duration, stored: bool) -> Schedule {
        schedule(
            &Observed {
                status,
                since_last_scan: Some(since),
                stored,
            },
            NAME,
            &["^.*\\.sig$".into()],
            false,
            HOUR,
        )
    }

    #[test]
    fn a_scanned_repository_waits_for_the_rest_of_its_interval() {
        let status = scanned();
        assert_eq!(
            decide(&status, Duration::from_secs(600), true),
            Schedule::After(Duration::from_secs(3000))
        );
        assert_eq!(
            decide(&status, HOUR, true),
            Schedule::Now(ScanReason::Interval)
        );
        // A restart with the tags on disk does not rescan; a lost store does.
        assert_eq!(
            decide(&status, Duration::from_secs(5), false),
            Schedule::Now(ScanReason::EmptyStore)
        );
    }

    #[test]
    fn changes_and_requests_scan_at_once() {
        let never = ImageRepositoryStatus::default();
        assert_eq!(
            decide(&never, Duration::ZERO, false),
            Schedule::Now(ScanReason::NeverScanned)
        );
        let mut renamed = scanned();
        renamed.canonical_image_name = Some("ghcr.io/x/y".into());
        assert_eq!(
            decide(&renamed, Duration::ZERO, true),
            Schedule::Now(ScanReason::NewImageName)
        );
        let mut excluded = scanned();
        excluded.observed_exclusion_list = vec!["^dev-".into()];
        assert_eq!(
            decide(&excluded, Duration::ZERO, true),
            Schedule::Now(ScanReason::UpdatedExclusionList)
        );
        let status = scanned();
        let requested = schedule(
            &Observed {
                status: &status,
                since_last_scan: Some(Duration::ZERO),
                stored: true,
            },
            NAME,
            &["^.*\\.sig$".into()],
            true,
            HOUR,
        );
        assert_eq!(requested, Schedule::Now(ScanReason::ReconcileRequested));
    }

    #[test]
    fn only_a_changed_result_or_a_recovery_is_announced() {
        let message = ready_message(3, "sha256:abc");
        assert_eq!(
            message,
            "successful scan: found 3 tags with checksum sha256:abc"
        );
        let mut conditions = Vec::new();
        cond::mark_ready(&mut conditions, SUCCEEDED, &message, Some(1));
        assert_eq!(ready_event(&conditions, &message), None);
        let changed = ready_message(4, "sha256:def");
        let event = ready_event(&conditions, &changed).unwrap();
        assert_eq!(
            (event.severity, event.reason.as_str()),
            (Severity::Info, SUCCEEDED)
        );
        assert!(ready_event(&[], &message).is_some());
    }

    #[test]
    fn failures_say_whether_retrying_helps() {
        let stalled = access_failed(&AccessError::UnsupportedProvider("aws"), HOUR);
        assert_eq!(stalled.reason(), INVALID_PROVIDER_CONFIGURATION);
        assert!(matches!(stalled, Outcome::Stalled { .. }));
        let denied = scan_failed(&RegistryError::Unauthorized("401".into()), HOUR);
        assert_eq!(denied.reason(), AUTHENTICATION_FAILED);
        assert!(matches!(denied, Outcome::Retry { .. }));
        let down = scan_failed(&RegistryError::Unreachable("refused".into()), HOUR);
        assert_eq!(down.reason(), READ_OPERATION_FAILED);
        assert_eq!(down.message(), "scan failed: refused");
        let unclosed = String::from("(");
        let bad = regex::Regex::new(&unclosed).unwrap_err();
        assert!(matches!(
            invalid_exclusion("(", &bad),
            Outcome::Stalled { .. }
        ));
    }
}
