//! One revision of a Kustomization: fetch the artifact, build, substitute variables, label,
//! apply with server-side apply, record the inventory and prune what the revision no longer
//! has, then look at health.

use driftless_api::conditions::{
    ARTIFACT_FAILED, BUILD_FAILED_REASON, PRUNE_FAILED, RECONCILIATION_FAILED,
};
use driftless_api::kustomize::{Kustomization, KustomizationStatus, SubstituteStrategy};
use driftless_api::meta::Artifact;
use driftless_runtime::go_duration;
use driftless_runtime::reconcile::Outcome;
use kube::ResourceExt;
use std::sync::Arc;

use super::health_wait::HealthOutcome;
use super::outcome::{failure, log_reverted_drift, waiting};
use super::{NAME_LABEL, NAMESPACE_LABEL, Reconciler};
use crate::build::{build_objects, tree_fs};
use crate::history;
use crate::substitute;
use driftless_runtime::apply::{Applier, ApplyOptions, Change, object_id, set_metadata};
use driftless_runtime::health_exprs::CustomHealthChecks;
use driftless_runtime::inventory::{self, ObjectId};

impl Reconciler {
    /// The applier acting for `object`: see [`Clients`].
    pub(super) async fn applier_for(
        &self,
        object: &Kustomization,
    ) -> Result<Arc<Applier>, Outcome> {
        self.clients
            .applier_for(&super::target(object))
            .await
            .map_err(|message| failure(object, RECONCILIATION_FAILED, message))
    }

    pub(super) fn owner_labels(object: &Kustomization) -> Vec<(String, String)> {
        vec![
            (NAME_LABEL.to_owned(), object.name_any()),
            (
                NAMESPACE_LABEL.to_owned(),
                object.namespace().unwrap_or_default(),
            ),
        ]
    }

    /// Fetch, build, apply and prune one revision; returns what changed.
    /// `built_digest` is set once the objects are built, for `status.history`.
    pub(super) async fn reconcile_revision(
        &self,
        object: &Kustomization,
        artifact: &Artifact,
        status: &mut KustomizationStatus,
        built_digest: &mut Option<String>,
        custom_health: &CustomHealthChecks,
    ) -> Result<(Vec<Change>, HealthOutcome), Outcome> {
        let tree = self.fetcher.fetch(artifact).await.map_err(|e| {
            if e.is_not_found() {
                waiting(
                    ARTIFACT_FAILED,
                    format!(
                        "Source is not ready, artifact not found, retrying in {}",
                        go_duration(self.settings.requeue_dependency)
                    ),
                    self.settings.requeue_dependency,
                )
            } else {
                failure(object, ARTIFACT_FAILED, e.to_string())
            }
        })?;
        let identities = self.decryption_identities(object).await?;
        let spec = object.spec.clone();
        let built = tokio::task::spawn_blocking(move || {
            let mut fs = tree_fs(&tree);
            build_objects(&mut fs, &spec, identities.as_ref())
        })
        .await
        .map_err(|e| failure(object, BUILD_FAILED_REASON, e.to_string()))?;
        status.last_attempted_revision = Some(artifact.revision.clone());
        let build_failed = |message: String| failure(object, BUILD_FAILED_REASON, message);
        let mut objects = built.map_err(|e| build_failed(e.to_string()))?;
        if let Some(post_build) = &object.spec.post_build {
            let vars = self
                .substitution_variables(object, post_build)
                .await
                .map_err(build_failed)?;
            let always = post_build.substitute_strategy == Some(SubstituteStrategy::Always);
            if always || !vars.is_empty() {
                for value in &mut objects {
                    if substitute::disabled(value) {
                        continue;
                    }
                    let id = object_id(value).map(|i| i.display()).unwrap_or_default();
                    *value = substitute::substitute_object(
                        value,
                        &vars,
                        self.settings.strict_substitution,
                    )
                    .map_err(|e| build_failed(format!("post build failed for '{id}': {e}")))?;
                }
            }
        }
        *built_digest = Some(history::digest(&objects));
        let owner = Self::owner_labels(object);
        for object_value in &mut objects {
            set_metadata(object_value, "labels", owner.iter().cloned());
            if let Some(common) = &object.spec.common_metadata {
                set_metadata(object_value, "labels", common.labels.clone());
                set_metadata(object_value, "annotations", common.annotations.clone());
            }
        }
        crate::decrypt::refuse_encrypted_secrets(&objects)
            .map_err(|message| failure(object, RECONCILIATION_FAILED, message))?;
        let ids: Vec<ObjectId> = objects.iter().filter_map(object_id).collect();
        let applier = self.applier_for(object).await?;
        let old = status.inventory.clone().unwrap_or_default();
        let options = ApplyOptions::new(
            crate::FIELD_MANAGER,
            object.spec.force,
            &self.settings.override_managers,
        );
        let applied = applier
            .apply_all(objects, &options)
            .await
            .map_err(|apply_failure| {
                // What was applied before the failure stays on record, so that a later prune
                // or the Kustomization's deletion still finds it.
                let applied: Vec<ObjectId> =
                    apply_failure.applied.iter().map(|c| c.id.clone()).collect();
                status.inventory = Some(inventory::merged(&old, &applied));
                failure(object, RECONCILIATION_FAILED, apply_failure.to_string())
            })?;
        if status.last_applied_revision.as_deref() == Some(artifact.revision.as_str()) {
            log_reverted_drift(object, &applied);
        }
        status.inventory = Some(inventory::inventory(&ids));
        let mut changes = applied;
        if object.spec.prune {
            let stale = inventory::stale(&old, &ids);
            let deleted = applier.prune(stale.clone(), &owner).await.map_err(|e| {
                // Keep what could not be deleted in the inventory, so the next run retries.
                let mut kept = ids.clone();
                kept.extend(stale.iter().cloned());
                status.inventory = Some(inventory::inventory(&kept));
                failure(object, PRUNE_FAILED, format!("delete failed, errors: {e}"))
            })?;
            changes.extend(deleted);
        }
        let health = self
            .check_health(
                object,
                &applier,
                &changes,
                &artifact.revision,
                custom_health,
            )
            .await?;
        Ok((changes, health))
    }
}
