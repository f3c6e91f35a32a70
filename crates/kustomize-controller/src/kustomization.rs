//! The Kustomization reconciler: source artifact → build → server-side apply → inventory →
//! prune → status and events, as Flux's kustomize-controller does. A failure never deletes
//! what is applied; the next good revision recovers without manual steps.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use driftless_api::conditions::{
    ARTIFACT_FAILED, BUILD_FAILED_REASON, DEPENDENCY_NOT_READY, HEALTH_CHECK_FAILED, HEALTHY,
    INVALID_CEL_EXPRESSION, PROGRESSING, PRUNE_FAILED, RECONCILIATION_FAILED,
    RECONCILIATION_SUCCEEDED, SUCCEEDED,
};
use driftless_api::event::Severity;
use driftless_api::kustomize::{
    DeletionPolicy, Kustomization, KustomizationStatus, PostBuild, SourceKind, SubstituteKind,
    SubstituteStrategy,
};
use driftless_api::meta::{Artifact, ArtifactSource, parse_duration};
use driftless_api::source::{Bucket, GitRepository, OCIRepository};
use driftless_runtime::artifact::ArtifactFetcher;
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::metrics::{ObjectLabels, ReconcileOutcome};
use driftless_runtime::reconcile::{
    FirstList, handled_reconcile_at, log_failed_reconcile, log_reconcile_error, reconcile_trigger,
    run_until_shutdown, with_finalizer, with_jitter,
};
use driftless_runtime::{Context as RuntimeContext, status::apply_status};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PartialObjectMeta};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::Event as FinalizerEvent;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{PredicateConfig, WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde_json::Value;

use crate::apply::{Action as Applied, Applier, ApplyOptions, Change, object_id};
use crate::build::{build_objects, tree_fs};
use crate::clients::{Clients, KubeconfigPolicy};
use crate::health::{self, Health};
use crate::health_exprs::CustomHealthChecks;
use crate::history;
use crate::inventory::{self, ObjectId};
use crate::substitute;
use driftless_sops::Identities;

/// The `controller` label of the reconcile counters, as controller-runtime names it.
const METRICS_CONTROLLER: &str = "kustomization";
pub const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
pub const NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";
const REVISION_METADATA: &str = "kustomize.toolkit.fluxcd.io/revision";

pub struct Settings {
    pub concurrency: u16,
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
}

pub struct Reconciler {
    runtime: RuntimeContext,
    /// Where and as whom each Kustomization applies.
    clients: Clients,
    fetcher: ArtifactFetcher,
    settings: Settings,
    /// When health checks of each Kustomization's current revision started.
    health_started: Mutex<HashMap<String, (String, Instant)>>,
    /// The sources the controller watches, filled by its watches: artifacts are read here
    /// instead of with a GET per reconcile.
    sources: SourceStores,
}

/// Caches of the watched sources.
#[derive(Clone, Default)]
struct SourceStores {
    git: Option<reflector::Store<GitRepository>>,
    oci: Option<reflector::Store<OCIRepository>>,
    bucket: Option<reflector::Store<Bucket>>,
}

impl SourceStores {
    /// The artifact of a watched source; `None` when the cache does not hold the source (not
    /// watched, or not yet seen), so the caller asks the API server.
    fn artifact(&self, kind: SourceKind, namespace: &str, name: &str) -> Option<Option<Artifact>> {
        fn find<K>(
            store: &Option<reflector::Store<K>>,
            namespace: &str,
            name: &str,
        ) -> Option<Option<Artifact>>
        where
            K: kube::Resource<DynamicType = ()> + ArtifactSource + Clone + 'static,
        {
            let object = store
                .as_ref()?
                .get(&ObjectRef::new(name).within(namespace))?;
            Some(object.artifact().cloned())
        }
        match kind {
            SourceKind::GitRepository => find(&self.git, namespace, name),
            SourceKind::OciRepository => find(&self.oci, namespace, name),
            SourceKind::Bucket => find(&self.bucket, namespace, name),
            SourceKind::ExternalArtifact => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to update status: {0}")]
    Status(kube::Error),
    #[error("{0}")]
    Finalizer(String),
}

/// Why a reconcile stopped, for the Ready condition.
struct Failure {
    reason: &'static str,
    message: String,
    requeue: Option<Duration>,
    event: bool,
}

/// Go's `time.Duration` text (`10m0s`, `1.5s`, `250ms`), as Flux writes durations.
pub fn go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let ms = duration.as_secs_f64() * 1000.0;
        return format!("{}ms", trim_float(ms));
    }
    let total = duration.as_secs_f64();
    let hours = (total / 3600.0).floor() as u64;
    let minutes = ((total - hours as f64 * 3600.0) / 60.0).floor() as u64;
    let seconds = total - hours as f64 * 3600.0 - minutes as f64 * 60.0;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", trim_float(seconds)));
    out
}

fn trim_float(value: f64) -> String {
    let text = format!("{value:.9}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

fn source_resource(kind: SourceKind) -> Option<ApiResource> {
    let (kind, plural) = match kind {
        SourceKind::GitRepository => ("GitRepository", "gitrepositories"),
        SourceKind::OciRepository => ("OCIRepository", "ocirepositories"),
        SourceKind::Bucket => ("Bucket", "buckets"),
        SourceKind::ExternalArtifact => return None,
    };
    Some(ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", kind),
        plural,
    ))
}

fn key(object: &Kustomization) -> String {
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

/// Whether `object` builds from the source `kind namespace/name`.
fn uses_source(object: &Kustomization, kind: SourceKind, namespace: &str, name: &str) -> bool {
    let reference = &object.spec.source_ref;
    let own = object.namespace().unwrap_or_default();
    reference.kind == kind
        && reference.name == name
        && reference.namespace.as_deref().unwrap_or(&own) == namespace
}

/// A watch of `api` kept in `writer`'s cache (without managed fields, which nothing reads),
/// yielding the objects that changed.
fn cached_watch<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: reflector::store::Writer<K>,
) -> impl futures::Stream<Item = Result<K, watcher::Error>>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    K: for<'de> k8s_openapi::serde::Deserialize<'de>,
{
    watcher(api, config)
        .backoff(driftless_runtime::watch_backoff::WatchBackoff::default())
        .modify(|object| object.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects()
}

/// Maps a change of a watched ConfigMap or Secret to the Kustomizations that substitute
/// variables from it.
fn configs_to_kustomizations<C>(
    store: reflector::Store<Kustomization>,
    kind: SubstituteKind,
) -> impl Fn(PartialObjectMeta<C>) -> Vec<ObjectRef<Kustomization>>
where
    C: kube::Resource<DynamicType = ()>,
{
    move |config| {
        let namespace = config.namespace().unwrap_or_default();
        let name = config.name_any();
        store
            .state()
            .iter()
            .filter(|k| k.namespace().as_deref() == Some(namespace.as_str()))
            .filter(|k| {
                k.spec.post_build.as_ref().is_some_and(|post_build| {
                    post_build
                        .substitute_from
                        .iter()
                        .any(|r| r.kind == kind && r.name == name)
                })
            })
            .map(|k| ObjectRef::from_obj(&**k))
            .collect()
    }
}

/// Maps a source event to the Kustomizations built from that source, leaving out those
/// already Ready at its artifact's revision: a new artifact reconciles them, a status write
/// that changes nothing does not.
fn sources_to_kustomizations<S>(
    store: reflector::Store<Kustomization>,
    kind: SourceKind,
) -> impl Fn(S) -> Vec<ObjectRef<Kustomization>>
where
    S: ArtifactSource + ResourceExt,
{
    move |source| {
        let source_namespace = source.namespace().unwrap_or_default();
        let source_name = source.name_any();
        let revision = source.artifact().map(|a| a.revision.as_str());
        store
            .state()
            .iter()
            .filter(|k| uses_source(k, kind, &source_namespace, &source_name))
            .filter(|k| {
                let status = k.status.as_ref();
                let ready = status.is_some_and(|s| {
                    cond::is_true(&s.conditions, driftless_api::conditions::READY)
                });
                !(ready
                    && revision.is_some()
                    && status.and_then(|s| s.last_attempted_revision.as_deref()) == revision)
            })
            .map(|k| ObjectRef::from_obj(&**k))
            .collect()
    }
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
            settings.default_service_account.clone(),
            settings.kubeconfig_policy,
        );
        Self {
            runtime,
            clients,
            fetcher,
            settings,
            health_started: Mutex::new(HashMap::new()),
            sources: SourceStores::default(),
        }
    }

    /// Runs the controller until shutdown.
    pub async fn run(self) {
        let runtime = self.runtime.clone();
        let client = runtime.client.clone();
        let api: Api<Kustomization> = runtime
            .args
            .watched_api(client.clone(), &runtime.runtime_namespace);
        let (store, writer) = reflector::store();
        let first_list = FirstList::default();
        // Only a new generation or a reconcile request starts work, not status writes.
        let stream = watcher(api, runtime.args.watcher_config())
            .backoff(driftless_runtime::watch_backoff::WatchBackoff::default())
            .modify(|object| object.managed_fields_mut().clear())
            .reflect(writer)
            .inspect(first_list.observe())
            .applied_objects()
            .predicate_filter(reconcile_trigger, PredicateConfig::default());
        let controller = Controller::for_stream(stream, store.clone())
            // The watches retry on their own quick backoff; kube's default here would pause
            // every trigger for up to a minute after an API server restart.
            .trigger_backoff(driftless_runtime::watch_backoff::WatchBackoff::default())
            .with_config(
                kube::runtime::controller::Config::default()
                    .concurrency(self.settings.concurrency.max(1)),
            );
        let git =
            sources_to_kustomizations::<GitRepository>(store.clone(), SourceKind::GitRepository);
        let oci =
            sources_to_kustomizations::<OCIRepository>(store.clone(), SourceKind::OciRepository);
        let bucket = sources_to_kustomizations::<Bucket>(store.clone(), SourceKind::Bucket);
        let source_config = watcher::Config::default();
        let stopping = runtime.shutdown.clone();
        runtime
            .metrics
            .set_max_concurrent_reconciles("kustomization", self.settings.concurrency);
        // Each source kind is watched once, into a cache the reconciles read artifacts from.
        let mut this = self;
        let (git_store, git_writer) = reflector::store::<GitRepository>();
        let (oci_store, oci_writer) = reflector::store::<OCIRepository>();
        let (bucket_store, bucket_writer) = reflector::store::<Bucket>();
        this.sources = SourceStores {
            git: Some(git_store),
            oci: Some(oci_store),
            bucket: Some(bucket_store),
        };
        let git_stream = cached_watch(
            runtime
                .args
                .watched_api::<GitRepository>(client.clone(), &runtime.runtime_namespace),
            source_config.clone(),
            git_writer,
        );
        let oci_stream = cached_watch(
            runtime
                .args
                .watched_api::<OCIRepository>(client.clone(), &runtime.runtime_namespace),
            source_config.clone(),
            oci_writer,
        );
        let bucket_stream = cached_watch(
            runtime
                .args
                .watched_api::<Bucket>(client.clone(), &runtime.runtime_namespace),
            source_config,
            bucket_writer,
        );
        // ConfigMaps and Secrets carrying the watch label: a change reconciles the
        // Kustomizations that substitute from them at once, not at their next interval.
        let configs = watcher::Config::default().labels(&runtime.args.watch_configs_label_selector);
        // Metadata only: the controller never holds their data.
        let config_maps = watcher(
            runtime.args.watched_api::<PartialObjectMeta<ConfigMap>>(
                client.clone(),
                &runtime.runtime_namespace,
            ),
            configs.clone(),
        )
        .backoff(driftless_runtime::watch_backoff::WatchBackoff::default())
        .applied_objects();
        let secrets = watcher(
            runtime.args.watched_api::<PartialObjectMeta<Secret>>(
                client.clone(),
                &runtime.runtime_namespace,
            ),
            configs,
        )
        .backoff(driftless_runtime::watch_backoff::WatchBackoff::default())
        .applied_objects();
        let controller = if runtime.args.watch_configs_label_selector.is_empty() {
            controller
        } else {
            controller
                .watches_stream(
                    config_maps,
                    configs_to_kustomizations::<ConfigMap>(
                        store.clone(),
                        SubstituteKind::ConfigMap,
                    ),
                )
                .watches_stream(
                    secrets,
                    configs_to_kustomizations::<Secret>(store.clone(), SubstituteKind::Secret),
                )
        };
        let controller = controller
            .watches_stream(git_stream, git)
            .watches_stream(oci_stream, oci)
            .watches_stream(bucket_stream, bucket)
            .graceful_shutdown_on(async move { stopping.cancelled().await })
            .run(
                |object, ctx: Arc<Reconciler>| async move { ctx.reconcile(object).await },
                |object, error, ctx| ctx.error_policy(&object, error),
                Arc::new(this),
            )
            .for_each(|_| futures::future::ready(()));
        run_until_shutdown(controller, runtime.shutdown.clone(), first_list).await;
    }

    fn error_policy(&self, object: &Kustomization, error: &Error) -> Action {
        log_reconcile_error(object, error);
        Action::requeue(self.runtime.backoff.next_delay(&key(object)))
    }

    async fn reconcile(self: Arc<Self>, object: Arc<Kustomization>) -> Result<Action, Error> {
        let namespace = object.namespace().unwrap_or_default();
        let api: Api<Kustomization> = Api::namespaced(self.runtime.client.clone(), &namespace);
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

    /// The applier acting for `object`: see [`Clients`].
    async fn applier_for(&self, object: &Kustomization) -> Result<Arc<Applier>, Failure> {
        self.clients
            .applier_for(object)
            .await
            .map_err(|message| Failure {
                reason: RECONCILIATION_FAILED,
                message,
                requeue: None,
                event: true,
            })
    }

    fn owner_labels(object: &Kustomization) -> Vec<(String, String)> {
        vec![
            (NAME_LABEL.to_owned(), object.name_any()),
            (
                NAMESPACE_LABEL.to_owned(),
                object.namespace().unwrap_or_default(),
            ),
        ]
    }

    /// On deletion: prune what it applied, as `deletionPolicy` (and `prune`) say.
    async fn cleanup(&self, object: Arc<Kustomization>) -> Result<Action, Error> {
        let policy = object.spec.deletion_policy.unwrap_or_default();
        let delete = match policy {
            DeletionPolicy::MirrorPrune => object.spec.prune,
            DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
            DeletionPolicy::Orphan => false,
        };
        if delete
            && !object.spec.suspend
            && let Some(inventory) = object.status.as_ref().and_then(|s| s.inventory.as_ref())
        {
            let stale = inventory::stale(inventory, &[]);
            if let Some(account) = self.clients.missing_service_account(&object).await {
                // As in Flux: the identity to prune as is gone (typically with its tenant's
                // namespace), so nothing can be pruned; holding the finalizer would only
                // keep that namespace terminating forever.
                let message = format!(
                    "skipped pruning: service account '{}/{account}' not found",
                    object.namespace().unwrap_or_default()
                );
                tracing::error!(kustomization = %key(&object), error = %message, "finalizing");
                self.runtime
                    .events
                    .publish(
                        &*object,
                        Severity::Error,
                        PRUNE_FAILED,
                        &message,
                        BTreeMap::new(),
                    )
                    .await;
            } else {
                self.prune_on_deletion(&object, stale, policy).await?;
            }
        }
        self.forget_health(&key(&object));
        self.runtime.backoff.reset(&key(&object));
        self.runtime
            .metrics
            .forget_object(&ObjectLabels::of(&*object));
        Ok(Action::await_change())
    }

    /// Deletes what a deleted Kustomization applied, as its `deletionPolicy` says.
    async fn prune_on_deletion(
        &self,
        object: &Kustomization,
        stale: Vec<ObjectId>,
        policy: DeletionPolicy,
    ) -> Result<(), Error> {
        let applier = self
            .applier_for(object)
            .await
            .map_err(|f| Error::Finalizer(f.message))?;
        match applier.prune(stale, &Self::owner_labels(object)).await {
            Ok(deleted) => {
                if !deleted.is_empty() {
                    let message = change_lines(&deleted);
                    self.runtime
                        .events
                        .publish(
                            object,
                            Severity::Info,
                            PROGRESSING,
                            &message,
                            BTreeMap::new(),
                        )
                        .await;
                    if policy == DeletionPolicy::WaitForTermination
                        && let Err(left) = wait_gone(&applier, &deleted, timeout_of(object)).await
                    {
                        // As in Flux: reported, and the Kustomization goes anyway.
                        tracing::error!(name = %object.name_any(), objects = ?left, "failed to wait for resources termination");
                        self.runtime
                            .events
                            .publish(
                                object,
                                Severity::Error,
                                PRUNE_FAILED,
                                "failed to wait for resources termination",
                                BTreeMap::new(),
                            )
                            .await;
                    }
                }
            }
            Err(error) => {
                self.runtime
                    .events
                    .publish(
                        object,
                        Severity::Error,
                        PRUNE_FAILED,
                        &format!("pruning for deleted resource failed: {error}"),
                        BTreeMap::new(),
                    )
                    .await;
                return Err(Error::Finalizer(error.to_string()));
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        api: &Api<Kustomization>,
        object: Arc<Kustomization>,
    ) -> Result<Action, Error> {
        if object.spec.suspend {
            tracing::info!(name = %object.name_any(), "reconciliation is suspended for this object");
            return Ok(Action::await_change());
        }
        let started = Instant::now();
        let interval = parse_duration(&object.spec.interval).unwrap_or(Duration::from_secs(600));
        let retry = object
            .spec
            .retry_interval
            .as_deref()
            .and_then(|r| parse_duration(r).ok())
            .unwrap_or(interval);
        let generation = object.meta().generation;
        let mut status = object.status.clone().unwrap_or_default();
        status.last_handled_reconcile_at = handled_reconcile_at(&*object);

        // Invalid expressions are a configuration error that only a new spec fixes.
        let custom_health = match CustomHealthChecks::compile(&object.spec.health_check_exprs) {
            Ok(checks) => checks,
            Err(error) => {
                return self
                    .stall(api, &object, status, INVALID_CEL_EXPRESSION, error, started)
                    .await;
            }
        };
        let artifact = match self.source_artifact(&object).await {
            Ok(artifact) => artifact,
            Err(failure) => {
                return self
                    .fail(api, &object, status, failure, retry, started)
                    .await;
            }
        };
        if let Err(failure) = self.check_dependencies(&object, &artifact).await {
            return self
                .fail(api, &object, status, failure, retry, started)
                .await;
        }
        let revision = artifact.revision.clone();
        let first_reconcile = status.conditions.is_empty();
        cond::mark_reconciling(
            &mut status.conditions,
            PROGRESSING,
            format!("Fetching manifests for revision {revision}"),
            generation,
        );
        // A new object already reads as in progress to kstatus (observedGeneration behind
        // generation); the extra write would only add API load when many are created.
        if !first_reconcile {
            apply_status(api, &*object, self.runtime.controller, &status)
                .await
                .map_err(Error::Status)?;
        }

        let mut built_digest = None;
        let result = self
            .reconcile_revision(
                &object,
                &artifact,
                &mut status,
                &mut built_digest,
                &custom_health,
            )
            .await;
        // Every outcome past the build is recorded, except a health check still waiting.
        let history_outcome = match &result {
            Ok((_, HealthOutcome::Waiting(_))) => None,
            Ok(_) => Some(RECONCILIATION_SUCCEEDED),
            Err(failure) => Some(failure.reason),
        };
        if let (Some(digest), Some(outcome)) = (&built_digest, history_outcome) {
            history::record(
                &mut status.history,
                digest,
                cond::now(),
                started.elapsed(),
                outcome,
                BTreeMap::from([("revision".to_owned(), revision.clone())]),
            );
        }
        match result {
            Ok((changes, health)) => {
                let mut metadata = BTreeMap::new();
                metadata.insert(REVISION_METADATA.to_owned(), revision.clone());
                let changed: Vec<Change> = changes
                    .into_iter()
                    .filter(|c| {
                        matches!(
                            c.action,
                            Applied::Created | Applied::Configured | Applied::Deleted
                        )
                    })
                    .collect();
                if !changed.is_empty() {
                    self.runtime
                        .events
                        .publish(
                            &*object,
                            Severity::Info,
                            PROGRESSING,
                            &change_lines(&changed),
                            metadata.clone(),
                        )
                        .await;
                }
                match health {
                    HealthOutcome::Waiting(message) => {
                        // Not Ready yet, and no worker held while the objects roll out: look again soon.
                        cond::mark_reconciling(
                            &mut status.conditions,
                            PROGRESSING,
                            message,
                            generation,
                        );
                        apply_status(api, &*object, self.runtime.controller, &status)
                            .await
                            .map_err(Error::Status)?;
                        self.observe(&object, started, ReconcileOutcome::Requeue);
                        return Ok(Action::requeue(HEALTH_POLL));
                    }
                    HealthOutcome::Healthy(elapsed) => {
                        let was_healthy = cond::is_true(&status.conditions, HEALTHY);
                        let message = format!("Health check passed in {}", go_duration(elapsed));
                        cond::set(
                            &mut status.conditions,
                            HEALTHY,
                            Status::True,
                            SUCCEEDED,
                            message.clone(),
                            generation,
                        );
                        if !was_healthy || !changed.is_empty() {
                            self.runtime
                                .events
                                .publish(
                                    &*object,
                                    Severity::Info,
                                    PROGRESSING,
                                    &message,
                                    metadata.clone(),
                                )
                                .await;
                        }
                    }
                    HealthOutcome::NotChecked => cond::remove(&mut status.conditions, HEALTHY),
                }
                let message = format!("Applied revision: {revision}");
                cond::mark_ready(
                    &mut status.conditions,
                    RECONCILIATION_SUCCEEDED,
                    message,
                    generation,
                );
                status.last_applied_revision = Some(revision.clone());
                status.observed_generation = generation;
                apply_status(api, &*object, self.runtime.controller, &status)
                    .await
                    .map_err(Error::Status)?;
                let finished = format!(
                    "Reconciliation finished in {}, next run in {}",
                    go_duration(started.elapsed()),
                    go_duration(interval)
                );
                metadata.insert(
                    "kustomize.toolkit.fluxcd.io/commit_status".to_owned(),
                    "update".to_owned(),
                );
                self.runtime
                    .events
                    .publish(
                        &*object,
                        Severity::Info,
                        RECONCILIATION_SUCCEEDED,
                        &finished,
                        metadata,
                    )
                    .await;
                self.runtime.backoff.reset(&key(&object));
                self.observe(&object, started, ReconcileOutcome::Success);
                Ok(Action::requeue(with_jitter(
                    interval,
                    self.runtime.args.interval_jitter_percentage,
                )))
            }
            Err(failure) => {
                self.fail(api, &object, status, failure, retry, started)
                    .await
            }
        }
    }

    /// A configuration error: Ready=False and Stalled, not retried until the spec changes.
    async fn stall(
        &self,
        api: &Api<Kustomization>,
        object: &Kustomization,
        mut status: KustomizationStatus,
        reason: &'static str,
        error: String,
        started: Instant,
    ) -> Result<Action, Error> {
        let generation = object.meta().generation;
        let message =
            format!("Reconciliation failed terminally due to configuration error: {error}");
        tracing::error!(kustomization = %key(object), reason, error = %message, "reconciliation stalled");
        self.observe(object, started, ReconcileOutcome::Error);
        cond::mark_stalled(&mut status.conditions, reason, message.clone(), generation);
        status.observed_generation = generation;
        apply_status(api, object, self.runtime.controller, &status)
            .await
            .map_err(Error::Status)?;
        self.runtime
            .events
            .publish(object, Severity::Error, reason, &message, BTreeMap::new())
            .await;
        Ok(Action::await_change())
    }

    async fn fail(
        &self,
        api: &Api<Kustomization>,
        object: &Kustomization,
        mut status: KustomizationStatus,
        failure: Failure,
        retry: Duration,
        started: Instant,
    ) -> Result<Action, Error> {
        let generation = object.meta().generation;
        let outcome = if failure.event {
            ReconcileOutcome::Error
        } else {
            ReconcileOutcome::Requeue
        };
        self.observe(object, started, outcome);
        if failure.event {
            log_failed_reconcile(object, failure.reason, &failure.message);
        } else {
            // Waiting on a source or a dependency is not an error.
            tracing::info!(kustomization = %key(object), reason = failure.reason, error = %failure.message, "reconciliation waiting");
        }
        if failure.reason == HEALTH_CHECK_FAILED {
            cond::set(
                &mut status.conditions,
                HEALTHY,
                Status::False,
                HEALTH_CHECK_FAILED,
                failure.message.clone(),
                generation,
            );
        }
        cond::mark_failed_with_retry(
            &mut status.conditions,
            failure.reason,
            failure.message.clone(),
            generation,
        );
        apply_status(api, object, self.runtime.controller, &status)
            .await
            .map_err(Error::Status)?;
        if failure.reason == DEPENDENCY_NOT_READY {
            let message = format!(
                "Dependencies do not meet ready condition, retrying in {}",
                go_duration(self.settings.requeue_dependency)
            );
            self.runtime
                .events
                .publish(
                    object,
                    Severity::Info,
                    DEPENDENCY_NOT_READY,
                    &message,
                    BTreeMap::new(),
                )
                .await;
        }
        if failure.event {
            let mut metadata = BTreeMap::new();
            if let Some(revision) = &status.last_attempted_revision {
                metadata.insert(REVISION_METADATA.to_owned(), revision.clone());
            }
            self.runtime
                .events
                .publish(
                    object,
                    Severity::Error,
                    failure.reason,
                    &failure.message,
                    metadata,
                )
                .await;
        }
        Ok(Action::requeue(failure.requeue.unwrap_or(retry)))
    }

    /// Flux's `gotk_reconcile_duration_seconds` and the reconcile counters.
    fn observe(&self, object: &Kustomization, started: Instant, outcome: ReconcileOutcome) {
        self.runtime.metrics.observe_reconcile(
            METRICS_CONTROLLER,
            ObjectLabels::of(object),
            started.elapsed(),
            outcome,
        );
    }

    async fn source_artifact(&self, object: &Kustomization) -> Result<Artifact, Failure> {
        let reference = &object.spec.source_ref;
        let own = object.namespace().unwrap_or_default();
        let namespace = reference.namespace.clone().unwrap_or_else(|| own.clone());
        let name = format!(
            "{}/{}/{}",
            reference.kind.as_str(),
            namespace,
            reference.name
        );
        if self.settings.no_cross_namespace_refs && namespace != own {
            return Err(Failure {
                reason: driftless_api::conditions::ACCESS_DENIED,
                message: format!(
                    "can't access '{name}', cross-namespace references have been blocked"
                ),
                requeue: None,
                event: true,
            });
        }
        match self
            .sources
            .artifact(reference.kind, &namespace, &reference.name)
        {
            Some(Some(artifact)) => return Ok(artifact),
            Some(None) => return Err(self.no_artifact_yet()),
            None => {}
        }
        let Some(resource) = source_resource(reference.kind) else {
            return Err(Failure {
                reason: ARTIFACT_FAILED,
                message: format!("can't access '{name}': unsupported source kind"),
                requeue: None,
                event: true,
            });
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.runtime.client.clone(), &namespace, &resource);
        let source = api.get_opt(&reference.name).await.map_err(|e| Failure {
            reason: ARTIFACT_FAILED,
            message: format!(
                "unable to get source '{namespace}/{}': {}",
                reference.name,
                kube_message(&e)
            ),
            requeue: None,
            event: true,
        })?;
        let Some(source) = source else {
            return Err(Failure {
                reason: ARTIFACT_FAILED,
                message: format!("{name} not found"),
                requeue: None,
                event: false,
            });
        };
        let artifact = source
            .data
            .pointer("/status/artifact")
            .cloned()
            .and_then(|a| serde_json::from_value::<Artifact>(a).ok());
        artifact.ok_or_else(|| self.no_artifact_yet())
    }

    fn no_artifact_yet(&self) -> Failure {
        Failure {
            reason: ARTIFACT_FAILED,
            message: format!(
                "Source artifact not found, retrying in {}",
                go_duration(self.settings.requeue_dependency)
            ),
            requeue: Some(self.settings.requeue_dependency),
            event: false,
        }
    }

    /// Fetch, build, apply and prune one revision; returns what changed.
    /// `built_digest` is set once the objects are built, for `status.history`.
    async fn reconcile_revision(
        &self,
        object: &Kustomization,
        artifact: &Artifact,
        status: &mut KustomizationStatus,
        built_digest: &mut Option<String>,
        custom_health: &CustomHealthChecks,
    ) -> Result<(Vec<Change>, HealthOutcome), Failure> {
        let tree = self.fetcher.fetch(artifact).await.map_err(|e| {
            let not_found = e.is_not_found();
            Failure {
                reason: ARTIFACT_FAILED,
                message: if not_found {
                    format!(
                        "Source is not ready, artifact not found, retrying in {}",
                        go_duration(self.settings.requeue_dependency)
                    )
                } else {
                    e.to_string()
                },
                requeue: not_found.then_some(self.settings.requeue_dependency),
                event: !not_found,
            }
        })?;
        let identities = self.decryption_identities(object).await?;
        let spec = object.spec.clone();
        let built = tokio::task::spawn_blocking(move || {
            let mut fs = tree_fs(&tree);
            build_objects(&mut fs, &spec, identities.as_ref())
        })
        .await
        .map_err(|e| Failure {
            reason: BUILD_FAILED_REASON,
            message: e.to_string(),
            requeue: None,
            event: true,
        })?;
        status.last_attempted_revision = Some(artifact.revision.clone());
        let build_failed = |message: String| Failure {
            reason: BUILD_FAILED_REASON,
            message,
            requeue: None,
            event: true,
        };
        let mut objects = built.map_err(|e| build_failed(e.to_string()))?;
        if let Some(post_build) = &object.spec.post_build {
            let vars = self
                .substitution_variables(object, post_build)
                .await
                .map_err(build_failed)?;
            let always = post_build.substitute_strategy == Some(SubstituteStrategy::Always);
            if always || !vars.is_empty() {
                for value in &mut objects {
                    if substitute::disabled(value) {
                        continue;
                    }
                    let id = object_id(value).map(|i| i.display()).unwrap_or_default();
                    *value = substitute::substitute_object(
                        value,
                        &vars,
                        self.settings.strict_substitution,
                    )
                    .map_err(|e| build_failed(format!("post build failed for '{id}': {e}")))?;
                }
            }
        }
        *built_digest = Some(history::digest(&objects));
        let owner = Self::owner_labels(object);
        for object_value in &mut objects {
            set_labels(object_value, &owner);
            if let Some(common) = &object.spec.common_metadata {
                for (k, v) in &common.labels {
                    set_labels(object_value, &[(k.clone(), v.clone())]);
                }
                for (k, v) in &common.annotations {
                    set_annotation(object_value, k, v);
                }
            }
        }
        crate::decrypt::refuse_encrypted_secrets(&objects).map_err(|message| Failure {
            reason: RECONCILIATION_FAILED,
            message,
            requeue: None,
            event: true,
        })?;
        let ids: Vec<ObjectId> = objects.iter().filter_map(object_id).collect();
        let applier = self.applier_for(object).await?;
        let old = status.inventory.clone().unwrap_or_default();
        let options = ApplyOptions::new(object.spec.force, &self.settings.override_managers);
        let applied = applier
            .apply_all(objects, &options)
            .await
            .map_err(|failure| {
                // What was applied before the failure stays on record, so that a later prune
                // or the Kustomization's deletion still finds it.
                let applied: Vec<ObjectId> = failure.applied.iter().map(|c| c.id.clone()).collect();
                status.inventory = Some(inventory::merged(&old, &applied));
                Failure {
                    reason: RECONCILIATION_FAILED,
                    message: failure.to_string(),
                    requeue: None,
                    event: true,
                }
            })?;
        if status.last_applied_revision.as_deref() == Some(artifact.revision.as_str()) {
            log_reverted_drift(object, &applied);
        }
        status.inventory = Some(inventory::inventory(&ids));
        let mut changes = applied;
        if object.spec.prune {
            let stale = inventory::stale(&old, &ids);
            let deleted = applier.prune(stale.clone(), &owner).await.map_err(|e| {
                // Keep what could not be deleted in the inventory, so the next run retries.
                let mut kept = ids.clone();
                kept.extend(stale.iter().cloned());
                status.inventory = Some(inventory::inventory(&kept));
                Failure {
                    reason: PRUNE_FAILED,
                    message: format!("delete failed, errors: {e}"),
                    requeue: None,
                    event: true,
                }
            })?;
            changes.extend(deleted);
        }
        let health = self
            .check_health(
                object,
                &applier,
                &changes,
                &artifact.revision,
                custom_health,
            )
            .await?;
        Ok((changes, health))
    }
}

/// How often health is looked at again while objects roll out.
const HEALTH_POLL: Duration = Duration::from_secs(2);

enum HealthOutcome {
    /// Neither `wait` nor `healthChecks`.
    NotChecked,
    Healthy(Duration),
    Waiting(String),
}

impl Reconciler {
    /// `spec.wait` (every applied object) or `spec.healthChecks`, checked once per reconcile:
    /// a rollout in progress requeues soon instead of holding a worker until the timeout.
    async fn check_health(
        &self,
        object: &Kustomization,
        applier: &Applier,
        changes: &[Change],
        revision: &str,
        custom: &CustomHealthChecks,
    ) -> Result<HealthOutcome, Failure> {
        let targets: Vec<ObjectId> = if object.spec.wait {
            changes
                .iter()
                .filter(|c| !matches!(c.action, Applied::Skipped | Applied::Deleted))
                .map(|c| c.id.clone())
                .collect()
        } else {
            let own = object.namespace().unwrap_or_default();
            object
                .spec
                .health_checks
                .iter()
                .map(|check| {
                    let api_version = check
                        .api_version
                        .clone()
                        .unwrap_or_else(|| "apps/v1".to_owned());
                    let (group, version) = api_version
                        .split_once('/')
                        .map_or((String::new(), api_version.clone()), |(g, v)| {
                            (g.to_owned(), v.to_owned())
                        });
                    ObjectId {
                        group,
                        version,
                        kind: check.kind.clone(),
                        namespace: check.namespace.clone().unwrap_or_else(|| own.clone()),
                        name: check.name.clone(),
                    }
                })
                .collect()
        };
        if targets.is_empty() {
            return Ok(HealthOutcome::NotChecked);
        }
        let key = key(object);
        let started = {
            let mut started = self
                .health_started
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let entry = started
                .entry(key.clone())
                .or_insert_with(|| (revision.to_owned(), Instant::now()));
            if entry.0 != revision {
                *entry = (revision.to_owned(), Instant::now());
            }
            entry.1
        };
        let mut pending = Vec::new();
        for id in &targets {
            let state = match applier.get(id).await {
                Ok(Some(live)) => custom
                    .health(&live)
                    .unwrap_or_else(|| health::health(&live)),
                Ok(None) => Health::InProgress("not found".to_owned()),
                Err(e) => Health::InProgress(e.to_string()),
            };
            match state {
                Health::Current => {}
                Health::Failed(message) => {
                    self.forget_health(&key);
                    let detail = if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    };
                    return Err(Failure {
                        reason: HEALTH_CHECK_FAILED,
                        message: format!(
                            "health check failed after {}: {} status: 'Failed'{detail}",
                            go_duration(started.elapsed()),
                            id.display()
                        ),
                        requeue: None,
                        event: true,
                    });
                }
                Health::InProgress(_) => {
                    pending.push(format!("{} status: 'InProgress'", id.display()))
                }
                Health::Unknown(error) => {
                    pending.push(format!("{} status: 'Unknown': {error}", id.display()))
                }
            }
        }
        let timeout = timeout_of(object);
        if pending.is_empty() {
            self.forget_health(&key);
            return Ok(HealthOutcome::Healthy(started.elapsed()));
        }
        if started.elapsed() >= timeout {
            self.forget_health(&key);
            return Err(Failure {
                reason: HEALTH_CHECK_FAILED,
                message: format!(
                    "health check failed after {}: timeout waiting for: [{}]",
                    go_duration(started.elapsed()),
                    pending.join(", ")
                ),
                requeue: None,
                event: true,
            });
        }
        Ok(HealthOutcome::Waiting(format!(
            "Waiting for health checks: [{}]",
            pending.join(", ")
        )))
    }

    fn forget_health(&self, key: &str) {
        self.health_started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// `dependsOn`: every dependency Ready at its latest generation, and at this revision when
    /// it builds from the same source.
    async fn check_dependencies(
        &self,
        object: &Kustomization,
        artifact: &Artifact,
    ) -> Result<(), Failure> {
        let own = object.namespace().unwrap_or_default();
        let not_ready = |message: String| Failure {
            reason: DEPENDENCY_NOT_READY,
            message,
            requeue: Some(self.settings.requeue_dependency),
            event: false,
        };
        for dependency in &object.spec.depends_on {
            let namespace = dependency.namespace.clone().unwrap_or_else(|| own.clone());
            let name = format!("{namespace}/{}", dependency.name);
            let api: Api<Kustomization> = Api::namespaced(self.runtime.client.clone(), &namespace);
            let found = api.get_opt(&dependency.name).await.map_err(|e| {
                not_ready(format!(
                    "dependency '{name}' not found: {}",
                    kube_message(&e)
                ))
            })?;
            let Some(found) = found else {
                return Err(not_ready(format!(
                    "dependency '{name}' not found: kustomizations.kustomize.toolkit.fluxcd.io \"{}\" not found",
                    dependency.name
                )));
            };
            let status = found.status.clone().unwrap_or_default();
            let ready = cond::is_true(&status.conditions, driftless_api::conditions::READY);
            if !ready || status.observed_generation != found.meta().generation {
                return Err(not_ready(format!("dependency '{name}' is not ready")));
            }
            let same_source = found.spec.source_ref.kind == object.spec.source_ref.kind
                && found.spec.source_ref.name == object.spec.source_ref.name
                && found
                    .spec
                    .source_ref
                    .namespace
                    .clone()
                    .unwrap_or_else(|| namespace.clone())
                    == object
                        .spec
                        .source_ref
                        .namespace
                        .clone()
                        .unwrap_or_else(|| own.clone());
            if same_source
                && status.last_applied_revision.as_deref() != Some(artifact.revision.as_str())
            {
                return Err(not_ready(format!(
                    "dependency '{name}' revision is not up to date"
                )));
            }
        }
        Ok(())
    }

    /// The age identities of `spec.decryption`: the `*.agekey` entries of its Secret, or of
    /// the controller's `--sops-age-secret` when it names none. `None` without decryption.
    async fn decryption_identities(
        &self,
        object: &Kustomization,
    ) -> Result<Option<Identities>, Failure> {
        let Some(decryption) = &object.spec.decryption else {
            return Ok(None);
        };
        let failed = |message: String| Failure {
            reason: BUILD_FAILED_REASON,
            message,
            requeue: None,
            event: true,
        };
        let (namespace, name, what) = match &decryption.secret_ref {
            Some(reference) => (
                object.namespace().unwrap_or_default(),
                reference.name.clone(),
                "sops decryption Secret",
            ),
            None => match &self.settings.sops_age_secret {
                Some(name) => (
                    self.runtime.runtime_namespace.clone(),
                    name.clone(),
                    "sops SOPS age decryption Secret",
                ),
                None => return Ok(Some(Identities::new())),
            },
        };
        let api: Api<Secret> = Api::namespaced(self.runtime.client.clone(), &namespace);
        let secret = api.get(&name).await.map_err(|e| match &e {
            kube::Error::Api(status) if status.code == 404 => {
                failed(format!("secrets \"{name}\" not found"))
            }
            _ => failed(format!(
                "cannot get {what} '{namespace}/{name}': {}",
                kube_message(&e)
            )),
        })?;
        let mut identities = Identities::new();
        for (key, value) in secret.data.unwrap_or_default() {
            if !key.ends_with(".agekey") {
                continue;
            }
            let text = String::from_utf8_lossy(&value.0);
            identities.add_key_file(&text).map_err(|e| {
                failed(format!(
                    "failed to import '{key}' data from {what} '{namespace}/{name}': {e}"
                ))
            })?;
        }
        Ok(Some(identities))
    }

    /// `substituteFrom` in order (later entries win), then `substitute` over all.
    async fn substitution_variables(
        &self,
        object: &Kustomization,
        post_build: &PostBuild,
    ) -> Result<BTreeMap<String, String>, String> {
        let namespace = object.namespace().unwrap_or_default();
        let mut vars = BTreeMap::new();
        for reference in &post_build.substitute_from {
            let (kind, found) = match reference.kind {
                SubstituteKind::ConfigMap => {
                    let api: Api<ConfigMap> =
                        Api::namespaced(self.runtime.client.clone(), &namespace);
                    (
                        "ConfigMap",
                        api.get_opt(&reference.name)
                            .await
                            .map(|c| c.map(|c| c.data.unwrap_or_default())),
                    )
                }
                SubstituteKind::Secret => {
                    let api: Api<Secret> = Api::namespaced(self.runtime.client.clone(), &namespace);
                    let data = api.get_opt(&reference.name).await.map(|s| {
                        s.map(|s| {
                            s.data
                                .unwrap_or_default()
                                .into_iter()
                                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                                .collect::<BTreeMap<_, _>>()
                        })
                    });
                    ("Secret", data)
                }
            };
            match found {
                Ok(Some(data)) => vars.extend(data),
                Ok(None) if reference.optional => {}
                Ok(None) => {
                    return Err(format!(
                        "substitute from '{kind}/{}' error: {kind} \"{}\" not found",
                        reference.name, reference.name
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "substitute from '{kind}/{}' error: {}",
                        reference.name,
                        kube_message(&e)
                    ));
                }
            }
        }
        vars.extend(post_build.substitute.clone());
        substitute::prepare(vars).map_err(|e| e.to_string())
    }
}

/// Waits until every deleted object is gone from the cluster (finalizers done), polling;
/// `Err` with those still there at `timeout`.
async fn wait_gone(
    applier: &Applier,
    deleted: &[Change],
    timeout: Duration,
) -> Result<(), Vec<String>> {
    const POLL: Duration = Duration::from_millis(500);
    let deadline = Instant::now() + timeout;
    loop {
        let mut left = Vec::new();
        for change in deleted {
            // An object that cannot be read is taken as still there.
            if !matches!(applier.get(&change.id).await, Ok(None)) {
                left.push(change.id.display());
            }
        }
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() + POLL > deadline {
            return Err(left);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `spec.timeout`, else the interval less 30s (at least 30s).
fn timeout_of(object: &Kustomization) -> Duration {
    if let Some(timeout) = object
        .spec
        .timeout
        .as_deref()
        .and_then(|t| parse_duration(t).ok())
    {
        return timeout;
    }
    let interval = parse_duration(&object.spec.interval).unwrap_or(Duration::from_secs(600));
    interval
        .saturating_sub(Duration::from_secs(30))
        .max(Duration::from_secs(30))
}

fn set_labels(object: &mut Value, labels: &[(String, String)]) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let entry = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()));
    if !entry.is_object() {
        *entry = Value::Object(Default::default());
    }
    if let Some(map) = entry.as_object_mut() {
        for (k, v) in labels {
            map.insert(k.clone(), Value::String(v.clone()));
        }
    }
}

fn set_annotation(object: &mut Value, key: &str, value: &str) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let entry = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(map) = entry.as_object_mut() {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

/// One line per object that changed, exactly as Flux's events list them
/// (`Kind/namespace/name action`), so Alert inclusion and exclusion rules written for Flux
/// match the same events.
fn change_lines(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| format!("{} {}", c.id.display(), c.action.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Objects changed while re-applying the revision last applied had drifted in the cluster:
/// logged with the fields that differed, apart from the change-set event Flux defines.
fn log_reverted_drift(object: &Kustomization, changes: &[Change]) {
    for change in changes {
        if change.action == Applied::Configured {
            tracing::info!(
                kustomization = %key(object),
                object = %change.id.display(),
                fields = ?change.drifted,
                "reverted drift"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_sets_read_exactly_as_flux_writes_them() {
        let id = |kind: &str, namespace: &str, name: &str| ObjectId {
            group: String::new(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        let changes = [
            Change {
                id: id("Service", "podinfo", "podinfo"),
                action: Applied::Configured,
                drifted: vec!["/spec/ports/0/port".into()],
            },
            Change {
                id: id("Namespace", "", "podinfo"),
                action: Applied::Created,
                drifted: Vec::new(),
            },
        ];
        assert_eq!(
            change_lines(&changes),
            "Service/podinfo/podinfo configured\nNamespace/podinfo created"
        );
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(600)), "10m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(go_duration(Duration::from_secs(3661)), "1h1m1s");
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
    }
}
