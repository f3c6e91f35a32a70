//! The log lines of failed reconciles, quiet while the API server is away (the outage itself
//! is logged once by [`crate::api_outage`]).

use std::fmt::Display;

use kube::{Resource, ResourceExt};

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
