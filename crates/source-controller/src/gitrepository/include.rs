//! `spec.include`: other GitRepositories' artifacts copied into this one, each verified
//! against its digest and moved under its `toPath`.

use driftless_api::meta::Artifact;
use driftless_api::source::{GitRepository, INCLUDE_UNAVAILABLE_CONDITION};
use driftless_runtime::kube_errors;
use kube::ResourceExt;
use kube::api::Api;
use std::path::PathBuf;

use super::Reconciler;
use super::failure::Failure;
use driftless_git as git;

/// An included artifact: its file in storage, which subtree to take and where to put it.
pub(super) struct Include {
    pub artifact: Artifact,
    pub file: PathBuf,
    /// Subdirectory of the included artifact (empty: all of it).
    pub from: String,
    /// Destination directory in this artifact (empty: the root).
    pub to: String,
}

impl Include {
    /// The included files, verified against the artifact's digest, moved under `to`.
    pub fn files(
        &self,
        limits: git::tree::TreeLimits,
    ) -> Result<Vec<driftless_artifact::FileEntry>, Failure> {
        let failed = |message: String| Failure {
            condition: INCLUDE_UNAVAILABLE_CONDITION,
            reason: "CopyFailed",
            message,
            stalled: false,
        };
        let digest: driftless_artifact::Digest = self
            .artifact
            .digest
            .parse()
            .map_err(|e| failed(format!("included artifact {}: {e}", self.artifact.path)))?;
        let file = std::fs::File::open(&self.file).map_err(|e| {
            failed(format!(
                "reading included artifact {}: {e}",
                self.artifact.path
            ))
        })?;
        let tree = driftless_artifact::unpack_to_memory(
            std::io::BufReader::new(file),
            &digest,
            driftless_artifact::Limits {
                max_compressed_bytes: u64::MAX,
                max_uncompressed_bytes: limits.max_bytes,
                max_files: limits.max_files,
            },
        )
        .map_err(|e| failed(format!("included artifact {}: {e}", self.artifact.path)))?;
        let prefix = if self.from.is_empty() {
            String::new()
        } else {
            format!("{}/", self.from)
        };
        Ok(tree
            .into_iter()
            .filter_map(|(path, file)| {
                let rest = path.strip_prefix(&prefix)?;
                let path = if self.to.is_empty() {
                    rest.to_owned()
                } else {
                    format!("{}/{rest}", self.to)
                };
                Some(driftless_artifact::FileEntry {
                    path,
                    executable: file.executable,
                    data: file.data,
                })
            })
            .collect())
    }
}

impl Reconciler {
    /// The artifacts `spec.include` names, each with where its files go. Every included
    /// GitRepository must exist and have an artifact.
    pub(super) async fn includes(&self, object: &GitRepository) -> Result<Vec<Include>, Failure> {
        let namespace = object.namespace().unwrap_or_default();
        let api: Api<GitRepository> = Api::namespaced(self.runtime.client.clone(), &namespace);
        let unavailable = |reason: &'static str, message: String| Failure {
            condition: INCLUDE_UNAVAILABLE_CONDITION,
            reason,
            message,
            stalled: false,
        };
        let mut includes = Vec::new();
        for include in &object.spec.include {
            let name = &include.repository.name;
            let included = api.get(name).await.map_err(|e| {
                unavailable(
                    "NotFound",
                    format!(
                        "could not get resource for include '{name}': {}",
                        kube_errors::message(&e)
                    ),
                )
            })?;
            let artifact = included.status.and_then(|s| s.artifact).ok_or_else(|| {
                unavailable(
                    "NoArtifact",
                    format!("no artifact available for include '{name}'"),
                )
            })?;
            let path = |value: Option<&str>, field: &str| -> Result<String, Failure> {
                match value
                    .map(str::trim)
                    .filter(|v| !v.is_empty() && *v != "." && *v != "./")
                {
                    None => Ok(String::new()),
                    Some(value) => {
                        driftless_artifact::normalize_path(value).map_err(|reason| Failure {
                            condition: INCLUDE_UNAVAILABLE_CONDITION,
                            reason: "InvalidPath",
                            message: format!("include '{name}': {field} '{value}' {reason}"),
                            stalled: true,
                        })
                    }
                }
            };
            let from = path(include.from_path.as_deref(), "fromPath")?;
            let to = path(Some(include.to_path()), "toPath")?;
            includes.push(Include {
                file: self.storage.root().join(&artifact.path),
                artifact,
                from,
                to,
            });
        }
        Ok(includes)
    }
}
