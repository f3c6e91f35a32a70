//! Going back: a rollback (a new revision with an earlier one's chart, values and objects),
//! an uninstall (objects and records), and the unlock of a revision an interrupted action
//! left `pending-*`.

use std::time::{Duration, Instant};

use driftless_api::helm::HelmRelease;
use driftless_helm::release::{self, Release, status};
use driftless_runtime::apply::Applier;
use driftless_runtime::inventory::ObjectId;
use kube::api::DeleteParams;

use super::Reconciler;
use super::actions::{AppliedObjects, Applying, Ended, Plan, now_text, stale_objects};
use crate::apply_method::ApplyMethod;
use crate::post_render;
use crate::storage::Storage;

impl Reconciler {
    /// Rolls back to revision `to`: a new revision with its chart, values and objects.
    pub(super) async fn rollback(
        &self,
        object: &HelmRelease,
        plan: &Plan,
        storage: &Storage,
        history: &[Release],
        to: i64,
    ) -> Ended {
        let Some(target) = history.iter().find(|r| r.version == to) else {
            return Ended::failed_before_storing(format!("release: not found (revision {to})"));
        };
        let Some(latest) = history.last() else {
            return Ended::failed_before_storing("release: not found".into());
        };
        let mut revision = target.clone();
        revision.version = latest.version + 1;
        revision.info.status = status::PENDING_ROLLBACK.into();
        revision.info.description = format!("Rollback to {to}");
        revision.info.last_deployed = now_text();
        revision.info.deleted = String::new();
        for version in release::revisions_to_prune(history, object.max_history()) {
            if let Err(error) = storage.delete(&plan.release_name, version).await {
                tracing::warn!(%error, version, "failed to prune release history");
            }
        }
        if let Err(error) = storage.create(&revision).await {
            return Ended::failed_before_storing(error.to_string());
        }
        let objects = post_render::stored_objects(&target.manifest);
        let options = object.spec.rollback.clone().unwrap_or_default();
        let method = ApplyMethod::for_change(options.server_side_apply, Some(target));
        method.record(&mut revision);
        let hooks = !options.disable_hooks;
        let mut error = None;
        if hooks {
            let pre = self
                .run_hooks(
                    &plan.applier,
                    &mut revision.hooks,
                    "pre-rollback",
                    &plan.namespace,
                    plan.timeout,
                )
                .await;
            error = pre.err();
        }
        let mut applied = AppliedObjects::default();
        if error.is_none() {
            match self
                .apply_release(
                    &[],
                    &objects,
                    plan,
                    Applying {
                        force: options.force,
                        method,
                        previous: Some(latest),
                        install: false,
                    },
                )
                .await
            {
                Ok(objects) => applied = objects,
                Err((objects, failed)) => {
                    applied = objects;
                    error = Some(failed);
                }
            }
        }
        let ids = std::mem::take(&mut applied.all);
        if error.is_none()
            && !object
                .spec
                .rollback
                .as_ref()
                .is_some_and(|r| r.disable_wait)
        {
            error = self.wait_ready(plan, &ids).await.err();
        }
        if error.is_none() && hooks {
            let post = self
                .run_hooks(
                    &plan.applier,
                    &mut revision.hooks,
                    "post-rollback",
                    &plan.namespace,
                    plan.timeout,
                )
                .await;
            error = post.err();
        }
        match &error {
            None => {
                // Every deployed revision is superseded; the failed one stays failed (Helm).
                revision.info.status = status::DEPLOYED.into();
                for deployed in history.iter().filter(|r| r.info.status == status::DEPLOYED) {
                    let mut superseded = deployed.clone();
                    superseded.info.status = status::SUPERSEDED.into();
                    if let Err(error) = storage.update(&superseded).await {
                        tracing::warn!(%error, "failed to mark a revision superseded");
                    }
                }
            }
            Some(error) => {
                let mut superseded = latest.clone();
                superseded.info.status = status::SUPERSEDED.into();
                if let Err(error) = storage.update(&superseded).await {
                    tracing::warn!(%error, "failed to mark the rolled-back revision superseded");
                }
                revision.info.status = status::FAILED.into();
                revision.info.description =
                    format!("Rollback \"{}\" failed: {error}", plan.release_name);
            }
        }
        let stored = storage.update(&revision).await;
        if let Some(failed) = error.as_mut()
            && options.cleanup_on_fail
            && !applied.created.is_empty()
        {
            // What the failed rollback created goes again.
            if let Err(cleanup) = plan.applier.prune(applied.created, &[]).await {
                *failed = format!(
                    "an error occurred while cleaning up resources ({cleanup}). original rollback error: {failed}"
                );
            }
        }
        Ended {
            release: Some(revision),
            applied: ids,
            error: error.or_else(|| stored.err().map(|e| e.to_string())),
            waiting: None,
        }
    }

    /// Deletes the release's objects (those marked `helm.sh/resource-policy: keep` stay) and
    /// its records, or marks the records uninstalled with `keepHistory`.
    pub(super) async fn uninstall(
        &self,
        applier: &Applier,
        object: &HelmRelease,
        release_namespace: &str,
        storage: &Storage,
        history: &[Release],
    ) -> Result<Option<Release>, String> {
        let Some(latest) = history.last() else {
            return Ok(None);
        };
        let options = object.spec.uninstall.clone().unwrap_or_default();
        let timeout = options
            .timeout
            .as_deref()
            .and_then(|t| driftless_api::meta::parse_duration(t).ok())
            .unwrap_or_else(|| object.timeout());
        let mut uninstalled = latest.clone();
        if !options.disable_hooks {
            self.run_hooks(
                applier,
                &mut uninstalled.hooks,
                "pre-delete",
                release_namespace,
                timeout,
            )
            .await?;
        }
        let stale = stale_objects(&latest.manifest, &[], release_namespace);
        let params = deletion_params(options.deletion_propagation.as_deref());
        let deleted = applier
            .prune_with(stale, &[], &params)
            .await
            .map_err(|e| e.to_string())?;
        if !options.disable_wait {
            let ids: Vec<ObjectId> = deleted.into_iter().map(|change| change.id).collect();
            wait_deleted(applier, ids, timeout)
                .await
                .map_err(|error| format!("uninstallation completed with 1 error(s): {error}"))?;
        }
        if !options.disable_hooks {
            self.run_hooks(
                applier,
                &mut uninstalled.hooks,
                "post-delete",
                release_namespace,
                timeout,
            )
            .await?;
        }
        let keep_history = options.keep_history;
        uninstalled.info.status = status::UNINSTALLED.into();
        uninstalled.info.description = "Uninstallation complete".into();
        uninstalled.info.deleted = now_text();
        if keep_history {
            storage
                .update(&uninstalled)
                .await
                .map_err(|e| e.to_string())?;
            for deployed in history
                .iter()
                .filter(|r| r.info.status == status::DEPLOYED && r.version != latest.version)
            {
                let mut superseded = deployed.clone();
                superseded.info.status = status::SUPERSEDED.into();
                storage
                    .update(&superseded)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        } else {
            for revision in history {
                storage
                    .delete(&revision.name, revision.version)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(Some(uninstalled))
    }

    /// Marks an interrupted (`pending-*`) revision failed, as Flux unlocks it.
    pub(super) async fn unlock(
        &self,
        storage: &Storage,
        latest: &Release,
    ) -> Result<Release, String> {
        let mut unlocked = latest.clone();
        let previous = std::mem::replace(&mut unlocked.info.status, status::FAILED.into());
        unlocked.info.description = format!("Release unlocked from stale '{previous}' state");
        storage.update(&unlocked).await.map_err(|e| e.to_string())?;
        Ok(unlocked)
    }
}

/// `uninstall.deletionPropagation`: how the dependents of deleted objects go.
fn deletion_params(propagation: Option<&str>) -> DeleteParams {
    match propagation {
        Some("foreground") => DeleteParams::foreground(),
        Some("orphan") => DeleteParams::orphan(),
        _ => DeleteParams::background(),
    }
}

/// Waits until the deleted objects are gone (Helm's uninstall wait), looking more slowly
/// the longer it takes.
async fn wait_deleted(
    applier: &Applier,
    mut ids: Vec<ObjectId>,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(50);
    loop {
        let mut remaining = Vec::new();
        for id in ids {
            match applier.get(&id).await {
                Ok(None) => {}
                Ok(Some(_)) => remaining.push(id),
                Err(error) => return Err(error.to_string()),
            }
        }
        let Some(first) = remaining.first() else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out waiting for the resources to be deleted: {} still exists",
                first.display()
            ));
        }
        ids = remaining;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_propagation_defaults_to_background() {
        let policy = |p: Option<&str>| {
            serde_json::to_value(deletion_params(p).propagation_policy).unwrap_or_default()
        };
        assert_eq!(policy(None), "Background");
        assert_eq!(policy(Some("background")), "Background");
        assert_eq!(policy(Some("foreground")), "Foreground");
        assert_eq!(policy(Some("orphan")), "Orphan");
    }
}
