//! Artifact storage: Flux's layout (`<kind>/<namespace>/<name>/<file>` under the storage root),
//! atomic writes, garbage collection of superseded artifacts, and the HTTP file server
//! consumers download from.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::response::IntoResponse;
use driftless_artifact::{FileEntry, PackError, StoredArtifact};
use tower::limit::ConcurrencyLimitLayer;
use tower_http::services::ServeDir;

/// The link to an object's current artifact that `status.url` advertises.
pub const LATEST: &str = "latest.tar.gz";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid storage path component {0:?}")]
    InvalidComponent(String),
    #[error("creating artifact directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("archiving artifact: {0}")]
    Archive(#[from] PackError),
    #[error("linking stored artifact {path}: {source}")]
    Link {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("stored artifact {path} has digest {actual}, expected {expected}")]
    DigestMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("garbage collecting {path}: {source}")]
    Gc {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Which artifacts of an object to keep: Flux's `--artifact-retention-records` and
/// `--artifact-retention-ttl`.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// At most this many artifacts per object, the current one included.
    pub records: usize,
    /// Superseded artifacts older than this are removed even within `records`.
    pub ttl: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            records: 2,
            ttl: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Storage {
    root: PathBuf,
    /// Base URL artifacts are advertised at, without trailing slash.
    base_url: String,
    retention: Retention,
}

impl Storage {
    /// `advertised` is `host:port` or a full `http(s)://` base URL, as Flux's
    /// `--storage-adv-addr`.
    pub fn new(root: PathBuf, advertised: &str, retention: Retention) -> Self {
        let base = if advertised.starts_with("http://") || advertised.starts_with("https://") {
            advertised.to_owned()
        } else {
            format!("http://{advertised}")
        };
        Self {
            root,
            base_url: base.trim_end_matches('/').to_owned(),
            retention,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<kind>/<namespace>/<name>` for an object, lower-casing the kind as Flux does.
    pub fn object_dir(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<String, StorageError> {
        for part in [kind, namespace, name] {
            // Kubernetes names cannot hold these, but a path built from them must never escape.
            if part.is_empty() || part == "." || part == ".." || part.contains(['/', '\\', '\0']) {
                return Err(StorageError::InvalidComponent(part.to_owned()));
            }
        }
        Ok(format!("{}/{namespace}/{name}", kind.to_lowercase()))
    }

    /// The URL an artifact at `relative_path` is served at.
    pub fn url(&self, relative_path: &str) -> String {
        format!("{}/{relative_path}", self.base_url)
    }

    fn create_object_dir(&self, object_dir: &str) -> Result<PathBuf, StorageError> {
        let dir = self.root.join(object_dir);
        std::fs::create_dir_all(&dir).map_err(|source| StorageError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    /// Packs `entries` into `<object dir>/<file_name>` atomically. Returns the stored
    /// artifact and its path relative to the storage root.
    pub fn store(
        &self,
        object_dir: &str,
        file_name: &str,
        entries: impl IntoIterator<Item = FileEntry>,
    ) -> Result<(StoredArtifact, String), StorageError> {
        if file_name.is_empty() || file_name.contains(['/', '\\']) || file_name.starts_with('.') {
            return Err(StorageError::InvalidComponent(file_name.to_owned()));
        }
        let dir = self.create_object_dir(object_dir)?;
        let stored = driftless_artifact::store(&dir, file_name, entries)?;
        Ok((stored, format!("{object_dir}/{file_name}")))
    }

    /// Packs `entries` into `<object dir>/<hex digest>.tar.gz` atomically: content-addressed,
    /// so a URL never serves other bytes than the digest published with it.
    pub fn store_by_digest(
        &self,
        object_dir: &str,
        entries: impl IntoIterator<Item = FileEntry>,
    ) -> Result<(StoredArtifact, String), StorageError> {
        let dir = self.create_object_dir(object_dir)?;
        let stored = driftless_artifact::store_by_digest(&dir, entries)?;
        let file_name = stored
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok((stored, format!("{object_dir}/{file_name}")))
    }

    /// Gives `object_dir` the artifact stored at `source` (relative to the root, named by its
    /// digest) as a hard link, after checking the file still has `digest`. Another object's
    /// artifact is reused this way without packing it again; the link keeps the bytes alive
    /// when the other object garbage-collects its name. Returns the new relative path.
    pub fn link_by_digest(
        &self,
        source: &str,
        digest: &str,
        object_dir: &str,
    ) -> Result<String, StorageError> {
        let link_err = |path: &Path| {
            let path = path.to_owned();
            move |source: std::io::Error| StorageError::Link { path, source }
        };
        let file_name = source.rsplit('/').next().unwrap_or_default();
        if !file_name.ends_with(".tar.gz") || file_name.starts_with('.') {
            return Err(StorageError::InvalidComponent(file_name.to_owned()));
        }
        let from = self.root.join(source);
        let dir = self.create_object_dir(object_dir)?;
        let to = dir.join(file_name);
        if from != to {
            match std::fs::hard_link(&from, &to) {
                // Content-addressed: an existing file of that name holds the same bytes, and
                // the check below proves it.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                other => other.map_err(link_err(&from))?,
            }
        }
        let file = std::fs::File::open(&to).map_err(link_err(&to))?;
        // Retention counts from when this object got the artifact, not from when the first
        // object packed it (the link shares the original's times).
        let _ = file.set_modified(SystemTime::now());
        let (actual, _) = driftless_artifact::HashingReader::new(file, u64::MAX)
            .finish()
            .map_err(link_err(&to))?;
        if actual.to_string() != digest {
            let _ = std::fs::remove_file(&to);
            return Err(StorageError::DigestMismatch {
                path: from,
                expected: digest.to_owned(),
                actual: actual.to_string(),
            });
        }
        Ok(format!("{object_dir}/{file_name}"))
    }

    /// Moves the finished file `temporary` (written by the caller inside `object_dir` under a
    /// `.tmp-` name) to `<object dir>/<hex digest>.tar.gz` after checking it has `digest`.
    /// Returns the path relative to the root.
    pub fn adopt_by_digest(
        &self,
        object_dir: &str,
        temporary: &Path,
        digest: &driftless_artifact::Digest,
    ) -> Result<String, StorageError> {
        let link_err = |path: &Path| {
            let path = path.to_owned();
            move |source: std::io::Error| StorageError::Link { path, source }
        };
        let file = std::fs::File::open(temporary).map_err(link_err(temporary))?;
        let (actual, _) = driftless_artifact::HashingReader::new(file, u64::MAX)
            .finish()
            .map_err(link_err(temporary))?;
        if actual != *digest {
            let _ = std::fs::remove_file(temporary);
            return Err(StorageError::DigestMismatch {
                path: temporary.to_owned(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let dir = self.create_object_dir(object_dir)?;
        let file_name = format!("{}.tar.gz", digest.hex());
        std::fs::rename(temporary, dir.join(&file_name)).map_err(link_err(temporary))?;
        Ok(format!("{object_dir}/{file_name}"))
    }

    /// Writes `data` to `<object dir>/<file_name>` atomically (a hidden temporary file renamed
    /// into place), for artifacts that are single files (a repository index, a chart package).
    /// Returns the digest, the size, and the path relative to the root.
    pub fn store_file(
        &self,
        object_dir: &str,
        file_name: &str,
        data: &[u8],
    ) -> Result<(driftless_artifact::Digest, u64, String), StorageError> {
        if file_name.is_empty() || file_name.contains(['/', '\\']) || file_name.starts_with('.') {
            return Err(StorageError::InvalidComponent(file_name.to_owned()));
        }
        let dir = self.create_object_dir(object_dir)?;
        let target = dir.join(file_name);
        let write_err = |source| StorageError::Link {
            path: target.clone(),
            source,
        };
        let mut temporary = tempfile::Builder::new()
            .prefix(".tmp-file-")
            .tempfile_in(&dir)
            .map_err(write_err)?;
        std::io::Write::write_all(&mut temporary, data).map_err(write_err)?;
        temporary.as_file().sync_all().map_err(write_err)?;
        temporary.persist(&target).map_err(|e| write_err(e.error))?;
        Ok((
            driftless_artifact::Digest::of(data),
            data.len() as u64,
            format!("{object_dir}/{file_name}"),
        ))
    }

    /// Points `<object dir>/latest.tar.gz` at the artifact `file_name` of the same directory
    /// (a relative symlink, replaced atomically). Returns the link's path relative to the root,
    /// which `status.url` advertises.
    pub fn link_latest(&self, object_dir: &str, file_name: &str) -> Result<String, StorageError> {
        self.link_as(object_dir, file_name, LATEST)
    }

    /// Points `<object dir>/<link_name>` at the artifact `file_name` of the same directory,
    /// as [`Self::link_latest`] does; HelmRepository's link is `index.yaml`.
    pub fn link_as(
        &self,
        object_dir: &str,
        file_name: &str,
        link_name: &str,
    ) -> Result<String, StorageError> {
        let dir = self.create_object_dir(object_dir)?;
        let link = dir.join(link_name);
        let staging = dir.join(format!(".tmp-latest-{}", std::process::id()));
        let link_err = |source| StorageError::Link {
            path: link.clone(),
            source,
        };
        let _ = std::fs::remove_file(&staging);
        std::os::unix::fs::symlink(file_name, &staging).map_err(link_err)?;
        std::fs::rename(&staging, &link).map_err(link_err)?;
        Ok(format!("{object_dir}/{link_name}"))
    }

    /// Whether `artifact` is in storage with the digest its status claims. A corrupt file is
    /// removed, so the reconcile that follows rebuilds it.
    pub async fn holds(&self, artifact: &driftless_api::meta::Artifact) -> bool {
        let path = self.root.join(&artifact.path);
        let expected = artifact.digest.clone();
        let result = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            };
            let (digest, _) = driftless_artifact::HashingReader::new(file, u64::MAX).finish()?;
            let valid = digest.to_string() == expected;
            if !valid {
                tracing::warn!(path = %path.display(), "stored artifact does not match its digest; rebuilding it");
                let _ = std::fs::remove_file(&path);
            }
            Ok(valid)
        })
        .await;
        matches!(result, Ok(Ok(true)))
    }

    /// Removes superseded artifacts of one object: everything beyond the newest
    /// `retention.records` (the current artifact counts and is always kept), and superseded
    /// ones older than `retention.ttl`. Also removes temporary files left by a crash.
    /// Returns the removed paths.
    pub fn garbage_collect(
        &self,
        object_dir: &str,
        current_file: &str,
    ) -> Result<Vec<PathBuf>, StorageError> {
        let dir = self.root.join(object_dir);
        let gc_err = |source| StorageError::Gc {
            path: dir.clone(),
            source,
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(gc_err(e)),
        };
        let now = SystemTime::now();
        let mut superseded = Vec::new();
        let mut removed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(gc_err)?;
            let metadata = entry.metadata().map_err(gc_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !metadata.is_file() || name == current_file {
                continue;
            }
            let modified = metadata.modified().unwrap_or(now);
            let age = now.duration_since(modified).unwrap_or_default();
            // A temporary file older than the TTL can only be left over from a crash.
            if name.starts_with(".tmp-") {
                if age > self.retention.ttl {
                    std::fs::remove_file(entry.path()).map_err(gc_err)?;
                    removed.push(entry.path());
                }
                continue;
            }
            superseded.push((modified, entry.path(), age));
        }
        // Newest first; the current artifact takes one of the retained records.
        superseded.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let keep = self.retention.records.saturating_sub(1);
        for (rank, (_, path, age)) in superseded.into_iter().enumerate() {
            if rank >= keep || age > self.retention.ttl {
                std::fs::remove_file(&path).map_err(gc_err)?;
                removed.push(path);
            }
        }
        Ok(removed)
    }

    /// Removes the directories of `kind` objects that `exists` does not know (objects deleted
    /// while the controller was not running, or whose finalizer was removed by hand). Returns
    /// the removed object directories.
    pub fn remove_orphans(
        &self,
        kind: &str,
        exists: impl Fn(&str, &str) -> bool,
    ) -> Result<Vec<PathBuf>, StorageError> {
        let kind_dir = self.root.join(kind.to_lowercase());
        let gc_err = |path: &Path| {
            let path = path.to_owned();
            move |source| StorageError::Gc { path, source }
        };
        let namespaces = match std::fs::read_dir(&kind_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(gc_err(&kind_dir)(e)),
        };
        let mut removed = Vec::new();
        for namespace in namespaces {
            let namespace = namespace.map_err(gc_err(&kind_dir))?;
            if !namespace.file_type().map_err(gc_err(&kind_dir))?.is_dir() {
                continue;
            }
            let ns_name = namespace.file_name().to_string_lossy().into_owned();
            let ns_path = namespace.path();
            let mut left = 0usize;
            for object in std::fs::read_dir(&ns_path).map_err(gc_err(&ns_path))? {
                let object = object.map_err(gc_err(&ns_path))?;
                let name = object.file_name().to_string_lossy().into_owned();
                if exists(&ns_name, &name) {
                    left += 1;
                    continue;
                }
                let path = object.path();
                if object.file_type().map_err(gc_err(&path))?.is_dir() {
                    std::fs::remove_dir_all(&path).map_err(gc_err(&path))?;
                } else {
                    std::fs::remove_file(&path).map_err(gc_err(&path))?;
                }
                removed.push(path);
            }
            if left == 0 {
                // Another writer may have just created an object here; then it stays.
                let _ = std::fs::remove_dir(&ns_path);
            }
        }
        Ok(removed)
    }

    /// Removes every artifact of a deleted object.
    pub fn remove_object(&self, object_dir: &str) -> Result<(), StorageError> {
        let dir = self.root.join(object_dir);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::Gc {
                path: dir,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// The file server: GET and HEAD of stored artifacts with Content-Length, ETag
    /// (If-None-Match), Last-Modified and Range support. At most `max_concurrent` downloads run
    /// at once; further requests wait their turn. Temporary files are never served.
    pub fn router(&self, max_concurrent: usize) -> Router {
        let files = ServeDir::new(&self.root)
            .append_index_html_on_directories(false)
            .redirect_to_trailing_slash(false);
        Router::new()
            .fallback_service(files)
            .layer(axum::middleware::from_fn(hide_temporary_files))
            .layer(ConcurrencyLimitLayer::new(max_concurrent.max(1)))
    }
}

/// In-progress writes (`.tmp-*`) are not artifacts: answer 404 for them.
async fn hide_temporary_files(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let hidden = request
        .uri()
        .path()
        .split('/')
        .any(|segment| segment.starts_with(".tmp-") || segment.starts_with(".unpack-"));
    if hidden {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    next.run(request).await
}
