//! The action phase of a reconcile: the release's state in storage decides the next Helm
//! action ([`release_state::next_action`]), which runs here; an unlock is followed by the
//! action it unblocks.

use std::collections::BTreeMap;
use std::time::Instant;

use driftless_api::conditions::{DEPENDENCY_NOT_READY, PROGRESSING};
use driftless_api::event::Severity;
use driftless_api::helm::{
    ChartNameChangeStrategy, GET_LAST_RELEASE_FAILED_REASON, HelmRelease, PENDING_RELEASE_REASON,
    SOURCE_NOT_READY_REASON, UNINSTALL_FAILED_REASON,
};
use driftless_helm::release::{Release, status};
use driftless_runtime::go_duration::go_duration;
use driftless_runtime::reconcile::{self, Error, Outcome, Run};

use super::prepare::Prepared;
use super::{Reconciler, end, failed, outcome};
use crate::release_state::{self, Action, Desired, State};
use crate::storage::Storage;

/// After one step: the reconcile's outcome, or another step (after an unlock).
pub(super) enum Step {
    Done(Outcome),
    Again,
}

impl Reconciler {
    /// A new release name, namespace, storage namespace or chart name is another release: the
    /// one made before is uninstalled first (Flux's `ReleaseTargetChanged`). A new chart name
    /// with `upgrade.chartNameChangeStrategy: InPlaceUpdate` upgrades the release instead.
    pub(super) async fn uninstall_changed_target(
        &self,
        run: &mut Run<HelmRelease>,
        prepared: &Prepared,
    ) -> Option<Outcome> {
        let previous = run.status.history.first().cloned()?;
        let plan = &prepared.plan;
        let storage_moved = prepared
            .previous_storage
            .as_deref()
            .is_some_and(|s| s != prepared.storage_namespace);
        let in_place = run
            .object
            .spec
            .upgrade
            .as_ref()
            .and_then(|u| u.chart_name_change_strategy)
            == Some(ChartNameChangeStrategy::InPlaceUpdate);
        if previous.name == plan.release_name
            && previous.namespace == plan.namespace
            && (previous.chart_name == prepared.chart_name || in_place)
            && !storage_moved
        {
            return None;
        }
        let old_namespace = prepared
            .previous_storage
            .clone()
            .unwrap_or_else(|| prepared.storage_namespace.clone());
        let old_storage = Storage::new(plan.applier.client().clone(), &old_namespace);
        let old_history = old_storage
            .history(&previous.name)
            .await
            .unwrap_or_default();
        let object = run.object.clone();
        let uninstalled = self
            .uninstall(
                &plan.applier,
                &object,
                &previous.namespace,
                &old_storage,
                &old_history,
            )
            .await;
        if let Err(error) = uninstalled {
            return Some(failed(
                UNINSTALL_FAILED_REASON,
                format!("failed to uninstall the previous release: {error}"),
                prepared.interval,
            ));
        }
        run.status.history.clear();
        run.status.failures = 0;
        run.status.install_failures = 0;
        run.status.upgrade_failures = 0;
        None
    }

    /// Reads the release's history and takes the one action it calls for.
    pub(super) async fn step(
        &self,
        run: &mut Run<HelmRelease>,
        prepared: &Prepared,
    ) -> Result<Step, Error> {
        let plan = &prepared.plan;
        let history = match prepared.storage.history(&plan.release_name).await {
            Ok(history) => history,
            Err(error) => {
                let reason = GET_LAST_RELEASE_FAILED_REASON;
                let outcome = failed(reason, error.to_string(), prepared.interval);
                return Ok(Step::Done(outcome));
            }
        };
        if let Some((outcome, outdated)) = self.resume_in_flight(run, prepared, &history).await {
            // Completed a release of an older spec: the next step makes the current one.
            return Ok(if outdated {
                Step::Again
            } else {
                Step::Done(outcome)
            });
        }
        let object = run.object.clone();
        let desired = prepared.desired();
        let state = release_state::determine(history.last(), &run.status.history, &desired);
        let previous = history
            .last()
            .and_then(|latest| release_state::rollback_target(&history, latest.version));
        let action =
            release_state::next_action(&state, &object, &run.status, previous, prepared.force);
        tracing::debug!(release = %plan.release_name, ?state, ?action, "release state");
        let outcome = match action {
            Action::None => {
                // Recorded once a release is made with them (or found made with them).
                run.status.observed_post_renderers_digest = prepared.post_renderers_digest.clone();
                run.status.observed_common_metadata_digest =
                    prepared.common_metadata_digest.clone();
                if let Some(latest) = history.last() {
                    self.check_drift(run, plan, latest).await;
                }
                outcome::in_sync(&object, &run.status)
            }
            // As Flux marks it: Stalled says why nothing more is tried; Ready keeps the
            // failure (UpgradeFailed, …) that brought the release here.
            Action::Stall { reason, message } => Outcome::Exhausted { reason, message },
            Action::Unlock => {
                return Ok(match self.unlock_latest(run, prepared, &history).await {
                    Some(outcome) => Step::Done(outcome),
                    None => Step::Again,
                });
            }
            Action::Install | Action::Upgrade => {
                let upgrade = action == Action::Upgrade;
                if matches!(state, State::Unmanaged(_)) {
                    run.status.history.clear();
                }
                self.release(run, prepared, &history, upgrade).await?
            }
            Action::Rollback(to) => self.roll_back(run, prepared, &history, to).await,
            Action::UninstallRemediation => {
                self.uninstall_remediation(run, prepared, &history).await
            }
        };
        Ok(Step::Done(outcome))
    }

    /// An install or upgrade waiting for its objects goes on where it stopped. With its
    /// outcome, whether it was made from an older spec (other values or chart) than `prepared`.
    async fn resume_in_flight(
        &self,
        run: &mut Run<HelmRelease>,
        prepared: &Prepared,
        history: &[Release],
    ) -> Option<(Outcome, bool)> {
        let key = reconcile::object_key(&*run.object);
        let mut flight = self.waits.lock().ok().and_then(|mut w| w.remove(&key))?;
        let still_pending = history.last().is_some_and(|r| {
            r.version == flight.revision.version && status::is_pending(&r.info.status)
        });
        if !still_pending || !flight.unpark(history) {
            return None;
        }
        let (plan, storage) = (&prepared.plan, &prepared.storage);
        let upgrade = flight.upgrading;
        // Recorded as made: the spec may have changed meanwhile (then the next step upgrades).
        let made_with = (flight.config_digest.clone(), flight.oci_digest.clone());
        let made_version = flight
            .revision
            .chart
            .as_ref()
            .and_then(|c| c.metadata["version"].as_str())
            .map(str::to_owned);
        let outdated = made_with.0 != prepared.config_digest
            || made_with.1 != prepared.oci_digest
            || made_version.as_deref() != Some(prepared.chart_version.as_str());
        let mut ended = match flight.settled.take() {
            Some(settled) => self.complete(plan, storage, flight, settled).await,
            None => {
                let pending = flight.pending.clone();
                self.go_on(plan, storage, pending, flight).await
            }
        };
        let desired = Desired {
            config_digest: &made_with.0,
            oci_digest: made_with.1.as_deref(),
            ..prepared.desired()
        };
        if let Some(flight) = ended.waiting.take() {
            return Some((self.wait_more(run, storage, &desired, flight).await, false));
        }
        let version = made_version.as_deref().unwrap_or(&prepared.chart_version);
        let chart_ref = format!("{}@{version}", prepared.chart_name);
        let outcome = self
            .finish(run, storage, plan, &desired, upgrade, ended, &chart_ref)
            .await;
        Some((outcome, outdated))
    }

    /// Install or upgrade, then wait (without holding a worker) or finish.
    async fn release(
        &self,
        run: &mut Run<HelmRelease>,
        prepared: &Prepared,
        history: &[Release],
        upgrade: bool,
    ) -> Result<Outcome, Error> {
        let (plan, storage) = (&prepared.plan, &prepared.storage);
        let chart_ref = prepared.chart_ref();
        run.status.last_attempted_release_action =
            Some(if upgrade { "upgrade" } else { "install" }.into());
        if !run.status.conditions.is_empty() {
            let verb = if upgrade { "Upgrading" } else { "Installing" };
            let message = format!(
                "{verb} release {} with chart {chart_ref}",
                plan.release_name
            );
            let waited = [SOURCE_NOT_READY_REASON, DEPENDENCY_NOT_READY];
            run.progress_after_wait(&waited, PROGRESSING, message)
                .await?;
        }
        let object = run.object.clone();
        let started = Instant::now();
        let mut ended = self
            .install_or_upgrade(&object, plan, storage, history)
            .await;
        if ended.error.is_none() {
            run.status.observed_post_renderers_digest = prepared.post_renderers_digest.clone();
            run.status.observed_common_metadata_digest = prepared.common_metadata_digest.clone();
        }
        run.status.last_attempted_release_action_duration = Some(go_duration(started.elapsed()));
        let desired = prepared.desired();
        if let Some(flight) = ended.waiting.take() {
            return Ok(self.wait_more(run, storage, &desired, flight).await);
        }
        Ok(self
            .finish(run, storage, plan, &desired, upgrade, ended, &chart_ref)
            .await)
    }

    /// Rollback remediation to revision `to`.
    async fn roll_back(
        &self,
        run: &mut Run<HelmRelease>,
        prepared: &Prepared,
        history: &[Release],
        to: i64,
    ) -> Outcome {
        let (plan, storage) = (&prepared.plan, &prepared.storage);
        let object = run.object.clone();
        let ended = self.rollback(&object, plan, storage, history, to).await;
        let stored = storage
            .history(&plan.release_name)
            .await
            .unwrap_or_default();
        if let Some(release) = &ended.release {
            // The revision rolled back to was made with its own values.
            let config = run
                .status
                .history
                .iter()
                .find(|s| s.version == to)
                .map(|s| s.config_digest.clone())
                .unwrap_or_default();
            let oci_digest = prepared.oci_digest.as_deref();
            let made = outcome::snapshot(release, &config, oci_digest, Some("rollback"));
            outcome::record(&mut run.status.history, made, &stored);
        }
        let ending = outcome::remediated(
            &object,
            &mut run.status,
            true,
            ended.release.as_ref(),
            ended.error.as_deref(),
        );
        end(run, ending)
    }

    /// Uninstall remediation: the release and its objects go; the next reconcile installs.
    async fn uninstall_remediation(
        &self,
        run: &mut Run<HelmRelease>,
        prepared: &Prepared,
        history: &[Release],
    ) -> Outcome {
        let plan = &prepared.plan;
        let object = run.object.clone();
        let result = self
            .uninstall(
                &plan.applier,
                &object,
                &plan.namespace,
                &prepared.storage,
                history,
            )
            .await;
        let (release, error) = match result {
            Ok(release) => (release, None),
            Err(error) => (history.last().cloned(), Some(error)),
        };
        run.status.inventory = None;
        let ending = outcome::remediated(
            &object,
            &mut run.status,
            false,
            release.as_ref(),
            error.as_deref(),
        );
        end(run, ending)
    }

    /// A release left `pending-*` by an interrupted operation is marked failed, so the next
    /// step can act on it.
    async fn unlock_latest(
        &self,
        run: &mut Run<HelmRelease>,
        prepared: &Prepared,
        history: &[Release],
    ) -> Option<Outcome> {
        let latest = history.last()?;
        let previous_status = latest.info.status.clone();
        if let Err(error) = self.unlock(&prepared.storage, latest).await {
            return Some(failed(PENDING_RELEASE_REASON, error, prepared.interval));
        }
        let message = format!(
            "Unlocked Helm release {}/{}.v{} with chart {} in {previous_status} state",
            latest.namespace,
            latest.name,
            latest.version,
            prepared.chart_ref()
        );
        run.event(
            Severity::Info,
            PENDING_RELEASE_REASON,
            message,
            BTreeMap::new(),
        );
        let stored = prepared
            .storage
            .history(&prepared.plan.release_name)
            .await
            .unwrap_or_default();
        outcome::refresh(&mut run.status.history, &stored);
        None
    }
}
