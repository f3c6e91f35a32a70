//! Source artifacts: deterministic tar.gz archives of a file tree, identified by the sha256 of
//! their compressed bytes.
//!
//! - [`pack`] writes the same bytes for the same tree, whatever order files arrive in: entries
//!   sorted, parents before children, times zeroed, owners cleared, modes normalised.
//! - [`store`] writes an artifact to a temporary file and renames it into place, so readers never
//!   see a partial file, and returns its digest and size.
//! - [`unpack_to_memory`] and [`unpack_to_dir`] verify the digest while reading and reject
//!   anything a source artifact never holds: absolute or escaping paths, links, devices, more
//!   data or files than the limits allow. Nothing unpacked is handed out unless the digest
//!   matches.
//!
//! No I/O beyond the reader, writer or directory given; no network.

mod digest;
pub mod ignore;
mod pack;
mod unpack;

pub use digest::{Digest, DigestError, HashingReader, HashingWriter};
pub use pack::{FileEntry, PackError, StoredArtifact, pack, store, store_by_digest};
pub use unpack::{FileData, Limits, Tree, UnpackError, unpack_to_dir, unpack_to_memory};

/// Checks a relative, `/`-separated archive path and returns it without `./` segments.
/// Rejects empty paths, absolute paths, `..`, backslashes and NUL bytes.
pub fn normalize_path(path: &str) -> Result<String, String> {
    if path.contains('\0') {
        return Err("contains a NUL byte".into());
    }
    if path.contains('\\') {
        return Err("contains a backslash".into());
    }
    if path.starts_with('/') {
        return Err("is absolute".into());
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("escapes the archive root".into()),
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Err("is empty".into());
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn normalizes_and_rejects_paths() {
        assert_eq!(normalize_path("a/b.yaml").as_deref(), Ok("a/b.yaml"));
        assert_eq!(normalize_path("./a//b/./c").as_deref(), Ok("a/b/c"));
        for bad in [
            "",
            ".",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/..",
            "a\\b",
            "a\0b",
        ] {
            assert!(normalize_path(bad).is_err(), "{bad:?} accepted");
        }
    }
}
