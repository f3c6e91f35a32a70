//! `reconcile.fluxcd.io/forceAt` and `reconcile.fluxcd.io/resetAt`: a one-off forced release
//! and a reset of the failure counters, each handled once per token, and only together with
//! a `requestedAt` of the same token (Flux's `HandleAnnotationRequest`).

use driftless_api::helm::{
    FORCE_REQUEST_ANNOTATION, HelmRelease, HelmReleaseStatus, RESET_REQUEST_ANNOTATION,
};
use driftless_api::meta::RECONCILE_REQUEST_ANNOTATION;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    pub force: bool,
    pub reset: bool,
}

/// Which requests this reconciliation handles; records their tokens in the status.
pub fn handle(object: &HelmRelease, status: &mut HelmReleaseStatus) -> Requests {
    let annotations = object.metadata.annotations.clone().unwrap_or_default();
    let requested = annotations.get(RECONCILE_REQUEST_ANNOTATION);
    let one = |key: &str, handled: &mut Option<String>| {
        let Some(token) = annotations.get(key) else {
            return false;
        };
        let fresh = requested == Some(token)
            && handled.as_ref() != Some(token)
            && status.last_handled_reconcile_at.as_ref() != Some(token);
        *handled = Some(token.clone());
        fresh
    };
    let mut force_handled = status.last_handled_force_at.take();
    let mut reset_handled = status.last_handled_reset_at.take();
    let requests = Requests {
        force: one(FORCE_REQUEST_ANNOTATION, &mut force_handled),
        reset: one(RESET_REQUEST_ANNOTATION, &mut reset_handled),
    };
    status.last_handled_force_at = force_handled;
    status.last_handled_reset_at = reset_handled;
    requests
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotated(pairs: &[(&str, &str)]) -> HelmRelease {
        let mut object = HelmRelease::new("web", Default::default());
        object.metadata.annotations = Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        object
    }

    #[test]
    fn a_request_is_handled_once_and_only_with_a_matching_reconcile_request() {
        let mut status = HelmReleaseStatus::default();
        let object = annotated(&[
            (RECONCILE_REQUEST_ANNOTATION, "t1"),
            (FORCE_REQUEST_ANNOTATION, "t1"),
            (RESET_REQUEST_ANNOTATION, "t0"),
        ]);
        let first = handle(&object, &mut status);
        assert_eq!(
            first,
            Requests {
                force: true,
                reset: false
            }
        );
        assert_eq!(status.last_handled_force_at.as_deref(), Some("t1"));
        assert_eq!(status.last_handled_reset_at.as_deref(), Some("t0"));
        assert_eq!(handle(&object, &mut status), Requests::default());
        let none = annotated(&[(RECONCILE_REQUEST_ANNOTATION, "t2")]);
        assert_eq!(handle(&none, &mut status), Requests::default());
        assert_eq!(status.last_handled_force_at.as_deref(), Some("t1"));
    }
}
