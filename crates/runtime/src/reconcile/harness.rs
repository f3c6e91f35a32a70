//! The reconcile harness every controller runs its reconcilers on. It owns what is the same
//! for every kind: the watch of the kind, the predicate (a new generation, a reconcile request
//! or deletion), the finalizer, suspension, the failure backoff, Flux's reconcile metrics,
//! `lastHandledReconcileAt`, the conditions and events that follow from an [`Outcome`], and
//! the status write. A [`Reconciler`] provides only what is particular to its kind.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_api::event::Severity;
use driftless_api::meta::{Reconcilable, SharedStatus};
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::api::Api;
use kube::core::object::HasStatus;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::finalizer::Event as FinalizerEvent;
use kube::runtime::{PredicateConfig, WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backoff::FailureBackoff;
use super::finalizer::with_finalizer;
use super::logs::{log_failed_reconcile, log_reconcile_error};
use super::outcome::{Decision, LogLine, Notice, Outcome, Requeue, decide};
use super::own_writes::OwnWrites;
use super::requests::{handled_reconcile_at, reconcile_trigger, with_jitter};
use super::shutdown::{FirstList, run_until_shutdown};
use super::watches::Watches;
use crate::manager::Context;
use crate::metrics::ObjectLabels;
use crate::status::apply_status;
use crate::watch_backoff::WatchBackoff;

/// A namespaced Toolkit kind the harness can reconcile.
pub trait ToolkitObject:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + SharedStatus
    + HasStatus<Status: Default + Clone + Serialize + Send + Sync + 'static>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> ToolkitObject for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + SharedStatus
        + HasStatus<Status: Default + Clone + Serialize + Send + Sync + 'static>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// The status type of a kind.
pub type StatusOf<K> = <K as HasStatus>::Status;

/// Why a reconcile could not finish; retried with the object's failure backoff. Failures of
/// the object's own (a bad spec, an unreachable source) are [`Outcome`]s, not errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to update status: {0}")]
    Status(#[source] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
    #[error("cleanup: {0}")]
    Cleanup(String),
    /// A state no condition describes (a bug); retried with backoff.
    #[error("{0}")]
    Unexpected(String),
}

/// What is particular to one kind's reconciler.
pub trait Reconciler: Send + Sync + Sized + 'static {
    type Object: ToolkitObject;

    /// Whether objects carry the Toolkit finalizer, so [`Reconciler::cleanup`] runs before
    /// they go. Kinds that leave nothing behind outside the object say `false`.
    const FINALIZER: bool = true;

    /// Declares what triggers a reconcile beyond the kind's own watch; caches the reconciler
    /// reads are kept in `self`.
    fn watches(&mut self, _watches: &mut Watches<Self::Object>) {}

    /// One reconcile of a live (not suspended) object: does the work, sets the kind's own
    /// status fields in `run.status`, adds its events to `run`, and says how it ended.
    fn reconcile(
        &self,
        run: &mut Run<Self::Object>,
    ) -> impl Future<Output = Result<Outcome, Error>> + Send;

    /// Releases what a deleted object held (applied objects, stored artifacts).
    fn cleanup(
        &self,
        _object: &Arc<Self::Object>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// Metadata of the Warning event of a failure (the revision it happened at, say).
    fn event_metadata(&self, _status: &StatusOf<Self::Object>) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Called once the status of a reconcile is stored (or found already stored), before its
    /// events are sent.
    fn status_written(
        &self,
        _object: &Self::Object,
        _previous: Option<&StatusOf<Self::Object>>,
        _status: &StatusOf<Self::Object>,
    ) {
    }
}

/// One reconcile of one object: the object, the status the reconciler builds (starting from
/// the stored one), the events to send once it is written, and progress shown before a long
/// step.
pub struct Run<K: ToolkitObject> {
    pub object: Arc<K>,
    pub status: StatusOf<K>,
    api: Api<K>,
    controller: &'static str,
    events: Vec<Notice>,
    progress_written: bool,
    defer_first_status: bool,
}

impl<K: ToolkitObject> Run<K> {
    fn new(object: Arc<K>, api: Api<K>, controller: &'static str) -> Self {
        Self {
            status: object.status().cloned().unwrap_or_default(),
            object,
            api,
            controller,
            events: Vec::new(),
            progress_written: false,
            defer_first_status: false,
        }
    }

    /// `metadata.generation` of the object.
    pub fn generation(&self) -> Option<i64> {
        self.object.meta().generation
    }

    /// An event sent after the status is written, in the order added.
    pub fn event(
        &mut self,
        severity: Severity,
        reason: &str,
        message: impl Into<String>,
        metadata: BTreeMap<String, String>,
    ) {
        self.events.push(Notice {
            severity,
            reason: reason.to_owned(),
            message: message.into(),
            metadata,
        });
    }

    /// Leaves an object that has never had a status without one for now: it is waiting a
    /// moment for work another controller has just been given (a HelmChart just created,
    /// say). Without a Ready condition a Toolkit object is not ready to health checks (see
    /// [`crate::health`]), so the write would only add API load when many objects start at
    /// once. The reconcile that follows writes the status as usual.
    pub fn defer_first_status(&mut self) {
        self.defer_first_status = true;
    }

    /// Whether the object was created moments ago ([`JUST_CREATED`]): an input it waits for
    /// (a source, a chart) was most likely created with it and is about to be ready, so the
    /// wait may go without a status for now (see [`Self::defer_first_status`]).
    pub fn just_created(&self) -> bool {
        just_created(
            self.object.meta().creation_timestamp.as_ref(),
            k8s_openapi::jiff::Timestamp::now(),
        )
    }

    /// An event built elsewhere (by a pure decision), sent after the status is written.
    pub fn notify(&mut self, notice: Notice) {
        self.events.push(notice);
    }

    /// `progress`, unless the stored status shows this generation waiting for an input with
    /// one of the `waited` reasons: it already reads as in progress, and when many objects
    /// start at once (a new chart, a new source) the write is pure API load.
    pub async fn progress_after_wait(
        &mut self,
        waited: &[&str],
        reason: &str,
        message: impl Into<String>,
    ) -> Result<(), Error> {
        if !self.progress_written
            && let Some(stored) = self.object.status()
            && crate::conditions::waiting_for_input(
                K::shared_fields(&mut stored.clone()).conditions,
                self.object.meta().generation,
                waited,
            )
        {
            return Ok(());
        }
        self.progress(reason, message).await
    }

    /// Writes the status so far with Reconciling=True and Ready=Unknown at once, so a long
    /// step shows as in progress while it runs.
    pub async fn progress(
        &mut self,
        reason: &str,
        message: impl Into<String>,
    ) -> Result<(), Error> {
        let mut progressing = self.status.clone();
        crate::conditions::mark_reconciling(
            K::shared_fields(&mut progressing).conditions,
            reason,
            message,
            self.object.meta().generation,
        );
        apply_status(&self.api, &*self.object, self.controller, &progressing)
            .await
            .map_err(Error::Status)?;
        self.progress_written = true;
        Ok(())
    }
}

/// How long after its creation an object may wait for an input created with it without a
/// status saying so.
pub const JUST_CREATED: Duration = Duration::from_secs(5);

/// Whether an object created at `created` is younger than [`JUST_CREATED`] at `now`. A clock
/// behind the API server's is no reason to hide a status.
pub fn just_created(
    created: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    now: k8s_openapi::jiff::Timestamp,
) -> bool {
    created.is_some_and(|created| {
        now.duration_since(created.0)
            .try_into()
            .is_ok_and(|age: Duration| age < JUST_CREATED)
    })
}

/// Runs `reconciler` over every object of its kind in the watched namespaces, at most
/// `--concurrent` at a time, until shutdown.
pub async fn run<R: Reconciler>(mut reconciler: R, ctx: Context) {
    let api: Api<R::Object> = ctx
        .args
        .watched_api(ctx.client.clone(), &ctx.runtime_namespace);
    let (store, writer) = reflector::store();
    let first_list = FirstList::default();
    let stream = watcher(api, ctx.args.watcher_config())
        .backoff(WatchBackoff::default())
        // Managed fields are most of an object's size and never read here.
        .modify(|object| object.managed_fields_mut().clear())
        .reflect(writer)
        .inspect(first_list.observe())
        .applied_objects()
        .predicate_filter(reconcile_trigger, PredicateConfig::default());
    let concurrency = ctx.args.concurrent.max(1);
    let metrics_name = R::Object::kind(&()).to_ascii_lowercase();
    ctx.metrics
        .set_max_concurrent_reconciles(&metrics_name, concurrency);
    let controller = Controller::for_stream(stream, store.clone())
        // The watches retry on their own quick backoff; kube's default here would pause
        // every trigger for up to a minute after an API server restart.
        .trigger_backoff(WatchBackoff::default())
        .with_config(Config::default().concurrency(concurrency));
    let mut watches = Watches::new(ctx.clone(), store, controller);
    reconciler.watches(&mut watches);
    let Some(controller) = watches.into_controller() else {
        return;
    };
    let shutdown = ctx.shutdown.clone();
    let stopping = shutdown.clone();
    let harness = Arc::new(Harness {
        backoff: FailureBackoff::new(ctx.args.min_retry_delay, ctx.args.max_retry_delay),
        own_writes: OwnWrites::default(),
        reconciler,
        ctx,
        metrics_name,
    });
    let controller = controller
        .graceful_shutdown_on(async move { stopping.cancelled().await })
        .run(
            |object, harness: Arc<Harness<R>>| harness.reconcile(object),
            |object, error, harness| harness.error_policy(&object, error),
            harness,
        )
        .for_each(|_| futures::future::ready(()));
    run_until_shutdown(controller, shutdown, first_list).await;
}

struct Harness<R: Reconciler> {
    reconciler: R,
    ctx: Context,
    backoff: FailureBackoff,
    own_writes: OwnWrites,
    /// The `controller` label of the reconcile metrics: the kind in lower case, as
    /// controller-runtime names it.
    metrics_name: String,
}

impl<R: Reconciler> Harness<R> {
    async fn reconcile(self: Arc<Self>, object: Arc<R::Object>) -> Result<Action, Error> {
        if !R::FINALIZER {
            if object.meta().deletion_timestamp.is_some() {
                self.forget(&object);
                return Ok(Action::await_change());
            }
            return self.apply(object).await;
        }
        let api = self.api(&object);
        let this = self.clone();
        with_finalizer(
            &api,
            object,
            |event| async move {
                match event {
                    FinalizerEvent::Apply(object) => this.apply(object).await,
                    FinalizerEvent::Cleanup(object) => this.cleanup(object).await,
                }
            },
            Error::Finalizer,
        )
        .await
    }

    fn api(&self, object: &R::Object) -> Api<R::Object> {
        Api::namespaced(
            self.ctx.client.clone(),
            &object.namespace().unwrap_or_default(),
        )
    }

    async fn apply(&self, object: Arc<R::Object>) -> Result<Action, Error> {
        if object.suspended() {
            tracing::info!(
                kind = %R::Object::kind(&()),
                namespace = object.namespace().unwrap_or_default(),
                name = %object.name_any(),
                "reconciliation is suspended for this object"
            );
            return Ok(Action::await_change());
        }
        let started = Instant::now();
        let api = self.api(&object);
        let previous = object.status().cloned();
        let mut run = Run::new(object.clone(), api.clone(), self.ctx.controller);
        let outcome = match self.reconciler.reconcile(&mut run).await {
            Ok(outcome) => outcome,
            Err(error) => {
                // A progress write moved the stored status past the one last recorded.
                if run.progress_written {
                    self.own_writes.forget(&object_key(&*object));
                }
                return Err(error);
            }
        };
        let mut status = run.status;
        let metadata = self.reconciler.event_metadata(&status);
        let decision = settle(&*object, &mut status, &outcome, metadata);
        let key = object_key(&*object);
        let read_version = object.meta().resource_version.as_deref();
        let serialized = serde_json::to_vec(&status).unwrap_or_default();
        // A progress write made during the reconcile is always overwritten.
        let never_reported = previous
            .clone()
            .is_none_or(|mut stored| R::Object::shared_fields(&mut stored).conditions.is_empty());
        let changed = run.progress_written
            || !(same_status::<R::Object>(previous.as_ref(), &status)
                || self.own_writes.repeats(&key, read_version, &serialized)
                || (run.defer_first_status && never_reported));
        if changed {
            match apply_status(&api, &*object, self.ctx.controller, &status).await {
                Ok(_) => self.own_writes.record(&key, read_version, &serialized),
                // Deleted meanwhile: nothing left to report on.
                Err(kube::Error::Api(response)) if response.code == 404 => {
                    return Ok(Action::await_change());
                }
                Err(error) => return Err(Error::Status(error)),
            }
        }
        self.log(&object, &outcome, &decision, started.elapsed());
        self.reconciler
            .status_written(&object, previous.as_ref(), &status);
        for notice in run.events.into_iter().chain(decision.event) {
            self.ctx
                .events
                .publish(
                    &*object,
                    notice.severity,
                    &notice.reason,
                    &notice.message,
                    notice.metadata,
                )
                .await;
        }
        if decision.reset_backoff {
            self.backoff.reset(&key);
        }
        self.ctx.metrics.observe_reconcile(
            &self.metrics_name,
            ObjectLabels::of(&*object),
            started.elapsed(),
            decision.metric,
        );
        Ok(match decision.requeue {
            Requeue::Interval(interval) => Action::requeue(with_jitter(
                interval,
                self.ctx.args.interval_jitter_percentage,
            )),
            Requeue::After(delay) => Action::requeue(delay),
            Requeue::Backoff { at_most } => {
                Action::requeue(self.backoff.next_delay(&key).min(at_most))
            }
            Requeue::OnChange => Action::await_change(),
        })
    }

    fn log(&self, object: &R::Object, outcome: &Outcome, decision: &Decision, took: Duration) {
        let (reason, message) = (outcome.reason(), outcome.message());
        match decision.log {
            LogLine::None => {}
            LogLine::Finished => {
                let next = match decision.requeue {
                    Requeue::Interval(interval) | Requeue::After(interval) => {
                        format!(", next run in {}", crate::go_duration(interval))
                    }
                    _ => String::new(),
                };
                tracing::info!(
                    kind = %R::Object::kind(&()),
                    namespace = object.namespace().unwrap_or_default(),
                    name = %object.name_any(),
                    "Reconciliation finished in {}{next}",
                    crate::go_duration(took)
                );
            }
            LogLine::Failed => log_failed_reconcile(object, reason, message),
            LogLine::Waiting => tracing::info!(
                kind = %R::Object::kind(&()),
                namespace = object.namespace().unwrap_or_default(),
                name = %object.name_any(),
                reason,
                error = message,
                "reconciliation waiting"
            ),
            LogLine::Stalled => tracing::error!(
                kind = %R::Object::kind(&()),
                namespace = object.namespace().unwrap_or_default(),
                name = %object.name_any(),
                reason,
                error = message,
                "reconciliation stalled"
            ),
        }
    }

    async fn cleanup(&self, object: Arc<R::Object>) -> Result<Action, Error> {
        self.reconciler.cleanup(&object).await?;
        self.forget(&object);
        Ok(Action::await_change())
    }

    /// Drops what is kept about a deleted object.
    fn forget(&self, object: &R::Object) {
        self.ctx.metrics.forget_object(&ObjectLabels::of(object));
        let key = object_key(object);
        self.backoff.reset(&key);
        self.own_writes.forget(&key);
    }

    fn error_policy(&self, object: &R::Object, error: &Error) -> Action {
        log_reconcile_error(object, error);
        Action::requeue(self.backoff.next_delay(&object_key(object)))
    }
}

/// Records in `status` what follows from `outcome` for `object`: its conditions, the
/// generation it settles and the reconcile request it handled. Returns the whole decision.
pub fn settle<K: ToolkitObject>(
    object: &K,
    status: &mut StatusOf<K>,
    outcome: &Outcome,
    event_metadata: BTreeMap<String, String>,
) -> Decision {
    let fields = K::shared_fields(status);
    let decision = decide(
        outcome,
        fields.conditions,
        object.meta().generation,
        event_metadata,
    );
    fields.conditions.clone_from(&decision.conditions);
    if let Some(generation) = decision.observed_generation {
        *fields.observed_generation = generation;
    }
    *fields.last_handled_reconcile_at = handled_reconcile_at(object);
    decision
}

/// Whether `status` is what the object already has, so writing it would change nothing.
pub fn same_status<K: ToolkitObject>(previous: Option<&StatusOf<K>>, status: &StatusOf<K>) -> bool {
    previous.is_some_and(|previous| {
        serde_json::to_value(previous).ok() == serde_json::to_value(status).ok()
    })
}

/// `namespace/name`: the key an object's failures back off under (objects of one name in two
/// namespaces are two objects), and how reconcilers name it in logs and their own maps.
pub fn object_key<K: Resource>(object: &K) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::just_created;

    #[test]
    fn only_an_object_created_moments_ago_counts_as_just_created() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let at = |second| Some(Time(Timestamp::from_second(second).unwrap()));
        assert!(just_created(at(999_998).as_ref(), now));
        assert!(!just_created(at(999_990).as_ref(), now));
        // A clock behind the API server's is no reason to hide the status.
        assert!(!just_created(at(1_000_010).as_ref(), now));
        assert!(!just_created(None, now));
    }
}
