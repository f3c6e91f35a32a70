//! The semver policy: the highest version satisfying `spec.policy.semver.range`.
//!
//! Tags are versions the way Flux reads them for image policies (`fluxcd/pkg/version`):
//! strict SemVer 2.0 (`MAJOR.MINOR.PATCH`, no leading zeros, optional pre-release and build)
//! with one optional leading `v`. So `1.2` or `v01.2.3` are not versions here, although
//! `driftless_version::parse_version` (GitRepository `ref.semver`) accepts the first.
//! Tags that are not versions are skipped. A pre-release version matches only a range that
//! names a pre-release (`driftless_version::Constraint`).
//!
//! Versions are compared ignoring build metadata; between equal versions (`1.0.0`,
//! `v1.0.0`, `1.0.0+build`) the first in the list wins, as Flux keeps the first it saw.

use std::cmp::Ordering;

use driftless_version::{Constraint, Version};

use crate::PolicyError;
use crate::filter::Candidate;

/// A compiled semver range.
#[derive(Clone, Debug)]
pub(crate) struct SemVerOrdering {
    constraint: Constraint,
}

impl SemVerOrdering {
    pub(crate) fn new(range: &str) -> Result<Self, PolicyError> {
        let constraint = Constraint::parse(range).map_err(|err| PolicyError::InvalidRange {
            range: range.to_owned(),
            reason: err.reason,
        })?;
        Ok(Self { constraint })
    }

    pub(crate) fn latest<'c, 'a>(
        &self,
        candidates: &'c [Candidate<'a>],
    ) -> Result<&'c Candidate<'a>, PolicyError> {
        let mut best: Option<(&'c Candidate<'a>, Version)> = None;
        for candidate in candidates {
            let Some(version) = parse_tag_version(&candidate.value) else {
                continue;
            };
            if !self.constraint.matches(&version) {
                continue;
            }
            let is_higher = best
                .as_ref()
                .is_none_or(|(_, highest)| precedence(&version, highest) == Ordering::Greater);
            if is_higher {
                best = Some((candidate, version));
            }
        }
        best.map(|(candidate, _)| candidate)
            .ok_or(PolicyError::NoMatchingVersion)
    }
}

/// A tag as a version, as Flux's image policies read it: one optional `v`, then strict SemVer.
pub fn parse_tag_version(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

/// SemVer precedence: build metadata does not count.
fn precedence(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch, &a.pre).cmp(&(b.major, b.minor, b.patch, &b.pre))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(range: &str, tags: &[&str]) -> Result<String, PolicyError> {
        let candidates: Vec<Candidate<'_>> =
            tags.iter().copied().map(Candidate::unfiltered).collect();
        let ordering = SemVerOrdering::new(range)?;
        ordering.latest(&candidates).map(|c| c.original.to_owned())
    }

    #[test]
    fn reads_tags_strictly_with_an_optional_v() {
        let cases: &[(&str, bool)] = &[
            ("1.2.3", true),
            ("v1.2.3", true),
            ("1.2.3-rc.1", true),
            ("1.2.3+build.01", true),
            ("1.2.3-rc.1+build", true),
            ("1.2", false),
            ("1", false),
            ("vv1.2.3", false),
            ("V1.2.3", false),
            ("01.2.3", false),
            ("1.2.3-01", false),
            ("1.2.3-", false),
            ("1.2.3.4", false),
            (" 1.2.3", false),
            ("=1.2.3", false),
            ("latest", false),
        ];
        for (tag, is_version) in cases {
            assert_eq!(parse_tag_version(tag).is_some(), *is_version, "{tag}");
        }
    }

    #[test]
    fn selects_the_highest_satisfying_version() {
        let tags = [
            "latest",
            "1.0.0",
            "v1.2.0",
            "1.10.0",
            "1.9.9",
            "2.0.0-rc.1",
            "2.0.0",
            "1.11",
        ];
        let cases: &[(&str, Result<&str, PolicyError>)] = &[
            (">=1.0.0", Ok("2.0.0")),
            ("1.x", Ok("1.10.0")),
            (">=1.0.0 <1.10.0", Ok("1.9.9")),
            ("~1.2", Ok("v1.2.0")),
            ("^1.0.0", Ok("1.10.0")),
            ("*", Ok("2.0.0")),
            // Only a range naming a pre-release lets pre-releases in.
            (">=2.0.0-0 <2.0.0", Ok("2.0.0-rc.1")),
            ("<2.0.0 || >=2.0.0-0 <2.0.0", Ok("2.0.0-rc.1")),
            (">=3.0.0", Err(PolicyError::NoMatchingVersion)),
            ("1.11.0", Err(PolicyError::NoMatchingVersion)),
        ];
        for (range, expected) in cases {
            assert_eq!(
                latest(range, &tags),
                expected.clone().map(str::to_owned),
                "{range}"
            );
        }
    }

    #[test]
    fn prereleases_need_a_prerelease_range() {
        let tags = ["1.0.0", "1.1.0-rc.1", "1.1.0-rc.2"];
        assert_eq!(latest(">=1.0.0", &tags).unwrap(), "1.0.0");
        assert_eq!(latest(">=1.0.0-0", &tags).unwrap(), "1.1.0-rc.2");
        assert_eq!(latest("^1.x-0", &tags).unwrap(), "1.1.0-rc.2");
        // Numeric identifiers compare as numbers, below alphanumeric ones.
        assert_eq!(
            latest(">=1.0.0-0", &["1.0.0-rc.10", "1.0.0-rc.9", "1.0.0-1"]).unwrap(),
            "1.0.0-rc.10"
        );
    }

    #[test]
    fn equal_versions_keep_the_first_tag() {
        let cases: &[(&[&str], &str)] = &[
            (&["1.0.0", "v1.0.0"], "1.0.0"),
            (&["v1.0.0", "1.0.0"], "v1.0.0"),
            (&["1.0.0+b", "1.0.0+a", "1.0.0"], "1.0.0+b"),
            (&["0.9.0", "1.0.0+a", "1.0.0+b"], "1.0.0+a"),
        ];
        for (tags, expected) in cases {
            assert_eq!(latest("*", tags).unwrap(), *expected, "{tags:?}");
        }
    }

    #[test]
    fn rejects_improper_ranges() {
        for range in ["", ">=", "1.2.3.4", "?1.0", "x.y.z", ">= 1.0 ||"] {
            let err = SemVerOrdering::new(range).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("improper constraint: {range}")),
                "{range}: {err}"
            );
        }
    }
}
