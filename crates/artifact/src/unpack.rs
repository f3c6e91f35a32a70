use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::GzDecoder;
use tar::EntryType;

use crate::digest::{Digest, HashingReader};
use crate::normalize_path;

/// Bounds on what an artifact may expand to; protects consumers from hostile or broken
/// archives (gzip bombs, millions of files).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_compressed_bytes: u64,
    pub max_uncompressed_bytes: u64,
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_compressed_bytes: 256 << 20,
            max_uncompressed_bytes: 1 << 30,
            max_files: 100_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileData {
    pub executable: bool,
    pub data: Vec<u8>,
}

/// An unpacked artifact: relative `/`-separated path → file.
pub type Tree = BTreeMap<String, FileData>;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("artifact digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("unsafe path {path:?} in artifact: {reason}")]
    UnsafePath { path: String, reason: String },
    #[error("artifact entry {path:?} is a {kind}; only regular files and directories are allowed")]
    UnsupportedEntry { path: String, kind: String },
    #[error("artifact entry {0:?} appears twice")]
    DuplicatePath(String),
    #[error("artifact exceeds {0}")]
    TooLarge(String),
    #[error("artifact holds more than {0} files")]
    TooManyFiles(usize),
    #[error("artifact is not a valid tar.gz: {0}")]
    Corrupt(io::Error),
    #[error("writing unpacked artifact: {0}")]
    Io(io::Error),
}

/// Whether an archive path names the root: only `.` and `/` separators.
fn is_root(raw: &str) -> bool {
    !raw.is_empty()
        && raw.split('/').all(|part| part.is_empty() || part == ".")
        && !raw.starts_with('/')
}

/// Unpacks into memory. Returns the tree only if the stream's sha256 equals `expected`.
pub fn unpack_to_memory<R: Read>(
    reader: R,
    expected: &Digest,
    limits: Limits,
) -> Result<Tree, UnpackError> {
    let mut tree = Tree::new();
    verified(reader, expected, limits, |entry| {
        if let Unpacked::File {
            path,
            executable,
            data,
        } = entry
        {
            if tree.contains_key(&path) {
                return Err(UnpackError::DuplicatePath(path));
            }
            tree.insert(path, FileData { executable, data });
        }
        Ok(())
    })?;
    Ok(tree)
}

/// Unpacks into `dest`, which must not exist yet. Files are written to a staging directory
/// beside it that is renamed to `dest` only once the digest has been verified; on any error
/// nothing is left behind.
pub fn unpack_to_dir<R: Read>(
    reader: R,
    expected: &Digest,
    dest: &Path,
    limits: Limits,
) -> Result<(), UnpackError> {
    let parent = dest
        .parent()
        .ok_or_else(|| UnpackError::Io(io::Error::other("destination has no parent")))?;
    let staging = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(parent)
        .map_err(UnpackError::Io)?;
    let root = staging.path().to_owned();
    verified(reader, expected, limits, |entry| {
        match entry {
            Unpacked::Dir(path) => std::fs::create_dir_all(root.join(path)),
            Unpacked::File {
                path,
                executable,
                data,
            } => write_file(&root, &path, executable, &data),
        }
        .map_err(UnpackError::Io)
    })?;
    std::fs::rename(staging.keep(), dest).map_err(UnpackError::Io)
}

fn write_file(root: &Path, path: &str, executable: bool, data: &[u8]) -> io::Result<()> {
    let target = root.join(path);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // create_new: a duplicate entry must not silently overwrite the first one.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if executable { 0o700 } else { 0o600 });
    }
    let _ = executable;
    io::Write::write_all(&mut options.open(target)?, data)
}

enum Unpacked {
    Dir(String),
    File {
        path: String,
        executable: bool,
        data: Vec<u8>,
    },
}

/// Streams the archive's entries to `sink`, then checks the digest of every byte read. A
/// digest mismatch is reported in preference to any parse error it may have caused.
fn verified<R: Read>(
    reader: R,
    expected: &Digest,
    limits: Limits,
    sink: impl FnMut(Unpacked) -> Result<(), UnpackError>,
) -> Result<(), UnpackError> {
    let mut hashing = HashingReader::new(reader, limits.max_compressed_bytes);
    let entries = read_entries(&mut hashing, limits, sink);
    let compressed_limit = hashing.bytes_read() > limits.max_compressed_bytes;
    match hashing.finish() {
        Ok((actual, _)) if actual != *expected => {
            return Err(UnpackError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        Ok(_) => {}
        Err(_) if compressed_limit => {}
        Err(error) if error.kind() == io::ErrorKind::FileTooLarge => {
            return Err(UnpackError::TooLarge(format!(
                "{} compressed bytes",
                limits.max_compressed_bytes
            )));
        }
        Err(error) => return Err(UnpackError::Corrupt(error)),
    }
    entries
}

fn read_entries<R: Read>(
    reader: &mut HashingReader<R>,
    limits: Limits,
    mut sink: impl FnMut(Unpacked) -> Result<(), UnpackError>,
) -> Result<(), UnpackError> {
    let too_large = |what: &str| UnpackError::TooLarge(what.to_owned());
    let read_error = |error: io::Error| {
        if error.kind() == io::ErrorKind::FileTooLarge {
            UnpackError::TooLarge(error.to_string())
        } else {
            UnpackError::Corrupt(error)
        }
    };
    let mut archive = tar::Archive::new(GzDecoder::new(&mut *reader));
    let mut files = 0usize;
    let mut total = 0u64;
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_path = |reason: String| UnpackError::UnsafePath {
            path: raw.clone(),
            reason,
        };
        match entry.header().entry_type() {
            // The archive root itself (`./`, which `flux push artifact` and `tar -C dir .`
            // write) adds nothing.
            EntryType::Directory if is_root(&raw) => {}
            EntryType::Directory => {
                let path = normalize_path(raw.trim_end_matches('/')).map_err(unsafe_path)?;
                sink(Unpacked::Dir(path))?;
            }
            EntryType::Regular | EntryType::Continuous => {
                let path = normalize_path(&raw).map_err(unsafe_path)?;
                files += 1;
                if files > limits.max_files {
                    return Err(UnpackError::TooManyFiles(limits.max_files));
                }
                let size = entry.header().size().map_err(read_error)?;
                total = total.saturating_add(size);
                if total > limits.max_uncompressed_bytes {
                    return Err(too_large(&format!(
                        "{} uncompressed bytes",
                        limits.max_uncompressed_bytes
                    )));
                }
                let executable = entry.header().mode().map_err(read_error)? & 0o111 != 0;
                let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
                entry.read_to_end(&mut data).map_err(read_error)?;
                sink(Unpacked::File {
                    path,
                    executable,
                    data,
                })?;
            }
            other => {
                return Err(UnpackError::UnsupportedEntry {
                    path: raw,
                    kind: format!("{other:?}").to_lowercase(),
                });
            }
        }
    }
    // Read the gzip trailer too, so its CRC is checked.
    let mut gzip = archive.into_inner();
    io::copy(&mut gzip, &mut io::sink()).map_err(read_error)?;
    Ok(())
}
