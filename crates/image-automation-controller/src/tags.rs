//! The scanned tags of every ImageRepository, kept compactly and persisted per object: one
//! gzipped `tags.txt.gz` (sorted, one tag a line) under
//! `<storage>/imagerepository/<namespace>/<name>/`, written atomically, loaded on first use.
//! A restart answers policies from disk at once instead of rescanning every registry, and
//! the memory held is a bounded cache of joined strings, not a database.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

const FILE: &str = "tags.txt.gz";
/// Bytes of tag text kept in memory; the rest is read from disk when asked for.
const CACHE_BYTES: u64 = 16 << 20;

/// The tags of one repository: sorted, unique, joined by newlines in one allocation.
#[derive(Debug, PartialEq, Eq)]
pub struct TagList {
    joined: Box<str>,
    count: usize,
}

impl TagList {
    /// Sorts and de-duplicates `tags`; a tag cannot hold a newline (the registry grammar is
    /// `[\w][\w.-]{0,127}`), so any that does is dropped.
    pub fn new(mut tags: Vec<String>) -> Self {
        tags.retain(|t| !t.is_empty() && !t.contains('\n'));
        tags.sort_unstable();
        tags.dedup();
        Self {
            count: tags.len(),
            joined: tags.join("\n").into_boxed_str(),
        }
    }

    fn from_joined(joined: String) -> Self {
        let joined = joined.trim_end_matches('\n').to_owned();
        let count = if joined.is_empty() {
            0
        } else {
            joined.split('\n').count()
        };
        Self {
            joined: joined.into_boxed_str(),
            count,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.joined.split('\n').filter(|t| !t.is_empty())
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `sha256:<hex>` of the sorted list: equal for equal tag sets, whatever order the
    /// registry listed them in.
    pub fn revision(&self) -> String {
        format!("sha256:{:x}", Sha256::digest(self.joined.as_bytes()))
    }

    /// The first `n` tags in descending order (`status.lastScanResult.latestTags`).
    pub fn latest(&self, n: usize) -> Vec<String> {
        self.joined
            .rsplit('\n')
            .filter(|t| !t.is_empty())
            .take(n)
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Clone)]
struct ByLength;

impl quick_cache::Weighter<String, Arc<TagList>> for ByLength {
    fn weight(&self, _key: &String, list: &Arc<TagList>) -> u64 {
        list.joined.len() as u64 + 64
    }
}

/// Where the tags live; cheap to clone.
#[derive(Clone)]
pub struct TagStore {
    root: PathBuf,
    cache: Arc<quick_cache::sync::Cache<String, Arc<TagList>, ByLength>>,
}

impl TagStore {
    /// Tags under `<storage>/imagerepository`.
    pub fn new(storage: &Path) -> Self {
        Self {
            root: storage.join("imagerepository"),
            cache: Arc::new(quick_cache::sync::Cache::with_weighter(
                4096,
                CACHE_BYTES,
                ByLength,
            )),
        }
    }

    fn dir(&self, namespace: &str, name: &str) -> PathBuf {
        self.root.join(namespace).join(name)
    }

    /// Stores the tags of `namespace/name`, replacing what was there.
    pub async fn put(
        &self,
        namespace: &str,
        name: &str,
        tags: Vec<String>,
    ) -> std::io::Result<Arc<TagList>> {
        let list = Arc::new(TagList::new(tags));
        let dir = self.dir(namespace, name);
        let written = list.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &written))
            .await
            .map_err(std::io::Error::other)??;
        self.cache.insert(key(namespace, name), list.clone());
        Ok(list)
    }

    /// The stored tags of `namespace/name`; `None` when never scanned (or the file is gone).
    pub async fn get(&self, namespace: &str, name: &str) -> std::io::Result<Option<Arc<TagList>>> {
        let key = key(namespace, name);
        if let Some(list) = self.cache.get(&key) {
            return Ok(Some(list));
        }
        let file = self.dir(namespace, name).join(FILE);
        let loaded = tokio::task::spawn_blocking(move || read(&file))
            .await
            .map_err(std::io::Error::other)??;
        Ok(loaded.map(|list| {
            let list = Arc::new(list);
            self.cache.insert(key, list.clone());
            list
        }))
    }

    /// Forgets the tags of a deleted ImageRepository.
    pub async fn remove(&self, namespace: &str, name: &str) -> std::io::Result<()> {
        self.cache.remove(&key(namespace, name));
        match tokio::fs::remove_dir_all(self.dir(namespace, name)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// Writes beside the target and renames over it, so a reader sees the old list or the new
/// one, never half of one.
fn write_atomically(dir: &Path, list: &TagList) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut encoder = GzEncoder::new(temp.as_file_mut(), Compression::fast());
        encoder.write_all(list.joined.as_bytes())?;
        encoder.write_all(b"\n")?;
        encoder.finish()?;
    }
    temp.as_file().sync_all()?;
    temp.persist(dir.join(FILE)).map_err(|e| e.error)?;
    Ok(())
}

fn read(file: &Path) -> std::io::Result<Option<TagList>> {
    let compressed = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut joined = String::new();
    GzDecoder::new(compressed).read_to_string(&mut joined)?;
    Ok(Some(TagList::from_joined(joined)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn lists_are_sorted_unique_and_hashed_independently_of_order() {
        let a = TagList::new(tags(&["1.0.1", "1.0.0", "latest", "1.0.0"]));
        let b = TagList::new(tags(&["latest", "1.0.0", "1.0.1"]));
        assert_eq!(a.iter().collect::<Vec<_>>(), ["1.0.0", "1.0.1", "latest"]);
        assert_eq!(a.len(), 3);
        assert_eq!(a.revision(), b.revision());
        assert_ne!(a.revision(), TagList::new(tags(&["1.0.0"])).revision());
        assert!(a.revision().starts_with("sha256:"));
        assert_eq!(a.latest(2), ["latest", "1.0.1"]);
        assert!(TagList::new(Vec::new()).is_empty());
        assert_eq!(TagList::new(Vec::new()).iter().count(), 0);
    }

    #[tokio::test]
    async fn tags_survive_a_new_store_on_the_same_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = TagStore::new(dir.path());
        let many: Vec<String> = (0..10_000).map(|i| format!("v{i:05}")).collect();
        let stored = store.put("apps", "podinfo", many).await.unwrap();
        assert_eq!(stored.len(), 10_000);

        let reopened = TagStore::new(dir.path());
        let loaded = reopened.get("apps", "podinfo").await.unwrap().unwrap();
        assert_eq!(*loaded, *stored);
        assert_eq!(reopened.get("apps", "other").await.unwrap(), None);
        let file = dir.path().join("imagerepository/apps/podinfo/tags.txt.gz");
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size < 40_000, "10,000 tags take {size} bytes compressed");

        reopened.remove("apps", "podinfo").await.unwrap();
        assert!(!file.exists());
        assert_eq!(reopened.get("apps", "podinfo").await.unwrap(), None);
        // Removing what is not there is not an error.
        reopened.remove("apps", "podinfo").await.unwrap();
    }

    #[tokio::test]
    async fn a_rewrite_replaces_the_whole_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = TagStore::new(dir.path());
        store.put("ns", "r", tags(&["a", "b"])).await.unwrap();
        store.put("ns", "r", tags(&["c"])).await.unwrap();
        let fresh = TagStore::new(dir.path());
        let list = fresh.get("ns", "r").await.unwrap().unwrap();
        assert_eq!(list.iter().collect::<Vec<_>>(), ["c"]);
        // No temporary files are left beside the list.
        let entries = std::fs::read_dir(dir.path().join("imagerepository/ns/r")).unwrap();
        assert_eq!(entries.count(), 1);
    }
}
