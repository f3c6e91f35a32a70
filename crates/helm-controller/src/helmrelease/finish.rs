//! How a release ends: its revision recorded in the history, tests run when enabled, and
//! drift of a release in sync reported or corrected.

use std::collections::BTreeMap;

use driftless_api::event::Severity;
use driftless_api::helm::{
    DRIFT_CORRECTED_REASON, DRIFT_DETECTED_REASON, DriftDetectionMode, HelmRelease,
    TEST_SUCCESS_CONDITION,
};
use driftless_runtime::conditions as cond;
use driftless_runtime::reconcile::{Outcome, Run};

use super::actions::{self, Plan};
use super::{Reconciler, end, hooks, outcome};
use crate::release_state::{self, Desired};
use crate::storage::Storage;

impl Reconciler {
    /// `driftDetection`: reports (`warn`) or corrects (`enabled`) changes made in the cluster
    /// to the release's objects.
    pub(super) async fn check_drift(
        &self,
        run: &mut Run<HelmRelease>,
        plan: &Plan,
        latest: &driftless_helm::release::Release,
    ) {
        let object = run.object.clone();
        let mode = object
            .spec
            .drift_detection
            .as_ref()
            .and_then(|d| d.mode)
            .unwrap_or_default();
        let correct = match mode {
            DriftDetectionMode::Disabled => return,
            DriftDetectionMode::Warn => false,
            DriftDetectionMode::Enabled => true,
        };
        let name = outcome::full_name(latest);
        match self.detect_drift(&object, plan, latest, correct).await {
            Ok(drifted) if drifted.is_empty() => {}
            Ok(drifted) => {
                let list = drifted.join("\n");
                let detected = format!(
                    "Cluster state of release {name} has drifted from the desired state:\n{list}"
                );
                if correct {
                    let corrected =
                        format!("Cluster state of release {name} has been corrected:\n{list}");
                    run.event(
                        Severity::Info,
                        DRIFT_CORRECTED_REASON,
                        corrected,
                        BTreeMap::new(),
                    );
                } else {
                    run.event(
                        Severity::Error,
                        DRIFT_DETECTED_REASON,
                        detected,
                        BTreeMap::new(),
                    );
                }
            }
            Err(error) => {
                let message = format!("Failed to detect drift of release {name}: {error}");
                run.event(
                    Severity::Error,
                    DRIFT_DETECTED_REASON,
                    message,
                    BTreeMap::new(),
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn finish(
        &self,
        run: &mut Run<HelmRelease>,
        storage: &Storage,
        plan: &Plan,
        desired: &Desired<'_>,
        upgrade: bool,
        ended: actions::Ended,
        chart_ref: &str,
    ) -> Outcome {
        if let Some(release) = &ended.release {
            let stored = stored_if_needed(storage, &run.status.history, release).await;
            let action = if upgrade { "upgrade" } else { "install" };
            let made = outcome::snapshot(
                release,
                desired.config_digest,
                desired.oci_digest,
                Some(action),
            );
            outcome::record(&mut run.status.history, made, &stored);
        }
        if ended.error.is_none() || !ended.applied.is_empty() {
            run.status.inventory = Some(driftless_runtime::inventory::inventory(&ended.applied));
        }
        let object = run.object.clone();
        let mut ending = outcome::released(
            &object,
            &mut run.status,
            upgrade,
            ended.release.as_ref(),
            chart_ref,
            ended.error.as_deref(),
        );
        let test = object.spec.test.clone().unwrap_or_default();
        if !test.enable {
            cond::remove(&mut run.status.conditions, TEST_SUCCESS_CONDITION);
        } else if let (None, Some(release)) = (&ended.error, ended.release.clone()) {
            let mut release = release;
            let result = self.run_tests(&plan.applier, &object, &mut release).await;
            if let Err(error) = storage.update(&release).await {
                tracing::warn!(%error, "failed to record the test run in the release");
            }
            if let Some(latest) = run.status.history.first_mut() {
                latest.test_hooks = Some(hooks::test_results(&release));
            }
            let ignore = release_state::ignores_test_failures(&object, upgrade);
            if let Some(tested) =
                outcome::tested(&object, &mut run.status, &release, upgrade, &result, ignore)
            {
                ending.outcome = tested.outcome;
                ending.events.extend(tested.events);
            }
        }
        end(run, ending)
    }
}

/// The release's records as stored now, to refresh the older snapshots of `history` with;
/// not read when there are none (a first install), which saves a list of Secrets.
pub(super) async fn stored_if_needed(
    storage: &Storage,
    history: &[driftless_api::helm::Snapshot],
    made: &driftless_helm::release::Release,
) -> Vec<driftless_helm::release::Release> {
    let older = history
        .iter()
        .any(|s| !(s.name == made.name && s.version == made.version));
    if !older {
        return Vec::new();
    }
    storage.history(&made.name).await.unwrap_or_default()
}
