//! Artifacts already packed from a commit. Many GitRepositories often follow one repository
//! (a monorepo with a GitRepository per tenant or per app); once one of them has packed a
//! commit, the others that resolve their ref to that commit reuse the stored tarball instead
//! of fetching and packing it again. Each still lists the remote's refs with its own
//! credentials first, so a hit needs read access to the same URL, and the cached file is
//! checked against its digest before it is reused.

use std::sync::Arc;

/// Everything the content of a packed commit depends on. Artifacts that also depend on other
/// inputs (included artifacts, submodules, signature verification) are never shared.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct PackKey {
    pub url: String,
    pub commit: String,
    pub ignore: Option<String>,
    pub sparse: Vec<String>,
}

/// A stored artifact another object may link to.
#[derive(Clone, Debug)]
pub struct Packed {
    /// Path relative to the storage root.
    pub path: String,
    pub digest: String,
    pub size: Option<i64>,
    /// First line of the commit message, for the new-artifact event.
    pub summary: String,
}

/// A bounded map from [`PackKey`] to the newest artifact packed for it.
#[derive(Clone)]
pub struct PackedCommits {
    cache: Arc<quick_cache::sync::Cache<PackKey, Packed>>,
}

impl PackedCommits {
    pub fn new(capacity: usize) -> Self {
        Self {
            cache: Arc::new(quick_cache::sync::Cache::new(capacity.max(1))),
        }
    }

    pub fn get(&self, key: &PackKey) -> Option<Packed> {
        self.cache.get(key)
    }

    pub fn insert(&self, key: PackKey, packed: Packed) {
        self.cache.insert(key, packed);
    }

    /// Forgets an entry whose file turned out to be gone or corrupt.
    pub fn remove(&self, key: &PackKey) {
        self.cache.remove(key);
    }
}
