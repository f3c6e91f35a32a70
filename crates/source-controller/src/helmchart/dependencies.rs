//! A chart's dependencies that come from chart repositories, fetched for the build.

use std::collections::BTreeMap;
use std::sync::Arc;

use driftless_api::meta::ArtifactSource;
use driftless_api::source::{HelmChart, HelmRepository, OCI_REPOSITORY_PREFIX};
use driftless_helm::metadata::Dependency;
use kube::ResourceExt;

use super::build::{self, BuildError};
use super::{Reconciler, remote};
use crate::helmrepository::index::normalize_url;

impl Reconciler {
    /// The archives of `dependencies` from their chart repositories: a HelmRepository of the
    /// chart's namespace with the same URL lends its stored index and credentials, any other
    /// repository is read anonymously, as Flux does.
    pub(super) async fn fetch_dependencies(
        &self,
        object: &HelmChart,
        dependencies: &[Dependency],
    ) -> Result<BTreeMap<String, Vec<u8>>, BuildError> {
        let dependency_error =
            |why: String| BuildError::new(build::BuildErrorReason::DependencyBuild, why);
        let namespace = object.namespace().unwrap_or_default();
        let mut fetched = BTreeMap::new();
        for dependency in dependencies {
            if dependency.repository.starts_with(OCI_REPOSITORY_PREFIX) {
                return Err(dependency_error(format!(
                    "dependency '{}': dependencies from OCI registries are not supported yet; vendor it in charts/",
                    dependency.name
                )));
            }
            let url = normalize_url(&dependency.repository).map_err(|e| {
                dependency_error(format!(
                    "dependency '{}': invalid repository URL '{}': {e}",
                    dependency.name, dependency.repository
                ))
            })?;
            let known = self.sources.helm.as_ref().and_then(|cache| {
                cache.state().into_iter().find(|repository| {
                    repository.namespace().as_deref() == Some(namespace.as_str())
                        && !repository.spec.is_oci()
                        && repository.artifact().is_some()
                        && normalize_url(&repository.spec.url).ok().as_deref() == Some(url.as_str())
                })
            });
            let (repository, index) = match known {
                Some(repository) => {
                    let index = remote::stored_index(&self.storage, &repository).await?;
                    (repository, index)
                }
                None => {
                    let mut anonymous = HelmRepository::new("", Default::default());
                    anonymous.metadata.namespace = Some(namespace.clone());
                    anonymous.spec.url = url.clone();
                    let index = remote::fetch_index(&self.runtime.client, &anonymous).await?;
                    (Arc::new(anonymous), index)
                }
            };
            let wanted = if dependency.version.is_empty() {
                "*"
            } else {
                dependency.version.as_str()
            };
            let entry = index.chart_version(&dependency.name, wanted).map_err(|e| {
                dependency_error(format!(
                    "failed to get chart '{}' version '{wanted}' from '{}': {e}",
                    dependency.name, dependency.repository
                ))
            })?;
            let archive =
                remote::download(&self.runtime.client, &self.downloads, &repository, &entry)
                    .await
                    .map_err(|e| {
                        dependency_error(format!(
                            "chart download of version '{}' failed: {}",
                            entry.version, e.message
                        ))
                    })?;
            fetched.insert(dependency.name.clone(), archive);
        }
        Ok(fetched)
    }
}
