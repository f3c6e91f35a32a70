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
mod finish;
mod hooks;
mod inputs;
mod legacy;
mod live;
mod outcome;
mod ownership;
mod prepare;
mod requests;
mod revert;
mod step;
mod waiting;
mod watches;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftless_api::event::Severity;
use driftless_api::helm::{HelmRelease, HelmReleaseStatus};
use driftless_api::source::HelmChart;
use driftless_runtime::artifact::ArtifactFetcher;
use driftless_runtime::clients::{Clients, KubeconfigPolicy, Target};
use driftless_runtime::reconcile::{Error, Outcome, RetryAfter, Run};
use driftless_runtime::{Context as RuntimeContext, reconcile};
use kube::api::{Api, DeleteParams};

use crate::storage::Storage;
use actions::InFlight;
use capabilities::CapabilitiesCache;
use inputs::ChartSource;
use watches::SourceStores;

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
    /// The `ExternalArtifact` feature gate: `chartRef` may name an ExternalArtifact.
    pub external_artifacts: bool,
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
    /// Shared watches of the workload kinds releases wait on.
    live: live::LiveObjects,
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
            live: live::LiveObjects::new(runtime.client.clone()),
            runtime,
            clients,
            fetcher,
            settings,
            capabilities: CapabilitiesCache::default(),
            sources: SourceStores::default(),
            waits: Mutex::new(HashMap::new()),
        }
    }

    /// The shared watches, for objects in this cluster (not for `spec.kubeConfig` releases).
    fn live(&self, remote: bool) -> Option<&live::LiveObjects> {
        (!remote).then_some(&self.live)
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
        self.sources = watches::declare(watches, self.settings.external_artifacts);
    }

    async fn reconcile(&self, run: &mut Run<HelmRelease>) -> Result<Outcome, Error> {
        // A release waiting for its objects: one look at what is pending, and nothing else
        // until that is settled.
        if let Some(outcome) = self.poll_in_flight(run).await {
            return Ok(outcome);
        }
        let prepared = match self.prepare(run).await {
            Ok(prepared) => prepared,
            Err(outcome) => return Ok(outcome),
        };
        if let Some(outcome) = self.uninstall_changed_target(run, &prepared).await {
            return Ok(outcome);
        }
        for _ in 0..MAX_STEPS {
            if let step::Step::Done(outcome) = self.step(run, &prepared).await? {
                return Ok(outcome);
            }
        }
        Ok(failed(
            driftless_api::helm::PENDING_RELEASE_REASON,
            "release is still locked after unlocking it".into(),
            prepared.interval,
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
