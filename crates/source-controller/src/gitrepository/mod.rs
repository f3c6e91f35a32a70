//! The GitRepository reconciler: credentials → resolve the ref on the remote → fetch only a
//! new revision → tree with ignore rules → deterministic tar.gz in storage → status, events,
//! garbage collection. A failure never touches the last good artifact, which stays served.
//!
//! It runs on the shared harness ([`driftless_runtime::reconcile`]), which owns watches,
//! finalizer, conditions, events, metrics and the status write. Here: [`fetch`] (inputs and
//! the timed job), [`job`] (the blocking fetch-and-pack), [`include`], [`verification`],
//! [`failure`] (which step failed, and how that reads) and [`dependents`] (includers woken by a
//! new artifact).

mod dependents;
mod failure;
mod fetch;
mod include;
mod job;
mod verification;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use driftless_api::conditions::{
    ARTIFACT_IN_STORAGE, NEW_ARTIFACT_EVENT, SOURCE_VERIFIED, SUCCEEDED,
};
use driftless_api::event::Severity;
use driftless_api::meta::parse_duration;
use driftless_api::source::{GitRepository, GitRepositoryStatus};
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::reconcile::{Error, Outcome, Run, Watches};
use driftless_runtime::{Context as RuntimeContext, reconcile};
use kube::ResourceExt;

use crate::packed::PackedCommits;
use crate::storage::Storage;
use dependents::Dependents;
use driftless_git as git;
use failure::{FAILED_STEPS, failed};
use job::SourceOutcome;
use verification::verification_mode;

const KIND: &str = "GitRepository";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How many packed commits are remembered for other GitRepositories to reuse.
const PACKED_COMMITS_CAPACITY: usize = 4096;
/// Settings of the GitRepository reconciler.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where temporary bare repositories are created.
    pub work_dir: PathBuf,
    pub limits: git::tree::TreeLimits,
}

pub struct Reconciler {
    runtime: RuntimeContext,
    storage: Storage,
    settings: Settings,
    /// Set once running: who includes whom, and how to ask for their reconcile.
    dependents: Option<Dependents>,
    /// Commits other GitRepositories already packed.
    packed: PackedCommits,
}

impl Reconciler {
    pub fn new(runtime: RuntimeContext, storage: Storage, settings: Settings) -> Self {
        Self {
            runtime,
            storage,
            settings,
            dependents: None,
            packed: PackedCommits::new(PACKED_COMMITS_CAPACITY),
        }
    }

    /// Runs the controller, and the sweep of orphaned artifacts, until shutdown.
    pub async fn run(self) {
        let ctx = self.runtime.clone();
        crate::orphans::spawn_sweep::<GitRepository>(&ctx, KIND, self.storage.clone());
        reconcile::run(self, ctx).await;
    }
}

impl reconcile::Reconciler for Reconciler {
    type Object = GitRepository;

    fn watches(&mut self, watches: &mut Watches<GitRepository>) {
        let (notify, requests) = tokio::sync::mpsc::channel(1024);
        self.dependents = Some(Dependents {
            store: watches.objects(),
            notify,
        });
        let requests = futures::stream::unfold(requests, |mut requests| async move {
            requests.recv().await.map(|request| (request, requests))
        });
        watches.reconcile_on(requests);
    }

    async fn reconcile(&self, run: &mut Run<GitRepository>) -> Result<Outcome, Error> {
        let object = run.object.clone();
        let current = run.status.clone();
        let fetched =
            crate::progress::shown_in_progress(run, self.reconcile_source(&object, &current))
                .await?;
        match fetched {
            Ok(source) => self.stored(run, source),
            Err(failure) => Ok(failed(&object, &mut run.status, failure)),
        }
    }

    async fn cleanup(&self, object: &Arc<GitRepository>) -> Result<(), Error> {
        let namespace = object.namespace().unwrap_or_default();
        match self
            .storage
            .object_dir(KIND, &namespace, &object.name_any())
        {
            Ok(dir) => {
                if let Err(error) = self.storage.remove_object(&dir) {
                    tracing::warn!(%error, "removing artifacts of a deleted GitRepository");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "no storage directory for a deleted GitRepository")
            }
        }
        Ok(())
    }

    fn status_written(
        &self,
        object: &GitRepository,
        previous: Option<&GitRepositoryStatus>,
        status: &GitRepositoryStatus,
    ) {
        let before = previous.and_then(|s| s.artifact.as_ref());
        let new_artifact = status
            .artifact
            .as_ref()
            .is_some_and(|a| before.is_none_or(|b| b.digest != a.digest || b.path != a.path));
        if new_artifact && let Some(dependents) = &self.dependents {
            dependents.notify_includers_of(object);
        }
    }
}

impl Reconciler {
    /// The artifact is in storage (new, or the current one still valid): Ready, and a
    /// NewArtifact event when the revision changed.
    fn stored(
        &self,
        run: &mut Run<GitRepository>,
        source: SourceOutcome,
    ) -> Result<Outcome, Error> {
        let (object, generation) = (run.object.clone(), run.generation());
        let previous_revision = run.status.artifact.as_ref().map(|a| a.revision.clone());
        if let SourceOutcome::Stored {
            artifact,
            summary,
            verified,
            included,
        } = source
        {
            if previous_revision.as_deref() != Some(artifact.revision.as_str()) {
                let metadata = crate::stored::artifact_event_metadata(&artifact);
                run.event(
                    Severity::Info,
                    NEW_ARTIFACT_EVENT,
                    format!("stored artifact for commit '{summary}'"),
                    metadata,
                );
            }
            run.status.artifact = Some(*artifact);
            run.status.included_artifacts = included;
            match verified {
                Some(message) => cond::set(
                    &mut run.status.conditions,
                    SOURCE_VERIFIED,
                    Status::True,
                    SUCCEEDED,
                    message,
                    generation,
                ),
                None => cond::remove(&mut run.status.conditions, SOURCE_VERIFIED),
            }
        }
        run.status.source_verification_mode = verification_mode(&object.spec);
        let Some(artifact) = &run.status.artifact else {
            return Err(Error::Unexpected(
                "no artifact after a successful reconcile".to_owned(),
            ));
        };
        let message = format!("stored artifact for revision '{}'", artifact.revision);
        for step in FAILED_STEPS {
            cond::remove(&mut run.status.conditions, step);
        }
        cond::set(
            &mut run.status.conditions,
            ARTIFACT_IN_STORAGE,
            Status::True,
            SUCCEEDED,
            message.clone(),
            generation,
        );
        run.status.observed_ignore = object.spec.ignore.clone();
        run.status.observed_recurse_submodules = object.spec.recurse_submodules;
        run.status.observed_include = object.spec.include.clone();
        run.status.observed_sparse_checkout = object.spec.sparse_checkout.clone();
        Ok(Outcome::Ready {
            reason: SUCCEEDED,
            message,
            interval: interval(&object),
        })
    }
}

/// `spec.interval` (ten minutes when unreadable).
pub(super) fn interval(object: &GitRepository) -> Duration {
    parse_duration(&object.spec.interval).unwrap_or(Duration::from_secs(600))
}
