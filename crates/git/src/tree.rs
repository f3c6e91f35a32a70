//! Reading a commit's tree from the object database into artifact entries: names validated
//! (a hostile server can send any tree), `.sourceignore` and `spec.ignore` applied the way
//! Flux applies them, sparse checkout honoured, symlinks dropped as Flux's archiver drops them,
//! and sizes bounded before any blob is loaded.

use driftless_artifact::FileEntry;
use driftless_artifact::ignore::{IgnoreRules, SOURCEIGNORE_FILE};
use gix::ObjectId;

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("reading git object {id}: {message}")]
    Object { id: String, message: String },
    #[error("tree entry {path:?} has an unsafe name")]
    UnsafeName { path: String },
    #[error("the source is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the source has more than {limit} files")]
    TooManyFiles { limit: usize },
    #[error("submodule at '{path}' is not supported without recurseSubmodules")]
    Submodule { path: String },
}

/// Bounds on what one artifact may hold.
#[derive(Clone, Copy, Debug)]
pub struct TreeLimits {
    pub max_bytes: u64,
    pub max_files: usize,
}

impl Default for TreeLimits {
    fn default() -> Self {
        Self {
            max_bytes: 512 << 20,
            max_files: 100_000,
        }
    }
}

/// One blob of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeFile {
    pub path: String,
    pub executable: bool,
    pub id: ObjectId,
}

/// Everything a commit's tree holds that can end up in an artifact.
#[derive(Debug, Default)]
pub struct Listing {
    /// Regular files in depth-first name order.
    pub files: Vec<TreeFile>,
    /// Gitlinks: `(path, commit)`.
    pub submodules: Vec<(String, ObjectId)>,
}

fn object_error(id: ObjectId, e: &gix::Error) -> TreeError {
    TreeError::Object {
        id: id.to_string(),
        message: e.to_string(),
    }
}

/// Lists `tree` recursively.
pub fn list(repo: &gix::Repository, tree: ObjectId) -> Result<Listing, TreeError> {
    let mut listing = Listing::default();
    walk(repo, tree, "", &mut listing)?;
    Ok(listing)
}

/// The root tree of `commit`.
pub fn commit_tree(repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId, TreeError> {
    repo.find_commit(commit)
        .and_then(|c| c.tree_id().map(|id| id.detach()))
        .map_err(|e| object_error(commit, &e))
}

fn walk(
    repo: &gix::Repository,
    id: ObjectId,
    prefix: &str,
    out: &mut Listing,
) -> Result<(), TreeError> {
    let tree = repo.find_tree(id).map_err(|e| object_error(id, &e))?;
    let decoded = tree.decode().map_err(|e| object_error(id, &e))?;
    for entry in decoded.entries {
        let name = entry.filename.to_string();
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return Err(TreeError::UnsafeName { path });
        }
        let oid = entry.oid.to_owned();
        if entry.mode.is_tree() {
            walk(repo, oid, &path, out)?;
        } else if entry.mode.is_commit() {
            out.submodules.push((path, oid));
        } else if entry.mode.is_blob() {
            out.files.push(TreeFile {
                path,
                executable: entry.mode.is_executable(),
                id: oid,
            });
        }
        // Symlinks (`is_link`) are dropped, as Flux's archiver keeps only regular files.
    }
    Ok(())
}

/// Whether `path` lies inside one of the sparse-checkout directories (all paths when none).
fn in_sparse_checkout(path: &str, dirs: &[String]) -> bool {
    dirs.is_empty()
        || dirs.iter().any(|dir| {
            let dir = dir.trim_matches('/').trim_start_matches("./");
            dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"))
        })
}

/// The ignore rules of a listing: every `.sourceignore` (scoped to its directory), then
/// `spec_ignore`.
pub fn ignore_rules(
    repo: &gix::Repository,
    files: &[TreeFile],
    spec_ignore: Option<&str>,
) -> Result<IgnoreRules, TreeError> {
    let mut sources: Vec<(String, String)> = Vec::new();
    for file in files {
        let (dir, name) = match file.path.rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", file.path.as_str()),
        };
        if name == SOURCEIGNORE_FILE {
            let blob = repo
                .find_blob(file.id)
                .map_err(|e| object_error(file.id, &e))?;
            sources.push((
                dir.to_owned(),
                String::from_utf8_lossy(&blob.data).into_owned(),
            ));
        }
    }
    // Root first, then subdirectories depth-first in name order.
    sources.sort_by(|a, b| {
        let depth = |d: &str| if d.is_empty() { 0 } else { 1 };
        depth(&a.0).cmp(&depth(&b.0)).then_with(|| a.0.cmp(&b.0))
    });
    Ok(IgnoreRules::for_source(
        sources.iter().map(|(d, c)| (d.as_str(), c.as_str())),
        spec_ignore,
    ))
}

/// Whether `path` or any of its parent directories is excluded.
pub fn excluded(rules: &IgnoreRules, path: &str) -> bool {
    let mut end = 0;
    while let Some(offset) = path[end..].find('/') {
        end += offset;
        if rules.is_excluded(&path[..end], true) {
            return true;
        }
        end += 1;
    }
    rules.is_excluded(path, false)
}

/// Loads the files that survive ignore rules and sparse checkout, within `limits`.
pub fn load_files(
    repo: &gix::Repository,
    listing: &Listing,
    rules: &IgnoreRules,
    sparse: &[String],
    limits: TreeLimits,
) -> Result<Vec<FileEntry>, TreeError> {
    let kept: Vec<&TreeFile> = listing
        .files
        .iter()
        .filter(|f| in_sparse_checkout(&f.path, sparse) && !excluded(rules, &f.path))
        .collect();
    if kept.len() > limits.max_files {
        return Err(TreeError::TooManyFiles {
            limit: limits.max_files,
        });
    }
    // Sizes come from object headers, so an oversized source is refused before it is read.
    let mut total = 0u64;
    for file in &kept {
        let header = repo
            .find_header(file.id)
            .map_err(|e| object_error(file.id, &e))?;
        total = total.saturating_add(header.size());
        if total > limits.max_bytes {
            return Err(TreeError::TooLarge {
                limit: limits.max_bytes,
            });
        }
    }
    kept.into_iter()
        .map(|file| {
            let blob = repo
                .find_blob(file.id)
                .map_err(|e| object_error(file.id, &e))?;
            Ok(FileEntry {
                path: file.path.clone(),
                executable: file.executable,
                data: blob.detach().data,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_checkout_selects_directories() {
        let dirs = vec!["apps/".to_owned(), "./infra".to_owned()];
        assert!(in_sparse_checkout("apps/x.yaml", &dirs));
        assert!(in_sparse_checkout("infra/a/b.yaml", &dirs));
        assert!(!in_sparse_checkout("appsx/y.yaml", &dirs));
        assert!(!in_sparse_checkout("README.md", &dirs));
        assert!(in_sparse_checkout("README.md", &[]));
    }

    #[test]
    fn a_file_under_an_excluded_directory_is_excluded() {
        let rules = IgnoreRules::for_source([("", "build/\n")], None);
        assert!(excluded(&rules, "build/out/app.yaml"));
        assert!(excluded(&rules, "a/build/app.yaml"));
        assert!(!excluded(&rules, "builds/app.yaml"));
        // The VCS excludes always apply.
        assert!(excluded(&rules, ".git/config"));
        let defaults = IgnoreRules::for_source([], None);
        assert!(excluded(&defaults, "logo.png"));
        assert!(excluded(&defaults, ".github/workflows/ci.yaml"));
        assert!(!excluded(&defaults, "deploy/app.yaml"));
    }
}
