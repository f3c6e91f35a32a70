//! The source a HelmChart names, read from the watch caches.

use std::sync::Arc;

use driftless_api::conditions::FETCH_FAILED;
use driftless_api::meta::{Artifact, ArtifactSource};
use driftless_api::source::{
    Bucket, GitRepository, HelmChart, HelmChartSourceKind, HelmRepository,
};
use driftless_runtime::kube_errors;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::{Problem, Reconciler};
use crate::failure::Failure;

/// The source a chart names, as read.
pub(super) enum Source {
    Repository(Arc<HelmRepository>),
    /// A GitRepository's or Bucket's artifact.
    Files(Artifact),
}

impl Reconciler {
    /// The source the chart names, from the watch caches (the API server when a cache has
    /// not seen it yet).
    pub(super) async fn source(&self, object: &HelmChart) -> Result<Source, Problem> {
        let namespace = object.namespace().unwrap_or_default();
        let reference = &object.spec.source_ref;
        let kind = match reference.kind {
            HelmChartSourceKind::HelmRepository => "HelmRepository",
            HelmChartSourceKind::GitRepository => "GitRepository",
            HelmChartSourceKind::Bucket => "Bucket",
        };
        let no_artifact = || {
            Problem::NoSourceArtifact(format!(
                "no artifact available for {kind} source '{}'",
                reference.name
            ))
        };
        let files = |artifact: Option<&Artifact>| {
            artifact.cloned().map(Source::Files).ok_or_else(no_artifact)
        };
        match reference.kind {
            HelmChartSourceKind::HelmRepository => {
                let repository = self
                    .lookup::<HelmRepository>(
                        self.sources.helm.as_ref(),
                        &namespace,
                        &reference.name,
                    )
                    .await?;
                if !repository.spec.is_oci() && repository.artifact().is_none() {
                    return Err(no_artifact());
                }
                Ok(Source::Repository(repository))
            }
            HelmChartSourceKind::GitRepository => {
                let repository = self
                    .lookup::<GitRepository>(self.sources.git.as_ref(), &namespace, &reference.name)
                    .await?;
                files(repository.artifact())
            }
            HelmChartSourceKind::Bucket => {
                let bucket = self
                    .lookup::<Bucket>(self.sources.bucket.as_ref(), &namespace, &reference.name)
                    .await?;
                files(bucket.artifact())
            }
        }
    }

    async fn lookup<S>(
        &self,
        cache: Option<&kube::runtime::reflector::Store<S>>,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<S>, Problem>
    where
        S: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        if let Some(found) = cache.and_then(|c| c.get(&ObjectRef::new(name).within(namespace))) {
            return Ok(found);
        }
        let api: Api<S> = Api::namespaced(self.runtime.client.clone(), namespace);
        api.get(name).await.map(Arc::new).map_err(|error| {
            Problem::Failed(Failure {
                condition: FETCH_FAILED,
                reason: "SourceUnavailable",
                message: format!("failed to get source: {}", kube_errors::message(&error)),
                stalled: false,
            })
        })
    }
}
