//! Which artifact an OCIRepository names: its URL as a repository, the reference chosen by
//! Flux's precedence (digest, then semver, then tag, then `latest`), and the revision string
//! status carries (`<tag>@sha256:<hex>`, or `sha256:<hex>` for a digest).

use driftless_api::source::{OCI_REPOSITORY_PREFIX, OCIRepositoryRef};
use driftless_registry::ImageName;
use driftless_version::{Constraint, parse_version};
use regex::Regex;

/// The tag Flux pulls when the spec names none.
pub const DEFAULT_TAG: &str = "latest";

/// `spec.url` as a registry and repository, or Flux's message for why it is not one.
pub fn repository(url: &str) -> Result<ImageName, String> {
    let Some(rest) = url.strip_prefix(OCI_REPOSITORY_PREFIX) else {
        return Err("URL must be in format 'oci://<domain>/<org>/<repo>'".to_owned());
    };
    let path = rest.split_once('/').map(|(_, path)| path).unwrap_or("");
    if let Some((_, tag)) = path.rsplit_once(':') {
        return Err(format!("URL must not contain a tag; remove ':{tag}'"));
    }
    if !rest.contains('/') {
        return Err("URL must be in format 'oci://<domain>/<org>/<repo>'".to_owned());
    }
    ImageName::parse(rest).map_err(|e| e.to_string())
}

/// What the spec asks for, before the registry is asked anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    Digest(String),
    Semver {
        range: String,
        filter: Option<String>,
    },
    Tag(String),
}

impl Wanted {
    pub fn of(reference: Option<&OCIRepositoryRef>) -> Self {
        let non_empty =
            |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
        let Some(reference) = reference else {
            return Self::Tag(DEFAULT_TAG.to_owned());
        };
        if let Some(digest) = non_empty(&reference.digest) {
            return Self::Digest(digest);
        }
        if let Some(range) = non_empty(&reference.semver) {
            return Self::Semver {
                range,
                filter: non_empty(&reference.semver_filter),
            };
        }
        Self::Tag(non_empty(&reference.tag).unwrap_or_else(|| DEFAULT_TAG.to_owned()))
    }
}

/// The highest tag within `range` among those `filter` (a regular expression) matches: the
/// tag exactly as the registry lists it.
pub fn tag_by_semver(tags: &[String], range: &str, filter: Option<&str>) -> Result<String, String> {
    let filter = filter
        .map(|pattern| {
            Regex::new(pattern).map_err(|e| format!("failed to compile regex '{pattern}': {e}"))
        })
        .transpose()?;
    let constraint =
        Constraint::parse(range).map_err(|e| format!("semver '{range}' parse error: {e}"))?;
    constraint
        .latest(
            tags.iter()
                .map(String::as_str)
                .filter(|tag| filter.as_ref().is_none_or(|f| f.is_match(tag)))
                .filter(|tag| parse_version(tag).is_some()),
        )
        .map(|(tag, _)| tag.to_owned())
        .ok_or_else(|| format!("no match found for semver: {range}"))
}

/// The revision of `digest` reached through `tag` (none for a digest reference).
pub fn revision(tag: Option<&str>, digest: &str) -> String {
    match tag {
        Some(tag) => format!("{tag}@{digest}"),
        None => digest.to_owned(),
    }
}

/// Whether `digest` is a well-formed `sha256:<64 hex>` digest.
pub fn is_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_repositories_without_tags() {
        let name = repository("oci://ghcr.io/stefanprodan/manifests/podinfo").unwrap();
        assert_eq!(name.registry, "ghcr.io");
        assert_eq!(name.repository, "stefanprodan/manifests/podinfo");
        let local = repository("oci://127.0.0.1:5000/app").unwrap();
        assert_eq!(local.registry, "127.0.0.1:5000");
        assert_eq!(
            repository("oci://ghcr.io/org/app:v1").unwrap_err(),
            "URL must not contain a tag; remove ':v1'"
        );
        assert!(repository("https://ghcr.io/org/app").is_err());
        assert!(repository("oci://ghcr.io").is_err());
    }

    #[test]
    fn digest_beats_semver_beats_tag_and_latest_is_the_default() {
        let reference = |digest: Option<&str>, semver: Option<&str>, tag: Option<&str>| {
            Wanted::of(Some(&OCIRepositoryRef {
                digest: digest.map(str::to_owned),
                semver: semver.map(str::to_owned),
                semver_filter: None,
                tag: tag.map(str::to_owned),
            }))
        };
        assert_eq!(
            reference(Some("sha256:a"), Some("1.x"), Some("v1")),
            Wanted::Digest("sha256:a".into())
        );
        assert!(matches!(
            reference(None, Some("1.x"), Some("v1")),
            Wanted::Semver { .. }
        ));
        assert_eq!(reference(None, None, Some("v1")), Wanted::Tag("v1".into()));
        assert_eq!(reference(None, None, None), Wanted::Tag("latest".into()));
        assert_eq!(Wanted::of(None), Wanted::Tag("latest".into()));
    }

    #[test]
    fn semver_picks_the_highest_filtered_tag_as_listed() {
        let tags: Vec<String> = ["v6.0.0", "6.1.0", "6.2.0-rc.1", "latest", "7.0.0"]
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        assert_eq!(tag_by_semver(&tags, "6.x", None).unwrap(), "6.1.0");
        assert_eq!(
            tag_by_semver(&tags, ">=6.0.0-0 <7.0.0", Some(".*-rc.*")).unwrap(),
            "6.2.0-rc.1"
        );
        assert_eq!(
            tag_by_semver(&tags, "^6.0.0", Some("^v")).unwrap(),
            "v6.0.0"
        );
        assert_eq!(
            tag_by_semver(&tags, "8.x", None).unwrap_err(),
            "no match found for semver: 8.x"
        );
        assert!(
            tag_by_semver(&tags, "not a range", None)
                .unwrap_err()
                .starts_with("semver 'not a range' parse error")
        );
        assert!(tag_by_semver(&tags, "6.x", Some("(")).is_err());
    }

    #[test]
    fn revisions_are_tag_at_digest() {
        assert_eq!(revision(Some("latest"), "sha256:ab"), "latest@sha256:ab");
        assert_eq!(revision(None, "sha256:ab"), "sha256:ab");
        assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_digest("sha256:xyz"));
    }
}
