//! The Kustomization reconciler: source artifact → build → server-side apply → inventory →
//! prune → health, as Flux's kustomize-controller does. A failure never deletes what is
//! applied; the next good revision recovers without manual steps.
//!
//! It runs on the shared harness ([`driftless_runtime::reconcile`]), which owns watches,
//! finalizer, conditions, events, metrics and the status write. Here: [`watches`] (sources
//! and ConfigMaps/Secrets that trigger a reconcile), [`inputs`] (source artifact,
//! dependencies, decryption keys, variables), [`pipeline`] (one revision built, applied and
//! pruned), [`health_wait`], [`outcome`] (how each ending reads) and [`deletion`].

mod deletion;
mod health_wait;
mod inputs;
mod outcome;
mod pipeline;
mod watches;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_api::conditions::{
    ARTIFACT_FAILED, INVALID_CEL_EXPRESSION, PROGRESSING, RECONCILIATION_SUCCEEDED,
};
use driftless_api::kustomize::{Kustomization, KustomizationStatus};
use driftless_runtime::artifact::ArtifactFetcher;
use driftless_runtime::conditions as cond;
use driftless_runtime::reconcile::{Error, JUST_CREATED, Outcome, Run};
use driftless_runtime::{Context as RuntimeContext, reconcile};

use crate::history;
use driftless_runtime::clients::{Clients, KubeconfigPolicy, Target};
use driftless_runtime::health_exprs::CustomHealthChecks;
use health_wait::HealthOutcome;
use watches::SourceStores;

pub const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
pub const NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

pub struct Settings {
    /// `--default-service-account`: impersonated when a Kustomization names none.
    pub default_service_account: Option<String>,
    /// Feature gate `StrictPostBuildSubstitutions`: an unset `${var}` without a default fails.
    pub strict_substitution: bool,
    /// `--requeue-dependency`: how soon to look again at a source without an artifact.
    pub requeue_dependency: Duration,
    pub no_cross_namespace_refs: bool,
    /// `--sops-age-secret`, in the controller's namespace: age keys for Kustomizations whose
    /// `spec.decryption` names no Secret.
    pub sops_age_secret: Option<String>,
    /// What kubeconfigs of remote clusters (`spec.kubeConfig`) may use.
    pub kubeconfig_policy: KubeconfigPolicy,
    /// `--override-manager`: field managers whose changes are reverted, beyond Flux's own
    /// list (`kubectl`, `before-first-apply`).
    pub override_managers: Vec<String>,
    /// The `ExternalArtifact` feature gate: `sourceRef` may name an ExternalArtifact.
    pub external_artifacts: bool,
}

pub struct Reconciler {
    runtime: RuntimeContext,
    /// Where and as whom each Kustomization applies.
    clients: Clients,
    fetcher: ArtifactFetcher,
    settings: Settings,
    /// When health checks of each Kustomization's current revision started.
    health_started: Mutex<HashMap<String, (String, Instant)>>,
    /// Health waits under way, by Kustomization: what their revision applied.
    health_waits: Mutex<HashMap<String, health_wait::HealthWait>>,
    /// The sources the controller watches, filled by its watches: artifacts are read here
    /// instead of with a GET per reconcile.
    sources: SourceStores,
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
            health_started: Mutex::new(HashMap::new()),
            health_waits: Mutex::new(HashMap::new()),
            sources: SourceStores::default(),
        }
    }

    /// Runs the controller until shutdown.
    pub async fn run(self) {
        let ctx = self.runtime.clone();
        reconcile::run(self, ctx).await;
    }
}

impl reconcile::Reconciler for Reconciler {
    type Object = Kustomization;

    fn watches(&mut self, watches: &mut reconcile::Watches<Kustomization>) {
        self.sources = watches::declare(watches, self.settings.external_artifacts);
    }

    async fn reconcile(&self, run: &mut Run<Kustomization>) -> Result<Outcome, Error> {
        let started = Instant::now();
        let object = run.object.clone();
        // Invalid expressions are a configuration error that only a new spec fixes.
        let custom_health = match CustomHealthChecks::compile(&object.spec.health_check_exprs) {
            Ok(checks) => checks,
            Err(error) => return Ok(Outcome::configuration_error(INVALID_CEL_EXPRESSION, error)),
        };
        let artifact = match self.source_artifact(&object).await {
            Ok(artifact) => artifact,
            Err(failure) => {
                let failure = wait_quietly_while_new(run, failure);
                return Ok(self.failed(run, failure));
            }
        };
        if let Err(failure) = self.check_dependencies(&object, &artifact).await {
            return Ok(self.failed(run, failure));
        }
        let revision = artifact.revision.clone();
        let mut built_digest = None;
        let result = match self.health_wait_of(&object, &revision) {
            // A poll of a health wait under way looks at health alone.
            Some(wait) => {
                built_digest = Some(wait.built_digest);
                self.poll_health(&object, wait.changes, &revision, &custom_health)
                    .await
            }
            None => {
                // A new object, without a Ready condition yet, already reads as not ready to
                // health checks; the extra write would only add API load when many are
                // created.
                if !run.status.conditions.is_empty() {
                    let message = format!("Fetching manifests for revision {revision}");
                    run.progress(PROGRESSING, message).await?;
                }
                self.reconcile_revision(
                    &object,
                    &artifact,
                    &mut run.status,
                    &mut built_digest,
                    &custom_health,
                )
                .await
            }
        };
        self.note_health_wait(&object, &revision, &result, built_digest.as_deref());
        // Every outcome past the build is recorded, except a health check still waiting.
        let history_outcome = match &result {
            Ok((_, HealthOutcome::Waiting(_))) => None,
            Ok(_) => Some(RECONCILIATION_SUCCEEDED),
            Err(failure) => Some(failure.reason()),
        };
        if let (Some(digest), Some(outcome)) = (&built_digest, history_outcome) {
            history::record(
                &mut run.status.history,
                digest,
                cond::now(),
                started.elapsed(),
                outcome,
                BTreeMap::from([("revision".to_owned(), revision.clone())]),
            );
        }
        Ok(match result {
            Ok((changes, health)) => {
                let ending = outcome::succeeded(
                    &object,
                    &mut run.status,
                    &revision,
                    &changes,
                    health,
                    started.elapsed(),
                );
                end(run, ending)
            }
            Err(failure) => self.failed(run, failure),
        })
    }

    async fn cleanup(&self, object: &Arc<Kustomization>) -> Result<(), Error> {
        self.finalize(object).await
    }

    fn event_metadata(&self, status: &KustomizationStatus) -> BTreeMap<String, String> {
        outcome::revision_metadata(status.last_attempted_revision.as_deref())
    }
}

impl Reconciler {
    fn failed(&self, run: &mut Run<Kustomization>, failure: Outcome) -> Outcome {
        let generation = run.generation();
        let requeue_dependency = self.settings.requeue_dependency;
        let ending = outcome::failed(&mut run.status, generation, failure, requeue_dependency);
        end(run, ending)
    }
}

/// A Kustomization created moments ago whose source has no artifact yet waits without a
/// status: the source was most likely created with it, and the watch on sources brings the
/// Kustomization back once the artifact is stored (one status write saved per new
/// Kustomization). Should the source take longer, the status says so within
/// [`JUST_CREATED`].
fn wait_quietly_while_new(run: &mut Run<Kustomization>, failure: Outcome) -> Outcome {
    match failure {
        Outcome::Waiting {
            reason,
            message,
            after,
        } if reason == ARTIFACT_FAILED && run.just_created() => {
            run.defer_first_status();
            Outcome::Waiting {
                reason,
                message,
                after: after.min(JUST_CREATED),
            }
        }
        other => other,
    }
}

/// Where and as whom `object` applies.
fn target(object: &Kustomization) -> Target<'_> {
    Target {
        namespace: object.metadata.namespace.as_deref().unwrap_or_default(),
        service_account_name: object.spec.service_account_name.as_deref(),
        kube_config: object.spec.kube_config.as_ref(),
    }
}

/// Queues the events of `ending` and hands back its outcome.
fn end(run: &mut Run<Kustomization>, ending: outcome::Ending) -> Outcome {
    for notice in ending.events {
        run.notify(notice);
    }
    ending.outcome
}
