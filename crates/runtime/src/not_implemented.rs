//! A stand-in controller for kinds whose CRD Driftless serves but whose reconciler it does not
//! have yet. Without it such objects would sit with no condition, event or log line, and
//! anything waiting on them (`flux`, `kubectl wait`, dependent objects) would wait forever.
//! Instead every object ends `Stalled=True`/`Ready=False` with reason [`NOT_IMPLEMENTED`], and
//! each new generation gets one Warning event and one warn log line.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use driftless_api::conditions::{READY, STALLED};
use driftless_api::event::Severity;
use driftless_api::meta::{Condition, Reconcilable};
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{PredicateConfig, WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::conditions;
use crate::manager::Context;
use crate::metrics::{ObjectLabels, ReconcileOutcome};
use crate::reconcile::{FirstList, handled_reconcile_at, reconcile_trigger, run_until_shutdown};
use crate::status::apply_status;

/// Reason of the Stalled and Ready conditions, and of the event, for an unimplemented kind.
pub const NOT_IMPLEMENTED: &str = "NotImplemented";

/// Objects are only patched and announced; a couple at a time is plenty.
const CONCURRENCY: u16 = 2;

/// The status given to an object of an unimplemented kind: only fields every Toolkit status
/// has, so one shape fits all kinds.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlaceholderStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

/// What a reconcile of an unimplemented kind's object does.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Status to apply; `None` when the stored one is already final and no reconcile request
    /// is pending.
    pub status: Option<PlaceholderStatus>,
    /// Whether this generation has not been marked yet: emit the event and the log line.
    pub announce: bool,
}

/// The condition message: plain about what is (not) happening to the object.
pub fn message(kind: &str, controller: &str) -> String {
    format!(
        "Driftless does not implement {kind} yet: {controller} accepts this object but does \
         not reconcile it"
    )
}

/// Decides the status of `object`, whose kind is not implemented, from its current status.
/// Pure: the controller loop only carries the decision out.
pub fn decide<K: Resource + Reconcilable>(object: &K, message: &str) -> Decision {
    let generation = object.meta().generation;
    let current = object.conditions();
    let holds = |type_: &str, status: &str| {
        conditions::get(current, type_).is_some_and(|c| {
            c.status == status
                && c.reason == NOT_IMPLEMENTED
                && c.message == message
                && c.observed_generation == generation
        })
    };
    let marked = object.observed_generation() == generation
        && holds(STALLED, "True")
        && holds(READY, "False")
        && conditions::get(current, driftless_api::conditions::RECONCILING).is_none();
    let handled = handled_reconcile_at(object);
    let request_pending = handled.as_deref() != object.last_handled_reconcile_at();
    if marked && !request_pending {
        return Decision {
            status: None,
            announce: false,
        };
    }
    // Only Ready and Stalled are kept (for their transition times): nothing else about an
    // object that is never reconciled would be true.
    let mut kept: Vec<Condition> = current
        .iter()
        .filter(|c| c.type_ == READY || c.type_ == STALLED)
        .cloned()
        .collect();
    conditions::mark_stalled(&mut kept, NOT_IMPLEMENTED, message, generation);
    Decision {
        status: Some(PlaceholderStatus {
            observed_generation: generation,
            conditions: kept,
            last_handled_reconcile_at: handled,
        }),
        announce: !marked,
    }
}

/// Marks every object of kind `K` in the watched namespaces as not implemented, until
/// shutdown. No finalizer is added: deleting such an object must never wait on Driftless.
pub async fn run<K>(ctx: Context)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Reconcilable
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = ctx
        .args
        .watched_api(ctx.client.clone(), &ctx.runtime_namespace);
    let (reader, writer) = reflector::store();
    let first_list = FirstList::default();
    let stream = watcher(api, ctx.args.watcher_config())
        .backoff(crate::watch_backoff::WatchBackoff::default())
        // Managed fields are most of an object's size and never read here.
        .modify(|object| object.managed_fields_mut().clear())
        .reflect(writer)
        .inspect(first_list.observe())
        .applied_objects()
        .predicate_filter(reconcile_trigger, PredicateConfig::default());
    let shutdown = ctx.shutdown.clone();
    let stopping = shutdown.clone();
    let controller = Controller::for_stream(stream, reader)
        // The watches retry on their own quick backoff; kube's default here would pause
        // every trigger for up to a minute after an API server restart.
        .trigger_backoff(crate::watch_backoff::WatchBackoff::default())
        .with_config(kube::runtime::controller::Config::default().concurrency(CONCURRENCY))
        .graceful_shutdown_on(async move { stopping.cancelled().await })
        .run(reconcile::<K>, error_policy::<K>, Arc::new(ctx))
        .for_each(|_| futures::future::ready(()));
    run_until_shutdown(controller, shutdown, first_list).await;
}

async fn reconcile<K>(object: Arc<K>, ctx: Arc<Context>) -> Result<Action, kube::Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Reconcilable
        + Clone
        + DeserializeOwned
        + Debug,
{
    let started = std::time::Instant::now();
    let kind = K::kind(&());
    let labels = ObjectLabels::of(object.as_ref());
    let message = message(&kind, ctx.controller);
    let decision = decide(object.as_ref(), &message);
    if let Some(status) = &decision.status {
        let namespace = object.namespace().unwrap_or_default();
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
        match apply_status(&api, object.as_ref(), ctx.controller, status).await {
            Ok(_) => {}
            // Deleted meanwhile: nothing left to report on.
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Ok(Action::await_change());
            }
            Err(error) => return Err(error),
        }
    }
    if decision.announce {
        tracing::warn!(
            kind = %kind,
            name = %object.name_any(),
            namespace = object.namespace().unwrap_or_default(),
            generation = object.meta().generation.unwrap_or_default(),
            "{message}"
        );
        ctx.events
            .publish(
                object.as_ref(),
                Severity::Error,
                NOT_IMPLEMENTED,
                &message,
                BTreeMap::new(),
            )
            .await;
    }
    ctx.backoff.reset(&key(object.as_ref()));
    // Recorded as Flux records a stalled object: a reconcile that ended in error.
    ctx.metrics.observe_reconcile(
        &kind.to_ascii_lowercase(),
        labels,
        started.elapsed(),
        ReconcileOutcome::Error,
    );
    // Nothing changes until the object does.
    Ok(Action::await_change())
}

fn error_policy<K>(object: Arc<K>, error: &kube::Error, ctx: Arc<Context>) -> Action
where
    K: Resource<DynamicType = ()>,
{
    crate::reconcile::log_reconcile_error(object.as_ref(), error);
    Action::requeue(ctx.backoff.next_delay(&key(object.as_ref())))
}

fn key<K: Resource<DynamicType = ()>>(object: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::conditions::RECONCILING;
    use driftless_api::meta::RECONCILE_REQUEST_ANNOTATION;
    use driftless_api::source::{HelmRepository, HelmRepositorySpec, HelmRepositoryStatus};

    const MESSAGE: &str = "Driftless does not implement HelmRepository yet";

    fn repo(generation: i64, status: Option<HelmRepositoryStatus>) -> HelmRepository {
        let mut repo = HelmRepository::new("podinfo", HelmRepositorySpec::default());
        repo.metadata.namespace = Some("apps".into());
        repo.metadata.generation = Some(generation);
        repo.status = status;
        repo
    }

    /// The stored status after `decision` was applied to an object.
    fn stored(decision: &Decision) -> HelmRepositoryStatus {
        let status = decision.status.clone().unwrap();
        HelmRepositoryStatus {
            observed_generation: status.observed_generation,
            conditions: status.conditions,
            last_handled_reconcile_at: status.last_handled_reconcile_at,
            ..Default::default()
        }
    }

    #[test]
    fn a_new_object_is_stalled_and_announced() {
        // What the API server defaults a fresh status to.
        let fresh = HelmRepositoryStatus {
            observed_generation: Some(-1),
            ..Default::default()
        };
        let decision = decide(&repo(1, Some(fresh)), MESSAGE);
        assert!(decision.announce);
        let status = decision.status.unwrap();
        assert_eq!(status.observed_generation, Some(1));
        let conditions = &status.conditions;
        for (type_, expected) in [(STALLED, "True"), (READY, "False")] {
            let c = conditions::get(conditions, type_).unwrap();
            assert_eq!(
                (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
                (expected, NOT_IMPLEMENTED, MESSAGE)
            );
            assert_eq!(c.observed_generation, Some(1));
        }
        assert_eq!(conditions.len(), 2);
        conditions::check_final_status(conditions, Some(1), status.observed_generation).unwrap();
    }

    #[test]
    fn a_marked_generation_is_left_alone() {
        let first = decide(&repo(1, None), MESSAGE);
        let again = decide(&repo(1, Some(stored(&first))), MESSAGE);
        assert_eq!(
            again,
            Decision {
                status: None,
                announce: false
            }
        );
    }

    #[test]
    fn a_new_generation_is_marked_and_announced_again() {
        let first = decide(&repo(1, None), MESSAGE);
        let before = conditions::get(&stored(&first).conditions, STALLED)
            .unwrap()
            .last_transition_time
            .clone();
        let next = decide(&repo(2, Some(stored(&first))), MESSAGE);
        assert!(next.announce);
        let status = next.status.unwrap();
        assert_eq!(status.observed_generation, Some(2));
        let stalled = conditions::get(&status.conditions, STALLED).unwrap();
        assert_eq!(stalled.observed_generation, Some(2));
        // Still stalled: the transition time stays.
        assert_eq!(stalled.last_transition_time, before);
    }

    #[test]
    fn a_reconcile_request_is_acknowledged_without_a_new_announcement() {
        let first = decide(&repo(1, None), MESSAGE);
        let mut requested = repo(1, Some(stored(&first)));
        requested
            .annotations_mut()
            .insert(RECONCILE_REQUEST_ANNOTATION.into(), "now".into());
        let decision = decide(&requested, MESSAGE);
        assert!(!decision.announce);
        assert_eq!(
            decision
                .status
                .unwrap()
                .last_handled_reconcile_at
                .as_deref(),
            Some("now")
        );
    }

    #[test]
    fn conditions_of_an_earlier_controller_are_replaced() {
        let mut old = Vec::new();
        conditions::mark_reconciling(&mut old, "Progressing", "fetching", Some(3));
        conditions::set(
            &mut old,
            "ArtifactInStorage",
            conditions::Status::True,
            "Succeeded",
            "stored",
            Some(3),
        );
        let status = HelmRepositoryStatus {
            observed_generation: Some(3),
            conditions: old,
            ..Default::default()
        };
        let decision = decide(&repo(3, Some(status)), MESSAGE);
        assert!(decision.announce);
        let conditions = decision.status.unwrap().conditions;
        let types: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, STALLED]);
        assert!(conditions::get(&conditions, RECONCILING).is_none());
    }

    #[test]
    fn the_message_names_the_kind_and_the_controller() {
        assert_eq!(
            message("HelmChart", "source-controller"),
            "Driftless does not implement HelmChart yet: source-controller accepts this \
             object but does not reconcile it"
        );
    }
}
