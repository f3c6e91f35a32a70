use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use tar::{EntryType, Header};

use crate::digest::{Digest, HashingWriter};
use crate::normalize_path;

const FILE_MODE: u32 = 0o600;
const EXECUTABLE_MODE: u32 = 0o700;
const DIR_MODE: u32 = 0o750;
/// gzip's "unknown" operating system, so the header does not depend on the build host.
const GZIP_OS_UNKNOWN: u8 = 255;

/// One regular file of the tree to pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative, `/`-separated path.
    pub path: String,
    pub executable: bool,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("path {path:?} {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("path {0:?} appears twice")]
    DuplicatePath(String),
    #[error("path {0:?} is both a file and a directory")]
    FileIsDirectory(String),
    #[error("writing the artifact: {0}")]
    Io(#[from] io::Error),
}

/// Writes `entries` as a deterministic tar.gz to `out` and returns `out`.
///
/// Directories are implied by file paths and written before their contents; only regular
/// files and directories appear, with mtime 0, uid/gid 0, no owner names and modes 0600
/// (files), 0700 (executables) and 0750 (directories).
pub fn pack<W: Write>(
    entries: impl IntoIterator<Item = FileEntry>,
    out: W,
) -> Result<W, PackError> {
    // Component-wise ordering puts every directory right before its contents.
    let mut files: BTreeMap<Vec<String>, FileEntry> = BTreeMap::new();
    for mut entry in entries {
        let path = normalize_path(&entry.path).map_err(|reason| PackError::InvalidPath {
            path: entry.path.clone(),
            reason,
        })?;
        entry.path = path;
        let key: Vec<String> = entry.path.split('/').map(str::to_owned).collect();
        if files.contains_key(&key) {
            return Err(PackError::DuplicatePath(entry.path));
        }
        files.insert(key, entry);
    }
    let mut dirs: BTreeSet<Vec<String>> = BTreeSet::new();
    for key in files.keys() {
        for end in 1..key.len() {
            dirs.insert(key[..end].to_vec());
        }
    }
    if let Some(clash) = dirs.iter().find(|d| files.contains_key(*d)) {
        return Err(PackError::FileIsDirectory(clash.join("/")));
    }

    let gzip = GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNKNOWN)
        .write(out, Compression::default());
    let mut tar = tar::Builder::new(gzip);
    let mut dirs = dirs.into_iter().peekable();
    let mut files = files.into_iter().peekable();
    loop {
        let next_is_dir = match (dirs.peek(), files.peek()) {
            (Some(dir), Some((file, _))) => dir < file,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if next_is_dir {
            if let Some(dir) = dirs.next() {
                let mut header = header(EntryType::Directory, DIR_MODE, 0);
                tar.append_data(&mut header, format!("{}/", dir.join("/")), io::empty())?;
            }
        } else if let Some((_, file)) = files.next() {
            let mode = if file.executable {
                EXECUTABLE_MODE
            } else {
                FILE_MODE
            };
            let mut header = header(EntryType::Regular, mode, file.data.len() as u64);
            tar.append_data(&mut header, &file.path, file.data.as_slice())?;
        }
    }
    let gzip = tar.into_inner()?;
    Ok(gzip.finish()?)
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    // Empty owner names: the fields are zero-filled by new_gnu and stay that way.
    header
}

/// An artifact written to storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredArtifact {
    pub path: PathBuf,
    pub digest: Digest,
    pub size: u64,
}

/// Packs `entries` into `dir/file_name` atomically: the archive is written and synced to a
/// temporary file in `dir`, then renamed over the destination. Readers see the old file or
/// the new one, never a partial write.
pub fn store(
    dir: &Path,
    file_name: &str,
    entries: impl IntoIterator<Item = FileEntry>,
) -> Result<StoredArtifact, PackError> {
    store_named(dir, entries, |_| file_name.to_owned())
}

/// Like [`store`], naming the file `<hex digest>.tar.gz`: the same content always lands at
/// the same path, and a path never changes content under a reader.
pub fn store_by_digest(
    dir: &Path,
    entries: impl IntoIterator<Item = FileEntry>,
) -> Result<StoredArtifact, PackError> {
    store_named(dir, entries, |digest| format!("{}.tar.gz", digest.hex()))
}

fn store_named(
    dir: &Path,
    entries: impl IntoIterator<Item = FileEntry>,
    file_name: impl FnOnce(&Digest) -> String,
) -> Result<StoredArtifact, PackError> {
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".tar.gz")
        .tempfile_in(dir)?;
    let writer = pack(
        entries,
        HashingWriter::new(BufWriter::new(temp.as_file_mut())),
    )?;
    let (buffered, digest, size) = writer.finish();
    buffered
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    let path = dir.join(file_name(&digest));
    temp.persist(&path).map_err(|e| PackError::Io(e.error))?;
    Ok(StoredArtifact { path, digest, size })
}
