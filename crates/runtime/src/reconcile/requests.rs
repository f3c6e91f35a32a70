//! Which watch events start a reconcile, and when the next one comes: reconcile requests
//! (`reconcile.fluxcd.io/requestedAt`), the watch predicate and the requeue jitter.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use driftless_api::meta::{RECONCILE_REQUEST_ANNOTATION, Reconcilable};
use kube::{Resource, ResourceExt};

/// The `reconcile.fluxcd.io/requestedAt` token if it has not been handled yet.
pub fn pending_reconcile_request<K: Resource + Reconcilable>(object: &K) -> Option<String> {
    let requested = object.annotations().get(RECONCILE_REQUEST_ANNOTATION)?;
    (object.last_handled_reconcile_at() != Some(requested.as_str())).then(|| requested.clone())
}

/// The token to record as `status.lastHandledReconcileAt` after a reconcile: the current
/// request, or the previously handled one.
pub fn handled_reconcile_at<K: Resource + Reconcilable>(object: &K) -> Option<String> {
    object
        .annotations()
        .get(RECONCILE_REQUEST_ANNOTATION)
        .cloned()
        .or_else(|| object.last_handled_reconcile_at().map(str::to_owned))
}

/// Whether a watch event is worth a reconcile: Flux reconciles on spec (generation) changes,
/// new reconcile requests and deletion, never on the controller's own status writes. Use as
/// a kube-runtime `predicate_filter`.
pub fn reconcile_trigger<K: Resource>(object: &K) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    object.meta().generation.hash(&mut hasher);
    object
        .annotations()
        .get(RECONCILE_REQUEST_ANNOTATION)
        .hash(&mut hasher);
    object.meta().deletion_timestamp.is_some().hash(&mut hasher);
    object.finalizers().hash(&mut hasher);
    Some(hasher.finish())
}

/// `interval` plus up to `jitter_percent` percent of it, so objects created together spread
/// their requeues out instead of hitting the source at the same instant.
pub fn with_jitter(interval: Duration, jitter_percent: u8) -> Duration {
    if jitter_percent == 0 || interval.is_zero() {
        return interval;
    }
    let max_extra = interval.as_secs_f64() * f64::from(jitter_percent) / 100.0;
    interval + Duration::from_secs_f64(rand::random::<f64>() * max_extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::source::{GitRepository, GitRepositorySpec, GitRepositoryStatus};

    fn repo(generation: i64, requested: Option<&str>, handled: Option<&str>) -> GitRepository {
        let mut repo = GitRepository::new("podinfo", GitRepositorySpec::default());
        repo.metadata.generation = Some(generation);
        if let Some(token) = requested {
            repo.annotations_mut()
                .insert(RECONCILE_REQUEST_ANNOTATION.into(), token.into());
        }
        repo.status = Some(GitRepositoryStatus {
            last_handled_reconcile_at: handled.map(str::to_owned),
            ..Default::default()
        });
        repo
    }

    #[test]
    fn reconcile_requests_are_pending_until_handled() {
        assert_eq!(pending_reconcile_request(&repo(1, None, None)), None);
        assert_eq!(
            pending_reconcile_request(&repo(1, Some("t1"), None)).as_deref(),
            Some("t1")
        );
        assert_eq!(
            pending_reconcile_request(&repo(1, Some("t1"), Some("t1"))),
            None
        );
        assert_eq!(
            pending_reconcile_request(&repo(1, Some("t2"), Some("t1"))).as_deref(),
            Some("t2")
        );
        assert_eq!(
            handled_reconcile_at(&repo(1, None, Some("t1"))).as_deref(),
            Some("t1")
        );
        assert_eq!(
            handled_reconcile_at(&repo(1, Some("t2"), Some("t1"))).as_deref(),
            Some("t2")
        );
    }

    #[test]
    fn trigger_ignores_status_but_not_spec_or_requests() {
        let base = reconcile_trigger(&repo(1, None, None));
        assert_eq!(
            base,
            reconcile_trigger(&repo(1, None, Some("other status")))
        );
        assert_ne!(base, reconcile_trigger(&repo(2, None, None)));
        assert_ne!(base, reconcile_trigger(&repo(1, Some("now"), None)));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let interval = Duration::from_secs(100);
        for _ in 0..1000 {
            let d = with_jitter(interval, 5);
            assert!(d >= interval && d <= Duration::from_secs(105), "{d:?}");
        }
        assert_eq!(with_jitter(interval, 0), interval);
    }
}
