//! The OCIRepository reconciler: access → the reference resolved to a manifest digest → no
//! pull when the stored artifact has that revision → the selected layer pulled (digest checked
//! while it streams), extracted with ignore rules or copied → artifact, `latest.tar.gz` link,
//! status and events. A failure never touches the last good artifact, which stays served.
//!
//! On the shared harness ([`driftless_runtime::reconcile`]). Here: [`reference`] (URL, tag
//! choice, revision; pure), [`layer`] (layer choice and extraction; pure), [`pull`] (the I/O
//! pipeline) and [`verification`].

mod layer;
mod pull;
mod reference;
mod verification;

use std::sync::Arc;
use std::time::Duration;

use driftless_api::conditions::{
    ARTIFACT_IN_STORAGE, ARTIFACT_OUTDATED, FETCH_FAILED, NEW_ARTIFACT_EVENT, SOURCE_VERIFIED,
    STORAGE_OPERATION_FAILED, SUCCEEDED,
};
use driftless_api::event::Severity;
use driftless_api::meta::{Artifact, parse_duration};
use driftless_api::source::OCIRepository;
use driftless_artifact::Limits;
use driftless_registry::Registries;
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::reconcile::{Error, Outcome, Run};
use driftless_runtime::{Context as RuntimeContext, reconcile};

use crate::failure::Failure;
use crate::storage::{LATEST, Storage};
use pull::PullOutcome;

const KIND: &str = "OCIRepository";
/// Conditions naming a failed step: only the step failing now is shown.
const FAILED_STEPS: [&str; 4] = [
    FETCH_FAILED,
    STORAGE_OPERATION_FAILED,
    ARTIFACT_OUTDATED,
    SOURCE_VERIFIED,
];
/// Flux's annotations of `flux push artifact`, quoted in the NewArtifact event.
const SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";
const REVISION_ANNOTATION: &str = "org.opencontainers.image.revision";

/// Settings of the OCIRepository reconciler.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Bounds on the pulled layer and on what it expands to.
    pub limits: Limits,
}

pub struct Reconciler {
    runtime: RuntimeContext,
    storage: Storage,
    registries: Registries,
    settings: Settings,
}

impl Reconciler {
    pub fn new(
        runtime: RuntimeContext,
        storage: Storage,
        registries: Registries,
        settings: Settings,
    ) -> Self {
        Self {
            runtime,
            storage,
            registries,
            settings,
        }
    }

    /// Runs the controller, and the sweep of orphaned artifacts, until shutdown.
    pub async fn run(self) {
        let ctx = self.runtime.clone();
        crate::orphans::spawn_sweep::<OCIRepository>(&ctx, KIND, self.storage.clone());
        reconcile::run(self, ctx).await;
    }
}

impl reconcile::Reconciler for Reconciler {
    type Object = OCIRepository;

    async fn reconcile(&self, run: &mut Run<OCIRepository>) -> Result<Outcome, Error> {
        let object = run.object.clone();
        let current = run.status.clone();
        let pulled = crate::progress::shown_in_progress(run, self.pull(&object, &current)).await?;
        match pulled {
            Ok((outcome, verified)) => Ok(self.stored(run, outcome, verified)),
            Err(failure) => Ok(self.failed(run, failure)),
        }
    }

    async fn cleanup(&self, object: &Arc<OCIRepository>) -> Result<(), Error> {
        match self.storage_dir(object) {
            Ok(dir) => {
                if let Err(error) = self.storage.remove_object(&dir) {
                    tracing::warn!(%error, "removing artifacts of a deleted OCIRepository");
                }
            }
            Err(failure) => {
                tracing::warn!(error = %failure.message, "no storage directory for a deleted OCIRepository")
            }
        }
        Ok(())
    }
}

impl Reconciler {
    /// The artifact is in storage (new, or the current one still valid): Ready, the
    /// `latest.tar.gz` link, and a NewArtifact event when the artifact changed.
    fn stored(
        &self,
        run: &mut Run<OCIRepository>,
        outcome: PullOutcome,
        verified: Option<String>,
    ) -> Outcome {
        let (object, generation) = (run.object.clone(), run.generation());
        if let PullOutcome::Stored(artifact) = outcome {
            let changed = run
                .status
                .artifact
                .as_ref()
                .is_none_or(|previous| previous.digest != artifact.digest);
            if changed {
                let metadata = crate::stored::artifact_event_metadata(&artifact);
                run.event(
                    Severity::Info,
                    NEW_ARTIFACT_EVENT,
                    new_artifact_message(&artifact, &object.spec.url),
                    metadata,
                );
            }
            run.status.artifact = Some(*artifact);
        }
        let Some(artifact) = run.status.artifact.clone() else {
            return self.failed(
                run,
                Failure::storage(
                    driftless_api::conditions::ARCHIVE_OPERATION_FAILED,
                    "no artifact after a successful pull".to_owned(),
                ),
            );
        };
        self.link_latest(run, &artifact);
        for step in FAILED_STEPS {
            cond::remove(&mut run.status.conditions, step);
        }
        if let Some(verified) = verified {
            cond::set(
                &mut run.status.conditions,
                SOURCE_VERIFIED,
                Status::True,
                SUCCEEDED,
                verified,
                generation,
            );
        }
        let message = format!("stored artifact for digest '{}'", artifact.revision);
        cond::set(
            &mut run.status.conditions,
            ARTIFACT_IN_STORAGE,
            Status::True,
            SUCCEEDED,
            message.clone(),
            generation,
        );
        run.status.observed_ignore = object.spec.ignore.clone();
        run.status.observed_layer_selector = object.spec.layer_selector.clone();
        Outcome::Ready {
            reason: SUCCEEDED,
            message,
            interval: interval(&object),
        }
    }

    /// `status.url`: the `latest.tar.gz` link to the current artifact.
    fn link_latest(&self, run: &mut Run<OCIRepository>, artifact: &Artifact) {
        crate::stored::link_url(run, &self.storage, artifact, LATEST);
    }

    fn failed(&self, run: &mut Run<OCIRepository>, failure: Failure) -> Outcome {
        let interval = interval(&run.object);
        crate::stored::failed(run, &FAILED_STEPS, interval, failure)
    }
}

/// Flux's NewArtifact message, naming the origin `flux push artifact` recorded.
fn new_artifact_message(artifact: &Artifact, url: &str) -> String {
    let mut message = format!(
        "stored artifact with revision '{}' from '{url}'",
        artifact.revision
    );
    let annotation = |key: &str| artifact.metadata.as_ref().and_then(|m| m.get(key));
    if let (Some(source), Some(revision)) = (
        annotation(SOURCE_ANNOTATION),
        annotation(REVISION_ANNOTATION),
    ) {
        message.push_str(&format!(
            ", origin source '{source}', origin revision '{revision}'"
        ));
    }
    message
}

/// `spec.interval` (ten minutes when unreadable).
fn interval(object: &OCIRepository) -> Duration {
    parse_duration(&object.spec.interval).unwrap_or(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_new_artifact_event_names_the_origin_when_flux_recorded_it() {
        let mut artifact = Artifact {
            path: "ocirepository/ns/app/abc.tar.gz".into(),
            url: "http://storage/ocirepository/ns/app/abc.tar.gz".into(),
            revision: "latest@sha256:abc".into(),
            digest: "sha256:def".into(),
            last_update_time: cond::now(),
            size: None,
            metadata: None,
        };
        assert_eq!(
            new_artifact_message(&artifact, "oci://registry/app"),
            "stored artifact with revision 'latest@sha256:abc' from 'oci://registry/app'"
        );
        artifact.metadata = Some(BTreeMap::from([
            (
                SOURCE_ANNOTATION.to_owned(),
                "https://github.com/org/app".to_owned(),
            ),
            (REVISION_ANNOTATION.to_owned(), "main@sha1:123".to_owned()),
        ]));
        assert_eq!(
            new_artifact_message(&artifact, "oci://registry/app"),
            "stored artifact with revision 'latest@sha256:abc' from 'oci://registry/app', origin source 'https://github.com/org/app', origin revision 'main@sha1:123'"
        );
    }
}
