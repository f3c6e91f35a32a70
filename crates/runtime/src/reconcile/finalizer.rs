//! The Toolkit finalizer around a reconcile.

use std::fmt::Debug;
use std::sync::Arc;

use driftless_api::meta::FINALIZER;
use kube::Resource;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event};
use serde::Serialize;
use serde::de::DeserializeOwned;

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
