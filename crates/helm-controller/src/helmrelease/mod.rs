//! The HelmRelease reconciler: chart source → chart and values → the release's state in
//! Helm's storage → the Helm action it calls for (install, upgrade, rollback or uninstall
//! remediation, unlock) → status and events, as Flux's helm-controller. A failure never
//! deletes what a deployed revision applied; remediation is only what the spec asks for.
//!
//! On the shared harness ([`driftless_runtime::reconcile`]). Here: [`watches`] (chart
//! sources), [`inputs`] (HelmChart from `spec.chart`, chart artifact, values),
//! [`dependencies`], [`capabilities`], [`actions`] (install and upgrade), [`waiting`] (for the
//! objects, without holding a worker), [`hooks`] (and tests), [`revert`] (rollback, uninstall,
//! unlock), [`requests`] (`forceAt`, `resetAt`) and [`outcome`] (how each ending reads).

mod actions;
mod capabilities;
mod dependencies;
mod hooks;
mod inputs;
mod outcome;
mod requests;
mod revert;
mod waiting;
mod watches;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_api::conditions::{DEPENDENCY_NOT_READY, INVALID_CEL_EXPRESSION, PROGRESSING};
use driftless_api::event::Severity;
use driftless_api::helm::{
    ARTIFACT_FAILED_REASON, DRIFT_CORRECTED_REASON, DRIFT_DETECTED_REASON, DriftDetectionMode,
    HelmRelease, HelmReleaseStatus, INIT_FAILED_REASON, SOURCE_NOT_READY_REASON,
    TEST_SUCCESS_CONDITION, VALUES_ERROR_REASON,
};
use driftless_api::source::HelmChart;
use driftless_helm::release::status;
use driftless_runtime::artifact::ArtifactFetcher;
use driftless_runtime::clients::{Clients, KubeconfigPolicy, Target};
use driftless_runtime::conditions as cond;
use driftless_runtime::go_duration::go_duration;
use driftless_runtime::health_exprs::CustomHealthChecks;
use driftless_runtime::reconcile::{Error, Outcome, RetryAfter, Run};
use driftless_runtime::{Context as RuntimeContext, reconcile};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};

use crate::digest;
use crate::release_state::{self, Action, Desired, State};
use crate::storage::Storage;
use actions::{InFlight, Plan};
use capabilities::CapabilitiesCache;
use inputs::ChartSource;
use watches::{Cached, SourceStores};

/// Most Helm actions one reconciliation runs (an unlock, then the action it unblocks).
const MAX_STEPS: usize = 3;

pub struct Settings {
    /// `--requeue-dependency`: how soon to look again at a source without an artifact.
    pub requeue_dependency: Duration,
    pub no_cross_namespace_refs: bool,
    /// `--default-service-account`: impersonated when a HelmRelease names none.
    pub default_service_account: Option<String>,
    /// What kubeconfigs of remote clusters (`spec.kubeConfig`) may use.
    pub kubeconfig_policy: KubeconfigPolicy,
}

pub struct Reconciler {
    runtime: RuntimeContext,
    /// Where and as whom each HelmRelease releases.
    clients: Clients,
    fetcher: ArtifactFetcher,
    settings: Settings,
    capabilities: CapabilitiesCache,
    sources: SourceStores,
    /// Installs and upgrades waiting for their objects, by HelmRelease.
    waits: Mutex<HashMap<String, InFlight>>,
}

impl Reconciler {
    pub fn new(
        runtime: RuntimeContext,
        config: kube::Config,
        fetcher: ArtifactFetcher,
        settings: Settings,
    ) -> Self {
        let clients = Clients::new(
            runtime.client.clone(),
            config,
            crate::FIELD_MANAGER,
            settings.default_service_account.clone(),
            settings.kubeconfig_policy,
        );
        Self {
            runtime,
            clients,
            fetcher,
            settings,
            capabilities: CapabilitiesCache::default(),
            sources: SourceStores::default(),
            waits: Mutex::new(HashMap::new()),
        }
    }

    pub async fn run(self) {
        let ctx = self.runtime.clone();
        reconcile::run(self, ctx).await;
    }
}

fn waiting(reason: &'static str, message: String, after: Duration) -> Outcome {
    Outcome::Waiting {
        reason,
        message,
        after,
    }
}

fn failed(reason: &'static str, message: String, at_most: Duration) -> Outcome {
    Outcome::Retry {
        reason,
        message,
        after: RetryAfter::Backoff { at_most },
    }
}

impl reconcile::Reconciler for Reconciler {
    type Object = HelmRelease;

    fn watches(&mut self, watches: &mut reconcile::Watches<HelmRelease>) {
        self.sources = watches::declare(watches);
    }

    async fn reconcile(&self, run: &mut Run<HelmRelease>) -> Result<Outcome, Error> {
        let object = run.object.clone();
        // A release waiting for its objects: one look at what is pending, and nothing else
        // until that is settled.
        if let Some(outcome) = self.poll_in_flight(run).await {
            return Ok(outcome);
        }
        let interval = object.interval().unwrap_or(Duration::from_secs(600));
        let source = ChartSource::of(&object);
        if source.kind.is_empty() {
            return Ok(Outcome::configuration_error(
                INIT_FAILED_REASON,
                "invalid Chart reference: either chart or chartRef must be set",
            ));
        }
        if source.kind == "ExternalArtifact" {
            return Ok(Outcome::configuration_error(
                driftless_api::conditions::FEATURE_GATE_DISABLED,
                "chartRef of kind ExternalArtifact is not supported",
            ));
        }
        let own = object.namespace().unwrap_or_default();
        if self.settings.no_cross_namespace_refs && source.namespace != own {
            return Ok(Outcome::configuration_error(
                driftless_api::conditions::ACCESS_DENIED,
                format!(
                    "cross-namespace references are not allowed: {}",
                    source.display()
                ),
            ));
        }
        let wanted_chart = object
            .spec
            .chart
            .is_some()
            .then(|| format!("{}/{}", source.namespace, source.name));
        if let Some(previous) = run.status.helm_chart.clone()
            && Some(&previous) != wanted_chart.as_ref()
        {
            // Moved to chartRef, or the HelmChart's namespace changed: the old one goes.
            if let Err(error) = self.delete_helm_chart(&previous).await {
                return Ok(failed(ARTIFACT_FAILED_REASON, error, interval));
            }
            run.status.helm_chart = None;
        }
        if object.spec.chart.is_some() {
            if let Err(error) = self.ensure_helm_chart(&object).await {
                return Ok(failed(ARTIFACT_FAILED_REASON, error, interval));
            }
            run.status.helm_chart = wanted_chart;
        }
        match self.unready_dependency(&object).await {
            Ok(None) => {}
            Ok(Some(message)) => {
                let after = self.settings.requeue_dependency;
                return Ok(waiting(DEPENDENCY_NOT_READY, message, after));
            }
            Err(outcome) => return Ok(outcome),
        }
        let health_checks = match CustomHealthChecks::compile(&object.spec.health_check_exprs) {
            Ok(checks) => checks,
            Err(error) => {
                return Ok(Outcome::configuration_error(INVALID_CEL_EXPRESSION, error));
            }
        };
        let artifact = match self.sources.artifact(&source) {
            Cached::Ready(artifact) => artifact,
            Cached::Missing => {
                let message = format!("{} not found", source.display());
                return Ok(waiting(
                    SOURCE_NOT_READY_REASON,
                    message,
                    self.settings.requeue_dependency,
                ));
            }
            Cached::NotReady(why) => {
                let message = format!("{} is not ready: {why}", source.display());
                return Ok(waiting(
                    SOURCE_NOT_READY_REASON,
                    message,
                    self.settings.requeue_dependency,
                ));
            }
        };
        let values = match self.values(&object).await {
            Ok(values) => values,
            Err(error) => return Ok(failed(VALUES_ERROR_REASON, error.to_string(), interval)),
        };
        let mut chart = match self.load_chart(&artifact).await {
            Ok(chart) => chart,
            Err(error) => return Ok(failed(ARTIFACT_FAILED_REASON, error, interval)),
        };
        let oci_digest = (source.kind == "OCIRepository").then(|| artifact.digest.clone());
        if let Some(digest) = &oci_digest {
            chart.metadata.version = inputs::oci_chart_version(&chart.metadata.version, digest);
        }
        let chart_name = chart.metadata.name.clone();
        let chart_version = chart.metadata.version.clone();
        let config_digest = digest::config_digest(&values);
        let release_name = crate::release_name::shorten(&object.release_name());
        let release_namespace = object.release_namespace().to_owned();
        let storage_namespace = object.storage_namespace().to_owned();
        let applier = match self.clients.applier_for(&target(&object)).await {
            Ok(applier) => applier,
            Err(error) => return Ok(failed(INIT_FAILED_REASON, error, interval)),
        };
        let storage = Storage::new(applier.client().clone(), &storage_namespace);

        // Failure counters restart with a new spec, chart or values (Flux's `MustResetFailures`).
        let previous_storage = run.status.storage_namespace.clone();
        let requests = requests::handle(&object, &mut run.status);
        let status_ = &mut run.status;
        if requests.reset
            || status_.last_attempted_generation != object.metadata.generation
            || status_.last_attempted_revision.as_deref() != Some(chart_version.as_str())
            || status_.last_attempted_config_digest.as_deref() != Some(config_digest.as_str())
        {
            status_.failures = 0;
            status_.install_failures = 0;
            status_.upgrade_failures = 0;
        }
        status_.storage_namespace = Some(storage_namespace.clone());
        status_.last_attempted_generation = object.metadata.generation;
        status_.last_attempted_revision = Some(chart_version.clone());
        status_.last_attempted_revision_digest = oci_digest.clone();
        status_.last_attempted_config_digest = Some(config_digest.clone());
        status_.last_attempted_values_checksum = None;
        status_.last_release_revision = None;
        // What else a release renders from: a change re-renders (upgrades) the release.
        let post_renderers_digest = (!object.spec.post_renderers.is_empty())
            .then(|| digest::json_digest(&object.spec.post_renderers));
        let common_metadata_digest = object
            .spec
            .common_metadata
            .as_ref()
            .map(digest::json_digest);
        let rendering_changed = status_.observed_post_renderers_digest != post_renderers_digest
            || status_.observed_common_metadata_digest != common_metadata_digest;

        let plan = Plan {
            applier: applier.clone(),
            remote: object.spec.kube_config.is_some(),
            health_checks: Arc::new(health_checks),
            release_name,
            namespace: release_namespace,
            chart,
            chart_version: chart_version.clone(),
            values,
            timeout: object.timeout(),
        };
        let desired = Desired {
            chart_name: &chart_name,
            chart_version: &chart_version,
            config_digest: &config_digest,
            oci_digest: oci_digest.as_deref(),
            rendering_changed,
            failed_tests_fail: object.spec.test.as_ref().is_some_and(|t| t.enable)
                && !release_state::ignores_test_failures(
                    &object,
                    run.status.last_attempted_release_action.as_deref() == Some("upgrade"),
                ),
        };
        let chart_ref = format!("{chart_name}@{chart_version}");
        // A new release name, namespace, storage namespace or chart name is another release:
        // the one made before is uninstalled first (Flux's `ReleaseTargetChanged`).
        if let Some(previous) = run.status.history.first().cloned()
            && (previous.name != plan.release_name
                || previous.namespace != plan.namespace
                || previous.chart_name != chart_name
                || previous_storage
                    .as_deref()
                    .is_some_and(|s| s != storage_namespace))
        {
            let old_namespace = previous_storage
                .clone()
                .unwrap_or_else(|| storage_namespace.clone());
            let old_storage = Storage::new(applier.client().clone(), &old_namespace);
            let old_history = old_storage
                .history(&previous.name)
                .await
                .unwrap_or_default();
            if let Err(error) = self
                .uninstall(
                    &applier,
                    &object,
                    &previous.namespace,
                    &old_storage,
                    &old_history,
                )
                .await
            {
                let reason = driftless_api::helm::UNINSTALL_FAILED_REASON;
                return Ok(failed(
                    reason,
                    format!("failed to uninstall the previous release: {error}"),
                    interval,
                ));
            }
            run.status.history.clear();
            run.status.failures = 0;
            run.status.install_failures = 0;
            run.status.upgrade_failures = 0;
        }
        let key = reconcile::object_key(&*object);
        for _ in 0..MAX_STEPS {
            let history = match storage.history(&plan.release_name).await {
                Ok(history) => history,
                Err(error) => {
                    let reason = driftless_api::helm::GET_LAST_RELEASE_FAILED_REASON;
                    return Ok(failed(reason, error.to_string(), interval));
                }
            };
            // An install or upgrade waiting for its objects goes on where it stopped.
            let flight = self.waits.lock().ok().and_then(|mut w| w.remove(&key));
            if let Some(mut flight) = flight
                && history.last().is_some_and(|r| {
                    r.version == flight.revision.version && status::is_pending(&r.info.status)
                })
                && flight.unpark(&history)
            {
                let upgrade = flight.upgrading;
                let mut ended = match flight.settled.take() {
                    Some(settled) => self.complete(&plan, &storage, flight, settled).await,
                    None => {
                        let pending = flight.pending.clone();
                        self.go_on(&plan, &storage, pending, flight).await
                    }
                };
                if let Some(flight) = ended.waiting.take() {
                    return Ok(self.wait_more(run, &storage, &desired, flight).await);
                }
                return Ok(self
                    .finish(run, &storage, &plan, &desired, upgrade, ended, &chart_ref)
                    .await);
            }
            let state = release_state::determine(history.last(), &run.status.history, &desired);
            let previous = history
                .last()
                .and_then(|latest| release_state::rollback_target(&history, latest.version));
            let action =
                release_state::next_action(&state, &object, &run.status, previous, requests.force);
            tracing::debug!(release = %plan.release_name, ?state, ?action, "release state");
            if action == Action::None {
                // Recorded once a release is made with them (or found made with them).
                run.status.observed_post_renderers_digest = post_renderers_digest.clone();
                run.status.observed_common_metadata_digest = common_metadata_digest.clone();
            }
            match action {
                Action::None => {
                    if let Some(latest) = history.last() {
                        self.check_drift(run, &plan, latest).await;
                    }
                    return Ok(outcome::in_sync(&object, &run.status));
                }
                Action::Stall { reason, message } => {
                    return Ok(Outcome::Stalled { reason, message });
                }
                Action::Unlock => {
                    if let Some(latest) = history.last() {
                        let previous_status = latest.info.status.clone();
                        if let Err(error) = self.unlock(&storage, latest).await {
                            return Ok(failed(
                                driftless_api::helm::PENDING_RELEASE_REASON,
                                error,
                                interval,
                            ));
                        }
                        let message = format!(
                            "Unlocked Helm release {}/{}.v{} with chart {chart_ref} in {previous_status} state",
                            latest.namespace, latest.name, latest.version
                        );
                        run.event(
                            Severity::Info,
                            driftless_api::helm::PENDING_RELEASE_REASON,
                            message,
                            BTreeMap::new(),
                        );
                        let stored = storage
                            .history(&plan.release_name)
                            .await
                            .unwrap_or_default();
                        outcome::refresh(&mut run.status.history, &stored);
                    }
                }
                Action::Install | Action::Upgrade => {
                    let upgrade = action == Action::Upgrade;
                    if matches!(state, State::Unmanaged(_)) {
                        run.status.history.clear();
                    }
                    run.status.last_attempted_release_action =
                        Some(if upgrade { "upgrade" } else { "install" }.into());
                    if !run.status.conditions.is_empty() {
                        let verb = if upgrade { "Upgrading" } else { "Installing" };
                        run.progress(
                            PROGRESSING,
                            format!(
                                "{verb} release {} with chart {chart_ref}",
                                plan.release_name
                            ),
                        )
                        .await?;
                    }
                    let started = Instant::now();
                    let mut ended = self
                        .install_or_upgrade(&object, &plan, &storage, &history)
                        .await;
                    if ended.error.is_none() {
                        run.status.observed_post_renderers_digest = post_renderers_digest.clone();
                        run.status.observed_common_metadata_digest = common_metadata_digest.clone();
                    }
                    run.status.last_attempted_release_action_duration =
                        Some(go_duration(started.elapsed()));
                    if let Some(flight) = ended.waiting.take() {
                        return Ok(self.wait_more(run, &storage, &desired, flight).await);
                    }
                    return Ok(self
                        .finish(run, &storage, &plan, &desired, upgrade, ended, &chart_ref)
                        .await);
                }
                Action::Rollback(to) => {
                    let ended = self.rollback(&object, &plan, &storage, &history, to).await;
                    let stored = storage
                        .history(&plan.release_name)
                        .await
                        .unwrap_or_default();
                    if let Some(release) = &ended.release {
                        let config = run
                            .status
                            .history
                            .iter()
                            .find(|s| s.version == to)
                            .map(|s| s.config_digest.clone())
                            .unwrap_or_default();
                        let made = outcome::snapshot(
                            release,
                            &config,
                            oci_digest.as_deref(),
                            Some("rollback"),
                        );
                        outcome::record(&mut run.status.history, made, &stored);
                    }
                    let ending = outcome::remediated(
                        &object,
                        &mut run.status,
                        true,
                        ended.release.as_ref(),
                        ended.error.as_deref(),
                    );
                    return Ok(end(run, ending));
                }
                Action::UninstallRemediation => {
                    let result = self
                        .uninstall(&plan.applier, &object, &plan.namespace, &storage, &history)
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
                    return Ok(end(run, ending));
                }
            }
        }
        Ok(failed(
            driftless_api::helm::PENDING_RELEASE_REASON,
            "release is still locked after unlocking it".into(),
            interval,
        ))
    }

    async fn cleanup(&self, object: &Arc<HelmRelease>) -> Result<(), Error> {
        if let Ok(mut waits) = self.waits.lock() {
            waits.remove(&reconcile::object_key(&**object));
        }
        if !object.spec.suspend
            && let Some(storage_namespace) = object
                .status
                .as_ref()
                .and_then(|s| s.storage_namespace.clone())
        {
            let target = target(object);
            if let Some(account) = self.clients.missing_service_account(&target).await {
                // As in Flux: the identity to uninstall as is gone (with its tenant's
                // namespace, typically); holding the finalizer would block that namespace.
                tracing::error!(%account, "skipping uninstall: service account not found");
                return Ok(());
            }
            let applier = self
                .clients
                .applier_for(&target)
                .await
                .map_err(Error::Cleanup)?;
            let storage = Storage::new(applier.client().clone(), &storage_namespace);
            let name = crate::release_name::shorten(&object.release_name());
            let history = storage
                .history(&name)
                .await
                .map_err(|e| Error::Cleanup(e.to_string()))?;
            self.uninstall(
                &applier,
                object,
                object.release_namespace(),
                &storage,
                &history,
            )
            .await
            .map_err(Error::Cleanup)?;
        }
        if object.spec.chart.is_some() {
            let source = ChartSource::of(object);
            let api: Api<HelmChart> =
                Api::namespaced(self.runtime.client.clone(), &source.namespace);
            match api.delete(&source.name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(Error::Cleanup(error.to_string())),
            }
        }
        Ok(())
    }

    fn event_metadata(&self, status: &HelmReleaseStatus) -> BTreeMap<String, String> {
        let mut metadata = BTreeMap::new();
        if let Some(revision) = &status.last_attempted_revision {
            metadata.insert("helm.toolkit.fluxcd.io/revision".into(), revision.clone());
        }
        if let Some(digest) = &status.last_attempted_config_digest {
            metadata.insert("helm.toolkit.fluxcd.io/token".into(), digest.clone());
        }
        metadata
    }
}

impl Reconciler {
    /// `driftDetection`: reports (`warn`) or corrects (`enabled`) changes made in the cluster
    /// to the release's objects.
    async fn check_drift(
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
    async fn finish(
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
            let stored = storage
                .history(&plan.release_name)
                .await
                .unwrap_or_default();
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

/// Where and as whom `object` releases.
fn target(object: &HelmRelease) -> Target<'_> {
    Target {
        namespace: object.metadata.namespace.as_deref().unwrap_or_default(),
        service_account_name: object.spec.service_account_name.as_deref(),
        kube_config: object.spec.kube_config.as_ref(),
    }
}

fn end(run: &mut Run<HelmRelease>, ending: outcome::Ending) -> Outcome {
    for (reason, message) in ending.events {
        run.event(Severity::Info, reason, message, BTreeMap::new());
    }
    ending.outcome
}
