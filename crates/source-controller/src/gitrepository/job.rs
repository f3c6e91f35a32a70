//! The blocking part of a reconcile: fetch the ref (only when its revision is new), verify,
//! read the tree with ignore rules, submodules and includes, and store the artifact — or link
//! one another GitRepository already packed from the same commit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use driftless_api::meta::Artifact;
use driftless_api::source::GIT_OPERATION_FAILED_REASON;
use driftless_runtime::conditions as cond;

use super::failure::Failure;
use super::include::Include;
use super::verification::Verification;
use crate::packed::{PackKey, Packed, PackedCommits};
use crate::storage::Storage;
use driftless_git::{self as git, Credentials, FetchOutcome, FetchRequest, GitRef};

/// What the blocking part of a reconcile produced.
pub(super) enum SourceOutcome {
    Unchanged,
    Stored {
        artifact: Box<Artifact>,
        summary: String,
        /// The SourceVerified message, when verification is configured.
        verified: Option<String>,
        /// Artifacts of `spec.include` copied into this one.
        included: Vec<Artifact>,
    },
}

/// The blocking part of a reconcile, owned so it can move to a blocking thread.
pub(super) struct Job {
    pub url: String,
    pub reference: GitRef,
    pub credentials: Credentials,
    pub timeout: Duration,
    pub work_dir: PathBuf,
    pub ignore: Option<String>,
    pub sparse: Vec<String>,
    pub limits: git::tree::TreeLimits,
    pub storage: Storage,
    pub object_dir: String,
    /// The revision of a valid stored artifact built from the current inputs.
    pub current_revision: Option<String>,
    pub verification: Option<Verification>,
    pub includes: Vec<Include>,
    pub recurse_submodules: bool,
    pub runtime: tokio::runtime::Handle,
    pub packed: PackedCommits,
}

impl Job {
    pub fn run(self, interrupt: &AtomicBool) -> Result<SourceOutcome, Failure> {
        let request = FetchRequest {
            url: &self.url,
            reference: &self.reference,
            credentials: &self.credentials,
            timeout: self.timeout,
            work_dir: &self.work_dir,
            runtime: &self.runtime,
        };
        let current = self.current_revision.as_deref();
        let mut reused = None;
        let outcome = git::fetch(
            &request,
            |resolved| {
                if current == Some(resolved.revision.as_str()) {
                    return true;
                }
                reused = self.reuse_packed(resolved);
                reused.is_some()
            },
            interrupt,
        )?;
        let checkout = match outcome {
            FetchOutcome::Unchanged(resolved) => {
                return Ok(match reused {
                    Some((packed, path)) => SourceOutcome::Stored {
                        artifact: Box::new(self.artifact(
                            path,
                            packed.digest,
                            packed.size,
                            resolved.revision,
                        )),
                        summary: packed.summary,
                        verified: None,
                        included: Vec::new(),
                    },
                    None => SourceOutcome::Unchanged,
                });
            }
            FetchOutcome::Fetched(checkout) => checkout,
        };
        let verified = match &self.verification {
            Some(verification) => Some(verification.check(&checkout)?),
            None => None,
        };
        let repo = &checkout.repo;
        let tree_failure = |e: git::tree::TreeError| {
            Failure::fetch(
                GIT_OPERATION_FAILED_REASON,
                format!("failed to read the source tree: {e}"),
            )
        };
        let tree = git::tree::commit_tree(repo, checkout.resolved.commit).map_err(tree_failure)?;
        let listing = git::tree::list(repo, tree).map_err(tree_failure)?;
        let rules = git::tree::ignore_rules(repo, &listing.files, self.ignore.as_deref())
            .map_err(tree_failure)?;
        let mut files = git::tree::load_files(repo, &listing, &rules, &self.sparse, self.limits)
            .map_err(tree_failure)?;
        if self.recurse_submodules {
            let mut submodules = Vec::new();
            git::submodules::fetch_all(
                &request,
                repo,
                &listing,
                "",
                0,
                interrupt,
                &mut submodules,
            )?;
            for submodule in &submodules {
                files.extend(
                    git::tree::load_files(
                        &submodule.checkout.repo,
                        &submodule.listing,
                        &rules,
                        &self.sparse,
                        self.limits,
                    )
                    .map_err(tree_failure)?,
                );
            }
        }
        if !self.includes.is_empty() {
            // Included content replaces whatever the repository has at the same path.
            let mut by_path: BTreeMap<String, driftless_artifact::FileEntry> =
                files.into_iter().map(|f| (f.path.clone(), f)).collect();
            for include in &self.includes {
                if !include.to.is_empty() {
                    let dir = format!("{}/", include.to);
                    by_path.retain(|path, _| path != &include.to && !path.starts_with(&dir));
                }
                for file in include.files(self.limits)? {
                    by_path.insert(file.path.clone(), file);
                }
            }
            files = by_path.into_values().collect();
        }
        let stored = self
            .storage
            .store_by_digest(&self.object_dir, files)
            .map_err(|e| {
                Failure::storage(
                    driftless_api::conditions::ARCHIVE_OPERATION_FAILED,
                    format!("failed to archive the source: {e}"),
                )
            })?;
        let (stored, path) = stored;
        let digest = stored.digest.to_string();
        let size = i64::try_from(stored.size).ok();
        let summary = checkout.summary();
        if let Some(key) = self.pack_key(&checkout.resolved) {
            self.packed.insert(
                key,
                Packed {
                    path: path.clone(),
                    digest: digest.clone(),
                    size,
                    summary: summary.clone(),
                },
            );
        }
        Ok(SourceOutcome::Stored {
            artifact: Box::new(self.artifact(
                path,
                digest,
                size,
                checkout.resolved.revision.clone(),
            )),
            summary,
            verified,
            included: self.includes.iter().map(|i| i.artifact.clone()).collect(),
        })
    }

    /// The key this job's artifact of `resolved` is shared under, when its content depends on
    /// nothing but the repository, the commit and the ignore and sparse settings.
    fn pack_key(&self, resolved: &git::Resolved) -> Option<PackKey> {
        let shareable =
            self.verification.is_none() && self.includes.is_empty() && !self.recurse_submodules;
        shareable.then(|| PackKey {
            url: self.url.clone(),
            commit: resolved.commit.to_string(),
            ignore: self.ignore.clone(),
            sparse: self.sparse.clone(),
        })
    }

    /// Links an artifact another GitRepository packed from `resolved` into this object's
    /// directory. Returns it and its new path, or `None` to fetch and pack as usual.
    fn reuse_packed(&self, resolved: &git::Resolved) -> Option<(Packed, String)> {
        // A bare commit is resolved without asking the server, so nothing would have proven
        // that this object's credentials can read the repository.
        if matches!(self.reference, GitRef::Commit { .. }) {
            return None;
        }
        let key = self.pack_key(resolved)?;
        let packed = self.packed.get(&key)?;
        match self
            .storage
            .link_by_digest(&packed.path, &packed.digest, &self.object_dir)
        {
            Ok(path) => Some((packed, path)),
            Err(error) => {
                tracing::debug!(%error, "cannot reuse a packed artifact; fetching instead");
                self.packed.remove(&key);
                None
            }
        }
    }

    fn artifact(
        &self,
        path: String,
        digest: String,
        size: Option<i64>,
        revision: String,
    ) -> Artifact {
        Artifact {
            url: self.storage.url(&path),
            path,
            revision,
            digest,
            last_update_time: cond::now(),
            size,
            metadata: None,
        }
    }
}
