//! The GitRepository reconciler: credentials → resolve the ref on the remote → fetch only a
//! new revision → tree with ignore rules → deterministic tar.gz in storage → status, events,
//! garbage collection. A failure never touches the last good artifact, which stays served.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use driftless_api::conditions::{
    ARTIFACT_IN_STORAGE, ARTIFACT_OUTDATED, AUTHENTICATION_FAILED, FETCH_FAILED,
    NEW_ARTIFACT_EVENT, PROGRESSING, READY, RECONCILING, SOURCE_VERIFIED, STORAGE_OPERATION_FAILED,
    SUCCEEDED, URL_INVALID, VERIFICATION_ERROR,
};
use driftless_api::event::Severity;
use driftless_api::meta::{Artifact, parse_duration};
use driftless_api::source::{
    GIT_OPERATION_FAILED_REASON, GitRepository, GitRepositorySpec, GitRepositoryStatus,
    GitRepositoryVerification, GitVerificationMode, INCLUDE_UNAVAILABLE_CONDITION,
};
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::metrics::{ObjectLabels, ReconcileOutcome};
use driftless_runtime::reconcile::{
    FirstList, handled_reconcile_at, log_failed_reconcile, log_reconcile_error, reconcile_trigger,
    run_until_shutdown, with_finalizer, with_jitter,
};
use driftless_runtime::{Context as RuntimeContext, status::apply_status};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::Event as FinalizerEvent;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{PredicateConfig, WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};

use crate::git::{self, Credentials, FetchOutcome, FetchRequest, GitError, GitRef, Transport};
use crate::packed::{PackKey, Packed, PackedCommits};
use crate::storage::Storage;
use crate::verify::{self, TrustedKeys};

const KIND: &str = "GitRepository";
/// `controller` label of the controller-runtime metrics, as Flux names it.
const METRICS_CONTROLLER: &str = "gitrepository";
/// How long a fetch runs before the object is shown as in progress: long enough that fetches
/// of many objects at once add no status writes, short against the 60 s fetch timeout.
const SLOW_FETCH: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How many packed commits are remembered for other GitRepositories to reuse.
const PACKED_COMMITS_CAPACITY: usize = 4096;

/// Settings of the GitRepository reconciler.
#[derive(Clone, Debug)]
pub struct Settings {
    pub concurrency: u16,
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

/// Reconciles objects whose `spec.include` names an object that just got a new artifact.
struct Dependents {
    store: reflector::Store<GitRepository>,
    notify: tokio::sync::mpsc::Sender<ObjectRef<GitRepository>>,
}

impl Dependents {
    fn notify_includers_of(&self, object: &GitRepository) {
        let namespace = object.namespace();
        let name = object.name_any();
        for candidate in self.store.state() {
            let includes = candidate.namespace() == namespace
                && candidate
                    .spec
                    .include
                    .iter()
                    .any(|include| include.repository.name == name);
            // A full queue only delays: includers also see the change on their interval.
            if includes
                && self
                    .notify
                    .try_send(ObjectRef::from_obj(&*candidate))
                    .is_err()
            {
                tracing::debug!(includer = %candidate.name_any(), "include notification dropped");
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing status: {0}")]
    Status(#[source] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// A reconcile that reported success without an artifact: a bug, retried with backoff.
    #[error("no artifact after a successful reconcile")]
    MissingArtifact,
}

/// Why a reconcile failed, as conditions and events show it.
#[derive(Debug)]
struct Failure {
    condition: &'static str,
    reason: &'static str,
    message: String,
    /// The spec itself is wrong: retrying cannot help.
    stalled: bool,
}

impl Failure {
    fn fetch(reason: &'static str, message: String) -> Self {
        Self {
            condition: FETCH_FAILED,
            reason,
            message,
            stalled: false,
        }
    }

    fn storage(reason: &'static str, message: String) -> Self {
        Self {
            condition: STORAGE_OPERATION_FAILED,
            reason,
            message,
            stalled: false,
        }
    }
}

impl From<GitError> for Failure {
    fn from(error: GitError) -> Self {
        let message = format!("failed to checkout and determine revision: {error}");
        match &error {
            GitError::InvalidUrl { .. } => Self {
                condition: FETCH_FAILED,
                reason: URL_INVALID,
                message,
                stalled: true,
            },
            GitError::InvalidSemver { .. } => Self {
                condition: FETCH_FAILED,
                reason: GIT_OPERATION_FAILED_REASON,
                message,
                stalled: true,
            },
            GitError::Unauthenticated { .. } => Self::fetch(AUTHENTICATION_FAILED, message),
            _ => Self::fetch(GIT_OPERATION_FAILED_REASON, message),
        }
    }
}

/// What the blocking part of a reconcile produced.
enum SourceOutcome {
    Unchanged,
    Stored {
        artifact: Box<Artifact>,
        summary: String,
        /// The SourceVerified message, when verification is configured.
        verified: Option<String>,
        /// Artifacts of `spec.include` copied into this one.
        included: Vec<Artifact>,
    },
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

    /// Runs the controller until shutdown.
    pub async fn run(mut self) {
        let runtime = self.runtime.clone();
        let api: Api<GitRepository> = runtime
            .args
            .watched_api(runtime.client.clone(), &runtime.runtime_namespace);
        let (reader, writer) = reflector::store();
        // Whether the first list has completed; reconciles only start after it.
        let first_list = FirstList::default();
        let stream = watcher(api.clone(), runtime.args.watcher_config())
            .backoff(driftless_runtime::watch_backoff::WatchBackoff::default())
            // Managed fields are most of an object's size and never read here.
            .modify(|object| object.managed_fields_mut().clear())
            .reflect(writer)
            .inspect(first_list.observe())
            .applied_objects()
            .predicate_filter(reconcile_trigger, PredicateConfig::default());
        let concurrency = self.settings.concurrency.max(1);
        runtime
            .metrics
            .set_max_concurrent_reconciles(METRICS_CONTROLLER, concurrency);
        let shutdown = runtime.shutdown.clone();
        tokio::spawn(remove_orphans(
            api.clone(),
            runtime.args.watcher_config().label_selector,
            self.storage.clone(),
            shutdown.clone(),
        ));
        let (notify, requests) = tokio::sync::mpsc::channel(1024);
        self.dependents = Some(Dependents {
            store: reader.clone(),
            notify,
        });
        let requests = futures::stream::unfold(requests, |mut requests| async move {
            requests.recv().await.map(|request| (request, requests))
        });
        let stopping = shutdown.clone();
        let controller = Controller::for_stream(stream, reader)
            // The watches retry on their own quick backoff; kube's default here would pause
            // every trigger for up to a minute after an API server restart.
            .trigger_backoff(driftless_runtime::watch_backoff::WatchBackoff::default())
            .reconcile_on(requests)
            .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
            .graceful_shutdown_on(async move { stopping.cancelled().await })
            .run(
                |object, ctx: Arc<Reconciler>| async move { ctx.reconcile(object).await },
                |object, error, ctx| ctx.error_policy(&object, error),
                Arc::new(self),
            )
            .for_each(|_| futures::future::ready(()));
        run_until_shutdown(controller, shutdown, first_list).await;
    }

    fn error_policy(&self, object: &GitRepository, error: &Error) -> Action {
        log_reconcile_error(object, error);
        Action::requeue(self.runtime.backoff.next_delay(&key(object)))
    }

    async fn reconcile(self: Arc<Self>, object: Arc<GitRepository>) -> Result<Action, Error> {
        let namespace = object.namespace().unwrap_or_default();
        let api: Api<GitRepository> = Api::namespaced(self.runtime.client.clone(), &namespace);
        let this = self.clone();
        let status_api = api.clone();
        with_finalizer(
            &api,
            object,
            |event| async move {
                match event {
                    FinalizerEvent::Apply(object) => this.apply(&status_api, object).await,
                    FinalizerEvent::Cleanup(object) => this.cleanup(object).await,
                }
            },
            Error::Finalizer,
        )
        .await
    }

    async fn cleanup(&self, object: Arc<GitRepository>) -> Result<Action, Error> {
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
        self.runtime
            .metrics
            .forget_object(&ObjectLabels::of(&*object));
        self.runtime.backoff.reset(&key(&object));
        Ok(Action::await_change())
    }

    async fn apply(
        &self,
        api: &Api<GitRepository>,
        object: Arc<GitRepository>,
    ) -> Result<Action, Error> {
        let started = Instant::now();
        if object.spec.suspend {
            tracing::info!(name = %object.name_any(), "reconciliation is suspended for this object");
            return Ok(Action::await_change());
        }
        let interval = parse_duration(&object.spec.interval).unwrap_or(Duration::from_secs(600));
        let generation = object.meta().generation;
        let mut status = object.status.clone().unwrap_or_default();

        if status.observed_generation != generation {
            let message = format!(
                "processing object: new generation {} -> {}",
                status.observed_generation.unwrap_or(-1),
                generation.unwrap_or(0)
            );
            let first_reconcile = status.conditions.is_empty();
            cond::mark_reconciling(&mut status.conditions, PROGRESSING, message, generation);
            // A spec change on a working object is shown as in progress right away. A new
            // object already reads as in progress to kstatus (observedGeneration behind
            // generation); the extra write would only add API load when many are created.
            if !first_reconcile {
                apply_status(api, &object, self.runtime.controller, &status)
                    .await
                    .map_err(Error::Status)?;
            }
        }

        let previous_revision = status.artifact.as_ref().map(|a| a.revision.clone());
        let outcome = {
            let fetch = self.reconcile_source(&object, &status);
            tokio::pin!(fetch);
            tokio::select! {
                outcome = &mut fetch => outcome,
                () = tokio::time::sleep(SLOW_FETCH) => {
                    // A slow or hanging fetch shows as in progress while it runs, not only when
                    // it ends or times out.
                    let message = cond::get(&status.conditions, RECONCILING)
                        .map(|c| c.message.clone())
                        .unwrap_or_else(|| "reconciliation in progress".to_owned());
                    let mut progressing = status.clone();
                    cond::mark_reconciling(&mut progressing.conditions, PROGRESSING, message, generation);
                    if let Err(error) = apply_status(api, &object, self.runtime.controller, &progressing).await {
                        tracing::debug!(%error, "could not mark a slow fetch as in progress");
                    }
                    fetch.await
                }
            }
        };
        status.last_handled_reconcile_at = handled_reconcile_at(&*object);
        let key = key(&object);
        let action = match outcome {
            Ok(source) => {
                let mut new_artifact = None;
                let mut included_artifacts = None;
                if let SourceOutcome::Stored {
                    artifact,
                    summary,
                    verified,
                    included,
                } = source
                {
                    included_artifacts = Some(included);
                    new_artifact = Some((artifact.clone(), summary));
                    status.artifact = Some(*artifact);
                    match verified {
                        Some(message) => cond::set(
                            &mut status.conditions,
                            SOURCE_VERIFIED,
                            Status::True,
                            SUCCEEDED,
                            message,
                            generation,
                        ),
                        None => cond::remove(&mut status.conditions, SOURCE_VERIFIED),
                    }
                }
                status.source_verification_mode = verification_mode(&object.spec);
                let Some(artifact) = status.artifact.clone() else {
                    return Err(Error::MissingArtifact);
                };
                let message = format!("stored artifact for revision '{}'", artifact.revision);
                for negative in [
                    FETCH_FAILED,
                    STORAGE_OPERATION_FAILED,
                    INCLUDE_UNAVAILABLE_CONDITION,
                    ARTIFACT_OUTDATED,
                ] {
                    cond::remove(&mut status.conditions, negative);
                }
                cond::set(
                    &mut status.conditions,
                    ARTIFACT_IN_STORAGE,
                    Status::True,
                    SUCCEEDED,
                    message.clone(),
                    generation,
                );
                cond::mark_ready(&mut status.conditions, SUCCEEDED, message, generation);
                status.observed_generation = generation;
                status.observed_ignore = object.spec.ignore.clone();
                status.observed_recurse_submodules = object.spec.recurse_submodules;
                status.observed_include = object.spec.include.clone();
                if let Some(included) = included_artifacts {
                    status.included_artifacts = included;
                }
                status.observed_sparse_checkout = object.spec.sparse_checkout.clone();
                apply_status(api, &object, self.runtime.controller, &status)
                    .await
                    .map_err(Error::Status)?;
                if new_artifact.is_some()
                    && let Some(dependents) = &self.dependents
                {
                    dependents.notify_includers_of(&object);
                }
                if let Some((artifact, summary)) = new_artifact
                    && previous_revision.as_deref() != Some(artifact.revision.as_str())
                {
                    let mut metadata = BTreeMap::new();
                    metadata.insert(
                        "source.toolkit.fluxcd.io/revision".to_owned(),
                        artifact.revision.clone(),
                    );
                    metadata.insert(
                        "source.toolkit.fluxcd.io/digest".to_owned(),
                        artifact.digest.clone(),
                    );
                    self.runtime
                        .events
                        .publish(
                            &*object,
                            Severity::Info,
                            NEW_ARTIFACT_EVENT,
                            &format!("stored artifact for commit '{summary}'"),
                            metadata,
                        )
                        .await;
                }
                self.runtime.backoff.reset(&key);
                self.observe(&object, started, ReconcileOutcome::Success);
                Action::requeue(with_jitter(
                    interval,
                    self.runtime.args.interval_jitter_percentage,
                ))
            }
            Err(failure) => {
                // Only the step that failed now is reported: an earlier failure of another
                // step (a fixed Secret, say) no longer holds.
                for negative in [
                    FETCH_FAILED,
                    STORAGE_OPERATION_FAILED,
                    INCLUDE_UNAVAILABLE_CONDITION,
                    ARTIFACT_OUTDATED,
                ] {
                    if negative != failure.condition {
                        cond::remove(&mut status.conditions, negative);
                    }
                }
                // SourceVerified is a positive condition: a failed check makes it False.
                let polarity = if failure.condition == SOURCE_VERIFIED {
                    Status::False
                } else {
                    Status::True
                };
                cond::set(
                    &mut status.conditions,
                    failure.condition,
                    polarity,
                    failure.reason,
                    failure.message.clone(),
                    generation,
                );
                let action = if failure.stalled {
                    cond::mark_stalled(
                        &mut status.conditions,
                        failure.reason,
                        failure.message.clone(),
                        generation,
                    );
                    status.observed_generation = generation;
                    Action::await_change()
                } else {
                    cond::mark_failed_with_retry(
                        &mut status.conditions,
                        failure.reason,
                        failure.message.clone(),
                        generation,
                    );
                    // Back off, but never wait longer than the interval a fixed source would
                    // be noticed in.
                    Action::requeue(self.runtime.backoff.next_delay(&key).min(interval))
                };
                if status.artifact.is_none() {
                    cond::remove(&mut status.conditions, ARTIFACT_IN_STORAGE);
                }
                log_failed_reconcile(&*object, failure.reason, &failure.message);
                apply_status(api, &object, self.runtime.controller, &status)
                    .await
                    .map_err(Error::Status)?;
                self.runtime
                    .events
                    .publish(
                        &*object,
                        Severity::Error,
                        failure.reason,
                        &failure.message,
                        BTreeMap::new(),
                    )
                    .await;
                self.observe(&object, started, ReconcileOutcome::Error);
                action
            }
        };
        debug_assert!(cond::get(&status.conditions, READY).is_some());
        Ok(action)
    }

    fn observe(&self, object: &GitRepository, started: Instant, outcome: ReconcileOutcome) {
        self.runtime.metrics.observe_reconcile(
            METRICS_CONTROLLER,
            ObjectLabels::of(object),
            started.elapsed(),
            outcome,
        );
    }

    /// Credentials, then the blocking fetch-and-pack job under the object's timeout.
    async fn reconcile_source(
        &self,
        object: &GitRepository,
        status: &GitRepositoryStatus,
    ) -> Result<SourceOutcome, Failure> {
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        let spec = &object.spec;
        let transport = Transport::of(&spec.url).ok_or_else(|| Failure {
            condition: FETCH_FAILED,
            reason: URL_INVALID,
            message: format!(
                "invalid URL '{}': the scheme must be http, https or ssh",
                spec.url
            ),
            stalled: true,
        })?;
        let credentials = match &spec.secret_ref {
            Some(reference) => {
                let data = self
                    .secret_data(&namespace, &reference.name)
                    .await
                    .map_err(|e| Failure::fetch(AUTHENTICATION_FAILED, e))?;
                Credentials::from_secret(transport, &data).map_err(|e| {
                    Failure::fetch(
                        AUTHENTICATION_FAILED,
                        format!("failed to configure authentication options: {e}"),
                    )
                })?
            }
            None => Credentials::default(),
        };

        let verification = match &spec.verification {
            Some(verify) => Some(self.verification(&namespace, verify).await?),
            None => None,
        };
        let includes = self.includes(object).await?;

        let object_dir = self
            .storage
            .object_dir(KIND, &namespace, &name)
            .map_err(|e| {
                Failure::storage(
                    driftless_api::conditions::DIRECTORY_CREATION_FAILED,
                    e.to_string(),
                )
            })?;
        let current = status.artifact.clone();
        let current_is_valid = match &current {
            Some(artifact) => self.verify_stored(artifact).await,
            None => false,
        };
        let inputs_unchanged = status.observed_ignore == spec.ignore
            && status.observed_recurse_submodules == spec.recurse_submodules
            && status.observed_include == spec.include
            && status.observed_sparse_checkout == spec.sparse_checkout
            && status.included_artifacts.len() == includes.len()
            && status
                .included_artifacts
                .iter()
                .zip(&includes)
                .all(|(observed, include)| {
                    observed.digest == include.artifact.digest
                        && observed.revision == include.artifact.revision
                })
            && status.source_verification_mode == verification_mode(spec);
        let current_revision = current
            .as_ref()
            .filter(|_| current_is_valid && inputs_unchanged)
            .map(|a| a.revision.clone());

        let timeout = spec
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_TIMEOUT);
        let job = Job {
            url: spec.url.clone(),
            reference: GitRef::from_spec(spec.reference.as_ref()),
            credentials,
            timeout,
            work_dir: self.settings.work_dir.clone(),
            ignore: spec.ignore.clone(),
            sparse: spec.sparse_checkout.clone(),
            limits: self.settings.limits,
            storage: self.storage.clone(),
            object_dir: object_dir.clone(),
            current_revision,
            verification,
            includes,
            recurse_submodules: spec.recurse_submodules,
            runtime: tokio::runtime::Handle::current(),
            packed: self.packed.clone(),
        };
        let interrupt = Arc::new(AtomicBool::new(false));
        let flag = interrupt.clone();
        let handle = tokio::task::spawn_blocking(move || job.run(&flag));
        let result = match tokio::time::timeout(timeout, handle).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Failure::fetch(
                GIT_OPERATION_FAILED_REASON,
                format!("git operation failed unexpectedly: {join}"),
            )),
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
                Err(Failure::fetch(
                    GIT_OPERATION_FAILED_REASON,
                    format!(
                        "failed to checkout and determine revision: timed out after {timeout:?}"
                    ),
                ))
            }
        };
        let outcome = result?;
        if let SourceOutcome::Stored { artifact, .. } = &outcome {
            // The new artifact is in place: superseded ones can go.
            let file = artifact
                .path
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            if let Err(error) = self.storage.garbage_collect(&object_dir, &file) {
                tracing::warn!(%error, "garbage collecting old artifacts");
            }
        }
        Ok(outcome)
    }

    /// The artifacts `spec.include` names, each with where its files go. Every included
    /// GitRepository must exist and have an artifact.
    async fn includes(&self, object: &GitRepository) -> Result<Vec<Include>, Failure> {
        let namespace = object.namespace().unwrap_or_default();
        let api: Api<GitRepository> = Api::namespaced(self.runtime.client.clone(), &namespace);
        let unavailable = |reason: &'static str, message: String| Failure {
            condition: INCLUDE_UNAVAILABLE_CONDITION,
            reason,
            message,
            stalled: false,
        };
        let mut includes = Vec::new();
        for include in &object.spec.include {
            let name = &include.repository.name;
            let included = api.get(name).await.map_err(|e| {
                unavailable(
                    "NotFound",
                    format!(
                        "could not get resource for include '{name}': {}",
                        kube_message(&e)
                    ),
                )
            })?;
            let artifact = included.status.and_then(|s| s.artifact).ok_or_else(|| {
                unavailable(
                    "NoArtifact",
                    format!("no artifact available for include '{name}'"),
                )
            })?;
            let path = |value: Option<&str>, field: &str| -> Result<String, Failure> {
                match value
                    .map(str::trim)
                    .filter(|v| !v.is_empty() && *v != "." && *v != "./")
                {
                    None => Ok(String::new()),
                    Some(value) => {
                        driftless_artifact::normalize_path(value).map_err(|reason| Failure {
                            condition: INCLUDE_UNAVAILABLE_CONDITION,
                            reason: "InvalidPath",
                            message: format!("include '{name}': {field} '{value}' {reason}"),
                            stalled: true,
                        })
                    }
                }
            };
            let from = path(include.from_path.as_deref(), "fromPath")?;
            let to = path(Some(include.to_path()), "toPath")?;
            includes.push(Include {
                file: self.storage.root().join(&artifact.path),
                artifact,
                from,
                to,
            });
        }
        Ok(includes)
    }

    /// A Secret's data, or Flux's "failed to get secret" message.
    async fn secret_data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, String> {
        let secrets: Api<Secret> = Api::namespaced(self.runtime.client.clone(), namespace);
        let secret = secrets.get(name).await.map_err(|e| {
            format!(
                "failed to get secret '{namespace}/{name}': {}",
                kube_message(&e)
            )
        })?;
        Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect())
    }

    /// The trusted keys and mode of `spec.verify`.
    async fn verification(
        &self,
        namespace: &str,
        verify: &GitRepositoryVerification,
    ) -> Result<Verification, Failure> {
        let failure = |message: String| Failure {
            condition: SOURCE_VERIFIED,
            reason: VERIFICATION_ERROR,
            message,
            stalled: false,
        };
        let data = self
            .secret_data(namespace, &verify.secret_ref.name)
            .await
            .map_err(|e| failure(format!("PGP public keys secret error: {e}")))?;
        let keys = TrustedKeys::from_secret(&data)
            .map_err(|e| failure(format!("PGP public keys secret error: {e}")))?;
        Ok(Verification {
            keys,
            mode: normalized_mode(verify.mode.unwrap_or(GitVerificationMode::Head)),
        })
    }

    /// Whether the artifact in status is in storage with the digest status claims. A missing
    /// or corrupt file is rebuilt by the fetch that follows.
    async fn verify_stored(&self, artifact: &Artifact) -> bool {
        let path = self.storage.root().join(&artifact.path);
        let expected = artifact.digest.clone();
        let result = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            };
            let mut reader = driftless_artifact::HashingReader::new(file, u64::MAX);
            std::io::copy(&mut reader, &mut std::io::sink())?;
            let (digest, _) = reader.finish()?;
            let valid = digest.to_string() == expected;
            if !valid {
                tracing::warn!(path = %path.display(), "stored artifact does not match its digest; rebuilding it");
                let _ = std::fs::remove_file(&path);
            }
            Ok(valid)
        })
        .await;
        matches!(result, Ok(Ok(true)))
    }
}

/// The blocking part of a reconcile, owned so it can move to a blocking thread.
struct Job {
    url: String,
    reference: GitRef,
    credentials: Credentials,
    timeout: Duration,
    work_dir: PathBuf,
    ignore: Option<String>,
    sparse: Vec<String>,
    limits: git::tree::TreeLimits,
    storage: Storage,
    object_dir: String,
    /// The revision of a valid stored artifact built from the current inputs.
    current_revision: Option<String>,
    verification: Option<Verification>,
    includes: Vec<Include>,
    recurse_submodules: bool,
    runtime: tokio::runtime::Handle,
    packed: PackedCommits,
}

/// An included artifact: its file in storage, which subtree to take and where to put it.
struct Include {
    artifact: Artifact,
    file: PathBuf,
    /// Subdirectory of the included artifact (empty: all of it).
    from: String,
    /// Destination directory in this artifact (empty: the root).
    to: String,
}

impl Include {
    /// The included files, verified against the artifact's digest, moved under `to`.
    fn files(
        &self,
        limits: git::tree::TreeLimits,
    ) -> Result<Vec<driftless_artifact::FileEntry>, Failure> {
        let failed = |message: String| Failure {
            condition: INCLUDE_UNAVAILABLE_CONDITION,
            reason: "CopyFailed",
            message,
            stalled: false,
        };
        let digest: driftless_artifact::Digest = self
            .artifact
            .digest
            .parse()
            .map_err(|e| failed(format!("included artifact {}: {e}", self.artifact.path)))?;
        let file = std::fs::File::open(&self.file).map_err(|e| {
            failed(format!(
                "reading included artifact {}: {e}",
                self.artifact.path
            ))
        })?;
        let tree = driftless_artifact::unpack_to_memory(
            std::io::BufReader::new(file),
            &digest,
            driftless_artifact::Limits {
                max_compressed_bytes: u64::MAX,
                max_uncompressed_bytes: limits.max_bytes,
                max_files: limits.max_files,
            },
        )
        .map_err(|e| failed(format!("included artifact {}: {e}", self.artifact.path)))?;
        let prefix = if self.from.is_empty() {
            String::new()
        } else {
            format!("{}/", self.from)
        };
        Ok(tree
            .into_iter()
            .filter_map(|(path, file)| {
                let rest = path.strip_prefix(&prefix)?;
                let path = if self.to.is_empty() {
                    rest.to_owned()
                } else {
                    format!("{}/{rest}", self.to)
                };
                Some(driftless_artifact::FileEntry {
                    path,
                    executable: file.executable,
                    data: file.data,
                })
            })
            .collect())
    }
}

struct Verification {
    keys: TrustedKeys,
    mode: GitVerificationMode,
}

/// The verification mode `spec` asks for, as recorded in `status.sourceVerificationMode`.
fn verification_mode(spec: &GitRepositorySpec) -> Option<GitVerificationMode> {
    spec.verification
        .as_ref()
        .and_then(|v| v.mode)
        .map(normalized_mode)
}

/// `head` is the legacy spelling of `HEAD`.
fn normalized_mode(mode: GitVerificationMode) -> GitVerificationMode {
    match mode {
        GitVerificationMode::LegacyHead => GitVerificationMode::Head,
        other => other,
    }
}

impl Verification {
    /// Verifies what the mode asks for; returns Flux's SourceVerified message.
    fn check(&self, checkout: &git::Checkout) -> Result<String, Failure> {
        let repo = &checkout.repo;
        let mut lines = Vec::new();
        if self.mode.verify_tag() {
            let invalid = |message: String| Failure {
                condition: SOURCE_VERIFIED,
                reason: "InvalidTagSignature",
                message,
                stalled: false,
            };
            let Some(tag) = checkout.tag else {
                return Err(invalid(
                    "cannot verify tag object's signature if a tag reference is not specified"
                        .into(),
                ));
            };
            let what = format!("tag '{tag}'");
            let signed = verify::tag_signature(repo, tag)
                .map_err(|e| invalid(format!("reading {what}: {e}")))?
                .ok_or_else(|| invalid(format!("unable to verify {what}: it has no signature")))?;
            let key = self
                .keys
                .verify(&what, &signed.armored, &signed.payload)
                .map_err(|e| invalid(format!("signature verification of {what} failed: {e}")))?;
            lines.push(format!("\t- tag '{tag}' with key '{key}'"));
        }
        if self.mode.verify_head() {
            let commit = checkout.resolved.commit;
            let invalid = |message: String| Failure {
                condition: SOURCE_VERIFIED,
                reason: "InvalidCommitSignature",
                message,
                stalled: false,
            };
            let what = format!("commit '{commit}'");
            let signed = verify::commit_signature(repo, commit)
                .map_err(|e| invalid(format!("reading {what}: {e}")))?
                .ok_or_else(|| {
                    invalid(format!(
                        "signature verification of {what} failed: it has no signature"
                    ))
                })?;
            let key = self
                .keys
                .verify(&what, &signed.armored, &signed.payload)
                .map_err(|e| invalid(format!("signature verification of {what} failed: {e}")))?;
            lines.push(format!("\t- commit '{commit}' with key '{key}'"));
        }
        Ok(format!("verified signature of\n{}", lines.join("\n")))
    }
}

impl Job {
    fn run(self, interrupt: &AtomicBool) -> Result<SourceOutcome, Failure> {
        let request = FetchRequest {
            url: &self.url,
            reference: &self.reference,
            credentials: &self.credentials,
            timeout: self.timeout,
            work_dir: &self.work_dir,
            runtime: &self.runtime,
        };
        let current = self.current_revision.as_deref();
        let mut reused = None;
        let outcome = git::fetch(
            &request,
            |resolved| {
                if current == Some(resolved.revision.as_str()) {
                    return true;
                }
                reused = self.reuse_packed(resolved);
                reused.is_some()
            },
            interrupt,
        )?;
        let checkout = match outcome {
            FetchOutcome::Unchanged(resolved) => {
                return Ok(match reused {
                    Some((packed, path)) => SourceOutcome::Stored {
                        artifact: Box::new(self.artifact(
                            path,
                            packed.digest,
                            packed.size,
                            resolved.revision,
                        )),
                        summary: packed.summary,
                        verified: None,
                        included: Vec::new(),
                    },
                    None => SourceOutcome::Unchanged,
                });
            }
            FetchOutcome::Fetched(checkout) => checkout,
        };
        let verified = match &self.verification {
            Some(verification) => Some(verification.check(&checkout)?),
            None => None,
        };
        let repo = &checkout.repo;
        let tree_failure = |e: git::tree::TreeError| {
            Failure::fetch(
                GIT_OPERATION_FAILED_REASON,
                format!("failed to read the source tree: {e}"),
            )
        };
        let tree = git::tree::commit_tree(repo, checkout.resolved.commit).map_err(tree_failure)?;
        let listing = git::tree::list(repo, tree).map_err(tree_failure)?;
        let rules = git::tree::ignore_rules(repo, &listing.files, self.ignore.as_deref())
            .map_err(tree_failure)?;
        let mut files = git::tree::load_files(repo, &listing, &rules, &self.sparse, self.limits)
            .map_err(tree_failure)?;
        if self.recurse_submodules {
            let mut submodules = Vec::new();
            git::submodules::fetch_all(
                &request,
                repo,
                &listing,
                "",
                0,
                interrupt,
                &mut submodules,
            )?;
            for submodule in &submodules {
                files.extend(
                    git::tree::load_files(
                        &submodule.checkout.repo,
                        &submodule.listing,
                        &rules,
                        &self.sparse,
                        self.limits,
                    )
                    .map_err(tree_failure)?,
                );
            }
        }
        if !self.includes.is_empty() {
            // Included content replaces whatever the repository has at the same path.
            let mut by_path: BTreeMap<String, driftless_artifact::FileEntry> =
                files.into_iter().map(|f| (f.path.clone(), f)).collect();
            for include in &self.includes {
                if !include.to.is_empty() {
                    let dir = format!("{}/", include.to);
                    by_path.retain(|path, _| path != &include.to && !path.starts_with(&dir));
                }
                for file in include.files(self.limits)? {
                    by_path.insert(file.path.clone(), file);
                }
            }
            files = by_path.into_values().collect();
        }
        let stored = self
            .storage
            .store_by_digest(&self.object_dir, files)
            .map_err(|e| {
                Failure::storage(
                    driftless_api::conditions::ARCHIVE_OPERATION_FAILED,
                    format!("failed to archive the source: {e}"),
                )
            })?;
        let (stored, path) = stored;
        let digest = stored.digest.to_string();
        let size = i64::try_from(stored.size).ok();
        let summary = checkout.summary();
        if let Some(key) = self.pack_key(&checkout.resolved) {
            self.packed.insert(
                key,
                Packed {
                    path: path.clone(),
                    digest: digest.clone(),
                    size,
                    summary: summary.clone(),
                },
            );
        }
        Ok(SourceOutcome::Stored {
            artifact: Box::new(self.artifact(
                path,
                digest,
                size,
                checkout.resolved.revision.clone(),
            )),
            summary,
            verified,
            included: self.includes.iter().map(|i| i.artifact.clone()).collect(),
        })
    }

    /// The key this job's artifact of `resolved` is shared under, when its content depends on
    /// nothing but the repository, the commit and the ignore and sparse settings.
    fn pack_key(&self, resolved: &git::Resolved) -> Option<PackKey> {
        let shareable =
            self.verification.is_none() && self.includes.is_empty() && !self.recurse_submodules;
        shareable.then(|| PackKey {
            url: self.url.clone(),
            commit: resolved.commit.to_string(),
            ignore: self.ignore.clone(),
            sparse: self.sparse.clone(),
        })
    }

    /// Links an artifact another GitRepository packed from `resolved` into this object's
    /// directory. Returns it and its new path, or `None` to fetch and pack as usual.
    fn reuse_packed(&self, resolved: &git::Resolved) -> Option<(Packed, String)> {
        // A bare commit is resolved without asking the server, so nothing would have proven
        // that this object's credentials can read the repository.
        if matches!(self.reference, GitRef::Commit { .. }) {
            return None;
        }
        let key = self.pack_key(resolved)?;
        let packed = self.packed.get(&key)?;
        match self
            .storage
            .link_by_digest(&packed.path, &packed.digest, &self.object_dir)
        {
            Ok(path) => Some((packed, path)),
            Err(error) => {
                tracing::debug!(%error, "cannot reuse a packed artifact; fetching instead");
                self.packed.remove(&key);
                None
            }
        }
    }

    fn artifact(
        &self,
        path: String,
        digest: String,
        size: Option<i64>,
        revision: String,
    ) -> Artifact {
        Artifact {
            url: self.storage.url(&path),
            path,
            revision,
            digest,
            last_update_time: cond::now(),
            size,
            metadata: None,
        }
    }
}

/// How often storage is checked for artifacts of objects that no longer exist.
const ORPHAN_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// At start and hourly after that, removes the storage directories of GitRepositories that
/// no longer exist (deleted while the controller was down, or whose finalizer was removed by
/// hand). Existence comes from a metadata-only list of the objects this instance watches.
async fn remove_orphans(
    api: Api<GitRepository>,
    label_selector: Option<String>,
    storage: Storage,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut params = kube::api::ListParams::default();
    if let Some(selector) = &label_selector {
        params = params.labels(selector);
    }
    loop {
        match api.list_metadata(&params).await {
            Ok(list) => {
                let live: std::collections::HashSet<(String, String)> = list
                    .items
                    .iter()
                    .map(|o| (o.namespace().unwrap_or_default(), o.name_any()))
                    .collect();
                let storage = storage.clone();
                let swept = tokio::task::spawn_blocking(move || {
                    storage.remove_orphans(KIND, |namespace, name| {
                        live.contains(&(namespace.to_owned(), name.to_owned()))
                    })
                })
                .await;
                match swept {
                    Ok(Ok(removed)) if !removed.is_empty() => tracing::info!(
                        count = removed.len(),
                        "removed artifacts of deleted GitRepositories"
                    ),
                    Ok(Err(error)) => tracing::warn!(%error, "removing orphaned artifacts"),
                    _ => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "listing GitRepositories to find orphaned artifacts")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(ORPHAN_SWEEP_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

fn key(object: &GitRepository) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

fn kube_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}
