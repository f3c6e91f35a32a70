//! The status each object was last given here, until the watch cache shows the write.
//!
//! A reconcile that starts before the cache has seen this controller's own status write
//! reads the status before it, so the status it computes looks changed although it is the
//! one just written. Without this, every such reconcile (a watched source changing right
//! after a status write, say) repeats the write.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct OwnWrites {
    /// Per object key: the resourceVersion the object had when read for the write, and a
    /// digest of the status written.
    written: Mutex<HashMap<String, (String, u64)>>,
}

impl OwnWrites {
    /// True when `status` is what was written last for `key`, and the object as read now
    /// is still the version from before that write: the cache is behind, not the status.
    pub fn repeats(&self, key: &str, read_version: Option<&str>, status: &[u8]) -> bool {
        let Ok(mut written) = self.written.lock() else {
            return false;
        };
        match (written.get(key), read_version) {
            (Some((before, digest)), Some(read)) if before == read => *digest == digest_of(status),
            (Some(_), _) => {
                // The cache caught up (or the object was replaced): compare with it again.
                written.remove(key);
                false
            }
            (None, _) => false,
        }
    }

    /// Records that `status` was written for `key`, read at `read_version`.
    pub fn record(&self, key: &str, read_version: Option<&str>, status: &[u8]) {
        let Some(read) = read_version else { return };
        if let Ok(mut written) = self.written.lock() {
            written.insert(key.to_owned(), (read.to_owned(), digest_of(status)));
        }
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut written) = self.written.lock() {
            written.remove(key);
        }
    }
}

fn digest_of(status: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    status.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_read_of_the_same_status_repeats_the_write() {
        let writes = OwnWrites::default();
        writes.record("ns/a", Some("10"), b"waiting");
        assert!(writes.repeats("ns/a", Some("10"), b"waiting"));
        // Another status from the same stale read is a real change.
        assert!(!writes.repeats("ns/a", Some("10"), b"ready"));
        assert!(!writes.repeats("ns/b", Some("10"), b"waiting"));
    }

    #[test]
    fn once_the_cache_moves_on_the_status_is_compared_with_it_again() {
        let writes = OwnWrites::default();
        writes.record("ns/a", Some("10"), b"waiting");
        // Someone else may have changed the status after the write: never assume.
        assert!(!writes.repeats("ns/a", Some("12"), b"waiting"));
        assert!(!writes.repeats("ns/a", Some("10"), b"waiting"));
    }

    #[test]
    fn forgotten_objects_and_unknown_versions_never_repeat() {
        let writes = OwnWrites::default();
        writes.record("ns/a", None, b"waiting");
        assert!(!writes.repeats("ns/a", None, b"waiting"));
        writes.record("ns/a", Some("10"), b"waiting");
        writes.forget("ns/a");
        assert!(!writes.repeats("ns/a", Some("10"), b"waiting"));
    }
}
