//! How each ending of a HelmRelease reconciliation reads: history snapshots of the stored
//! revisions, the failure counters, the `Released` and `Remediated` conditions, the events
//! and the harness outcome (Ready, Retry, Stalled). Pure.

use std::time::Duration;

use driftless_api::helm::{
    HelmRelease, HelmReleaseStatus, INSTALL_FAILED_REASON, INSTALL_SUCCEEDED_REASON,
    RELEASED_CONDITION, REMEDIATED_CONDITION, ROLLBACK_FAILED_REASON, ROLLBACK_SUCCEEDED_REASON,
    Snapshot, TEST_FAILED_REASON, TEST_SUCCEEDED_REASON, TEST_SUCCESS_CONDITION,
    UNINSTALL_FAILED_REASON, UNINSTALL_SUCCEEDED_REASON, UPGRADE_FAILED_REASON,
    UPGRADE_SUCCEEDED_REASON,
};
use driftless_api::meta::Time;
use driftless_helm::release::{Release, status};
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::reconcile::{Outcome, RetryAfter};

use crate::digest;

/// Most snapshots kept when no earlier successful revision bounds the history.
const MAX_SNAPSHOTS: usize = 5;

fn time(text: &str) -> Option<Time> {
    text.parse::<jiff::Timestamp>().ok().map(Time)
}

/// The snapshot of a stored revision.
pub fn snapshot(
    release: &Release,
    config_digest: &str,
    oci_digest: Option<&str>,
    action: Option<&str>,
) -> Snapshot {
    let chart = release.chart.as_ref();
    let epoch = Time(jiff::Timestamp::UNIX_EPOCH);
    let app_version = chart.map(|c| c.app_version()).filter(|v| !v.is_empty());
    Snapshot {
        api_version: Some("v2".into()),
        digest: digest::release_digest(release, oci_digest),
        name: release.name.clone(),
        namespace: release.namespace.clone(),
        version: release.version,
        status: release.info.status.clone(),
        chart_name: chart.map(|c| c.name().to_owned()).unwrap_or_default(),
        chart_version: chart.map(|c| c.version().to_owned()).unwrap_or_default(),
        app_version: app_version.map(str::to_owned),
        config_digest: config_digest.to_owned(),
        first_deployed: time(&release.info.first_deployed).unwrap_or_else(|| epoch.clone()),
        last_deployed: time(&release.info.last_deployed).unwrap_or(epoch),
        deleted: time(&release.info.deleted),
        test_hooks: None,
        oci_digest: oci_digest.map(str::to_owned),
        action: action.map(str::to_owned),
    }
}

/// Records `made` (a revision this reconciliation stored) at the head of the history and
/// refreshes the snapshots of revisions whose record changed since (superseded, say), from
/// `stored`, the records as they are now.
pub fn record(history: &mut Vec<Snapshot>, made: Snapshot, stored: &[Release]) {
    history.retain(|s| !(s.name == made.name && s.version == made.version));
    history.insert(0, made);
    refresh(&mut history[1..], stored);
    truncate(history);
}

/// Refreshes the snapshots of revisions whose record's status changed (an unlock, say).
pub fn refresh(history: &mut [Snapshot], stored: &[Release]) {
    for entry in history.iter_mut() {
        if let Some(now) = stored
            .iter()
            .find(|r| r.name == entry.name && r.version == entry.version)
            && now.info.status != entry.status
        {
            let refreshed = snapshot(
                now,
                &entry.config_digest,
                entry.oci_digest.as_deref(),
                entry.action.as_deref(),
            );
            *entry = Snapshot {
                test_hooks: entry.test_hooks.take(),
                ..refreshed
            };
        }
    }
}

/// Flux's `Truncate`: the history up to the previous successful revision, or the newest
/// [`MAX_SNAPSHOTS`] when there is none.
fn truncate(history: &mut Vec<Snapshot>) {
    let previous_good = history
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, s)| matches!(s.status.as_str(), status::DEPLOYED | status::SUPERSEDED))
        .map(|(i, _)| i);
    match previous_good {
        Some(i) => history.truncate(i + 1),
        None => history.truncate(MAX_SNAPSHOTS),
    }
}

/// `<namespace>/<name>.v<version>`, as Flux names a revision in messages.
pub fn full_name(release: &Release) -> String {
    format!(
        "{}/{}.v{}",
        release.namespace, release.name, release.version
    )
}

fn chart_of(release: &Release) -> String {
    let chart = release.chart.as_ref();
    format!(
        "{}@{}",
        chart.map(|c| c.name()).unwrap_or_default(),
        chart.map(|c| c.version()).unwrap_or_default()
    )
}

/// What the reconciliation ends with, and the events to send.
pub struct Ending {
    pub outcome: Outcome,
    /// Normal events (failures get the harness's Warning event).
    pub events: Vec<(&'static str, String)>,
}

/// An install or upgrade that stored `release`: succeeded (`error` None) or failed.
pub fn released(
    object: &HelmRelease,
    status_: &mut HelmReleaseStatus,
    upgrade: bool,
    release: Option<&Release>,
    chart: &str,
    error: Option<&str>,
) -> Ending {
    let generation = object.metadata.generation;
    let action = if upgrade { "upgrade" } else { "install" };
    let name = release.map(full_name).unwrap_or_default();
    match error {
        None => {
            let reason = if upgrade {
                UPGRADE_SUCCEEDED_REASON
            } else {
                INSTALL_SUCCEEDED_REASON
            };
            let message = format!("Helm {action} succeeded for release {name} with chart {chart}");
            cond::set(
                &mut status_.conditions,
                RELEASED_CONDITION,
                Status::True,
                reason,
                message.clone(),
                generation,
            );
            cond::remove(&mut status_.conditions, REMEDIATED_CONDITION);
            status_.failures = 0;
            status_.install_failures = 0;
            status_.upgrade_failures = 0;
            Ending {
                outcome: ready(object, reason, message.clone()),
                events: vec![(reason, message)],
            }
        }
        Some(error) => {
            let reason = if upgrade {
                UPGRADE_FAILED_REASON
            } else {
                INSTALL_FAILED_REASON
            };
            let target = release.map_or_else(
                || format!("{}/{}", object.release_namespace(), object.release_name()),
                |r| format!("{}/{}", r.namespace, r.name),
            );
            let message =
                format!("Helm {action} failed for release {target} with chart {chart}: {error}");
            cond::set(
                &mut status_.conditions,
                RELEASED_CONDITION,
                Status::False,
                reason,
                message.clone(),
                generation,
            );
            status_.failures += 1;
            // Only a failure that made a revision counts toward remediation.
            if release.is_some() {
                if upgrade {
                    status_.upgrade_failures += 1;
                } else {
                    status_.install_failures += 1;
                }
            }
            Ending {
                outcome: retry(object, reason, message),
                events: Vec::new(),
            }
        }
    }
}

/// The tests run after a release: `TestSuccess`, and a failure that counts (unless ignored)
/// as a failure of the action that made the release. `None` leaves `released`'s ending.
pub fn tested(
    object: &HelmRelease,
    status_: &mut HelmReleaseStatus,
    release: &Release,
    upgrade: bool,
    result: &Result<usize, String>,
    ignore_failures: bool,
) -> Option<Ending> {
    let generation = object.metadata.generation;
    let name = full_name(release);
    let chart = chart_of(release);
    match result {
        Ok(count) => {
            let ran = if *count == 0 {
                "no test hooks".to_owned()
            } else {
                format!("{count} test hook(s) completed successfully")
            };
            let message =
                format!("Helm test succeeded for release {name} with chart {chart}: {ran}");
            cond::set(
                &mut status_.conditions,
                TEST_SUCCESS_CONDITION,
                Status::True,
                TEST_SUCCEEDED_REASON,
                message.clone(),
                generation,
            );
            Some(Ending {
                outcome: ready(object, TEST_SUCCEEDED_REASON, message.clone()),
                events: vec![(TEST_SUCCEEDED_REASON, message)],
            })
        }
        Err(error) => {
            let message =
                format!("Helm test failed for release {name} with chart {chart}: {error}");
            cond::set(
                &mut status_.conditions,
                TEST_SUCCESS_CONDITION,
                Status::False,
                TEST_FAILED_REASON,
                message.clone(),
                generation,
            );
            if ignore_failures {
                return None;
            }
            status_.failures += 1;
            if upgrade {
                status_.upgrade_failures += 1;
            } else {
                status_.install_failures += 1;
            }
            Some(Ending {
                outcome: retry(object, TEST_FAILED_REASON, message),
                events: Vec::new(),
            })
        }
    }
}

/// A rollback or uninstall made to remediate a failure.
pub fn remediated(
    object: &HelmRelease,
    status_: &mut HelmReleaseStatus,
    rollback: bool,
    release: Option<&Release>,
    error: Option<&str>,
) -> Ending {
    let generation = object.metadata.generation;
    let name = release.map(full_name).unwrap_or_default();
    let chart = release.map(chart_of).unwrap_or_default();
    let (reason, message) = match (rollback, error) {
        (true, None) => (
            ROLLBACK_SUCCEEDED_REASON,
            format!("Helm rollback to previous release {name} with chart {chart} succeeded"),
        ),
        (true, Some(error)) => (
            ROLLBACK_FAILED_REASON,
            format!("Helm rollback to previous release {name} with chart {chart} failed: {error}"),
        ),
        (false, None) => (
            UNINSTALL_SUCCEEDED_REASON,
            format!("Helm uninstall succeeded for release {name} with chart {chart}"),
        ),
        (false, Some(error)) => (
            UNINSTALL_FAILED_REASON,
            format!("Helm uninstall failed for release {name} with chart {chart}: {error}"),
        ),
    };
    let state = if error.is_none() {
        Status::True
    } else {
        Status::False
    };
    cond::set(
        &mut status_.conditions,
        REMEDIATED_CONDITION,
        state,
        reason,
        message.clone(),
        generation,
    );
    if error.is_some() {
        status_.failures += 1;
    }
    // A remediated release is not Ready: the next reconciliation tries again (or stops when
    // the retries are spent).
    Ending {
        outcome: Outcome::Retry {
            reason,
            message: message.clone(),
            after: RetryAfter::Fixed(Duration::ZERO),
        },
        events: if error.is_none() {
            vec![(reason, message)]
        } else {
            Vec::new()
        },
    }
}

/// In sync: Ready with what the `TestSuccess` condition says when tests run, else the
/// `Released` condition (Flux's summary order).
pub fn in_sync(object: &HelmRelease, status_: &HelmReleaseStatus) -> Outcome {
    let tests = object.spec.test.as_ref().is_some_and(|t| t.enable);
    if let Some(tested) = cond::get(&status_.conditions, TEST_SUCCESS_CONDITION)
        && tests
        && tested.status == "True"
    {
        return ready(object, TEST_SUCCEEDED_REASON, tested.message.clone());
    }
    let released =
        cond::get(&status_.conditions, RELEASED_CONDITION).filter(|c| c.status == "True");
    let (reason, message) = match released {
        Some(c) if c.reason == INSTALL_SUCCEEDED_REASON => {
            (INSTALL_SUCCEEDED_REASON, c.message.clone())
        }
        Some(c) => (UPGRADE_SUCCEEDED_REASON, c.message.clone()),
        None => (
            UPGRADE_SUCCEEDED_REASON,
            "Helm release is in sync".to_owned(),
        ),
    };
    ready(object, reason, message)
}

fn ready(object: &HelmRelease, reason: &'static str, message: String) -> Outcome {
    Outcome::Ready {
        reason,
        message,
        interval: object.interval().unwrap_or(Duration::from_secs(600)),
    }
}

/// A failed action: retried after `retryInterval` with `RetryOnFailure`, with backoff
/// (at most the interval) otherwise.
fn retry(object: &HelmRelease, reason: &'static str, message: String) -> Outcome {
    let strategy = object
        .spec
        .upgrade
        .as_ref()
        .and_then(|u| u.strategy.clone())
        .or_else(|| {
            object
                .spec
                .install
                .as_ref()
                .and_then(|i| i.strategy.clone())
        });
    let after = match strategy {
        Some(s) if s.name == driftless_api::helm::ActionStrategyName::RetryOnFailure => {
            let interval = s
                .retry_interval
                .as_deref()
                .and_then(|d| driftless_api::meta::parse_duration(d).ok())
                .unwrap_or(Duration::from_secs(300));
            RetryAfter::Fixed(interval)
        }
        _ => RetryAfter::Backoff {
            at_most: object.interval().unwrap_or(Duration::from_secs(600)),
        },
    };
    Outcome::Retry {
        reason,
        message,
        after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::helm::HelmReleaseSpec;
    use driftless_helm::release::StoredChart;
    use serde_json::json;

    fn revision(version: i64, state: &str) -> Release {
        let mut release = Release {
            name: "web".into(),
            namespace: "apps".into(),
            version,
            chart: Some(StoredChart {
                metadata: json!({"name": "podinfo", "version": "6.5.0", "appVersion": "6.5.0"}),
                ..StoredChart::default()
            }),
            ..Release::default()
        };
        release.info.status = state.into();
        release.info.first_deployed = "2024-01-02T03:04:05.5Z".into();
        release.info.last_deployed = "2024-01-02T03:04:05.5Z".into();
        release
    }

    fn object() -> HelmRelease {
        let mut object = HelmRelease::new(
            "web",
            HelmReleaseSpec {
                interval: "5m".into(),
                ..Default::default()
            },
        );
        object.metadata.namespace = Some("apps".into());
        object.metadata.generation = Some(2);
        object
    }

    #[test]
    fn snapshots_describe_the_stored_revision() {
        let snapshot = snapshot(
            &revision(3, status::DEPLOYED),
            "sha256:c",
            None,
            Some("upgrade"),
        );
        assert_eq!(snapshot.chart_name, "podinfo");
        assert_eq!(snapshot.app_version.as_deref(), Some("6.5.0"));
        assert_eq!(
            snapshot.first_deployed.0.to_string(),
            "2024-01-02T03:04:05.5Z"
        );
        assert!(snapshot.deleted.is_none());
        assert_eq!(
            snapshot.digest,
            digest::release_digest(&revision(3, status::DEPLOYED), None)
        );
    }

    #[test]
    fn history_is_refreshed_and_ends_at_the_previous_good_revision() {
        let mut history = vec![
            snapshot(&revision(2, status::DEPLOYED), "sha256:b", None, None),
            snapshot(&revision(1, status::SUPERSEDED), "sha256:a", None, None),
        ];
        let stored = [
            revision(1, status::SUPERSEDED),
            revision(2, status::SUPERSEDED),
            revision(3, status::DEPLOYED),
        ];
        record(
            &mut history,
            snapshot(&stored[2], "sha256:c", None, None),
            &stored,
        );
        let versions: Vec<_> = history
            .iter()
            .map(|s| (s.version, s.status.as_str()))
            .collect();
        assert_eq!(versions, [(3, "deployed"), (2, "superseded")]);
        assert_eq!(history[1].digest, digest::release_digest(&stored[1], None));
        // Failures only: the newest five are kept.
        let mut failures: Vec<Snapshot> = Vec::new();
        for version in 1..=7 {
            let failed = revision(version, status::FAILED);
            record(
                &mut failures,
                snapshot(&failed, "sha256:x", None, None),
                std::slice::from_ref(&failed),
            );
        }
        assert_eq!(
            failures.iter().map(|s| s.version).collect::<Vec<_>>(),
            [7, 6, 5, 4, 3]
        );
    }

    #[test]
    fn a_release_is_worded_as_flux_words_it_and_counts_failures() {
        let object = object();
        let mut status_ = HelmReleaseStatus::default();
        let stored = revision(1, status::FAILED);
        let ending = released(
            &object,
            &mut status_,
            false,
            Some(&stored),
            "podinfo@6.5.0",
            Some("timed out"),
        );
        assert_eq!(
            ending.outcome.message(),
            "Helm install failed for release apps/web with chart podinfo@6.5.0: timed out"
        );
        assert_eq!(ending.outcome.reason(), "InstallFailed");
        assert_eq!((status_.failures, status_.install_failures), (1, 1));
        // A failure before anything was stored (a render error) does not count toward
        // remediation.
        released(
            &object,
            &mut status_,
            false,
            None,
            "podinfo@6.5.0",
            Some("parse error"),
        );
        assert_eq!((status_.failures, status_.install_failures), (2, 1));
        let deployed = revision(2, status::DEPLOYED);
        let ending = released(
            &object,
            &mut status_,
            true,
            Some(&deployed),
            "podinfo@6.5.0",
            None,
        );
        assert_eq!(
            ending.outcome.message(),
            "Helm upgrade succeeded for release apps/web.v2 with chart podinfo@6.5.0"
        );
        assert_eq!(status_.failures, 0);
        let released = cond::get(&status_.conditions, RELEASED_CONDITION).unwrap();
        assert_eq!(
            (released.status.as_str(), released.reason.as_str()),
            ("True", "UpgradeSucceeded")
        );
        assert_eq!(in_sync(&object, &status_).reason(), "UpgradeSucceeded");
    }

    #[test]
    fn remediation_is_not_ready_and_says_what_it_did() {
        let object = object();
        let mut status_ = HelmReleaseStatus::default();
        let rolled = revision(4, status::DEPLOYED);
        let ending = remediated(&object, &mut status_, true, Some(&rolled), None);
        assert_eq!(
            ending.outcome.message(),
            "Helm rollback to previous release apps/web.v4 with chart podinfo@6.5.0 succeeded"
        );
        assert!(matches!(ending.outcome, Outcome::Retry { .. }));
        assert!(cond::is_true(&status_.conditions, REMEDIATED_CONDITION));
    }
}
