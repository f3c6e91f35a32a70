//! Reconcile plumbing every controller shares: reconcile requests, suspension, requeue
//! intervals with jitter, failure backoff, and the watch predicate.

use std::collections::HashMap;
use std::fmt::{Debug, Display};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftless_api::meta::{FINALIZER, RECONCILE_REQUEST_ANNOTATION, Reconcilable};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

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

/// Logs a reconcile that ended with an error (its status could not be written, say): a
/// warning, or a debug line while the API server is away, since the outage itself is logged
/// once by [`crate::api_outage`].
pub fn log_reconcile_error<K: Resource<DynamicType = ()>>(object: &K, error: &dyn Display) {
    let (kind, namespace, name) = (
        K::kind(&()),
        object.namespace().unwrap_or_default(),
        object.name_any(),
    );
    if crate::api_outage::api_server_unreachable() {
        tracing::debug!(%kind, %namespace, %name, %error, "reconcile failed while the API server is away");
    } else {
        tracing::warn!(%kind, %namespace, %name, %error, "reconcile failed");
    }
}

/// Logs a reconcile that failed for a reason of the object's own, with Flux's reason: one
/// error line, or a debug line while the API server is away.
pub fn log_failed_reconcile<K: Resource<DynamicType = ()>>(
    object: &K,
    reason: &str,
    message: &str,
) {
    let (kind, namespace, name) = (
        K::kind(&()),
        object.namespace().unwrap_or_default(),
        object.name_any(),
    );
    if crate::api_outage::api_server_unreachable() {
        tracing::debug!(%kind, %namespace, %name, reason, error = message, "reconciliation failed while the API server is away");
    } else {
        tracing::error!(%kind, %namespace, %name, reason, error = message, "reconciliation failed");
    }
}

/// Runs `reconcile` under the Toolkit finalizer (added before the first apply, removed after
/// cleanup) and hands back the reconciler's own error; `finalizer_failed` wraps a failure to
/// add or remove the finalizer itself.
pub async fn with_finalizer<K, E, Fut>(
    api: &Api<K>,
    object: Arc<K>,
    reconcile: impl FnOnce(Event<K>) -> Fut,
    finalizer_failed: impl FnOnce(String) -> E,
) -> Result<Action, E>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
    E: std::error::Error + 'static,
    Fut: Future<Output = Result<Action, E>>,
{
    match finalizer::finalizer(api, FINALIZER, object, reconcile).await {
        Ok(action) => Ok(action),
        Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e)) => Err(e),
        // The finalizer patch tests the finalizers it read: 422 means the cached object is
        // older than the live one (typically: an earlier run already added the finalizer).
        // The watch event carrying the newer object starts the next run, with no backoff.
        Err(finalizer::Error::AddFinalizer(kube::Error::Api(status))) if status.code == 422 => {
            Ok(Action::await_change())
        }
        Err(other) => Err(finalizer_failed(other.to_string())),
    }
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

/// Per-object exponential backoff between `--min-retry-delay` and `--max-retry-delay`.
#[derive(Debug)]
pub struct FailureBackoff {
    min: Duration,
    max: Duration,
    failures: Mutex<HashMap<String, u32>>,
}

impl FailureBackoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failure of `key` and returns how long to wait before retrying.
    pub fn next_delay(&self, key: &str) -> Duration {
        let failures = {
            let Ok(mut map) = self.failures.lock() else {
                return self.max;
            };
            let count = map.entry(key.to_owned()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        let factor = 2f64.powi(i32::try_from(failures - 1).unwrap_or(i32::MAX).min(62));
        Duration::from_secs_f64((self.min.as_secs_f64() * factor).min(self.max.as_secs_f64()))
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
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

    #[test]
    fn backoff_doubles_up_to_max_and_resets() {
        let backoff = FailureBackoff::new(Duration::from_millis(750), Duration::from_secs(5));
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay("a")).collect();
        assert_eq!(
            delays,
            [750, 1500, 3000, 5000, 5000].map(Duration::from_millis)
        );
        assert_eq!(backoff.next_delay("b"), Duration::from_millis(750));
        backoff.reset("a");
        assert_eq!(backoff.next_delay("a"), Duration::from_millis(750));
    }
}

/// How long running reconciles may take to finish after SIGTERM, within a pod's usual
/// termination grace period.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Whether a controller's watch has completed its first list; set by [`FirstList::observe`]
/// on the watch stream, read by [`run_until_shutdown`].
#[derive(Clone, Default)]
pub struct FirstList(Arc<std::sync::atomic::AtomicBool>);

impl FirstList {
    /// For `.inspect(...)` on a watcher stream.
    pub fn observe<K, E>(
        &self,
    ) -> impl FnMut(&Result<kube::runtime::watcher::Event<K>, E>) + use<K, E> {
        let flag = self.0.clone();
        move |event| {
            if matches!(event, Ok(kube::runtime::watcher::Event::InitDone)) {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn done(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Drives a kube-runtime controller (set up with `graceful_shutdown_on(shutdown)`) until it
/// ends. kube-runtime's runner waits for the first list even after a shutdown, and nobody
/// reads the list any more then: before it completed nothing can be running, so the
/// controller stops at once; otherwise running reconciles get [`SHUTDOWN_GRACE`].
pub async fn run_until_shutdown(
    controller: impl std::future::Future<Output = ()>,
    shutdown: tokio_util::sync::CancellationToken,
    first_list: FirstList,
) {
    tokio::select! {
        () = controller => {}
        () = async {
            shutdown.cancelled().await;
            if first_list.done() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
                tracing::warn!("reconciles still running after {SHUTDOWN_GRACE:?}; stopping");
            }
        } => {}
    }
}
