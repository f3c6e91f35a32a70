//! The HelmRepository reconciler. `type: default`: the index fetched (bounded, with the
//! repository's credentials and TLS), loaded as Helm loads it, and stored as indented JSON
//! named by the digest of the fetched bytes, which is the revision; an unchanged index costs
//! one GET and no write. `type: oci`: no artifact, Ready once the registry answers.
//!
//! On the shared harness. Here: [`index`] (the index, pure), [`access`] (credentials, TLS and
//! the bounded GET, shared with HelmChart) and [`oci`] (the registry check).

pub mod access;
pub mod index;
pub mod oci;

use std::sync::Arc;
use std::time::Duration;

use driftless_api::conditions::{
    ARTIFACT_IN_STORAGE, ARTIFACT_OUTDATED, AUTHENTICATION_FAILED, FAILED, FETCH_FAILED,
    NEW_ARTIFACT_EVENT, STORAGE_OPERATION_FAILED, SUCCEEDED, URL_INVALID,
};
use driftless_api::event::Severity;
use driftless_api::meta::{Artifact, parse_duration};
use driftless_api::source::{HelmRepository, HelmRepositoryStatus, INDEXATION_FAILED_REASON};
use driftless_artifact::Digest;
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::reconcile::{Error, Outcome, Run};
use driftless_runtime::{Context as RuntimeContext, reconcile};

use crate::failure::Failure;
use crate::storage::Storage;
use access::RepositoryAccess;
use index::{Index, MAX_INDEX_BYTES};

const KIND: &str = "HelmRepository";
/// The link to the current index that `status.url` advertises, as in Flux.
pub const INDEX_LINK: &str = "index.yaml";
const FAILED_STEPS: [&str; 3] = [FETCH_FAILED, STORAGE_OPERATION_FAILED, ARTIFACT_OUTDATED];

pub struct Reconciler {
    runtime: RuntimeContext,
    storage: Storage,
}

/// What the fetch step produced.
enum Fetched {
    /// The stored index already has the remote revision.
    Unchanged,
    Stored {
        artifact: Box<Artifact>,
        size: u64,
    },
    /// `type: oci`: the registry answered.
    Reachable,
}

impl Reconciler {
    pub fn new(runtime: RuntimeContext, storage: Storage) -> Self {
        Self { runtime, storage }
    }

    /// Runs the controller, and the sweep of orphaned artifacts, until shutdown.
    pub async fn run(self) {
        let ctx = self.runtime.clone();
        crate::orphans::spawn_sweep::<HelmRepository>(&ctx, KIND, self.storage.clone());
        reconcile::run(self, ctx).await;
    }
}

impl reconcile::Reconciler for Reconciler {
    type Object = HelmRepository;

    async fn reconcile(&self, run: &mut Run<HelmRepository>) -> Result<Outcome, Error> {
        let object = run.object.clone();
        let current = run.status.clone();
        let fetched =
            crate::progress::shown_in_progress(run, self.fetch(&object, &current)).await?;
        match fetched {
            Ok(Fetched::Reachable) => Ok(self.reachable(run)),
            Ok(fetched) => Ok(self.stored(run, fetched)),
            Err(failure) => Ok(self.failed(run, failure)),
        }
    }

    async fn cleanup(&self, object: &Arc<HelmRepository>) -> Result<(), Error> {
        if let Ok(dir) = self.storage_dir(object)
            && let Err(error) = self.storage.remove_object(&dir)
        {
            tracing::warn!(%error, "removing artifacts of a deleted HelmRepository");
        }
        Ok(())
    }
}

impl Reconciler {
    async fn fetch(
        &self,
        object: &HelmRepository,
        status: &HelmRepositoryStatus,
    ) -> Result<Fetched, Failure> {
        let spec = &object.spec;
        let timeout = parse_duration(spec.timeout()).unwrap_or(Duration::from_secs(60));
        if spec.is_oci() {
            return oci::check(&self.runtime.client, object, timeout)
                .await
                .map(|()| Fetched::Reachable);
        }
        let url = index::normalize_url(&spec.url).map_err(|e| Failure {
            condition: FETCH_FAILED,
            reason: URL_INVALID,
            message: format!("invalid Helm repository URL: {e}"),
            stalled: true,
        })?;
        let access = RepositoryAccess::read(&self.runtime.client, object)
            .await
            .map_err(|e| Failure::fetch(AUTHENTICATION_FAILED, e.0))?;
        let fetch_failed = |e: access::GetError| {
            let reason = if e.is_unauthorized() {
                AUTHENTICATION_FAILED
            } else {
                FAILED
            };
            Failure::fetch(
                reason,
                format!(
                    "failed to fetch Helm repository index: failed to cache index to temporary file: {e}"
                ),
            )
        };
        let client = access.client(timeout).map_err(fetch_failed)?;
        let raw = access
            .get(
                &client,
                &url,
                &format!("{url}index.yaml"),
                "index",
                MAX_INDEX_BYTES,
            )
            .await
            .map_err(fetch_failed)?;
        let revision = Digest::of(&raw).to_string();
        if let Some(current) = &status.artifact
            && current.revision == revision
            && self.storage.holds(current).await
        {
            return Ok(Fetched::Unchanged);
        }
        let size = raw.len() as u64;
        let object_dir = self.storage_dir(object)?;
        let storage = self.storage.clone();
        let artifact = tokio::task::spawn_blocking(move || -> Result<Artifact, Failure> {
            let loaded = Index::load(&raw).map_err(|e| {
                Failure::fetch(
                    INDEXATION_FAILED_REASON,
                    format!(
                        "failed to load Helm repository from index YAML: failed to load index: {e}"
                    ),
                )
            })?;
            let hex = revision.trim_start_matches("sha256:");
            let file_name = format!("index-{hex}.yaml");
            let (digest, size, path) = storage
                .store_file(&object_dir, &file_name, &loaded.to_json())
                .map_err(|e| {
                    Failure::storage(
                        driftless_api::conditions::ARCHIVE_OPERATION_FAILED,
                        format!("unable to save artifact to storage: {e}"),
                    )
                })?;
            if let Err(error) = storage.garbage_collect(&object_dir, &file_name) {
                tracing::warn!(%error, "garbage collecting old artifacts");
            }
            Ok(Artifact {
                url: storage.url(&path),
                path,
                revision,
                digest: digest.to_string(),
                last_update_time: cond::now(),
                size: i64::try_from(size).ok(),
                metadata: None,
            })
        })
        .await
        .map_err(|e| {
            Failure::storage(
                driftless_api::conditions::ARCHIVE_OPERATION_FAILED,
                format!("storing the index failed unexpectedly: {e}"),
            )
        })??;
        Ok(Fetched::Stored {
            artifact: Box::new(artifact),
            size,
        })
    }

    /// The index is in storage (new, or the current one still valid): Ready, the
    /// `index.yaml` link, and a NewArtifact event when the index changed.
    fn stored(&self, run: &mut Run<HelmRepository>, fetched: Fetched) -> Outcome {
        let object = run.object.clone();
        let generation = run.generation();
        if let Fetched::Stored { artifact, size } = fetched {
            let changed = run
                .status
                .artifact
                .as_ref()
                .is_none_or(|previous| previous.revision != artifact.revision);
            if changed {
                let metadata = crate::stored::artifact_event_metadata(&artifact);
                run.event(
                    Severity::Info,
                    NEW_ARTIFACT_EVENT,
                    format!(
                        "stored fetched index of size {} from '{}'",
                        index::human_size(size),
                        index::normalize_url(&object.spec.url).unwrap_or_default()
                    ),
                    metadata,
                );
            }
            run.status.artifact = Some(*artifact);
        }
        let Some(artifact) = run.status.artifact.clone() else {
            return self.failed(
                run,
                Failure::storage(
                    driftless_api::conditions::ARCHIVE_OPERATION_FAILED,
                    "no artifact after a successful fetch".to_owned(),
                ),
            );
        };
        crate::stored::link_url(run, &self.storage, &artifact, INDEX_LINK);
        for step in FAILED_STEPS {
            cond::remove(&mut run.status.conditions, step);
        }
        let message = format!("stored artifact: revision '{}'", artifact.revision);
        cond::set(
            &mut run.status.conditions,
            ARTIFACT_IN_STORAGE,
            Status::True,
            SUCCEEDED,
            message.clone(),
            generation,
        );
        Outcome::Ready {
            reason: SUCCEEDED,
            message,
            interval: interval(&object),
        }
    }

    /// `type: oci`: nothing is stored; an artifact of an earlier `type: default` is dropped.
    fn reachable(&self, run: &mut Run<HelmRepository>) -> Outcome {
        let object = run.object.clone();
        if run.status.artifact.take().is_some()
            && let Ok(dir) = self.storage_dir(&object)
            && let Err(error) = self.storage.remove_object(&dir)
        {
            tracing::warn!(%error, "removing the index of a repository now of type oci");
        }
        run.status.url = None;
        for step in FAILED_STEPS {
            cond::remove(&mut run.status.conditions, step);
        }
        cond::remove(&mut run.status.conditions, ARTIFACT_IN_STORAGE);
        Outcome::Ready {
            reason: SUCCEEDED,
            message: "Helm repository is Ready".to_owned(),
            interval: interval(&object),
        }
    }

    fn failed(&self, run: &mut Run<HelmRepository>, failure: Failure) -> Outcome {
        let interval = interval(&run.object);
        crate::stored::failed(run, &FAILED_STEPS, interval, failure)
    }

    fn storage_dir(&self, object: &HelmRepository) -> Result<String, Failure> {
        crate::stored::storage_dir(&self.storage, object)
    }
}

/// `spec.interval` (one minute when absent or unreadable).
fn interval(object: &HelmRepository) -> Duration {
    parse_duration(object.spec.interval()).unwrap_or(Duration::from_secs(60))
}
