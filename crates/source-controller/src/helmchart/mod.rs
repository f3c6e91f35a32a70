//! The HelmChart reconciler: the source (HelmRepository, GitRepository or Bucket) read from
//! a cache → the chart version chosen (no download or rebuild while the stored chart already
//! has it) → pulled or packaged as `helm package` writes it, `valuesFiles` merged → stored
//! as `<name>-<version>.tgz`, `latest.tar.gz` link, status and events. A failure never
//! touches the last good chart, which stays served.
//!
//! On the shared harness. Here: [`build`] (the chart build and Flux's build errors; pure),
//! [`inputs`] (the source), [`remote`] (the repository index and download), [`oci`] (charts
//! in a registry), [`dependencies`] (from chart repositories) and [`watches`] (sources →
//! charts).

pub mod build;
mod dependencies;
mod inputs;
mod oci;
mod remote;
mod watches;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use driftless_api::conditions::{
    ARCHIVE_OPERATION_FAILED, ARTIFACT_IN_STORAGE, ARTIFACT_OUTDATED, BUILD_FAILED, FETCH_FAILED,
    SOURCE_VERIFIED, STORAGE_OPERATION_FAILED, VERIFICATION_ERROR,
};
use driftless_api::event::Severity;
use driftless_api::meta::{Artifact, ArtifactSource, parse_duration};
use driftless_api::source::{
    CHART_PACKAGE_SUCCEEDED_REASON, CHART_PULL_SUCCEEDED_REASON, HelmChart, HelmChartStatus,
    HelmRepository, ReconcileStrategy,
};
use driftless_artifact::Limits;
use driftless_registry::Registries;
use driftless_runtime::conditions::{self as cond, Status};
use driftless_runtime::reconcile::{Error, Outcome, Run, Watches};
use driftless_runtime::{Context as RuntimeContext, reconcile};
use kube::{Resource, ResourceExt};

use crate::cosign::{self, Verify};
use crate::failure::Failure;
use crate::storage::{LATEST, Storage};
use build::{Build, BuildError, BuildOptions, LocalBuild};
use inputs::Source;
use watches::SourceStores;

const KIND: &str = "HelmChart";
const FAILED_STEPS: [&str; 5] = [
    FETCH_FAILED,
    BUILD_FAILED,
    STORAGE_OPERATION_FAILED,
    ARTIFACT_OUTDATED,
    SOURCE_VERIFIED,
];
/// How soon a chart whose source has no artifact yet looks again (Flux's dependency requeue).
const NO_SOURCE_ARTIFACT_RETRY: Duration = Duration::from_secs(30);

pub struct Reconciler {
    runtime: RuntimeContext,
    storage: Storage,
    limits: Limits,
    registries: Registries,
    downloads: remote::Downloads,
    sources: SourceStores,
}

/// What a successful reconcile ended with.
struct Built {
    name: String,
    version: String,
    packaged: bool,
    values_files: Vec<String>,
    source_revision: String,
    /// A new artifact; `None` when the stored chart already had this name and version.
    artifact: Option<Artifact>,
    /// The SourceVerified message, when `verify` asked and the signature holds.
    verified: Option<String>,
}

/// A build that could not start or finish.
enum Problem {
    Failed(Failure),
    /// The source has no artifact yet: not an error, Flux waits for it.
    NoSourceArtifact(String),
}

impl From<Failure> for Problem {
    fn from(failure: Failure) -> Self {
        Self::Failed(failure)
    }
}

impl From<BuildError> for Problem {
    fn from(error: BuildError) -> Self {
        Self::Failed(Failure {
            condition: error.reason.condition(),
            reason: error.reason.reason(),
            message: error.to_string(),
            stalled: error.reason.persistent(),
        })
    }
}

impl Reconciler {
    pub fn new(
        runtime: RuntimeContext,
        storage: Storage,
        registries: Registries,
        limits: Limits,
    ) -> Self {
        Self {
            runtime,
            storage,
            limits,
            registries,
            downloads: remote::Downloads::default(),
            sources: SourceStores::default(),
        }
    }

    /// Runs the controller, and the sweep of orphaned artifacts, until shutdown.
    pub async fn run(self) {
        let ctx = self.runtime.clone();
        crate::orphans::spawn_sweep::<HelmChart>(&ctx, KIND, self.storage.clone());
        reconcile::run(self, ctx).await;
    }
}

impl reconcile::Reconciler for Reconciler {
    type Object = HelmChart;

    fn watches(&mut self, watches: &mut Watches<HelmChart>) {
        self.sources = watches::declare(watches);
    }

    async fn reconcile(&self, run: &mut Run<HelmChart>) -> Result<Outcome, Error> {
        let object = run.object.clone();
        let current = run.status.clone();
        let built = crate::progress::shown_in_progress(run, self.build(&object, &current)).await?;
        match built {
            Ok(built) => Ok(self.stored(run, built)),
            Err(Problem::NoSourceArtifact(message)) => {
                run.event(
                    Severity::Trace,
                    "NoSourceArtifact",
                    message.clone(),
                    BTreeMap::new(),
                );
                Ok(Outcome::Waiting {
                    reason: "NoSourceArtifact",
                    message,
                    after: NO_SOURCE_ARTIFACT_RETRY,
                })
            }
            Err(Problem::Failed(failure)) => Ok(self.failed(run, failure)),
        }
    }

    async fn cleanup(&self, object: &Arc<HelmChart>) -> Result<(), Error> {
        if let Ok(dir) = self.storage_dir(object)
            && let Err(error) = self.storage.remove_object(&dir)
        {
            tracing::warn!(%error, "removing artifacts of a deleted HelmChart");
        }
        Ok(())
    }
}

impl Reconciler {
    async fn build(&self, object: &HelmChart, status: &HelmChartStatus) -> Result<Built, Problem> {
        let spec = &object.spec;
        let source = self.source(object).await?;
        let generation = object.meta().generation;
        // Flux rebuilds on a new generation even when the version is unchanged.
        let force = generation != object.status.as_ref().and_then(|s| s.observed_generation);
        let cached = match (&status.artifact, &status.observed_chart_name) {
            (Some(artifact), Some(name)) if !force && self.storage.holds(artifact).await => {
                Some((name.clone(), artifact.revision.clone()))
            }
            _ => None,
        };
        let cached_ref = cached.as_ref().map(|(n, v)| (n.as_str(), v.as_str()));
        let values_generation = (!spec.values_files.is_empty()).then_some(generation.unwrap_or(0));
        let mut options = BuildOptions {
            version_metadata: String::new(),
            values_files: spec.values_files.clone(),
            ignore_missing_values_files: spec.ignore_missing_values_files,
            remote_dependencies: BTreeMap::new(),
        };
        match source {
            Source::Repository(repository) => {
                if repository.spec.is_oci() {
                    return self
                        .build_oci(object, &repository, options, values_generation, cached_ref)
                        .await;
                }
                let source_revision = repository
                    .artifact()
                    .map(|a| a.revision.clone())
                    .unwrap_or_default();
                options.version_metadata = build::version_metadata(None, values_generation);
                let index = remote::stored_index(&self.storage, &repository).await?;
                let entry =
                    remote::choose(&index, &spec.chart, spec.version.as_deref().unwrap_or("*"))?;
                let version = build::with_metadata(&entry.version, &options.version_metadata)?;
                let packaged = !options.version_metadata.is_empty();
                if cached_ref == Some((entry.name.as_str(), version.as_str())) {
                    return Ok(Built {
                        name: entry.name,
                        version,
                        packaged,
                        values_files: spec.values_files.clone(),
                        source_revision,
                        artifact: None,
                        verified: None,
                    });
                }
                let archive =
                    remote::download(&self.runtime.client, &self.downloads, &repository, &entry)
                        .await?;
                let build =
                    tokio::task::spawn_blocking(move || build::build_remote(archive, &options))
                        .await
                        .map_err(|e| unexpected(format!("the chart build stopped: {e}")))??;
                self.store(object, build, source_revision).await
            }
            Source::Files(artifact) => {
                let strategy = spec.reconcile_strategy.unwrap_or_default();
                let hash = (strategy == ReconcileStrategy::Revision)
                    .then(|| build::short_revision_hash(&artifact.revision));
                options.version_metadata =
                    build::version_metadata(hash.as_deref(), values_generation);
                let file = self.storage.root().join(&artifact.path);
                let limits = self.limits;
                let source_artifact = artifact.clone();
                let tree = tokio::task::spawn_blocking(move || {
                    read_source(&file, &source_artifact, limits)
                })
                .await
                .map_err(|e| unexpected(format!("reading the source stopped: {e}")))??;
                let tree = Arc::new(tree);
                let build_with = |options: BuildOptions| {
                    let (tree, chart_path, cached) =
                        (tree.clone(), spec.chart.clone(), cached.clone());
                    async move {
                        tokio::task::spawn_blocking(move || {
                            let cached = cached.as_ref().map(|(n, v)| (n.as_str(), v.as_str()));
                            build::build_local(&tree, &chart_path, &options, cached)
                        })
                        .await
                        .map_err(|e| {
                            Problem::from(unexpected(format!("the chart build stopped: {e}")))
                        })
                    }
                };
                // Dependencies from chart repositories are fetched only when the chart is not
                // already stored and the build asks for them.
                let local = match build_with(options.clone()).await? {
                    Err(error) if error.reason == build::BuildErrorReason::DependencyBuild => {
                        let wanted = build::remote_dependencies(&tree, &spec.chart);
                        if wanted.is_empty() {
                            return Err(error.into());
                        }
                        options.remote_dependencies =
                            self.fetch_dependencies(object, &wanted).await?;
                        build_with(options).await??
                    }
                    other => other?,
                };
                match local {
                    LocalBuild::UpToDate {
                        name,
                        version,
                        packaged,
                    } => Ok(Built {
                        name,
                        version,
                        packaged,
                        values_files: spec.values_files.clone(),
                        source_revision: artifact.revision,
                        artifact: None,
                        verified: None,
                    }),
                    LocalBuild::Built(build) => self.store(object, build, artifact.revision).await,
                }
            }
        }
    }

    /// A chart from a HelmRepository of `type: oci`: its version from the registry's tags (no
    /// pull while the stored chart has it), its cosign signature checked when `verify` asks,
    /// pulled and stored as pushed unless values files re-package it.
    async fn build_oci(
        &self,
        object: &HelmChart,
        repository: &HelmRepository,
        mut options: BuildOptions,
        values_generation: Option<i64>,
        cached: Option<(&str, &str)>,
    ) -> Result<Built, Problem> {
        let spec = &object.spec;
        options.version_metadata = build::version_metadata(None, values_generation);
        let located = oci::locate(&self.runtime.client, repository, &spec.chart).await?;
        let constraint = spec.version.as_deref().unwrap_or("*");
        let chosen = oci::resolve_version(&self.registries, &located, constraint).await?;
        let version = build::with_metadata(&chosen, &options.version_metadata)?;
        // Checked on every reconcile, so a stored chart is never shown Ready unverified.
        let verified = match &spec.verify {
            None => None,
            Some(wanted) => {
                let with = Verify {
                    provider: wanted.provider,
                    secret: wanted.secret_ref.as_ref().map(|s| s.name.as_str()),
                };
                let namespace = object.namespace().unwrap_or_default();
                let digest = oci::digest(&self.registries, &located, &chosen).await?;
                cosign::verify(
                    &self.runtime.client,
                    &namespace,
                    with,
                    &located.image,
                    &located.access,
                    &digest,
                )
                .await
                .map_err(|e| Failure {
                    condition: SOURCE_VERIFIED,
                    reason: VERIFICATION_ERROR,
                    message: format!("chart verification error: {}", e.message),
                    stalled: e.permanent,
                })?;
                Some(format!("verified signature of version {chosen}"))
            }
        };
        let mut built = if cached == Some((spec.chart.as_str(), version.as_str())) {
            Built {
                name: spec.chart.clone(),
                version,
                packaged: !options.version_metadata.is_empty(),
                values_files: spec.values_files.clone(),
                source_revision: String::new(),
                artifact: None,
                verified: None,
            }
        } else {
            let archive = oci::pull(&self.registries, &located, &chosen).await?;
            let build = tokio::task::spawn_blocking(move || build::build_remote(archive, &options))
                .await
                .map_err(|e| unexpected(format!("the chart build stopped: {e}")))??;
            self.store(object, build, String::new()).await?
        };
        built.verified = verified;
        Ok(built)
    }

    /// Writes the chart as `<name>-<version>.tgz` and drops older ones past retention.
    async fn store(
        &self,
        object: &HelmChart,
        mut build: Build,
        source_revision: String,
    ) -> Result<Built, Problem> {
        let object_dir = self.storage_dir(object)?;
        let storage = self.storage.clone();
        let file_name = build.file_name();
        let archive = std::mem::take(&mut build.archive);
        let revision = build.version.clone();
        let artifact = tokio::task::spawn_blocking(move || -> Result<Artifact, Failure> {
            let (digest, size, path) = storage
                .store_file(&object_dir, &file_name, &archive)
                .map_err(|e| {
                    Failure::storage(
                        ARCHIVE_OPERATION_FAILED,
                        format!("unable to save artifact to storage: {e}"),
                    )
                })?;
            if let Err(error) = storage.garbage_collect(&object_dir, &file_name) {
                tracing::warn!(%error, "garbage collecting old charts");
            }
            Ok(Artifact {
                url: storage.url(&path),
                path,
                revision,
                digest: digest.to_string(),
                last_update_time: cond::now(),
                size: i64::try_from(size).ok(),
                metadata: None,
            })
        })
        .await
        .map_err(|e| unexpected(format!("storing the chart stopped: {e}")))??;
        Ok(Built {
            artifact: Some(artifact),
            name: build.name,
            version: build.version,
            packaged: build.packaged,
            values_files: build.values_files,
            source_revision,
            verified: None,
        })
    }

    /// The chart is in storage (new, or the stored one still current): Ready with Flux's
    /// build summary, the `latest.tar.gz` link, and an event when the chart is new.
    fn stored(&self, run: &mut Run<HelmChart>, built: Built) -> Outcome {
        let object = run.object.clone();
        let generation = run.generation();
        let summary = build::summary(
            &built.name,
            &built.version,
            built.packaged,
            &built.values_files,
        );
        let reason = if built.packaged {
            CHART_PACKAGE_SUCCEEDED_REASON
        } else {
            CHART_PULL_SUCCEEDED_REASON
        };
        if let Some(artifact) = built.artifact {
            let metadata = crate::stored::artifact_event_metadata(&artifact);
            run.event(Severity::Info, reason, summary.clone(), metadata);
            run.status.artifact = Some(artifact);
        }
        let Some(artifact) = run.status.artifact.clone() else {
            return self.failed(
                run,
                unexpected("no artifact after a successful build".to_owned()),
            );
        };
        crate::stored::link_url(run, &self.storage, &artifact, LATEST);
        run.status.observed_chart_name = Some(built.name);
        // A registry source has no artifact of its own to name.
        run.status.observed_source_artifact_revision =
            Some(built.source_revision).filter(|revision| !revision.is_empty());
        run.status.observed_values_files = if object.spec.ignore_missing_values_files {
            built.values_files
        } else {
            Vec::new()
        };
        for step in FAILED_STEPS {
            cond::remove(&mut run.status.conditions, step);
        }
        if let Some(verified) = built.verified {
            cond::set(
                &mut run.status.conditions,
                SOURCE_VERIFIED,
                Status::True,
                reason,
                verified,
                generation,
            );
        }
        cond::set(
            &mut run.status.conditions,
            ARTIFACT_IN_STORAGE,
            Status::True,
            reason,
            summary.clone(),
            generation,
        );
        Outcome::Ready {
            reason,
            message: summary,
            interval: interval(&object),
        }
    }

    fn failed(&self, run: &mut Run<HelmChart>, failure: Failure) -> Outcome {
        let interval = interval(&run.object);
        crate::stored::failed(run, &FAILED_STEPS, interval, failure)
    }

    fn storage_dir(&self, object: &HelmChart) -> Result<String, Failure> {
        crate::stored::storage_dir(&self.storage, object)
    }
}

/// A source artifact's files, verified against its digest.
fn read_source(
    file: &std::path::Path,
    artifact: &Artifact,
    limits: Limits,
) -> Result<BTreeMap<String, driftless_artifact::FileData>, Failure> {
    let fetch_failed = |message: String| Failure::fetch("ArtifactFetchFailed", message);
    let digest: driftless_artifact::Digest = artifact
        .digest
        .parse()
        .map_err(|e| fetch_failed(format!("source artifact digest '{}': {e}", artifact.digest)))?;
    let reader = std::fs::File::open(file)
        .map_err(|e| fetch_failed(format!("failed to read the source artifact: {e}")))?;
    driftless_artifact::unpack_to_memory(std::io::BufReader::new(reader), &digest, limits)
        .map_err(|e| fetch_failed(format!("failed to unpack the source artifact: {e}")))
}

fn unexpected(message: String) -> Failure {
    Failure::storage(ARCHIVE_OPERATION_FAILED, message)
}

/// `spec.interval` (ten minutes when unreadable).
fn interval(object: &HelmChart) -> Duration {
    parse_duration(&object.spec.interval).unwrap_or(Duration::from_secs(600))
}
