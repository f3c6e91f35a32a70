//! What a HelmRelease watches beside itself: the HelmCharts and OCIRepositories its charts
//! come from (and ExternalArtifacts, behind their feature gate). A new artifact reconciles
//! the releases of that chart; reads come from these caches instead of a GET per reconcile.

use driftless_api::helm::HelmRelease;
use driftless_api::meta::{Artifact, ArtifactSource};
use driftless_api::source::{ExternalArtifact, HelmChart, OCIRepository};
use driftless_runtime::reconcile::Watches;
use kube::ResourceExt;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;

use super::inputs::ChartSource;

/// Why a source whose controller has not reported on its latest generation is not ready,
/// when its Ready condition does not say.
pub(super) const IN_PROGRESS: &str = "reconciliation in progress";

pub(super) fn declare(watches: &mut Watches<HelmRelease>, external: bool) -> SourceStores {
    let store = watches.objects();
    let external = external.then(|| {
        let (artifacts, changes) = watches.cached::<ExternalArtifact>(watcher::Config::default());
        watches.trigger(
            changes,
            sources_to_releases::<ExternalArtifact>(store.clone(), "ExternalArtifact"),
        );
        artifacts
    });
    let (charts, chart_changes) = watches.cached::<HelmChart>(watcher::Config::default());
    let (oci, oci_changes) = watches.cached::<OCIRepository>(watcher::Config::default());
    watches.trigger(
        chart_changes,
        sources_to_releases::<HelmChart>(store.clone(), "HelmChart"),
    );
    watches.trigger(
        oci_changes,
        sources_to_releases::<OCIRepository>(store, "OCIRepository"),
    );
    SourceStores {
        charts: Some(charts),
        oci: Some(oci),
        external,
    }
}

#[derive(Clone, Default)]
pub(super) struct SourceStores {
    charts: Option<reflector::Store<HelmChart>>,
    oci: Option<reflector::Store<OCIRepository>>,
    external: Option<reflector::Store<ExternalArtifact>>,
}

/// What the cache knows of a source: whether it exists, and whether it is ready to be used
/// (its status caught up with its spec, not stalled) with its artifact.
pub(super) enum Cached {
    Missing,
    NotReady(String),
    Ready(Artifact),
}

impl SourceStores {
    /// The HelmChart `namespace/name` as last seen by the watch.
    pub(super) fn helm_chart(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<std::sync::Arc<HelmChart>> {
        self.charts
            .as_ref()?
            .get(&ObjectRef::new(name).within(namespace))
    }

    /// The HelmCharts (`namespace/name`) labelled as made for the HelmRelease
    /// `namespace/name`.
    pub(super) fn charts_made_for(&self, namespace: &str, name: &str) -> Vec<String> {
        let Some(charts) = &self.charts else {
            return Vec::new();
        };
        charts
            .state()
            .iter()
            // One being deleted is on its way.
            .filter(|chart| chart.metadata.deletion_timestamp.is_none())
            .filter(|chart| {
                let labels = chart.metadata.labels.as_ref();
                let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
                label(driftless_api::helm::NAME_LABEL) == Some(name)
                    && label(driftless_api::helm::NAMESPACE_LABEL) == Some(namespace)
            })
            .map(|chart| {
                format!(
                    "{}/{}",
                    chart.metadata.namespace.as_deref().unwrap_or_default(),
                    chart.metadata.name.as_deref().unwrap_or_default()
                )
            })
            .collect()
    }

    pub(super) fn artifact(&self, source: &ChartSource) -> Cached {
        fn find<K>(store: &Option<reflector::Store<K>>, source: &ChartSource) -> Cached
        where
            K: kube::Resource<DynamicType = ()>
                + ArtifactSource
                + driftless_api::meta::Reconcilable
                + Clone
                + 'static,
        {
            let Some(object) = store.as_ref().and_then(|store| {
                store.get(&ObjectRef::new(&source.name).within(&source.namespace))
            }) else {
                return Cached::Missing;
            };
            let generation = object.meta().generation;
            let conditions = object.conditions();
            let stalled = driftless_runtime::conditions::is_true(
                conditions,
                driftless_api::conditions::STALLED,
            );
            if stalled || (generation.is_some() && object.observed_generation() != generation) {
                let reason = conditions
                    .iter()
                    .find(|c| c.type_ == driftless_api::conditions::READY)
                    .map(|c| c.message.clone())
                    .unwrap_or_else(|| IN_PROGRESS.into());
                return Cached::NotReady(reason);
            }
            match object.artifact() {
                Some(artifact) => Cached::Ready(artifact.clone()),
                None => Cached::NotReady("artifact not found".into()),
            }
        }
        match source.kind.as_str() {
            "HelmChart" => find(&self.charts, source),
            "OCIRepository" => find(&self.oci, source),
            "ExternalArtifact" => self.external_artifact(source),
            _ => Cached::Missing,
        }
    }

    /// An ExternalArtifact reports no observed generation (its producer's spec is elsewhere):
    /// it is ready with an artifact, unless stalled, as Flux reads it.
    fn external_artifact(&self, source: &ChartSource) -> Cached {
        let Some(object) = self
            .external
            .as_ref()
            .and_then(|store| store.get(&ObjectRef::new(&source.name).within(&source.namespace)))
        else {
            return Cached::Missing;
        };
        let conditions = object.conditions();
        if driftless_runtime::conditions::is_true(conditions, driftless_api::conditions::STALLED) {
            let why = conditions
                .iter()
                .find(|c| c.type_ == driftless_api::conditions::STALLED)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            return Cached::NotReady(why);
        }
        match object.artifact() {
            Some(artifact) => Cached::Ready(artifact.clone()),
            None => Cached::NotReady("does not have an artifact".into()),
        }
    }
}

/// Maps a source event to the HelmReleases whose chart comes from it, leaving out those
/// already Ready at its artifact's revision: a new chart reconciles them, a status write of
/// the source that changes nothing does not.
fn sources_to_releases<S>(
    store: reflector::Store<HelmRelease>,
    kind: &'static str,
) -> impl Fn(S) -> Vec<ObjectRef<HelmRelease>>
where
    S: ResourceExt + ArtifactSource,
{
    move |source| {
        let namespace = source.namespace().unwrap_or_default();
        let name = source.name_any();
        let revision = source.artifact().map(|a| a.revision.clone());
        store
            .state()
            .iter()
            .filter(|release| {
                let chart = ChartSource::of(release);
                chart.kind == kind && chart.namespace == namespace && chart.name == name
            })
            .filter(|release| {
                let status = release.status.as_ref();
                let ready = status.is_some_and(|s| {
                    driftless_runtime::conditions::is_true(
                        &s.conditions,
                        driftless_api::conditions::READY,
                    )
                });
                let at = status.and_then(|s| s.last_attempted_revision.as_deref());
                !(ready && revision.is_some() && at == revision.as_deref())
            })
            .map(|release| ObjectRef::from_obj(&**release))
            .collect()
    }
}
