//! The pull step of a reconcile: access, the reference resolved to a digest, nothing more when
//! the stored artifact already has that revision (and the content settings are unchanged);
//! otherwise the manifest, the selected layer streamed to storage with its digest checked,
//! then extracted and packed (or kept as it is), and superseded artifacts collected.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::conditions::{
    ARCHIVE_OPERATION_FAILED, AUTHENTICATION_FAILED, DIRECTORY_CREATION_FAILED, FETCH_FAILED,
    READ_OPERATION_FAILED, SOURCE_VERIFIED, URL_INVALID,
};
use driftless_api::meta::{Artifact, parse_duration};
use driftless_api::source::{
    OCI_LAYER_OPERATION_FAILED_REASON, OCI_PULL_FAILED_REASON, OCILayerOperation, OCIProvider,
    OCIRepository, OCIRepositoryStatus,
};
use driftless_artifact::Digest;
use driftless_registry::access::{self, AccessSpec};
use driftless_registry::{Access, ImageName, RegistryError};
use driftless_runtime::conditions as cond;
use kube::ResourceExt;

use super::reference::{self, Wanted};
use super::{Reconciler, layer};
use crate::failure::Failure;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the pull step produced.
pub(super) enum PullOutcome {
    /// The stored artifact already has the remote revision.
    Unchanged,
    Stored(Box<Artifact>),
}

impl Reconciler {
    pub(super) async fn pull(
        &self,
        object: &OCIRepository,
        status: &OCIRepositoryStatus,
    ) -> Result<(PullOutcome, Option<String>), Failure> {
        let spec = &object.spec;
        let namespace = object.namespace().unwrap_or_default();
        let timeout = spec
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_TIMEOUT);
        let image = reference::repository(&spec.url).map_err(|e| Failure {
            condition: FETCH_FAILED,
            reason: URL_INVALID,
            message: format!("URL validation failed for '{}': {e}", spec.url),
            stalled: true,
        })?;
        let access = access::resolve(
            &self.runtime.client,
            &namespace,
            &access_spec(object),
            &image,
        )
        .await
        .map_err(|error| Failure {
            condition: FETCH_FAILED,
            reason: AUTHENTICATION_FAILED,
            message: format!("failed to get credential: {error}"),
            stalled: error.is_permanent(),
        })?;
        let work = async {
            let (tag, digest) = self.resolve(&image, &access, spec, timeout).await?;
            let revision = reference::revision(tag.as_deref(), &digest);
            // Before the unchanged shortcut, so an artifact stored earlier is never shown
            // Ready unverified; not again for a revision verified at this generation.
            let verified = if spec.verify.is_none() {
                None
            } else if let Some(message) = verified_before(object, status, &revision) {
                Some(message)
            } else {
                super::verification::verify(
                    &self.runtime.client,
                    &namespace,
                    spec,
                    &image,
                    &access,
                    &digest,
                )
                .await?;
                Some(format!("verified signature of revision {revision}"))
            };
            let settings_unchanged = status.observed_ignore == spec.ignore
                && status.observed_layer_selector == spec.layer_selector;
            if let Some(current) = &status.artifact
                && current.revision == revision
                && settings_unchanged
                && self.storage.holds(current).await
            {
                return Ok((PullOutcome::Unchanged, verified));
            }
            self.fetch_and_store(object, &image, &access, &digest, revision, timeout)
                .await
                .map(|artifact| (PullOutcome::Stored(Box::new(artifact)), verified))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::fetch(
                OCI_PULL_FAILED_REASON,
                format!(
                    "failed to pull artifact from '{}': timed out after {timeout:?}",
                    spec.url
                ),
            )),
        }
    }

    /// The tag (none for a digest reference) and the manifest digest it points to.
    async fn resolve(
        &self,
        image: &ImageName,
        access: &Access,
        spec: &driftless_api::source::OCIRepositorySpec,
        timeout: Duration,
    ) -> Result<(Option<String>, String), Failure> {
        let tag = match Wanted::of(spec.reference.as_ref()) {
            Wanted::Digest(digest) => {
                if !reference::is_digest(&digest) {
                    return Err(Failure {
                        condition: FETCH_FAILED,
                        reason: URL_INVALID,
                        message: format!(
                            "URL validation failed for '{}': invalid digest '{digest}'",
                            spec.url
                        ),
                        stalled: true,
                    });
                }
                return Ok((None, digest));
            }
            Wanted::Tag(tag) => tag,
            Wanted::Semver { range, filter } => {
                let determine = |message: String| {
                    Failure::fetch(
                        READ_OPERATION_FAILED,
                        format!(
                            "failed to determine the artifact tag for '{}': {message}",
                            spec.url
                        ),
                    )
                };
                let tags = self
                    .registries
                    .list_tags(image, access, timeout)
                    .await
                    .map_err(|e| pull_failure(&e, determine(e.to_string())))?;
                reference::tag_by_semver(&tags, &range, filter.as_deref()).map_err(determine)?
            }
        };
        let digest = self
            .registries
            .digest(image, &tag, access, timeout)
            .await
            .map_err(|e| {
                pull_failure(
                    &e,
                    Failure::fetch(
                        OCI_PULL_FAILED_REASON,
                        format!("failed to determine artifact digest: {e}"),
                    ),
                )
            })?;
        Ok((Some(tag), digest))
    }

    /// Pulls the manifest and the selected layer, and stores the artifact.
    async fn fetch_and_store(
        &self,
        object: &OCIRepository,
        image: &ImageName,
        access: &Access,
        digest: &str,
        revision: String,
        timeout: Duration,
    ) -> Result<Artifact, Failure> {
        let spec = &object.spec;
        let pull_failed = |e: &RegistryError| {
            pull_failure(
                e,
                Failure::fetch(
                    OCI_PULL_FAILED_REASON,
                    format!("failed to pull artifact from '{}': {e}", spec.url),
                ),
            )
        };
        let pulled = self
            .registries
            .manifest(image, digest, access, timeout)
            .await
            .map_err(|e| pull_failed(&e))?;
        let layer_failed =
            |message: String| Failure::fetch(OCI_LAYER_OPERATION_FAILED_REASON, message);
        let selected = layer::select(&pulled.manifest.layers, spec.layer_selector.as_ref())
            .map_err(layer_failed)?
            .clone();
        let layer_digest: Digest = selected
            .digest
            .parse()
            .map_err(|e| layer_failed(format!("failed to parse artifact layers: {e}")))?;
        let object_dir = self.storage_dir(object)?;
        let dir = self.storage.root().join(&object_dir);
        std::fs::create_dir_all(&dir).map_err(|e| {
            Failure::storage(
                DIRECTORY_CREATION_FAILED,
                format!("failed to create artifact directory: {e}"),
            )
        })?;
        // The blob streams into a hidden file beside the artifacts: never served, removed
        // on any error, renamed into place when kept as it is.
        let download = tempfile::Builder::new()
            .prefix(".tmp-layer-")
            .tempfile_in(&dir)
            .map_err(|e| {
                Failure::storage(
                    DIRECTORY_CREATION_FAILED,
                    format!("failed to create file to copy layer to: {e}"),
                )
            })?;
        let file = tokio::fs::File::from_std(download.reopen().map_err(|e| {
            Failure::storage(
                DIRECTORY_CREATION_FAILED,
                format!("failed to open the layer file: {e}"),
            )
        })?);
        self.registries
            .blob(
                image,
                &selected,
                access,
                self.settings.limits.max_compressed_bytes,
                file,
            )
            .await
            .map_err(|e| match e {
                RegistryError::TooLarge { .. } => {
                    layer_failed(format!("failed to copy layer from artifact: {e}"))
                }
                other => pull_failed(&other),
            })?;
        let operation = spec
            .layer_selector
            .as_ref()
            .map(|s| s.operation())
            .unwrap_or_default();
        let storage = self.storage.clone();
        let limits = self.settings.limits;
        let ignore = spec.ignore.clone();
        let stored =
            tokio::task::spawn_blocking(move || -> Result<(String, Digest, u64), Failure> {
                match operation {
                    OCILayerOperation::Copy => {
                        let (_, path) = download.keep().map_err(|e| {
                            Failure::storage(
                                ARCHIVE_OPERATION_FAILED,
                                format!("unable to copy artifact to storage: {e}"),
                            )
                        })?;
                        let size = std::fs::metadata(&path)
                            .map(|m| m.len())
                            .unwrap_or_default();
                        let stored = storage
                            .adopt_by_digest(&object_dir, &path, &layer_digest)
                            .map_err(|e| {
                                let _ = std::fs::remove_file(&path);
                                Failure::storage(
                                    ARCHIVE_OPERATION_FAILED,
                                    format!("unable to copy artifact to storage: {e}"),
                                )
                            })?;
                        Ok((stored, layer_digest, size))
                    }
                    OCILayerOperation::Extract => {
                        let blob = std::io::BufReader::new(download.reopen().map_err(|e| {
                            layer_failed(format!(
                                "failed to extract layer contents from artifact: {e}"
                            ))
                        })?);
                        let files = layer::extract(blob, &layer_digest, ignore.as_deref(), limits)
                            .map_err(layer_failed)?;
                        let (stored, path) =
                            storage.store_by_digest(&object_dir, files).map_err(|e| {
                                Failure::storage(
                                    ARCHIVE_OPERATION_FAILED,
                                    format!("unable to archive artifact to storage: {e}"),
                                )
                            })?;
                        Ok((path, stored.digest, stored.size))
                    }
                }
            })
            .await
            .map_err(|e| {
                Failure::storage(
                    ARCHIVE_OPERATION_FAILED,
                    format!("storing the artifact failed unexpectedly: {e}"),
                )
            })??;
        let (path, artifact_digest, size) = stored;
        let file_name = path.rsplit('/').next().unwrap_or_default().to_owned();
        if let Err(error) = self
            .storage
            .garbage_collect(&self.storage_dir(object)?, &file_name)
        {
            tracing::warn!(%error, "garbage collecting old artifacts");
        }
        let metadata: BTreeMap<String, String> = pulled.manifest.annotations.unwrap_or_default();
        Ok(Artifact {
            url: self.storage.url(&path),
            path,
            revision,
            digest: artifact_digest.to_string(),
            last_update_time: cond::now(),
            size: i64::try_from(size).ok(),
            metadata: (!metadata.is_empty()).then_some(metadata),
        })
    }

    pub(super) fn storage_dir(&self, object: &OCIRepository) -> Result<String, Failure> {
        crate::stored::storage_dir(&self.storage, object)
    }
}

/// The SourceVerified message when `revision` is the stored artifact's and was verified at
/// the object's current generation.
fn verified_before(
    object: &OCIRepository,
    status: &OCIRepositoryStatus,
    revision: &str,
) -> Option<String> {
    let stored = status.artifact.as_ref()?;
    let condition = cond::get(&status.conditions, SOURCE_VERIFIED)?;
    (stored.revision == revision
        && condition.status == "True"
        && condition.observed_generation == object.metadata.generation)
        .then(|| condition.message.clone())
}

/// `failure`, with 401/403 answers shown as AuthenticationFailed.
fn pull_failure(error: &RegistryError, failure: Failure) -> Failure {
    match error {
        RegistryError::Unauthorized(_) => Failure {
            reason: AUTHENTICATION_FAILED,
            ..failure
        },
        _ => failure,
    }
}

/// The registry fields of the spec.
fn access_spec(object: &OCIRepository) -> AccessSpec<'_> {
    let spec = &object.spec;
    AccessSpec {
        provider: match spec.provider.unwrap_or_default() {
            OCIProvider::Generic => "generic",
            OCIProvider::Aws => "aws",
            OCIProvider::Azure => "azure",
            OCIProvider::Gcp => "gcp",
        },
        secret_ref: spec.secret_ref.as_ref().map(|r| r.name.as_str()),
        service_account_name: spec.service_account_name.as_deref(),
        cert_secret_ref: spec.cert_secret_ref.as_ref().map(|r| r.name.as_str()),
        proxy_secret_ref: spec.proxy_secret_ref.as_ref().map(|r| r.name.as_str()),
        insecure: spec.insecure,
    }
}
