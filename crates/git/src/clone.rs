//! A bare clone kept on disk between runs, in a directory the caller owns (one per source):
//! each [`LocalClone::sync`] fetches only what is new. A missing or unreadable directory is
//! cloned afresh. Nothing here writes refs except the fetch itself; commits made with
//! [`crate::commit_changes`] live in the object database until they are pushed.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use gix::ObjectId;

use crate::fetch::fetch_refspec;
use crate::session::{Connector, check_url};
use crate::{Endpoint, GitError, GitRef, init_minimal_bare, open_isolated};

/// The kept clone, after a fetch of the followed reference.
pub struct LocalClone {
    repo: gix::Repository,
    reference: String,
    head: ObjectId,
    recloned: bool,
}

impl LocalClone {
    /// Opens (or creates) the bare clone in `dir` and fetches `reference` from
    /// `endpoint`, with full history so pushes can be built on it. Branches, tags, full ref
    /// names and commits on a branch are supported; semver ranges and bare commits are not
    /// (an image automation pushes to a branch). Blocks.
    pub fn sync(
        dir: &Path,
        endpoint: &Endpoint<'_>,
        reference: &GitRef,
        interrupt: &AtomicBool,
    ) -> Result<Self, GitError> {
        check_url(endpoint.url)?;
        let full_name = match reference {
            GitRef::Branch(_) | GitRef::Tag(_) | GitRef::Name(_) => reference.full_name().0,
            GitRef::Commit {
                branch: Some(branch),
                ..
            } => format!("refs/heads/{branch}"),
            GitRef::Commit { branch: None, .. } | GitRef::Semver(_) => {
                return Err(GitError::Repository(
                    "a kept clone follows a branch, tag or ref name, not a semver range or a \
                     bare commit"
                        .into(),
                ));
            }
        };
        let (repo, recloned) = open_or_init(dir)?;
        let mut clone = Self {
            repo,
            reference: full_name,
            head: ObjectId::null(gix::hash::Kind::Sha1),
            recloned,
        };
        match clone.fetch(dir, endpoint, reference, interrupt) {
            // A fetch into a damaged repository can fail where a fresh clone works.
            Err(GitError::Fetch { .. } | GitError::Repository(_)) if !clone.recloned => {
                let repo = reinit(dir)?;
                clone.repo = repo;
                clone.recloned = true;
                clone.fetch(dir, endpoint, reference, interrupt)?;
            }
            other => other?,
        }
        Ok(clone)
    }

    fn fetch(
        &mut self,
        dir: &Path,
        endpoint: &Endpoint<'_>,
        reference: &GitRef,
        interrupt: &AtomicBool,
    ) -> Result<(), GitError> {
        let connector = Connector::new(endpoint, dir)?;
        connector.configure(&mut self.repo)?;
        let refspec = format!("+{0}:{0}", self.reference);
        fetch_refspec(&connector, &self.repo, &refspec, None, interrupt)?;
        let tip = self
            .repo
            .find_reference(self.reference.as_str())
            .map_err(|e| GitError::Repository(format!("reading {}: {e}", self.reference)))?
            .peel_to_commit()
            .map_err(|e| GitError::Repository(format!("peeling {}: {e}", self.reference)))?
            .id;
        self.head = match reference {
            GitRef::Commit { sha, .. } => {
                let commit =
                    ObjectId::from_hex(sha.as_bytes()).map_err(|e| GitError::InvalidUrl {
                        url: endpoint.url.to_owned(),
                        reason: format!("invalid commit SHA '{sha}': {e}"),
                    })?;
                self.repo
                    .find_commit(commit)
                    .map_err(|_| GitError::CommitNotFound(sha.clone()))?;
                commit
            }
            _ => tip,
        };
        Ok(())
    }

    /// The repository, to read from ([`crate::read_files`]) and to commit into.
    pub fn repo(&self) -> &gix::Repository {
        &self.repo
    }

    /// The commit the followed reference points at (for a commit reference: that commit).
    pub fn head(&self) -> ObjectId {
        self.head
    }

    /// The full name of the followed reference on the remote, e.g. `refs/heads/main`.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Whether this sync started from an empty directory (first run, or the old clone was
    /// missing or unreadable).
    pub fn recloned(&self) -> bool {
        self.recloned
    }
}

fn open_or_init(dir: &Path) -> Result<(gix::Repository, bool), GitError> {
    if dir.join("HEAD").is_file()
        && let Ok(repo) = open_isolated(dir)
    {
        return Ok((repo, false));
    }
    reinit(dir).map(|repo| (repo, true))
}

/// Replaces whatever is in `dir` with an empty bare repository.
fn reinit(dir: &Path) -> Result<gix::Repository, GitError> {
    let failed = |e: std::io::Error| {
        GitError::Repository(format!("creating a clone in {}: {e}", dir.display()))
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(failed)?;
    }
    std::fs::create_dir_all(dir).map_err(failed)?;
    init_minimal_bare(dir).map_err(failed)?;
    open_isolated(dir)
}
