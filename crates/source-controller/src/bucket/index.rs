//! A bucket's listing as Flux indexes it, without I/O: object key → ETag (quotes trimmed, as
//! minio-go reports them), keys outside `spec.prefix`, "directories" and ignored keys left
//! out, and the revision: the sha256 of `"<key> <etag>\n"` lines in key order. An unchanged
//! listing gives the same revision, so it costs no download.

use std::collections::BTreeMap;

use driftless_artifact::Digest;
use driftless_artifact::ignore::{IgnoreRules, SOURCEIGNORE_FILE};

/// Flux's ignore file, read from the bucket root.
pub const IGNORE_FILE: &str = SOURCEIGNORE_FILE;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtagIndex {
    entries: BTreeMap<String, String>,
}

impl EtagIndex {
    /// Indexes listed `(key, etag)` pairs that `prefix` and `rules` keep.
    pub fn build<'a>(
        listed: impl IntoIterator<Item = (&'a str, &'a str)>,
        prefix: &str,
        rules: &IgnoreRules,
    ) -> Self {
        let entries = listed
            .into_iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .filter(|(key, _)| !key.ends_with('/') && *key != IGNORE_FILE)
            .filter(|(key, _)| !rules.is_excluded(key, false) && !in_excluded_dir(rules, key))
            .map(|(key, etag)| (key.to_owned(), trim_etag(etag).to_owned()))
            .collect();
        Self { entries }
    }

    /// `sha256:<hex>` of the index, as Flux's `index.Digester` computes it.
    pub fn revision(&self) -> String {
        let mut text = String::new();
        for (key, etag) in &self.entries {
            text.push_str(key);
            text.push(' ');
            text.push_str(etag);
            text.push('\n');
        }
        Digest::of(text.as_bytes()).to_string()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// minio-go's `trimEtag`: the quotes S3 wraps ETags in are not part of it.
fn trim_etag(etag: &str) -> &str {
    etag.trim_start_matches('"').trim_end_matches('"')
}

/// Whether a directory above `key` is excluded (`dir/` patterns match directories only).
fn in_excluded_dir(rules: &IgnoreRules, key: &str) -> bool {
    let mut end = 0;
    while let Some(slash) = key[end..].find('/') {
        end += slash;
        if rules.is_excluded(&key[..end], true) {
            return true;
        }
        end += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(listed: &[(&str, &str)], prefix: &str, ignore: Option<&str>) -> EtagIndex {
        let rules = IgnoreRules::with_defaults([], ignore);
        EtagIndex::build(listed.iter().copied(), prefix, &rules)
    }

    #[test]
    fn the_revision_is_fluxs_digest_of_keys_and_etags() {
        let idx = index(&[("b.yaml", "\"2\""), ("a.yaml", "1")], "", None);
        let expected = Digest::of(b"a.yaml 1\nb.yaml 2\n").to_string();
        assert_eq!(idx.revision(), expected);
        // The order of the listing does not matter; a changed ETag does.
        assert_eq!(
            index(&[("a.yaml", "1"), ("b.yaml", "2")], "", None).revision(),
            expected
        );
        assert_ne!(
            index(&[("a.yaml", "1"), ("b.yaml", "3")], "", None).revision(),
            expected
        );
        assert_eq!(EtagIndex::default().revision(), Digest::of(b"").to_string());
    }

    #[test]
    fn prefix_directories_and_ignore_rules_filter_keys() {
        let listed = [
            ("apps/a.yaml", "1"),
            ("apps/sub/", ""),
            ("apps/sub/b.yaml", "2"),
            ("apps/tmp/c.yaml", "3"),
            ("apps/.git/config", "4"),
            ("other/d.yaml", "5"),
            (IGNORE_FILE, "6"),
            ("apps/e.txt", "7"),
        ];
        let idx = index(&listed, "apps/", Some("tmp/\n*.txt\n"));
        assert_eq!(
            idx.keys().collect::<Vec<_>>(),
            ["apps/a.yaml", "apps/sub/b.yaml"]
        );
        assert_eq!(idx.len(), 2);
        // A prefix is a string prefix, not a directory.
        assert_eq!(
            index(&listed, "oth", None).keys().collect::<Vec<_>>(),
            ["other/d.yaml"]
        );
    }
}
