//! The input phase of a reconcile: the chart source, dependencies, chart, values and target
//! cluster resolved into a [`Prepared`] release, and the status fields that say what is
//! attempted. Whatever is missing ends the reconcile with the outcome that says why.

use std::sync::Arc;
use std::time::Duration;

use driftless_api::conditions::{DEPENDENCY_NOT_READY, INVALID_CEL_EXPRESSION};
use driftless_api::helm::{
    ARTIFACT_FAILED_REASON, HelmRelease, HelmReleaseStatus, INIT_FAILED_REASON,
    SOURCE_NOT_READY_REASON, VALUES_ERROR_REASON,
};
use driftless_api::meta::Artifact;
use driftless_runtime::health_exprs::CustomHealthChecks;
use driftless_runtime::reconcile::{JUST_CREATED, Outcome, Run};
use kube::ResourceExt;

use super::actions::{Plan, Readiness};
use super::inputs::{self, ChartSource};
use super::watches::{self, Cached};
use super::{Reconciler, failed, requests, target, waiting};
use crate::digest;
use crate::release_state::{self, Desired};
use crate::storage::Storage;

/// Everything one reconcile releases from.
pub(super) struct Prepared {
    pub plan: Plan,
    pub storage: Storage,
    pub storage_namespace: String,
    /// The storage namespace the reconcile before this one used.
    pub previous_storage: Option<String>,
    pub chart_name: String,
    pub chart_version: String,
    pub config_digest: String,
    pub oci_digest: Option<String>,
    pub post_renderers_digest: Option<String>,
    pub common_metadata_digest: Option<String>,
    /// `postRenderers` or `commonMetadata` differ from those of the last release.
    pub rendering_changed: bool,
    pub failed_tests_fail: bool,
    /// `forceAt` asks for a forced upgrade in this reconcile.
    pub force: bool,
    pub interval: Duration,
}

impl Prepared {
    pub fn desired(&self) -> Desired<'_> {
        Desired {
            chart_name: &self.chart_name,
            chart_version: &self.chart_version,
            config_digest: &self.config_digest,
            oci_digest: self.oci_digest.as_deref(),
            rendering_changed: self.rendering_changed,
            failed_tests_fail: self.failed_tests_fail,
        }
    }

    /// `<chart>@<version>`, as events and messages name the chart.
    pub fn chart_ref(&self) -> String {
        format!("{}@{}", self.chart_name, self.chart_version)
    }
}

impl Reconciler {
    pub(super) async fn prepare(&self, run: &mut Run<HelmRelease>) -> Result<Prepared, Outcome> {
        let object = run.object.clone();
        let interval = object.interval().unwrap_or(Duration::from_secs(600));
        let (source, chart_written) = self.chart_source(run, interval).await?;
        if let Some(message) = self.unready_dependency(&object).await? {
            let after = self.settings.requeue_dependency;
            return Err(waiting(DEPENDENCY_NOT_READY, message, after));
        }
        let health_checks = CustomHealthChecks::compile(&object.spec.health_check_exprs)
            .map_err(|error| Outcome::configuration_error(INVALID_CEL_EXPRESSION, error))?;
        let artifact = self.source_artifact(run, &source, chart_written)?;
        let values = self
            .values(&object)
            .await
            .map_err(|error| failed(VALUES_ERROR_REASON, error.to_string(), interval))?;
        let mut chart = self
            .load_chart(&artifact)
            .await
            .map_err(|error| failed(ARTIFACT_FAILED_REASON, error, interval))?;
        // A generic artifact's content can change under the same chart version: its digest
        // goes into the version, so a new artifact upgrades.
        let oci_digest = matches!(source.kind.as_str(), "OCIRepository" | "ExternalArtifact")
            .then(|| artifact.digest.clone());
        if let Some(digest) = &oci_digest {
            chart.metadata.version = inputs::oci_chart_version(&chart.metadata.version, digest);
        }
        let applier = self
            .clients
            .applier_for(&target(&object))
            .await
            .map_err(|error| failed(INIT_FAILED_REASON, error, interval))?;
        let storage_namespace = object.storage_namespace().to_owned();
        let storage = Storage::new(applier.client().clone(), &storage_namespace);
        let chart_name = chart.metadata.name.clone();
        let chart_version = chart.metadata.version.clone();
        let config_digest = digest::config_digest(&values);

        let previous_storage = run.status.storage_namespace.clone();
        let force = record_attempt(
            &object,
            &mut run.status,
            &chart_version,
            &config_digest,
            oci_digest.as_deref(),
            &storage_namespace,
        );
        // What else a release renders from: a change re-renders (upgrades) the release.
        let post_renderers_digest = (!object.spec.post_renderers.is_empty())
            .then(|| digest::json_digest(&object.spec.post_renderers));
        let common_metadata_digest = object
            .spec
            .common_metadata
            .as_ref()
            .map(digest::json_digest);
        let rendering_changed = run.status.observed_post_renderers_digest != post_renderers_digest
            || run.status.observed_common_metadata_digest != common_metadata_digest;
        let failed_tests_fail = object.spec.test.as_ref().is_some_and(|t| t.enable)
            && !release_state::ignores_test_failures(
                &object,
                run.status.last_attempted_release_action.as_deref() == Some("upgrade"),
            );
        let plan = Plan {
            applier,
            remote: object.spec.kube_config.is_some(),
            readiness: if object
                .spec
                .wait_strategy
                .as_ref()
                .is_some_and(|w| w.name == "legacy")
            {
                Readiness::Helm3
            } else {
                Readiness::Kstatus(Arc::new(health_checks))
            },
            release_name: crate::release_name::shorten(&object.release_name()),
            namespace: object.release_namespace().to_owned(),
            chart,
            chart_version: chart_version.clone(),
            values,
            timeout: object.timeout(),
        };
        Ok(Prepared {
            plan,
            storage,
            storage_namespace,
            previous_storage,
            chart_name,
            chart_version,
            config_digest,
            oci_digest,
            post_renderers_digest,
            common_metadata_digest,
            rendering_changed,
            failed_tests_fail,
            force,
            interval,
        })
    }

    /// The chart's source, checked, with the HelmChart `spec.chart` asks for made (and one it
    /// no longer asks for deleted), and the generation of that HelmChart if it was just
    /// written.
    async fn chart_source(
        &self,
        run: &mut Run<HelmRelease>,
        interval: Duration,
    ) -> Result<(ChartSource, Option<i64>), Outcome> {
        let object = run.object.clone();
        let source = ChartSource::of(&object);
        if source.kind.is_empty() {
            return Err(Outcome::configuration_error(
                INIT_FAILED_REASON,
                "invalid Chart reference: either chart or chartRef must be set",
            ));
        }
        if source.kind == "ExternalArtifact" && !self.settings.external_artifacts {
            return Err(Outcome::configuration_error(
                driftless_api::conditions::FEATURE_GATE_DISABLED,
                "chartRef of kind ExternalArtifact needs the ExternalArtifact feature gate \
                 (--feature-gates=ExternalArtifact=true)",
            ));
        }
        let own = object.namespace().unwrap_or_default();
        if self.settings.no_cross_namespace_refs && source.namespace != own {
            return Err(Outcome::configuration_error(
                driftless_api::conditions::ACCESS_DENIED,
                format!(
                    "cross-namespace references are not allowed: {}",
                    source.display()
                ),
            ));
        }
        let wanted_chart = object
            .spec
            .chart
            .is_some()
            .then(|| format!("{}/{}", source.namespace, source.name));
        // Moved to chartRef, or the HelmChart's namespace changed: the old one goes. Charts
        // labelled as made for this release count too, in case the status never recorded
        // one (a status deferred or lost with a restart).
        let mut stale = self.sources.charts_made_for(&own, &object.name_any());
        stale.extend(run.status.helm_chart.clone());
        stale.sort();
        stale.dedup();
        for previous in stale.iter().filter(|c| Some(*c) != wanted_chart.as_ref()) {
            self.delete_helm_chart(previous)
                .await
                .map_err(|error| failed(ARTIFACT_FAILED_REASON, error, interval))?;
            if run.status.helm_chart.as_ref() == Some(previous) {
                run.status.helm_chart = None;
            }
        }
        let mut written = None;
        if object.spec.chart.is_some() {
            written = self
                .ensure_helm_chart(&object)
                .await
                .map_err(|error| failed(ARTIFACT_FAILED_REASON, error, interval))?;
            run.status.helm_chart = wanted_chart;
        }
        Ok((source, written))
    }

    /// The source's artifact, or why there is none yet. A HelmChart just written and not in
    /// the cache yet reads as source-controller will show it next. While a new release
    /// waits only for source-controller's first look at its chart, no status is written
    /// (one write saved per new release; see `Run::defer_first_status`).
    fn source_artifact(
        &self,
        run: &mut Run<HelmRelease>,
        source: &ChartSource,
        written: Option<i64>,
    ) -> Result<Artifact, Outcome> {
        // A chart just written is as source-controller shows it next: the cached copy, from
        // before the write, may still carry the former chart's artifact.
        let behind = written.is_some_and(|generation| {
            self.sources
                .helm_chart(&source.namespace, &source.name)
                .and_then(|chart| chart.status.as_ref()?.observed_generation)
                .is_none_or(|observed| observed < generation)
        });
        let cached = match self.sources.artifact(source) {
            Cached::Missing | Cached::Ready(_) if behind => {
                Cached::NotReady(watches::IN_PROGRESS.into())
            }
            cached => cached,
        };
        let mut after = self.settings.requeue_dependency;
        if matches!(&cached, Cached::NotReady(why) if why == watches::IN_PROGRESS)
            && run.just_created()
        {
            run.defer_first_status();
            // The watch on the chart brings the release back once it is ready; should the
            // chart take longer, the status says so soon after.
            after = after.min(JUST_CREATED);
        }
        match cached {
            Cached::Ready(artifact) => Ok(artifact),
            Cached::Missing => {
                let message = format!("{} not found", source.display());
                Err(waiting(SOURCE_NOT_READY_REASON, message, after))
            }
            Cached::NotReady(why) => {
                let message = format!("{} is not ready: {why}", source.display());
                Err(waiting(SOURCE_NOT_READY_REASON, message, after))
            }
        }
    }
}

/// Records what this reconcile attempts. Failure counters restart with a new spec, chart or
/// values, or a `resetAt` request (Flux's `MustResetFailures`). True when `forceAt` asks for
/// a forced upgrade.
fn record_attempt(
    object: &HelmRelease,
    status: &mut HelmReleaseStatus,
    chart_version: &str,
    config_digest: &str,
    oci_digest: Option<&str>,
    storage_namespace: &str,
) -> bool {
    let requests = requests::handle(object, status);
    if requests.reset
        || status.last_attempted_generation != object.metadata.generation
        || status.last_attempted_revision.as_deref() != Some(chart_version)
        || status.last_attempted_config_digest.as_deref() != Some(config_digest)
    {
        status.failures = 0;
        status.install_failures = 0;
        status.upgrade_failures = 0;
    }
    status.storage_namespace = Some(storage_namespace.to_owned());
    status.last_attempted_generation = object.metadata.generation;
    status.last_attempted_revision = Some(chart_version.to_owned());
    status.last_attempted_revision_digest = oci_digest.map(str::to_owned);
    status.last_attempted_config_digest = Some(config_digest.to_owned());
    status.last_attempted_values_checksum = None;
    status.last_release_revision = None;
    requests.force
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(generation: i64) -> HelmRelease {
        let mut object = HelmRelease::new("app", Default::default());
        object.metadata.generation = Some(generation);
        object
    }

    #[test]
    fn failure_counters_restart_with_a_new_generation_chart_or_values() {
        let mut status = HelmReleaseStatus::default();
        record_attempt(&release(1), &mut status, "1.0.0", "sha256:a", None, "apps");
        let counted = |status: &mut HelmReleaseStatus| {
            status.failures = 3;
            status.install_failures = 1;
            status.upgrade_failures = 2;
        };
        counted(&mut status);
        record_attempt(&release(1), &mut status, "1.0.0", "sha256:a", None, "apps");
        assert_eq!(status.failures, 3, "same attempt: counters kept");
        assert_eq!(status.upgrade_failures, 2);
        for (generation, version, digest) in [
            (2, "1.0.0", "sha256:a"),
            (2, "1.0.1", "sha256:a"),
            (2, "1.0.1", "sha256:b"),
        ] {
            counted(&mut status);
            record_attempt(
                &release(generation),
                &mut status,
                version,
                digest,
                None,
                "apps",
            );
            assert_eq!(
                (
                    status.failures,
                    status.install_failures,
                    status.upgrade_failures
                ),
                (0, 0, 0),
                "{generation} {version} {digest}"
            );
        }
        assert_eq!(status.last_attempted_revision.as_deref(), Some("1.0.1"));
        assert_eq!(
            status.last_attempted_config_digest.as_deref(),
            Some("sha256:b")
        );
        assert_eq!(status.storage_namespace.as_deref(), Some("apps"));
    }
}
