//! Reading files relative to a kustomization, with kustomize's default load restriction:
//! a file must be inside the kustomization's own directory; other kustomization
//! directories (`../base`) may be anywhere but must not form a cycle.

use std::path::{Path, PathBuf};

use crate::fs::{FileSystem, normalize};
use crate::{Error, Result};

#[derive(Clone)]
pub struct Loader<'a> {
    fs: &'a dyn FileSystem,
    root: PathBuf,
    /// Roots of the kustomizations that led here, for cycle detection.
    visited: Vec<PathBuf>,
    restrict_to_root: bool,
}

/// True for references kustomize would fetch over the network.
pub fn is_remote(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [
        "http://",
        "https://",
        "git::",
        "git@",
        "ssh://",
        "file://",
        "github.com/",
        "gitlab.com/",
        "bitbucket.org/",
    ]
    .iter()
    .any(|prefix| lower.starts_with(prefix))
}

impl std::fmt::Debug for Loader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("root", &self.root)
            .field("restrict_to_root", &self.restrict_to_root)
            .finish()
    }
}

impl<'a> Loader<'a> {
    pub fn new(fs: &'a dyn FileSystem, root: &Path, restrict_to_root: bool) -> Result<Loader<'a>> {
        let root = normalize(root);
        if !fs.is_dir(&root) {
            return Err(Error::new(format!(
                "must build at directory: '{}' is not a directory",
                root.display()
            )));
        }
        Ok(Loader {
            fs,
            root: root.clone(),
            visited: vec![root],
            restrict_to_root,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn fs(&self) -> &'a dyn FileSystem {
        self.fs
    }

    /// The absolute path of `path`, checked against the load restriction.
    pub fn resolve_file(&self, path: &str) -> Result<PathBuf> {
        if is_remote(path) {
            return Err(Error::new(format!(
                "{path}: remote resources are not supported (only files in the source)"
            )));
        }
        let full = normalize(&self.root.join(path));
        if self.restrict_to_root && !full.starts_with(&self.root) {
            return Err(Error::new(format!(
                "security; file '{}' is not in or below '{}'",
                full.display(),
                self.root.display()
            )));
        }
        if !self.fs.is_file(&full) {
            if self.fs.is_dir(&full) {
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

    pub fn load(&self, path: &str) -> Result<Vec<u8>> {
        let full = self.resolve_file(path)?;
        self.fs
            .read(&full)
            .map_err(|e| Error::new(format!("{}: {e}", full.display())))
    }

    pub fn load_string(&self, path: &str) -> Result<String> {
        let bytes = self.load(path)?;
        String::from_utf8(bytes).map_err(|_| Error::new(format!("{path}: not valid UTF-8")))
    }

    /// A loader for another kustomization directory.
    pub fn child(&self, path: &str) -> Result<Loader<'a>> {
        if is_remote(path) {
            return Err(Error::new(format!(
                "{path}: remote bases are not supported (only directories in the source)"
            )));
        }
        if Path::new(path).is_absolute() {
            return Err(Error::new(format!("new root '{path}' cannot be absolute")));
        }
        let root = normalize(&self.root.join(path));
        if !self.fs.is_dir(&root) {
            return Err(Error::new(format!(
                "must build at directory: not a valid directory: '{}'",
                root.display()
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
        let mut visited = self.visited.clone();
        visited.push(root.clone());
        Ok(Loader {
            fs: self.fs,
            root,
            visited,
            restrict_to_root: self.restrict_to_root,
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
        let loader = Loader::new(&fs, Path::new("/app/overlay"), true).unwrap();
        assert!(loader.load("patch.yaml").is_ok());
        let error = loader.load("../secret.txt").unwrap_err();
        assert!(error.message().contains("is not in or below"), "{error}");
        assert!(loader.load("https://example.com/x.yaml").is_err());
    }

    #[test]
    fn other_directories_are_allowed_but_not_cycles() {
        let fs = fs();
        let loader = Loader::new(&fs, Path::new("/app/overlay"), true).unwrap();
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
