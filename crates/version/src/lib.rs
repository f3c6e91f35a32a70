//! Versions and constraints as Flux evaluates them (Masterminds/semver v3): used for
//! GitRepository `ref.semver` over tags, and later for OCI tags and image policies.
//!
//! Differences from Cargo's rules that matter here:
//! - a bare version is exact (`1.2.3` means `=1.2.3`), and a partial one is a wildcard
//!   (`1.2` means `1.2.x`);
//! - comparators are separated by commas or spaces, and groups by `||`;
//! - hyphen ranges (`1.2 - 1.4.5`) and `v` prefixes are accepted;
//! - a version with a prerelease matches only a group that names a prerelease.

use std::cmp::Ordering;

pub use semver::{BuildMetadata, Version};

/// Parses a tag the way Flux does: optional `v`, one to three numeric parts (missing ones
/// are 0), optional prerelease and build metadata. None for anything else.
pub fn parse_version(tag: &str) -> Option<Version> {
    let text = tag.strip_prefix('v').unwrap_or(tag);
    let (core, build) = match text.split_once('+') {
        Some((core, build)) => (core, Some(build)),
        None => (text, None),
    };
    let (numbers, pre) = match core.split_once('-') {
        Some((numbers, pre)) => (numbers, Some(pre)),
        None => (core, None),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let mut full = parts.join(".");
    for _ in parts.len()..3 {
        full.push_str(".0");
    }
    if let Some(pre) = pre {
        full = format!("{full}-{pre}");
    }
    if let Some(build) = build {
        full = format!("{full}+{build}");
    }
    Version::parse(&full).ok()
}

/// Version order without build metadata, as SemVer and Masterminds define it.
pub fn compare(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch, &a.pre).cmp(&(b.major, b.minor, b.patch, &b.pre))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid semver constraint {constraint:?}: {reason}")]
pub struct ConstraintError {
    pub constraint: String,
    pub reason: String,
}

/// A version with wildcard or missing parts (`1.2`, `1.x`, `*`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Partial {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: semver::Prerelease,
}

impl Partial {
    fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let text = text.split_once('+').map_or(text, |(core, _)| core);
        let (numbers, pre) = match text.split_once('-') {
            Some((n, p)) => (n, semver::Prerelease::new(p).ok()?),
            None => (text, semver::Prerelease::EMPTY),
        };
        let mut parts = numbers.split('.');
        let mut next = || -> Option<Option<u64>> {
            match parts.next() {
                None | Some("x" | "X" | "*") => Some(None),
                Some(n) => n.parse().ok().map(Some),
            }
        };
        let (major, minor, patch) = (next()?, next()?, next()?);
        if parts.next().is_some() || (major.is_none() && minor.is_some()) {
            return None;
        }
        // After a wildcard everything is a wildcard (`1.x.3` is `1.x`).
        let minor = major.and(minor);
        let patch = minor.and(patch);
        Some(Self {
            major,
            minor,
            patch,
            pre,
        })
    }

    fn is_complete(&self) -> bool {
        self.patch.is_some()
    }

    /// Lowest version this partial stands for.
    fn floor(&self) -> Version {
        let mut v = Version::new(
            self.major.unwrap_or(0),
            self.minor.unwrap_or(0),
            self.patch.unwrap_or(0),
        );
        v.pre = self.pre.clone();
        v
    }

    /// First version above everything this partial stands for (None: unbounded).
    fn ceiling(&self) -> Option<Version> {
        match (self.major, self.minor, self.patch) {
            (None, _, _) => None,
            (Some(major), None, _) => Some(first_of(major + 1, 0, 0)),
            (Some(major), Some(minor), None) => Some(first_of(major, minor + 1, 0)),
            (Some(_), Some(_), Some(_)) => None,
        }
    }
}

/// The lowest version of `major.minor.patch`, its first possible prerelease (`2.0.0-0`): as an
/// exclusive upper bound it keeps out the prereleases of the next release too, as Masterminds
/// does (`^1.x-0` stays within major 1, so `2.0.0-rc.1` does not match).
fn first_of(major: u64, minor: u64, patch: u64) -> Version {
    let mut version = Version::new(major, minor, patch);
    version.pre = semver::Prerelease::new("0").unwrap_or(semver::Prerelease::EMPTY);
    version
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Bound {
    Unbounded,
    Inclusive(Version),
    Exclusive(Version),
}

/// One comparator: a range of versions, possibly negated (`!=`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Range {
    low: Bound,
    high: Bound,
    negated: bool,
    /// The constraint names a prerelease, so prerelease versions may match.
    allows_prerelease: bool,
}

impl Range {
    fn new(low: Bound, high: Bound, partial: &Partial) -> Self {
        Self {
            low,
            high,
            negated: false,
            allows_prerelease: !partial.pre.is_empty(),
        }
    }

    fn contains(&self, v: &Version) -> bool {
        let above = match &self.low {
            Bound::Unbounded => true,
            Bound::Inclusive(low) => compare(v, low) != Ordering::Less,
            Bound::Exclusive(low) => compare(v, low) == Ordering::Greater,
        };
        let below = match &self.high {
            Bound::Unbounded => true,
            Bound::Inclusive(high) => compare(v, high) != Ordering::Greater,
            Bound::Exclusive(high) => compare(v, high) == Ordering::Less,
        };
        (above && below) != self.negated
    }

    fn parse(op: &str, version: &str) -> Option<Self> {
        use Bound::{Exclusive, Inclusive, Unbounded};
        let p = Partial::parse(version)?;
        let exact_or_span = |p: &Partial| match (p.is_complete(), p.ceiling()) {
            (true, _) => (Inclusive(p.floor()), Inclusive(p.floor())),
            (false, Some(ceiling)) => (Inclusive(p.floor()), Exclusive(ceiling)),
            (false, None) => (Unbounded, Unbounded),
        };
        let range = match op {
            "" | "=" => {
                let (low, high) = exact_or_span(&p);
                Self::new(low, high, &p)
            }
            "!=" => {
                let (low, high) = exact_or_span(&p);
                Self {
                    negated: true,
                    ..Self::new(low, high, &p)
                }
            }
            ">" => match (p.is_complete(), p.ceiling()) {
                (true, _) => Self::new(Exclusive(p.floor()), Unbounded, &p),
                (false, Some(ceiling)) => Self::new(Inclusive(ceiling), Unbounded, &p),
                // Greater than every version: nothing.
                (false, None) => Self {
                    negated: true,
                    ..Self::new(Unbounded, Unbounded, &p)
                },
            },
            ">=" | "=>" => Self::new(Inclusive(p.floor()), Unbounded, &p),
            "<" => Self::new(Unbounded, Exclusive(p.floor()), &p),
            "<=" | "=<" => match (p.is_complete(), p.ceiling()) {
                (true, _) => Self::new(Unbounded, Inclusive(p.floor()), &p),
                (false, Some(ceiling)) => Self::new(Unbounded, Exclusive(ceiling), &p),
                (false, None) => Self::new(Unbounded, Unbounded, &p),
            },
            "~" | "~>" => {
                let high = match (p.major, p.minor) {
                    (None, _) => Unbounded,
                    (Some(major), None) => Exclusive(first_of(major + 1, 0, 0)),
                    (Some(major), Some(minor)) => Exclusive(first_of(major, minor + 1, 0)),
                };
                Self::new(Inclusive(p.floor()), high, &p)
            }
            "^" => {
                let high = match (p.major, p.minor, p.patch) {
                    (None, _, _) => Unbounded,
                    (Some(major), _, _) if major > 0 => Exclusive(first_of(major + 1, 0, 0)),
                    (Some(0), None, _) => Exclusive(first_of(1, 0, 0)),
                    (Some(0), Some(minor), _) if minor > 0 => Exclusive(first_of(0, minor + 1, 0)),
                    (Some(0), Some(0), None) => Exclusive(first_of(0, 1, 0)),
                    (Some(0), Some(0), Some(patch)) => Exclusive(first_of(0, 0, patch + 1)),
                    _ => return None,
                };
                Self::new(Inclusive(p.floor()), high, &p)
            }
            _ => return None,
        };
        Some(range)
    }
}

/// A Masterminds-style constraint: `||`-separated groups of comparators that must all hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    groups: Vec<Vec<Range>>,
}

const OPERATORS: [&str; 12] = [
    "!=", ">=", "=>", "<=", "=<", "~>", ">", "<", "=", "~", "^", "",
];

impl Constraint {
    pub fn parse(text: &str) -> Result<Self, ConstraintError> {
        let err = |reason: String| ConstraintError {
            constraint: text.to_owned(),
            reason,
        };
        let mut groups = Vec::new();
        for group in text.split("||") {
            let tokens: Vec<&str> = group
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
                .collect();
            if tokens.is_empty() {
                return Err(err("empty comparator group".into()));
            }
            let mut ranges = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                // Hyphen range: `A - B`.
                if tokens.get(i + 1) == Some(&"-") {
                    let (Some(low), Some(high)) = (tokens.get(i), tokens.get(i + 2)) else {
                        return Err(err("incomplete hyphen range".into()));
                    };
                    let low = Range::parse(">=", low)
                        .ok_or_else(|| err(format!("bad version {low:?}")))?;
                    let high = Range::parse("<=", high)
                        .ok_or_else(|| err(format!("bad version {high:?}")))?;
                    ranges.extend([low, high]);
                    i += 3;
                    continue;
                }
                // An operator may stand apart from its version: `>= 1.2`.
                let (op, version, used) = if OPERATORS.contains(&tokens[i]) && !tokens[i].is_empty()
                {
                    let version = tokens.get(i + 1).ok_or_else(|| {
                        err(format!("operator {:?} without a version", tokens[i]))
                    })?;
                    (tokens[i], *version, 2)
                } else {
                    let op = OPERATORS
                        .iter()
                        .find(|op| tokens[i].starts_with(**op))
                        .copied()
                        .unwrap_or("");
                    (op, &tokens[i][op.len()..], 1)
                };
                let range = Range::parse(op, version)
                    .ok_or_else(|| err(format!("bad comparator {op}{version:?}")))?;
                ranges.push(range);
                i += used;
            }
            groups.push(ranges);
        }
        Ok(Self { groups })
    }

    pub fn matches(&self, version: &Version) -> bool {
        self.groups.iter().any(|group| {
            let prerelease_ok = version.pre.is_empty() || group.iter().any(|r| r.allows_prerelease);
            prerelease_ok && group.iter().all(|range| range.contains(version))
        })
    }

    /// The highest tag satisfying the constraint, with its version. Tags that are not
    /// versions are skipped; between equal versions the lexically greatest tag wins, so the
    /// choice does not depend on listing order.
    pub fn latest<'a>(
        &self,
        tags: impl IntoIterator<Item = &'a str>,
    ) -> Option<(&'a str, Version)> {
        tags.into_iter()
            .filter_map(|tag| parse_version(tag).map(|v| (tag, v)))
            .filter(|(_, v)| self.matches(v))
            .max_by(|(ta, a), (tb, b)| compare(a, b).then_with(|| ta.cmp(tb)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        parse_version(text).unwrap()
    }

    fn check(constraint: &str, yes: &[&str], no: &[&str]) {
        let c = Constraint::parse(constraint).unwrap();
        for version in yes {
            assert!(
                c.matches(&v(version)),
                "{constraint} should match {version}"
            );
        }
        for version in no {
            assert!(
                !c.matches(&v(version)),
                "{constraint} should not match {version}"
            );
        }
    }

    #[test]
    fn parses_tags_leniently() {
        assert_eq!(parse_version("v1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(parse_version("1.2"), Some(Version::new(1, 2, 0)));
        assert_eq!(parse_version("2"), Some(Version::new(2, 0, 0)));
        assert_eq!(
            parse_version("1.0.0-rc.1").map(|v| v.pre.to_string()),
            Some("rc.1".into())
        );
        for bad in ["latest", "1.2.3.4", "v", "1..2", "main"] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }

    #[test]
    fn bare_and_partial_versions() {
        check("1.2.3", &["1.2.3", "v1.2.3"], &["1.2.4", "1.3.0"]);
        check("1.2", &["1.2.0", "1.2.9"], &["1.3.0", "1.1.9"]);
        check("1.x", &["1.0.0", "1.9.9"], &["2.0.0", "0.9.0"]);
        check("*", &["0.0.1", "9.9.9"], &["1.0.0-rc.1"]);
        check("!=1.2.3", &["1.2.4"], &["1.2.3"]);
    }

    #[test]
    fn comparison_operators() {
        check(">=1.2.3", &["1.2.3", "2.0.0"], &["1.2.2"]);
        check(">1.2.3", &["1.2.4"], &["1.2.3"]);
        check(">1.2", &["1.3.0"], &["1.2.9"]);
        check("<1.2", &["1.1.9"], &["1.2.0"]);
        check("<=1.2", &["1.2.9"], &["1.3.0"]);
        check("=<1.2.3", &["1.2.3"], &["1.2.4"]);
        check(">= 1.2, < 2", &["1.2.0", "1.9.9"], &["2.0.0", "1.1.0"]);
        check(">=1.2.0 <2.0.0", &["1.5.0"], &["2.0.0"]);
    }

    #[test]
    fn tilde_caret_hyphen_and_or() {
        check("~1.2.3", &["1.2.3", "1.2.9"], &["1.3.0", "1.2.2"]);
        check("~1.2", &["1.2.0", "1.2.9"], &["1.3.0"]);
        check("~1", &["1.9.0"], &["2.0.0"]);
        check("~>1.2", &["1.2.5"], &["1.3.0"]);
        check("^1.2.3", &["1.2.3", "1.9.0"], &["2.0.0", "1.2.2"]);
        check("^0.2.3", &["0.2.9"], &["0.3.0"]);
        check("^0.0.3", &["0.0.3"], &["0.0.4"]);
        check("^0", &["0.9.9"], &["1.0.0"]);
        check("1.2 - 1.4.5", &["1.2.0", "1.4.5"], &["1.4.6", "1.1.9"]);
        check("1.2 - 1.4", &["1.4.9"], &["1.5.0"]);
        check("<1.0.0 || >=2.0.0", &["0.9.0", "2.1.0"], &["1.5.0"]);
    }

    #[test]
    fn prereleases_match_only_when_asked_for() {
        check(">=1.0.0", &["1.0.0"], &["2.0.0-rc.1"]);
        check("<2.0.0", &["1.9.0"], &["2.0.0-rc.1"]);
        check(
            ">=1.0.0-0",
            &["1.0.0-alpha", "2.0.0-rc.1", "1.0.0"],
            &["0.9.0"],
        );
        check(
            ">=2.0.0-rc.1 || 1.x",
            &["2.0.0-rc.2", "1.5.0"],
            &["1.5.0-beta"],
        );
    }

    #[test]
    fn ranges_with_prereleases_stay_within_their_major_or_minor() {
        // Masterminds: `^` keeps the major, `~` and `1.2.x` the minor, prereleases included.
        check("^1.x-0", &["1.0.0-rc.1", "1.9.0"], &["2.0.0-rc.1", "2.0.0"]);
        check("~1.2.0-0", &["1.2.5-beta"], &["1.3.0-rc.1", "1.3.0"]);
        check("1.2.x-0", &["1.2.0-alpha"], &["1.3.0-alpha"]);
        check(">1.x-0", &["2.0.0-rc.1", "2.0.0"], &["1.9.9"]);
        check("<=1.x-0", &["1.9.9", "1.0.0-rc.1"], &["2.0.0-rc.1"]);
    }

    #[test]
    fn rejects_malformed_constraints() {
        for bad in [
            "", ">=", "1.2.3.4", ">=abc", "1 -", "|| 1.0", "?1.0", "1.x.y",
        ] {
            assert!(Constraint::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn picks_the_latest_matching_tag() {
        let tags = [
            "v1.0.0",
            "v1.2.0",
            "v1.10.0",
            "v2.0.0-rc.1",
            "v2.0.0",
            "latest",
            "1.10.0",
        ];
        let c = Constraint::parse(">=1.0.0 <2.0.0").unwrap();
        assert_eq!(c.latest(tags), Some(("v1.10.0", Version::new(1, 10, 0))));
        // Equal versions: lexically greatest tag, whatever the input order.
        let mut reversed = tags;
        reversed.reverse();
        assert_eq!(c.latest(reversed).map(|(t, _)| t), Some("v1.10.0"));
        assert_eq!(Constraint::parse(">=3").unwrap().latest(tags), None);
        assert_eq!(
            Constraint::parse("*").unwrap().latest(tags).map(|(t, _)| t),
            Some("v2.0.0")
        );
    }
}
