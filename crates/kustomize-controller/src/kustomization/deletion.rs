//! Deleting a Kustomization: what it applied is pruned as `deletionPolicy` (and `prune`)
//! say, unless the identity to prune as is gone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use driftless_api::conditions::{PROGRESSING, PRUNE_FAILED};
use driftless_api::event::Severity;
use driftless_api::kustomize::{DeletionPolicy, Kustomization};
use driftless_runtime::reconcile::Error;
use kube::ResourceExt;

use super::Reconciler;
use super::health_wait::timeout_of;
use super::outcome::change_lines;
use driftless_runtime::apply::{Applier, Change};
use driftless_runtime::inventory::{self, ObjectId};
use driftless_runtime::reconcile::object_key;

impl Reconciler {
    /// On deletion: prune what it applied, as `deletionPolicy` (and `prune`) say.
    pub(super) async fn finalize(&self, object: &Kustomization) -> Result<(), Error> {
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
            if let Some(account) = self
                .clients
                .missing_service_account(&super::target(object))
                .await
            {
                // As in Flux: the identity to prune as is gone (typically with its tenant's
                // namespace), so nothing can be pruned; holding the finalizer would only
                // keep that namespace terminating forever.
                let message = format!(
                    "skipped pruning: service account '{}/{account}' not found",
                    object.namespace().unwrap_or_default()
                );
                tracing::error!(kustomization = %object_key(object), error = %message, "finalizing");
                self.runtime
                    .events
                    .publish(
                        object,
                        Severity::Error,
                        PRUNE_FAILED,
                        &message,
                        BTreeMap::new(),
                    )
                    .await;
            } else {
                self.prune_on_deletion(object, stale, policy).await?;
            }
        }
        self.forget_health(&object_key(object));
        Ok(())
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
            .map_err(|f| Error::Cleanup(f.message().to_owned()))?;
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
                return Err(Error::Cleanup(error.to_string()));
            }
        }
        Ok(())
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
