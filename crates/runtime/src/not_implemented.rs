//! A stand-in controller for kinds whose CRD Driftless serves but whose reconciler it does not
//! have yet. Without it such objects would sit with no condition, event or log line, and
//! anything waiting on them (`flux`, `kubectl wait`, dependent objects) would wait forever.
//! Instead every object ends `Stalled=True`/`Ready=False` with reason [`NOT_IMPLEMENTED`], and
//! each new generation gets one Warning event and one log line.

use std::marker::PhantomData;

use driftless_api::conditions::{READY, STALLED};
use driftless_api::meta::Condition;

use crate::manager::Context;
use crate::reconcile::{Error, Outcome, Reconciler, Run, ToolkitObject};

/// Reason of the Stalled and Ready conditions, and of the event, for an unimplemented kind.
pub const NOT_IMPLEMENTED: &str = "NotImplemented";

/// The condition message: plain about what is (not) happening to the object.
pub fn message(kind: &str, controller: &str) -> String {
    format!(
        "Driftless does not implement {kind} yet: {controller} accepts this object but does \
         not reconcile it"
    )
}

/// Only Ready and Stalled are kept (for their transition times): nothing else about an
/// object that is never reconciled would be true.
pub fn keep_only_stall_conditions(conditions: &mut Vec<Condition>) {
    conditions.retain(|c| c.type_ == READY || c.type_ == STALLED);
}

/// The reconciler of a kind that is not implemented: every object ends stalled.
pub struct NotImplemented<K> {
    message: String,
    kind: PhantomData<fn() -> K>,
}

impl<K: ToolkitObject> Reconciler for NotImplemented<K> {
    type Object = K;
    /// Deleting such an object must never wait on Driftless.
    const FINALIZER: bool = false;

    async fn reconcile(&self, run: &mut Run<K>) -> Result<Outcome, Error> {
        keep_only_stall_conditions(K::shared_fields(&mut run.status).conditions);
        Ok(Outcome::Stalled {
            reason: NOT_IMPLEMENTED,
            message: self.message.clone(),
        })
    }
}

/// Marks every object of kind `K` in the watched namespaces as not implemented, until
/// shutdown.
pub async fn run<K: ToolkitObject>(ctx: Context) {
    let reconciler = NotImplemented::<K> {
        message: message(&K::kind(&()), ctx.controller),
        kind: PhantomData,
    };
    crate::reconcile::run(reconciler, ctx).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions;
    use crate::reconcile::outcome::Decision;
    use crate::reconcile::{same_status, settle};
    use driftless_api::conditions::RECONCILING;
    use driftless_api::meta::RECONCILE_REQUEST_ANNOTATION;
    use driftless_api::source::{HelmRepository, HelmRepositorySpec, HelmRepositoryStatus};
    use kube::ResourceExt;

    const MESSAGE: &str = "Driftless does not implement HelmRepository yet";

    fn repo(generation: i64, status: Option<HelmRepositoryStatus>) -> HelmRepository {
        let mut repo = HelmRepository::new("podinfo", HelmRepositorySpec::default());
        repo.metadata.namespace = Some("apps".into());
        repo.metadata.generation = Some(generation);
        repo.status = status;
        repo
    }

    /// What one reconcile of `repo` on the harness stores and decides, and whether the
    /// status would be written.
    fn reconcile(repo: &HelmRepository) -> (HelmRepositoryStatus, Decision, bool) {
        let mut status = repo.status.clone().unwrap_or_default();
        keep_only_stall_conditions(&mut status.conditions);
        let outcome = Outcome::Stalled {
            reason: NOT_IMPLEMENTED,
            message: MESSAGE.into(),
        };
        let decision = settle(repo, &mut status, &outcome, Default::default());
        let written = !same_status::<HelmRepository>(repo.status.as_ref(), &status);
        (status, decision, written)
    }

    #[test]
    fn a_new_object_is_stalled_and_announced() {
        // What the API server defaults a fresh status to.
        let fresh = HelmRepositoryStatus {
            observed_generation: Some(-1),
            ..Default::default()
        };
        let (status, decision, written) = reconcile(&repo(1, Some(fresh)));
        assert!(written);
        assert!(decision.event.is_some());
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
        let (first, _, _) = reconcile(&repo(1, None));
        let (again, decision, written) = reconcile(&repo(1, Some(first.clone())));
        assert!(!written, "nothing to write");
        assert_eq!(decision.event, None);
        assert_eq!(again.conditions, first.conditions);
    }

    #[test]
    fn a_new_generation_is_marked_and_announced_again() {
        let (first, _, _) = reconcile(&repo(1, None));
        let before = conditions::get(&first.conditions, STALLED)
            .unwrap()
            .last_transition_time
            .clone();
        let (status, decision, written) = reconcile(&repo(2, Some(first)));
        assert!(written && decision.event.is_some());
        assert_eq!(status.observed_generation, Some(2));
        let stalled = conditions::get(&status.conditions, STALLED).unwrap();
        assert_eq!(stalled.observed_generation, Some(2));
        // Still stalled: the transition time stays.
        assert_eq!(stalled.last_transition_time, before);
    }

    #[test]
    fn a_reconcile_request_is_acknowledged_without_a_new_announcement() {
        let (first, _, _) = reconcile(&repo(1, None));
        let mut requested = repo(1, Some(first));
        requested
            .annotations_mut()
            .insert(RECONCILE_REQUEST_ANNOTATION.into(), "now".into());
        let (status, decision, written) = reconcile(&requested);
        assert!(written);
        assert_eq!(decision.event, None);
        assert_eq!(status.last_handled_reconcile_at.as_deref(), Some("now"));
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
        let (status, decision, written) = reconcile(&repo(3, Some(status)));
        assert!(written && decision.event.is_some());
        let types: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, STALLED]);
        assert!(conditions::get(&status.conditions, RECONCILING).is_none());
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
