//! Reading files relative to a kustomization, with kustomize's default load restriction:
//! a file must be inside the kustomization's own directory; other kustomization
//! directories (`../base`) may be anywhere but must not form a cycle. Remote files and Git
//! bases are read through a [`Remote`] when the build has one, refused otherwise.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::fs::{FileSystem, normalize};
use crate::remote::{Remote, RepoSpec, is_remote_file};
use crate::{Error, Result};

/// The caller's file system, or one a remote fetch produced.
#[derive(Clone)]
enum FsHandle<'a> {
    Borrowed(&'a dyn FileSystem),
    Owned(Rc<dyn FileSystem>),
}

#[derive(Clone)]
pub struct Loader<'a> {
    fs: FsHandle<'a>,
    root: PathBuf,
    /// Roots of the kustomizations that led here (in this file system), for cycles.
    visited: Vec<PathBuf>,
    restrict_to_root: bool,
    remote: Option<Rc<dyn Remote>>,
    /// Inside a fetched repository: its root, which bases may not leave.
    repository_root: Option<PathBuf>,
    /// Repositories fetched on the way here, for cycles between repositories.
    visited_repositories: Vec<String>,
}

impl std::fmt::Debug for Loader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("root", &self.root)
            .field("restrict_to_root", &self.restrict_to_root)
            .field("remote", &self.remote.is_some())
            .finish()
    }
}

/// True for references kustomize would fetch over the network.
pub fn is_remote(path: &str) -> bool {
    is_remote_file(path) || RepoSpec::parse(path).is_ok()
}

fn remote_disabled(path: &str) -> Error {
    Error::new(format!(
        "{path}: remote resources are not enabled (only files in the source are read; the CLI's --enable-remote fetches them)"
    ))
}

impl<'a> Loader<'a> {
    pub fn new(
        fs: &'a dyn FileSystem,
        root: &Path,
        restrict_to_root: bool,
        remote: Option<Rc<dyn Remote>>,
    ) -> Result<Loader<'a>> {
        let root = normalize(root);
        if !fs.is_dir(&root) {
            return Err(Error::new(format!(
                "must build at directory: '{}' is not a directory",
                root.display()
            )));
        }
        Ok(Loader {
            fs: FsHandle::Borrowed(fs),
            root: root.clone(),
            visited: vec![root],
            restrict_to_root,
            remote,
            repository_root: None,
            visited_repositories: Vec::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn fs(&self) -> &dyn FileSystem {
        match &self.fs {
            FsHandle::Borrowed(fs) => *fs,
            FsHandle::Owned(fs) => fs.as_ref(),
        }
    }

    /// The absolute path of a local `path`, checked against the load restriction.
    pub fn resolve_file(&self, path: &str) -> Result<PathBuf> {
        if is_remote_file(path) {
            return Err(remote_disabled(path));
        }
        let full = normalize(&self.root.join(path));
        if self.restrict_to_root && !full.starts_with(&self.root) {
            return Err(Error::new(format!(
                "security; file '{}' is not in or below '{}'",
                full.display(),
                self.root.display()
            )));
        }
        if !self.fs().is_file(&full) {
            if self.fs().is_dir(&full) {
                return Err(Error::new(format!(
                    "'{}' must resolve to a file",
                    full.display()
                )));
            }
            return Err(Error::new(format!(
                "{}: no such file or directory",
                full.display()
            )));
        }
        Ok(full)
    }

    /// A file's content: local (restricted), or an `http(s)://` URL through the remote.
    pub fn load(&self, path: &str) -> Result<Vec<u8>> {
        if is_remote_file(path) {
            let remote = self.remote.as_ref().ok_or_else(|| remote_disabled(path))?;
            return remote
                .fetch_file(path)
                .map_err(|e| Error::new(format!("{path}: {e}")));
        }
        let full = self.resolve_file(path)?;
        self.fs()
            .read(&full)
            .map_err(|e| Error::new(format!("{}: {e}", full.display())))
    }

    pub fn load_string(&self, path: &str) -> Result<String> {
        let bytes = self.load(path)?;
        String::from_utf8(bytes).map_err(|_| Error::new(format!("{path}: not valid UTF-8")))
    }

    /// A loader for another kustomization directory: local, or in a Git repository.
    pub fn child(&self, path: &str) -> Result<Loader<'a>> {
        if let Ok(repository) = RepoSpec::parse(path) {
            return self.repository_child(path, &repository);
        }
        if is_remote_file(path) {
            return Err(Error::new(format!(
                "{path}: neither a file nor a Git repository"
            )));
        }
        if Path::new(path).is_absolute() {
            return Err(Error::new(format!("new root '{path}' cannot be absolute")));
        }
        let root = normalize(&self.root.join(path));
        if !self.fs().is_dir(&root) {
            return Err(Error::new(format!(
                "must build at directory: not a valid directory: '{}'",
                root.display()
            )));
        }
        if let Some(repository_root) = &self.repository_root
            && !root.starts_with(repository_root)
        {
            return Err(Error::new(format!(
                "security; bases in kustomizations found in cloned git repos must be within the repo, but base '{}' is outside '{}'",
                root.display(),
                repository_root.display()
            )));
        }
        for visited in &self.visited {
            if visited.starts_with(&root) {
                return Err(Error::new(format!(
                    "cycle detected: candidate root '{}' contains visited root '{}'",
                    root.display(),
                    visited.display()
                )));
            }
        }
        let mut child = self.clone();
        child.visited.push(root.clone());
        child.root = root;
        Ok(child)
    }

    fn repository_child(&self, path: &str, repository: &RepoSpec) -> Result<Loader<'a>> {
        let remote = self.remote.as_ref().ok_or_else(|| remote_disabled(path))?;
        let clone_url = repository.clone_url();
        if self.visited_repositories.contains(&clone_url) {
            return Err(Error::new(format!(
                "cycle detected: repository {clone_url} is already being built"
            )));
        }
        let (fs, checkout) = remote
            .fetch_repository(repository)
            .map_err(|e| Error::new(format!("{path}: {e}")))?;
        let checkout = normalize(&checkout);
        let root = normalize(&checkout.join(&repository.root_path));
        if !fs.is_dir(&root) {
            return Err(Error::new(format!(
                "{path}: '{}' is not a directory in the repository",
                repository.root_path
            )));
        }
        let mut visited_repositories = self.visited_repositories.clone();
        visited_repositories.push(clone_url);
        Ok(Loader {
            fs: FsHandle::Owned(fs),
            root: root.clone(),
            visited: vec![root],
            // Inside a fetched repository kustomize always restricts files to their root.
            restrict_to_root: true,
            remote: self.remote.clone(),
            repository_root: Some(checkout),
            visited_repositories,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    fn fs() -> MemFs {
        let mut fs = MemFs::new();
        fs.add_file("/app/overlay/kustomization.yaml", "");
        fs.add_file("/app/overlay/patch.yaml", "");
        fs.add_file("/app/base/kustomization.yaml", "");
        fs.add_file("/app/secret.txt", "");
        fs
    }

    #[test]
    fn files_outside_the_root_are_refused() {
        let fs = fs();
        let loader = Loader::new(&fs, Path::new("/app/overlay"), true, None).unwrap();
        assert!(loader.load("patch.yaml").is_ok());
        let error = loader.load("../secret.txt").unwrap_err();
        assert!(error.message().contains("is not in or below"), "{error}");
        let remote = loader.load("https://example.com/x.yaml").unwrap_err();
        assert!(
            remote
                .message()
                .contains("remote resources are not enabled"),
            "{remote}"
        );
        assert!(
            loader
                .child("github.com/org/repo//base")
                .unwrap_err()
                .message()
                .contains("not enabled")
        );
    }

    #[test]
    fn other_directories_are_allowed_but_not_cycles() {
        let fs = fs();
        let loader = Loader::new(&fs, Path::new("/app/overlay"), true, None).unwrap();
        let base = loader.child("../base").unwrap();
        assert_eq!(base.root(), Path::new("/app/base"));
        assert!(
            base.child("../overlay").is_err(),
            "overlay -> base -> overlay is a cycle"
        );
        let error = loader.child("..").unwrap_err();
        assert!(error.message().contains("cycle detected"), "{error}");
        assert!(loader.child(".").is_err());
    }
}
