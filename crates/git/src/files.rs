//! Reading a commit's files, for callers that rewrite them (image automation's setters).

use std::collections::BTreeMap;

use gix::ObjectId;

use crate::GitError;
use crate::tree::{self, TreeError};

/// The regular files of `commit` under `path` (`""` or `"."`: all), keyed by their path from
/// the repository root. Symlinks and submodules are left out. Blocks on disk reads.
pub fn read_files(
    repo: &gix::Repository,
    commit: ObjectId,
    path: &str,
) -> Result<BTreeMap<String, Vec<u8>>, GitError> {
    let prefix = path.trim_start_matches("./").trim_matches('/');
    let prefix = if prefix == "." { "" } else { prefix };
    let listing = tree::list(repo, tree::commit_tree(repo, commit)?)?;
    let mut files = BTreeMap::new();
    for file in listing.files {
        let inside = prefix.is_empty()
            || file.path == prefix
            || file
                .path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'));
        if !inside {
            continue;
        }
        let blob = repo.find_blob(file.id).map_err(|e| TreeError::Object {
            id: file.id.to_string(),
            message: e.to_string(),
        })?;
        files.insert(file.path, blob.detach().data);
    }
    Ok(files)
}
