//! New commits without a worktree: changed files are written as blobs, the parent's tree is
//! edited into a new one, and the commit object (signed when asked) goes into the object
//! database. No ref is moved; the caller pushes the returned id.

use std::collections::BTreeMap;

use gix::ObjectId;
use gix::objs::WriteTo;
use gix::objs::tree::EntryKind;

use crate::sign::{CommitSigner, SignError};

/// An author or committer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// Offset from UTC in seconds (east positive), as git records it.
    pub utc_offset: i32,
}

/// What [`commit_changes`] writes.
pub struct CommitRequest<'a> {
    /// The commit the new one follows; its tree is the starting point.
    pub parent: ObjectId,
    /// Path from the repository root → the file's new content. Existing files keep their
    /// mode (an executable stays executable); new files are regular files.
    pub changes: &'a BTreeMap<String, Vec<u8>>,
    pub author: &'a Person,
    pub committer: &'a Person,
    pub message: &'a str,
    pub signer: Option<&'a CommitSigner>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("'{0}' is not a valid file path in a repository")]
    InvalidPath(String),
    #[error("'{0}' is a directory or submodule in the parent commit, not a file")]
    NotAFile(String),
    #[error("writing the commit: {0}")]
    Object(String),
    #[error("signing the commit: {0}")]
    Sign(#[from] SignError),
}

fn object_error(error: impl std::fmt::Display) -> CommitError {
    CommitError::Object(error.to_string())
}

/// Rejects paths git itself would refuse, so a rewrite cannot escape into `.git` or create
/// odd tree entries.
fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && !part.eq_ignore_ascii_case(".git")
                && !part.contains(['\0', '\\'])
        })
}

/// Writes `request.changes` as a commit on top of `request.parent` and returns its id, or
/// `None` when the files already hold that content (nothing to commit). Blocks on disk
/// writes.
pub fn commit_changes(
    repo: &gix::Repository,
    request: &CommitRequest<'_>,
) -> Result<Option<ObjectId>, CommitError> {
    let parent_tree = repo
        .find_commit(request.parent)
        .and_then(|c| c.tree_id().map(|id| id.detach()))
        .map_err(object_error)?;
    let mut editor = repo.edit_tree(parent_tree).map_err(object_error)?;
    for (path, content) in request.changes {
        if !valid_path(path) {
            return Err(CommitError::InvalidPath(path.clone()));
        }
        let kind = match editor.get(path.as_str()).map(|entry| entry.mode().kind()) {
            None | Some(EntryKind::Blob) => EntryKind::Blob,
            Some(EntryKind::BlobExecutable) => EntryKind::BlobExecutable,
            // A symlink is replaced by a regular file, as writing through a checkout would.
            Some(EntryKind::Link) => EntryKind::Blob,
            Some(EntryKind::Tree | EntryKind::Commit) => {
                return Err(CommitError::NotAFile(path.clone()));
            }
        };
        let blob = repo.write_blob(content).map_err(object_error)?;
        editor
            .upsert(path.as_str(), kind, blob.detach())
            .map_err(object_error)?;
    }
    let tree = editor.write().map_err(object_error)?.detach();
    if tree == parent_tree {
        return Ok(None);
    }
    let signature = |person: &Person| gix::actor::Signature {
        name: person.name.as_str().into(),
        email: person.email.as_str().into(),
        time: gix::date::Time {
            seconds: person.time,
            offset: person.utc_offset,
        },
    };
    let mut commit = gix::objs::Commit {
        tree,
        parents: [request.parent].into_iter().collect(),
        author: signature(request.author),
        committer: signature(request.committer),
        encoding: None,
        message: request.message.into(),
        extra_headers: Vec::new(),
    };
    if let Some(signer) = request.signer {
        // The signature covers the commit exactly as written without its own header.
        let mut payload = Vec::new();
        commit.write_to(&mut payload).map_err(object_error)?;
        let armored = signer.sign(&payload)?;
        commit
            .extra_headers
            .push(("gpgsig".into(), armored.trim_end_matches('\n').into()));
    }
    let id = repo.write_object(&commit).map_err(object_error)?;
    Ok(Some(id.detach()))
}

#[cfg(test)]
mod tests {
    use super::valid_path;

    #[test]
    fn paths_that_git_refuses_are_invalid() {
        assert!(valid_path("apps/podinfo/deploy.yaml"));
        assert!(valid_path("README.md"));
        for bad in [
            "",
            "/abs",
            "a//b",
            "a/../b",
            "./a",
            ".git/config",
            "a/.GIT/x",
            "a\\b",
        ] {
            assert!(!valid_path(bad), "{bad}");
        }
    }
}
