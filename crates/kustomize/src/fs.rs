//! The file systems a build reads from: an in-memory tree (an unpacked artifact) or a
//! directory on disk. Paths are absolute and lexically normalised; `..` never escapes `/`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

pub trait FileSystem {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn is_dir(&self, path: &Path) -> bool;
    fn is_file(&self, path: &Path) -> bool;
    /// Names of the entries of a directory, sorted.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>>;
}

/// `path` without `.` and `..` components (resolved lexically), always absolute.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Files held in memory, keyed by absolute path; directories are implied by the files
/// under them (plus any added explicitly).
#[derive(Clone, Debug, Default)]
pub struct MemFs {
    files: BTreeMap<PathBuf, Vec<u8>>,
    dirs: std::collections::BTreeSet<PathBuf>,
}

impl MemFs {
    pub fn new() -> MemFs {
        let mut fs = MemFs::default();
        fs.dirs.insert(PathBuf::from("/"));
        fs
    }

    pub fn add_file(&mut self, path: impl AsRef<Path>, contents: impl Into<Vec<u8>>) {
        let path = normalize(path.as_ref());
        let mut parent = path.parent();
        while let Some(dir) = parent {
            self.dirs.insert(dir.to_path_buf());
            parent = dir.parent();
        }
        self.files.insert(path, contents.into());
    }

    pub fn add_dir(&mut self, path: impl AsRef<Path>) {
        let mut dir = Some(normalize(path.as_ref()));
        while let Some(d) = dir {
            dir = d.parent().map(Path::to_path_buf);
            self.dirs.insert(d);
        }
    }
}

impl FileSystem for MemFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let path = normalize(path);
        match self.files.get(&path) {
            Some(contents) => Ok(contents.clone()),
            None if self.dirs.contains(&path) => Err(io::Error::other(format!(
                "{} is a directory",
                path.display()
            ))),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file", path.display()),
            )),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.dirs.contains(&normalize(path))
    }

    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(&normalize(path))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let dir = normalize(path);
        if !self.dirs.contains(&dir) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such directory", dir.display()),
            ));
        }
        let child_name = |p: &PathBuf| -> Option<String> {
            if p.parent() != Some(dir.as_path()) {
                return None;
            }
            Some(p.file_name()?.to_string_lossy().into_owned())
        };
        let mut names: Vec<String> = self.files.keys().filter_map(child_name).collect();
        names.extend(
            self.dirs
                .iter()
                .filter(|d| **d != dir)
                .filter_map(child_name),
        );
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiskFs;

impl FileSystem for DiskFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = std::fs::read_dir(path)?
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<Vec<_>>>()?;
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots_without_escaping_root() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../../x")), PathBuf::from("/x"));
        assert_eq!(normalize(Path::new("a/b")), PathBuf::from("/a/b"));
    }

    #[test]
    fn mem_fs_lists_files_and_implied_directories() {
        let mut fs = MemFs::new();
        fs.add_file("/app/kustomization.yaml", "resources: []");
        fs.add_file("/app/base/deploy.yaml", "kind: Deployment");
        fs.add_dir("/app/empty");
        assert!(fs.is_dir(Path::new("/app/base")));
        assert!(fs.is_file(Path::new("/app/base/../kustomization.yaml")));
        assert_eq!(
            fs.read_dir(Path::new("/app")).unwrap(),
            ["base", "empty", "kustomization.yaml"]
        );
        assert!(fs.read(Path::new("/app/base")).is_err());
        assert_eq!(
            fs.read(Path::new("/missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
