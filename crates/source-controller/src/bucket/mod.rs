//! The Bucket reconciler: credentials → the bucket's `.sourceignore` → the listing indexed as
//! Flux indexes it (its digest is the revision) → no download while the stored artifact has
//! that revision → objects downloaded a bounded number at a time → deterministic tar.gz in
//! storage, `latest.tar.gz` link, status and events. A failure never touches the last good
//! artifact, which stays served.
//!
//! On the shared harness. Here: [`index`] (listing → revision; pure) and [`client`] (the
//! object-store client per provider, listing and downloads).

pub mod client;
pub mod index;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use driftless_api::conditions::{
    ARCHIVE_OPERATION_FAILED, ARTIFACT_IN_STORAGE, ARTIFACT_OUTDATED, AUTHENTICATION_FAILED,
    FETCH_FAILED, NEW_ARTIFACT_EVENT, STORAGE_OPERATION_FAILED, SUCCEEDED,
};
use driftless_api::event::Severity;
use driftless_api::meta::{Artifact, parse_duration};
use driftless_api::source::{BUCKET_OPERATION_FAILED_REASON, Bucket, BucketStatus};
use driftless_artifact::ignore::IgnoreRules;
use driftless_artifact::{FileEntry, Limits};
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::reconcile::{Error, Outcome, Run};
use driftless_runtime::secrets::secret_data;
use driftless_runtime::{Context as RuntimeContext, kube_errors, reconcile};
use kube::ResourceExt;

use crate::failure::Failure;
use crate::storage::{LATEST, Storage};
use client::{ClientError, Secrets};
use index::{EtagIndex, IGNORE_FILE};

const KIND: &str = "Bucket";
const FAILED_STEPS: [&str; 3] = [FETCH_FAILED, STORAGE_OPERATION_FAILED, ARTIFACT_OUTDATED];
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest `.sourceignore` read.
const MAX_IGNORE_FILE_BYTES: u64 = 1 << 20;

pub struct Reconciler {
    runtime: RuntimeContext,
    storage: Storage,
    limits: Limits,
    clients: client::Clients,
}

/// Object-store clients kept (one per distinct configuration).
const CLIENTS: usize = 1024;

enum Fetched {
    Unchanged,
    Stored {
        artifact: Box<Artifact>,
        files: usize,
    },
}

impl Reconciler {
    pub fn new(runtime: RuntimeContext, storage: Storage, limits: Limits) -> Self {
        Self {
            runtime,
            storage,
            limits,
            clients: client::Clients::new(CLIENTS),
        }
    }

    /// Runs the controller, and the sweep of orphaned artifacts, until shutdown.
    pub async fn run(self) {
        let ctx = self.runtime.clone();
        crate::orphans::spawn_sweep::<Bucket>(&ctx, KIND, self.storage.clone());
        reconcile::run(self, ctx).await;
    }
}

impl reconcile::Reconciler for Reconciler {
    type Object = Bucket;

    async fn reconcile(&self, run: &mut Run<Bucket>) -> Result<Outcome, Error> {
        let object = run.object.clone();
        let current = run.status.clone();
        let fetched =
            crate::progress::shown_in_progress(run, self.fetch(&object, &current)).await?;
        match fetched {
            Ok(fetched) => Ok(self.stored(run, fetched)),
            Err(failure) => Ok(self.failed(run, failure)),
        }
    }

    async fn cleanup(&self, object: &Arc<Bucket>) -> Result<(), Error> {
        if let Ok(dir) = self.storage_dir(object)
            && let Err(error) = self.storage.remove_object(&dir)
        {
            tracing::warn!(%error, "removing artifacts of a deleted Bucket");
        }
        Ok(())
    }
}

fn bucket_failure(error: ClientError) -> Failure {
    match error {
        ClientError::Invalid(message) => Failure {
            condition: FETCH_FAILED,
            reason: BUCKET_OPERATION_FAILED_REASON,
            message,
            stalled: true,
        },
        other => Failure::fetch(BUCKET_OPERATION_FAILED_REASON, other.to_string()),
    }
}

impl Reconciler {
    async fn fetch(&self, object: &Bucket, status: &BucketStatus) -> Result<Fetched, Failure> {
        let spec = &object.spec;
        let timeout = spec
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_TIMEOUT);
        if spec.service_account_name.is_some() {
            return Err(bucket_failure(ClientError::Invalid(
                "spec.serviceAccountName (object-level workload identity) is not supported yet"
                    .into(),
            )));
        }
        let secrets = self.secrets(object).await?;
        let store = self
            .clients
            .get(spec, &secrets, timeout)
            .map_err(bucket_failure)?;
        let bucket = spec.bucket_name.as_str();
        let listing = async {
            let ignore_file =
                client::get_optional(store.as_ref(), bucket, IGNORE_FILE, MAX_IGNORE_FILE_BYTES)
                    .await?
                    .map(|data| String::from_utf8_lossy(&data).into_owned());
            let rules = IgnoreRules::with_defaults(
                ignore_file.as_deref().map(|text| ("", text)),
                spec.ignore.as_deref(),
            );
            let prefix = spec.prefix.as_deref().unwrap_or("");
            let listed = client::list(store.as_ref(), bucket, prefix).await?;
            Ok::<_, ClientError>(EtagIndex::build(
                listed.iter().map(|(k, e)| (k.as_str(), e.as_str())),
                prefix,
                &rules,
            ))
        };
        let index = tokio::time::timeout(timeout, listing)
            .await
            .map_err(|_| {
                Failure::fetch(
                    BUCKET_OPERATION_FAILED_REASON,
                    format!("listing bucket '{bucket}' timed out after {timeout:?}"),
                )
            })?
            .map_err(bucket_failure)?;
        let revision = index.revision();
        if let Some(current) = &status.artifact
            && current.revision == revision
            && self.storage.holds(current).await
        {
            return Ok(Fetched::Unchanged);
        }
        if index.len() > self.limits.max_files {
            return Err(Failure::fetch(
                BUCKET_OPERATION_FAILED_REASON,
                format!(
                    "bucket '{bucket}' holds {} objects, more than the {} allowed",
                    index.len(),
                    self.limits.max_files
                ),
            ));
        }
        let mut entries = Vec::with_capacity(index.len());
        for key in index.keys() {
            let path = driftless_artifact::normalize_path(key).map_err(|why| {
                Failure::fetch(
                    BUCKET_OPERATION_FAILED_REASON,
                    format!("object key '{key}' is not a safe path: {why}"),
                )
            })?;
            entries.push((key.to_owned(), path));
        }
        let keys = entries.iter().map(|(key, _)| key.clone()).collect();
        let downloaded = tokio::time::timeout(
            timeout,
            client::download_all(store, bucket, keys, self.limits.max_uncompressed_bytes),
        )
        .await
        .map_err(|_| {
            Failure::fetch(
                BUCKET_OPERATION_FAILED_REASON,
                format!("downloading bucket '{bucket}' timed out after {timeout:?}"),
            )
        })?
        .map_err(bucket_failure)?;
        let paths: BTreeMap<String, String> = entries.into_iter().collect();
        let files: Vec<FileEntry> = downloaded
            .into_iter()
            .map(|(key, data)| FileEntry {
                path: paths.get(&key).cloned().unwrap_or(key),
                executable: false,
                data,
            })
            .collect();
        let count = files.len();
        let object_dir = self.storage_dir(object)?;
        let storage = self.storage.clone();
        let artifact = tokio::task::spawn_blocking(move || -> Result<Artifact, Failure> {
            let (stored, path) = storage.store_by_digest(&object_dir, files).map_err(|e| {
                Failure::storage(
                    ARCHIVE_OPERATION_FAILED,
                    format!("unable to archive artifact to storage: {e}"),
                )
            })?;
            let file_name = path.rsplit('/').next().unwrap_or_default().to_owned();
            if let Err(error) = storage.garbage_collect(&object_dir, &file_name) {
                tracing::warn!(%error, "garbage collecting old artifacts");
            }
            Ok(Artifact {
                url: storage.url(&path),
                path,
                revision,
                digest: stored.digest.to_string(),
                last_update_time: cond::now(),
                size: i64::try_from(stored.size).ok(),
                metadata: None,
            })
        })
        .await
        .map_err(|e| {
            Failure::storage(
                ARCHIVE_OPERATION_FAILED,
                format!("archiving the bucket stopped unexpectedly: {e}"),
            )
        })??;
        Ok(Fetched::Stored {
            artifact: Box::new(artifact),
            files: count,
        })
    }

    /// The Secrets the spec names: credentials, a CA, a proxy.
    async fn secrets(&self, object: &Bucket) -> Result<Secrets, Failure> {
        let namespace = object.namespace().unwrap_or_default();
        let read = |name: String| {
            let client = self.runtime.client.clone();
            let namespace = namespace.clone();
            async move {
                secret_data(&client, &namespace, &name).await.map_err(|e| {
                    Failure::fetch(
                        AUTHENTICATION_FAILED,
                        format!(
                            "failed to get secret '{namespace}/{name}': {}",
                            kube_errors::message(&e)
                        ),
                    )
                })
            }
        };
        let spec = &object.spec;
        let mut secrets = Secrets::default();
        if let Some(reference) = &spec.secret_ref {
            secrets.credentials = Some(read(reference.name.clone()).await?);
        }
        if let Some(reference) = &spec.cert_secret_ref {
            let data = read(reference.name.clone()).await?;
            secrets.ca_pem = data.get("ca.crt").or_else(|| data.get("caFile")).cloned();
            match (data.get("tls.crt"), data.get("tls.key")) {
                (Some(cert), Some(key)) => secrets.client_cert = Some((cert.clone(), key.clone())),
                (None, None) => {}
                _ => {
                    return Err(bucket_failure(ClientError::Invalid(format!(
                        "invalid '{}' secret data: 'tls.crt' and 'tls.key' must be given together",
                        reference.name
                    ))));
                }
            }
        }
        if let Some(reference) = &spec.proxy_secret_ref {
            let data = read(reference.name.clone()).await?;
            secrets.proxy_url = Some(proxy_url(&reference.name, &data)?);
        }
        Ok(secrets)
    }

    fn stored(&self, run: &mut Run<Bucket>, fetched: Fetched) -> Outcome {
        let object = run.object.clone();
        let generation = run.generation();
        if let Fetched::Stored { artifact, files } = fetched {
            let changed = run
                .status
                .artifact
                .as_ref()
                .is_none_or(|previous| previous.revision != artifact.revision);
            if changed {
                let metadata = crate::stored::artifact_event_metadata(&artifact);
                run.event(
                    Severity::Info,
                    NEW_ARTIFACT_EVENT,
                    format!(
                        "stored artifact with {files} fetched files from '{}' bucket",
                        object.spec.bucket_name
                    ),
                    metadata,
                );
            }
            run.status.artifact = Some(*artifact);
        }
        let Some(artifact) = run.status.artifact.clone() else {
            return self.failed(
                run,
                Failure::storage(
                    ARCHIVE_OPERATION_FAILED,
                    "no artifact after a successful fetch".to_owned(),
                ),
            );
        };
        crate::stored::link_url(run, &self.storage, &artifact, LATEST);
        for step in FAILED_STEPS {
            cond::remove(&mut run.status.conditions, step);
        }
        let message = format!("stored artifact: revision '{}'", artifact.revision);
        cond::set(
            &mut run.status.conditions,
            ARTIFACT_IN_STORAGE,
            Status::True,
            SUCCEEDED,
            message.clone(),
            generation,
        );
        run.status.observed_ignore = object.spec.ignore.clone();
        Outcome::Ready {
            reason: SUCCEEDED,
            message,
            interval: interval(&object),
        }
    }

    fn failed(&self, run: &mut Run<Bucket>, failure: Failure) -> Outcome {
        let interval = interval(&run.object);
        crate::stored::failed(run, &FAILED_STEPS, interval, failure)
    }

    fn storage_dir(&self, object: &Bucket) -> Result<String, Failure> {
        crate::stored::storage_dir(&self.storage, object)
    }
}

/// The proxy URL of a `proxySecretRef`: `address`, with `username` and `password` when given.
fn proxy_url(name: &str, data: &BTreeMap<String, Vec<u8>>) -> Result<String, Failure> {
    let field = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let invalid = |why: String| bucket_failure(ClientError::Invalid(why));
    let address = field("address").ok_or_else(|| {
        invalid(format!(
            "invalid proxy secret '{name}': key 'address' is missing"
        ))
    })?;
    let mut url = reqwest::Url::parse(&address)
        .map_err(|e| invalid(format!("invalid proxy secret '{name}': address: {e}")))?;
    match (field("username"), field("password")) {
        (Some(user), Some(password)) => {
            let _ = url.set_username(&user);
            let _ = url.set_password(Some(&password));
        }
        (None, None) => {}
        _ => {
            return Err(invalid(format!(
                "invalid proxy secret '{name}': 'username' and 'password' go together"
            )));
        }
    }
    Ok(url.to_string())
}

/// `spec.interval` (ten minutes when unreadable).
fn interval(object: &Bucket) -> Duration {
    parse_duration(&object.spec.interval).unwrap_or(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_secrets_become_urls() {
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<u8>> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect()
        };
        assert_eq!(
            proxy_url("p", &data(&[("address", "http://proxy:3128")])).unwrap(),
            "http://proxy:3128/"
        );
        assert_eq!(
            proxy_url(
                "p",
                &data(&[
                    ("address", "http://proxy:3128"),
                    ("username", "u"),
                    ("password", "p w")
                ])
            )
            .unwrap(),
            "http://u:p%20w@proxy:3128/"
        );
        assert!(proxy_url("p", &data(&[("username", "u")])).is_err());
        assert!(proxy_url("p", &data(&[("address", "http://x"), ("username", "u")])).is_err());
    }
}
