//! Where a release stands against what its HelmRelease asks for, and which Helm action comes
//! next — Flux's `DetermineReleaseState` and `actionForState`, as pure functions.

use driftless_api::helm::{
    ActionStrategyName, HelmRelease, HelmReleaseStatus, RemediationStrategy, Snapshot,
};
use driftless_helm::release::{Release, status};

use crate::digest;

/// What the chart and values of this reconciliation are.
pub struct Desired<'a> {
    pub chart_name: &'a str,
    pub chart_version: &'a str,
    pub config_digest: &'a str,
    pub oci_digest: Option<&'a str>,
    /// `postRenderers` or `commonMetadata` differ from those of the last release.
    pub rendering_changed: bool,
    /// Tests are enabled and their failures not ignored: a failed test fails the release.
    pub failed_tests_fail: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// No release in storage (or only an uninstalled one): install.
    Absent,
    /// The latest revision is `pending-*`: an operation was interrupted.
    Locked,
    /// A release made by something else (or changed since): taken over by an upgrade.
    Unmanaged(String),
    /// The latest revision failed.
    Failed,
    /// Deployed, but of another chart or other values.
    OutOfSync(String),
    InSync,
}

/// Compares the latest stored revision with the history and what is desired.
pub fn determine(last: Option<&Release>, history: &[Snapshot], desired: &Desired<'_>) -> State {
    let Some(last) = last else {
        return State::Absent;
    };
    if status::is_pending(&last.info.status) {
        return State::Locked;
    }
    let Some(latest) = history.first() else {
        return if last.info.status == status::UNINSTALLED {
            State::Absent
        } else {
            State::Unmanaged("found existing release in storage".into())
        };
    };
    let observed = latest.name == last.name
        && latest.version == last.version
        && latest.digest == digest::release_digest(last, latest.oci_digest.as_deref());
    if !observed {
        return State::Unmanaged("release not observed to be made for object".into());
    }
    match last.info.status.as_str() {
        status::FAILED => State::Failed,
        status::UNINSTALLED => State::Absent,
        status::DEPLOYED => {
            let chart = last.chart.as_ref();
            let (name, version) = chart.map_or(("", ""), |c| (c.name(), c.version()));
            if name != desired.chart_name || version != desired.chart_version {
                State::OutOfSync(format!(
                    "chart changed from {name}@{version} to {}@{}",
                    desired.chart_name, desired.chart_version
                ))
            } else if latest.config_digest != desired.config_digest {
                State::OutOfSync("release config values changed".into())
            } else if latest.oci_digest.as_deref() != desired.oci_digest {
                State::OutOfSync("chart digest changed".into())
            } else if desired.rendering_changed {
                State::OutOfSync("post-renderers or common metadata changed".into())
            } else if desired.failed_tests_fail
                && latest.test_hooks.as_ref().is_some_and(|hooks| {
                    hooks.values().any(|t| t.phase.as_deref() == Some("Failed"))
                })
            {
                State::Failed
            } else {
                State::InSync
            }
        }
        other => State::OutOfSync(format!("release in unexpected state {other:?}")),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Install,
    Upgrade,
    /// Mark the interrupted revision failed so the next action can run.
    Unlock,
    /// Roll back to this earlier revision.
    Rollback(i64),
    /// Uninstall as remediation of a failed install or upgrade.
    UninstallRemediation,
    /// Nothing to do.
    None,
    /// Give up until the spec changes: retries exhausted, nothing to roll back to.
    Stall {
        reason: &'static str,
        message: String,
    },
}

/// The remediation settings of the last attempted action.
struct Remediation {
    retries: i64,
    failures: i64,
    remediate_last_failure: bool,
    strategy: RemediationStrategy,
    action: &'static str,
}

impl Remediation {
    fn exhausted(&self) -> bool {
        self.retries >= 0 && self.failures > self.retries
    }
}

fn active_remediation(object: &HelmRelease, status: &HelmReleaseStatus) -> Option<Remediation> {
    let spec = &object.spec;
    if status.last_attempted_release_action.as_deref() == Some("install") {
        let install = spec.install.clone().unwrap_or_default();
        if install.strategy.as_ref().map(|s| s.name) == Some(ActionStrategyName::RetryOnFailure) {
            return None;
        }
        let remediation = install.remediation.unwrap_or_default();
        Some(Remediation {
            retries: remediation.retries.unwrap_or(0),
            failures: status.install_failures,
            remediate_last_failure: remediation.remediate_last_failure.unwrap_or(false),
            strategy: RemediationStrategy::Uninstall,
            action: "install",
        })
    } else {
        let upgrade = spec.upgrade.clone().unwrap_or_default();
        if upgrade.strategy.as_ref().map(|s| s.name) == Some(ActionStrategyName::RetryOnFailure) {
            return None;
        }
        let remediation = upgrade.remediation.unwrap_or_default();
        let retries = remediation.retries.unwrap_or(0);
        Some(Remediation {
            retries,
            failures: status.upgrade_failures,
            remediate_last_failure: remediation.remediate_last_failure.unwrap_or(retries > 0),
            strategy: remediation.strategy.unwrap_or_default(),
            action: "upgrade",
        })
    }
}

fn exceeded(remediation: &Remediation) -> Action {
    Action::Stall {
        reason: driftless_api::helm::RETRIES_EXCEEDED_REASON,
        message: format!(
            "Failed to {} after {} attempt(s)",
            remediation.action, remediation.failures
        ),
    }
}

/// The next action for `state`; `forced` is a handled `reconcile.fluxcd.io/forceAt`.
/// `previous` is the revision a rollback goes to (the newest deployed or superseded one
/// before the failure), when there is one.
pub fn next_action(
    state: &State,
    object: &HelmRelease,
    status: &HelmReleaseStatus,
    previous: Option<i64>,
    forced: bool,
) -> Action {
    let remediation = active_remediation(object, status);
    match state {
        State::Locked => Action::Unlock,
        State::Absent => match &remediation {
            Some(r) if r.action == "install" && r.exhausted() && !forced => exceeded(r),
            _ => Action::Install,
        },
        State::Unmanaged(_) => Action::Upgrade,
        State::OutOfSync(_) => match &remediation {
            Some(r) if r.exhausted() && !forced => exceeded(r),
            _ => Action::Upgrade,
        },
        State::InSync if forced => Action::Upgrade,
        State::InSync => Action::None,
        State::Failed => {
            let Some(r) = remediation else {
                return Action::Upgrade;
            };
            if r.failures <= 0 || forced {
                return Action::Upgrade;
            }
            if r.exhausted() && !r.remediate_last_failure {
                return exceeded(&r);
            }
            match (r.strategy, previous) {
                (RemediationStrategy::Uninstall, _) => Action::UninstallRemediation,
                (RemediationStrategy::Rollback, Some(version)) => Action::Rollback(version),
                (RemediationStrategy::Rollback, None) => Action::Stall {
                    reason: driftless_api::helm::MISSING_ROLLBACK_TARGET_REASON,
                    message: "no previous release to roll back to".into(),
                },
            }
        }
    }
}

/// Whether a failed test is not a failed release: the active remediation's
/// `ignoreTestFailures`, else `test.ignoreFailures`.
pub fn ignores_test_failures(object: &HelmRelease, upgrade: bool) -> bool {
    let spec = &object.spec;
    let remediation = if upgrade {
        spec.upgrade
            .as_ref()
            .and_then(|u| u.remediation.as_ref())
            .and_then(|r| r.ignore_test_failures)
    } else {
        spec.install
            .as_ref()
            .and_then(|i| i.remediation.as_ref())
            .and_then(|r| r.ignore_test_failures)
    };
    remediation.unwrap_or_else(|| spec.test.as_ref().is_some_and(|t| t.ignore_failures))
}

/// The newest revision before the latest that a rollback can go to: deployed or superseded.
pub fn rollback_target(history: &[Release], latest: i64) -> Option<i64> {
    history
        .iter()
        .filter(|r| r.version < latest)
        .filter(|r| {
            matches!(
                r.info.status.as_str(),
                status::DEPLOYED | status::SUPERSEDED
            )
        })
        .map(|r| r.version)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::helm::{
        HelmReleaseSpec, Install, InstallRemediation, Upgrade, UpgradeRemediation,
    };
    use driftless_api::meta::Time;
    use driftless_helm::release::StoredChart;
    use serde_json::json;

    fn release(version: i64, state: &str) -> Release {
        let mut release = Release {
            name: "web".into(),
            namespace: "apps".into(),
            version,
            chart: Some(StoredChart {
                metadata: json!({"name": "podinfo", "version": "6.5.0"}),
                ..StoredChart::default()
            }),
            ..Release::default()
        };
        release.info.status = state.into();
        release
    }

    fn snapshot(of: &Release, config_digest: &str) -> Snapshot {
        Snapshot {
            api_version: Some("v2".into()),
            digest: digest::release_digest(of, None),
            name: of.name.clone(),
            namespace: of.namespace.clone(),
            version: of.version,
            status: of.info.status.clone(),
            chart_name: "podinfo".into(),
            chart_version: "6.5.0".into(),
            app_version: None,
            config_digest: config_digest.into(),
            first_deployed: Time(jiff::Timestamp::UNIX_EPOCH),
            last_deployed: Time(jiff::Timestamp::UNIX_EPOCH),
            deleted: None,
            test_hooks: None,
            oci_digest: None,
            action: None,
        }
    }

    const DESIRED: Desired<'static> = Desired {
        chart_name: "podinfo",
        chart_version: "6.5.0",
        config_digest: "sha256:c",
        oci_digest: None,
        rendering_changed: false,
        failed_tests_fail: true,
    };

    #[test]
    fn states_follow_storage_and_history() {
        assert_eq!(determine(None, &[], &DESIRED), State::Absent);
        let deployed = release(2, status::DEPLOYED);
        assert!(matches!(
            determine(Some(&deployed), &[], &DESIRED),
            State::Unmanaged(_)
        ));
        let history = [snapshot(&deployed, "sha256:c")];
        assert_eq!(
            determine(Some(&deployed), &history, &DESIRED),
            State::InSync
        );
        let other_values = [snapshot(&deployed, "sha256:old")];
        assert_eq!(
            determine(Some(&deployed), &other_values, &DESIRED),
            State::OutOfSync("release config values changed".into())
        );
        let newer = Desired {
            chart_version: "6.6.0",
            ..DESIRED
        };
        assert!(matches!(
            determine(Some(&deployed), &history, &newer),
            State::OutOfSync(_)
        ));
        // A revision someone else wrote since (`helm upgrade` by hand).
        let mut edited = deployed.clone();
        edited.version = 3;
        assert!(matches!(
            determine(Some(&edited), &history, &DESIRED),
            State::Unmanaged(_)
        ));
        let pending = release(3, status::PENDING_UPGRADE);
        assert_eq!(determine(Some(&pending), &history, &DESIRED), State::Locked);
        let failed = release(3, status::FAILED);
        assert_eq!(
            determine(Some(&failed), &[snapshot(&failed, "sha256:c")], &DESIRED),
            State::Failed
        );
    }

    #[test]
    fn a_failed_test_fails_the_release_unless_ignored() {
        let deployed = release(1, status::DEPLOYED);
        let mut tested = snapshot(&deployed, "sha256:c");
        let failed = driftless_api::helm::TestHookStatus {
            phase: Some("Failed".into()),
            ..Default::default()
        };
        tested.test_hooks = Some([("web-test".to_owned(), failed)].into());
        let history = [tested];
        assert_eq!(
            determine(Some(&deployed), &history, &DESIRED),
            State::Failed
        );
        let ignoring = Desired {
            failed_tests_fail: false,
            ..DESIRED
        };
        assert_eq!(
            determine(Some(&deployed), &history, &ignoring),
            State::InSync
        );
    }

    fn with_remediation(install_retries: i64, upgrade: UpgradeRemediation) -> HelmRelease {
        HelmRelease::new(
            "web",
            HelmReleaseSpec {
                install: Some(Install {
                    remediation: Some(InstallRemediation {
                        retries: Some(install_retries),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                upgrade: Some(Upgrade {
                    remediation: Some(upgrade),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
    }

    #[test]
    fn failed_upgrades_roll_back_until_retries_run_out() {
        let object = with_remediation(
            0,
            UpgradeRemediation {
                retries: Some(2),
                ..Default::default()
            },
        );
        let mut status = HelmReleaseStatus {
            last_attempted_release_action: Some("upgrade".into()),
            upgrade_failures: 1,
            ..Default::default()
        };
        let action = next_action(&State::Failed, &object, &status, Some(1), false);
        assert_eq!(action, Action::Rollback(1));
        assert_eq!(
            next_action(&State::Failed, &object, &status, None, false),
            Action::Stall {
                reason: "MissingRollbackTarget",
                message: "no previous release to roll back to".into()
            }
        );
        // Retries left: the rolled-back release is upgraded again.
        let out_of_sync = State::OutOfSync("chart changed".into());
        assert_eq!(
            next_action(&out_of_sync, &object, &status, None, false),
            Action::Upgrade
        );
        status.upgrade_failures = 3;
        assert!(matches!(
            next_action(&out_of_sync, &object, &status, None, false),
            Action::Stall {
                reason: "RetriesExceeded",
                ..
            }
        ));
        // remediateLastFailure defaults to `retries > 0`: the last failure is rolled back too.
        assert_eq!(
            next_action(&State::Failed, &object, &status, Some(1), false),
            Action::Rollback(1)
        );
        // A forced reconcile upgrades whatever the counters say.
        assert_eq!(
            next_action(&out_of_sync, &object, &status, None, true),
            Action::Upgrade
        );
    }

    #[test]
    fn a_failed_install_stays_failed_without_retries_and_is_uninstalled_with_them() {
        let status = HelmReleaseStatus {
            last_attempted_release_action: Some("install".into()),
            install_failures: 1,
            ..Default::default()
        };
        let strict = with_remediation(0, UpgradeRemediation::default());
        assert_eq!(
            next_action(&State::Failed, &strict, &status, None, false),
            Action::Stall {
                reason: "RetriesExceeded",
                message: "Failed to install after 1 attempt(s)".into()
            }
        );
        let retrying = with_remediation(-1, UpgradeRemediation::default());
        assert_eq!(
            next_action(&State::Failed, &retrying, &status, None, false),
            Action::UninstallRemediation
        );
        assert_eq!(
            next_action(&State::Absent, &retrying, &status, None, false),
            Action::Install
        );
        assert!(matches!(
            next_action(&State::Absent, &strict, &status, None, false),
            Action::Stall { .. }
        ));
    }

    #[test]
    fn rollback_goes_to_the_newest_good_revision_before_the_latest() {
        let history = [
            release(1, status::SUPERSEDED),
            release(2, status::DEPLOYED),
            release(3, status::FAILED),
            release(4, status::FAILED),
        ];
        assert_eq!(rollback_target(&history, 4), Some(2));
        assert_eq!(rollback_target(&history[..1], 1), None);
    }
}
