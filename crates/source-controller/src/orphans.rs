//! Artifacts of sources that no longer exist are removed from storage.

use std::fmt::Debug;
use std::time::Duration;

use kube::api::Api;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::storage::Storage;

/// How often storage is checked for artifacts of objects that no longer exist.
const ORPHAN_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// Starts the sweep below for the `kind` objects the controller of `ctx` watches.
pub fn spawn_sweep<K>(ctx: &driftless_runtime::Context, kind: &'static str, storage: Storage)
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + 'static,
{
    tokio::spawn(remove_orphans(
        ctx.args
            .watched_api::<K>(ctx.client.clone(), &ctx.runtime_namespace),
        kind,
        ctx.args.watcher_config().label_selector,
        storage,
        ctx.shutdown.clone(),
    ));
}

/// At start and hourly after that, removes the storage directories of `kind` objects that
/// no longer exist (deleted while the controller was down, or whose finalizer was removed by
/// hand). Existence comes from a metadata-only list of the objects this instance watches.
async fn remove_orphans<K>(
    api: Api<K>,
    kind: &'static str,
    label_selector: Option<String>,
    storage: Storage,
    shutdown: tokio_util::sync::CancellationToken,
) where
    K: Resource + Clone + DeserializeOwned + Debug,
{
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
                    storage.remove_orphans(kind, |namespace, name| {
                        live.contains(&(namespace.to_owned(), name.to_owned()))
                    })
                })
                .await;
                match swept {
                    Ok(Ok(removed)) if !removed.is_empty() => tracing::info!(
                        count = removed.len(),
                        kind,
                        "removed artifacts of deleted objects"
                    ),
                    Ok(Err(error)) => tracing::warn!(%error, "removing orphaned artifacts"),
                    _ => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, kind, "listing objects to find orphaned artifacts")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(ORPHAN_SWEEP_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
    }
}
