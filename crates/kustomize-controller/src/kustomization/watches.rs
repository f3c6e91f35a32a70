//! What a Kustomization watches beside itself: its sources (a new artifact reconciles the
//! Kustomizations built from it, read from a cache instead of a GET per reconcile) and the
//! ConfigMaps and Secrets it substitutes variables from.

use driftless_api::kustomize::{Kustomization, SourceKind, SubstituteKind};
use driftless_api::meta::{Artifact, ArtifactSource};
use driftless_api::source::{Bucket, ExternalArtifact, GitRepository, OCIRepository};
use driftless_runtime::conditions as cond;
use driftless_runtime::reconcile::Watches;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;

/// Declares the watches of sources and, with `--watch-configs-label-selector`, of labelled
/// ConfigMaps and Secrets; returns the source caches. ExternalArtifacts are watched only
/// with their feature gate.
pub(super) fn declare(watches: &mut Watches<Kustomization>, external: bool) -> SourceStores {
    let store = watches.objects();
    let external = external.then(|| {
        let (artifacts, changes) = watches.cached::<ExternalArtifact>(watcher::Config::default());
        watches.trigger(
            changes,
            sources_to_kustomizations::<ExternalArtifact>(
                store.clone(),
                SourceKind::ExternalArtifact,
            ),
        );
        artifacts
    });
    let (git, git_changes) = watches.cached::<GitRepository>(watcher::Config::default());
    let (oci, oci_changes) = watches.cached::<OCIRepository>(watcher::Config::default());
    let (bucket, bucket_changes) = watches.cached::<Bucket>(watcher::Config::default());
    watches.trigger(
        git_changes,
        sources_to_kustomizations::<GitRepository>(store.clone(), SourceKind::GitRepository),
    );
    watches.trigger(
        oci_changes,
        sources_to_kustomizations::<OCIRepository>(store.clone(), SourceKind::OciRepository),
    );
    watches.trigger(
        bucket_changes,
        sources_to_kustomizations::<Bucket>(store.clone(), SourceKind::Bucket),
    );
    let selector = watches.context().args.watch_configs_label_selector.clone();
    if !selector.is_empty() {
        // Metadata only: the controller never holds their data.
        let configs = watcher::Config::default().labels(&selector);
        let config_maps = watches.metadata::<ConfigMap>(configs.clone());
        watches.trigger(
            config_maps,
            configs_to_kustomizations::<ConfigMap>(store.clone(), SubstituteKind::ConfigMap),
        );
        let secrets = watches.metadata::<Secret>(configs);
        watches.trigger(
            secrets,
            configs_to_kustomizations::<Secret>(store, SubstituteKind::Secret),
        );
    }
    SourceStores {
        git: Some(git),
        oci: Some(oci),
        bucket: Some(bucket),
        external,
    }
}

/// Caches of the watched sources.
#[derive(Clone, Default)]
pub(super) struct SourceStores {
    git: Option<reflector::Store<GitRepository>>,
    oci: Option<reflector::Store<OCIRepository>>,
    bucket: Option<reflector::Store<Bucket>>,
    external: Option<reflector::Store<ExternalArtifact>>,
}

impl SourceStores {
    /// The artifact of a watched source; `None` when the cache does not hold the source (not
    /// watched, or not yet seen), so the caller asks the API server.
    pub(super) fn artifact(
        &self,
        kind: SourceKind,
        namespace: &str,
        name: &str,
    ) -> Option<Option<Artifact>> {
        fn find<K>(
            store: &Option<reflector::Store<K>>,
            namespace: &str,
            name: &str,
        ) -> Option<Option<Artifact>>
        where
            K: kube::Resource<DynamicType = ()> + ArtifactSource + Clone + 'static,
        {
            let object = store
                .as_ref()?
                .get(&ObjectRef::new(name).within(namespace))?;
            Some(object.artifact().cloned())
        }
        match kind {
            SourceKind::GitRepository => find(&self.git, namespace, name),
            SourceKind::OciRepository => find(&self.oci, namespace, name),
            SourceKind::Bucket => find(&self.bucket, namespace, name),
            SourceKind::ExternalArtifact => find(&self.external, namespace, name),
        }
    }
}

/// Whether `object` builds from the source `kind namespace/name`.
fn uses_source(object: &Kustomization, kind: SourceKind, namespace: &str, name: &str) -> bool {
    let reference = &object.spec.source_ref;
    let own = object.namespace().unwrap_or_default();
    reference.kind == kind
        && reference.name == name
        && reference.namespace.as_deref().unwrap_or(&own) == namespace
}

/// Maps a change of a watched ConfigMap or Secret to the Kustomizations that substitute
/// variables from it.
fn configs_to_kustomizations<C>(
    store: reflector::Store<Kustomization>,
    kind: SubstituteKind,
) -> impl Fn(PartialObjectMeta<C>) -> Vec<ObjectRef<Kustomization>>
where
    C: kube::Resource<DynamicType = ()>,
{
    move |config| {
        let namespace = config.namespace().unwrap_or_default();
        let name = config.name_any();
        store
            .state()
            .iter()
            .filter(|k| k.namespace().as_deref() == Some(namespace.as_str()))
            .filter(|k| {
                k.spec.post_build.as_ref().is_some_and(|post_build| {
                    post_build
                        .substitute_from
                        .iter()
                        .any(|r| r.kind == kind && r.name == name)
                })
            })
            .map(|k| ObjectRef::from_obj(&**k))
            .collect()
    }
}

/// Maps a source event to the Kustomizations built from that source, leaving out those
/// already Ready at its artifact's revision: a new artifact reconciles them, a status write
/// that changes nothing does not.
fn sources_to_kustomizations<S>(
    store: reflector::Store<Kustomization>,
    kind: SourceKind,
) -> impl Fn(S) -> Vec<ObjectRef<Kustomization>>
where
    S: ArtifactSource + ResourceExt,
{
    move |source| {
        let source_namespace = source.namespace().unwrap_or_default();
        let source_name = source.name_any();
        let revision = source.artifact().map(|a| a.revision.as_str());
        store
            .state()
            .iter()
            .filter(|k| uses_source(k, kind, &source_namespace, &source_name))
            .filter(|k| {
                let status = k.status.as_ref();
                let ready = status.is_some_and(|s| {
                    cond::is_true(&s.conditions, driftless_api::conditions::READY)
                });
                !(ready
                    && revision.is_some()
                    && status.and_then(|s| s.last_attempted_revision.as_deref()) == revision)
            })
            .map(|k| ObjectRef::from_obj(&**k))
            .collect()
    }
}
