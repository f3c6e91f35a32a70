//! What a HelmChart watches beside itself: its sources. A source with a new artifact (a new
//! index, a new commit) reconciles the charts built from it, and the reconcile reads the
//! source from these caches instead of asking the API server.

use driftless_api::meta::ArtifactSource;
use driftless_api::source::{
    Bucket, GitRepository, HelmChart, HelmChartSourceKind, HelmRepository,
};
use driftless_runtime::reconcile::Watches;
use kube::ResourceExt;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;

/// Caches of the three source kinds a HelmChart may name.
#[derive(Clone, Default)]
pub(super) struct SourceStores {
    pub helm: Option<reflector::Store<HelmRepository>>,
    pub git: Option<reflector::Store<GitRepository>>,
    pub bucket: Option<reflector::Store<Bucket>>,
}

pub(super) fn declare(watches: &mut Watches<HelmChart>) -> SourceStores {
    let charts = watches.objects();
    let (helm, helm_changes) = watches.cached::<HelmRepository>(watcher::Config::default());
    let (git, git_changes) = watches.cached::<GitRepository>(watcher::Config::default());
    let (bucket, bucket_changes) = watches.cached::<Bucket>(watcher::Config::default());
    watches.trigger(
        helm_changes,
        sources_to_charts::<HelmRepository>(charts.clone(), HelmChartSourceKind::HelmRepository),
    );
    watches.trigger(
        git_changes,
        sources_to_charts::<GitRepository>(charts.clone(), HelmChartSourceKind::GitRepository),
    );
    watches.trigger(
        bucket_changes,
        sources_to_charts::<Bucket>(charts, HelmChartSourceKind::Bucket),
    );
    SourceStores {
        helm: Some(helm),
        git: Some(git),
        bucket: Some(bucket),
    }
}

/// Maps a source event to the charts built from it whose last build did not already use the
/// source's current artifact: a new artifact rebuilds them, a status write that changes
/// nothing does not.
fn sources_to_charts<S>(
    charts: reflector::Store<HelmChart>,
    kind: HelmChartSourceKind,
) -> impl Fn(S) -> Vec<ObjectRef<HelmChart>>
where
    S: ArtifactSource + ResourceExt,
{
    move |source| {
        let namespace = source.namespace();
        let name = source.name_any();
        let revision = source.artifact().map(|a| a.revision.clone());
        charts
            .state()
            .iter()
            .filter(|chart| {
                chart.namespace() == namespace
                    && chart.spec.source_ref.kind == kind
                    && chart.spec.source_ref.name == name
            })
            .filter(|chart| {
                let built_from = chart
                    .status
                    .as_ref()
                    .and_then(|s| s.observed_source_artifact_revision.clone());
                revision.is_none() || built_from != revision
            })
            .map(|chart| ObjectRef::from_obj(&**chart))
            .collect()
    }
}
