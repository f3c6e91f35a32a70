//! The fetch step of a reconcile: credentials, verification keys and includes read, then the
//! blocking job run under the object's timeout, then superseded artifacts collected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use driftless_api::conditions::{AUTHENTICATION_FAILED, FETCH_FAILED, URL_INVALID};
use driftless_api::meta::parse_duration;
use driftless_api::source::{GIT_OPERATION_FAILED_REASON, GitRepository, GitRepositoryStatus};
use driftless_runtime::kube_errors;
use driftless_runtime::secrets::secret_data;
use kube::ResourceExt;

use super::failure::Failure;
use super::job::{Job, SourceOutcome};
use super::verification::verification_mode;
use super::{DEFAULT_TIMEOUT, KIND, Reconciler};
use driftless_git::{Credentials, GitRef, Transport};

impl Reconciler {
    /// Credentials, then the blocking fetch-and-pack job under the object's timeout.
    pub(super) async fn reconcile_source(
        &self,
        object: &GitRepository,
        status: &GitRepositoryStatus,
    ) -> Result<SourceOutcome, Failure> {
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        let spec = &object.spec;
        let transport = Transport::of(&spec.url).ok_or_else(|| Failure {
            condition: FETCH_FAILED,
            reason: URL_INVALID,
            message: format!(
                "invalid URL '{}': the scheme must be http, https or ssh",
                spec.url
            ),
            stalled: true,
        })?;
        let credentials = match &spec.secret_ref {
            Some(reference) => {
                let data = self
                    .secret_data(&namespace, &reference.name)
                    .await
                    .map_err(|e| Failure::fetch(AUTHENTICATION_FAILED, e))?;
                Credentials::from_secret(transport, &data).map_err(|e| {
                    Failure::fetch(
                        AUTHENTICATION_FAILED,
                        format!("failed to configure authentication options: {e}"),
                    )
                })?
            }
            None => Credentials::default(),
        };

        let verification = match &spec.verification {
            Some(verify) => Some(self.verification(&namespace, verify).await?),
            None => None,
        };
        let includes = self.includes(object).await?;

        let object_dir = self
            .storage
            .object_dir(KIND, &namespace, &name)
            .map_err(|e| {
                Failure::storage(
                    driftless_api::conditions::DIRECTORY_CREATION_FAILED,
                    e.to_string(),
                )
            })?;
        let current = status.artifact.clone();
        let current_is_valid = match &current {
            Some(artifact) => self.storage.holds(artifact).await,
            None => false,
        };
        let inputs_unchanged = status.observed_ignore == spec.ignore
            && status.observed_recurse_submodules == spec.recurse_submodules
            && status.observed_include == spec.include
            && status.observed_sparse_checkout == spec.sparse_checkout
            && status.included_artifacts.len() == includes.len()
            && status
                .included_artifacts
                .iter()
                .zip(&includes)
                .all(|(observed, include)| {
                    observed.digest == include.artifact.digest
                        && observed.revision == include.artifact.revision
                })
            && status.source_verification_mode == verification_mode(spec);
        let current_revision = current
            .as_ref()
            .filter(|_| current_is_valid && inputs_unchanged)
            .map(|a| a.revision.clone());

        let timeout = spec
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_TIMEOUT);
        let job = Job {
            url: spec.url.clone(),
            reference: GitRef::from_spec(spec.reference.as_ref()),
            credentials,
            timeout,
            work_dir: self.settings.work_dir.clone(),
            ignore: spec.ignore.clone(),
            sparse: spec.sparse_checkout.clone(),
            limits: self.settings.limits,
            storage: self.storage.clone(),
            object_dir: object_dir.clone(),
            current_revision,
            verification,
            includes,
            recurse_submodules: spec.recurse_submodules,
            runtime: tokio::runtime::Handle::current(),
            packed: self.packed.clone(),
        };
        let interrupt = Arc::new(AtomicBool::new(false));
        let flag = interrupt.clone();
        let handle = tokio::task::spawn_blocking(move || job.run(&flag));
        let result = match tokio::time::timeout(timeout, handle).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Failure::fetch(
                GIT_OPERATION_FAILED_REASON,
                format!("git operation failed unexpectedly: {join}"),
            )),
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
                Err(Failure::fetch(
                    GIT_OPERATION_FAILED_REASON,
                    format!(
                        "failed to checkout and determine revision: timed out after {timeout:?}"
                    ),
                ))
            }
        };
        let outcome = result?;
        if let SourceOutcome::Stored { artifact, .. } = &outcome {
            // The new artifact is in place: superseded ones can go.
            let file = artifact
                .path
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            if let Err(error) = self.storage.garbage_collect(&object_dir, &file) {
                tracing::warn!(%error, "garbage collecting old artifacts");
            }
        }
        Ok(outcome)
    }

    /// A Secret's data, or Flux's "failed to get secret" message.
    pub(super) async fn secret_data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<std::collections::BTreeMap<String, Vec<u8>>, String> {
        secret_data(&self.runtime.client, namespace, name)
            .await
            .map_err(|e| {
                format!(
                    "failed to get secret '{namespace}/{name}': {}",
                    kube_errors::message(&e)
                )
            })
    }
}
