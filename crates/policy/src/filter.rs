//! `spec.filterTags`: keep the tags a regular expression matches and compute, from its
//! capture groups, the value each is compared by.
//!
//! The pattern is compiled with the `regex` crate, whose syntax is nearly Go's RE2 syntax
//! and whose matches are leftmost-first like Go's, so captures agree. Known differences:
//! - `\d`, `\w`, `\s` and `\b` are Unicode-aware here and ASCII-only in Go. OCI tags are
//!   ASCII (`[A-Za-z0-9_][A-Za-z0-9._-]*`), so this cannot change which tag matches.
//! - Go accepts `\Q…\E` quoting; `regex` rejects it (the pattern fails to compile).
//! - Inside a character class `regex` reads `&&`, `--`, `~~` as set operations and a nested
//!   `[` as a nested class; Go reads them as literal characters.
//! - A group name must start with a letter or `_` here; Go also allows a leading digit.
//! - Go limits a counted repetition to 1000; `regex` instead limits compiled size, so a
//!   very large pattern may be rejected by one and accepted by the other.
//!
//! `extract` is expanded the way Go's `Regexp.Expand` does: `$name` or `${name}` is the
//! named group, `$1` or `${1}` the numbered one (`$0` the whole match), `$$` a literal `$`,
//! and a `$` not followed by a name stays literal. A name is the longest run of letters,
//! digits and `_`, so `$1x` means the group named `1x`, not group 1 then `x`; write `${1}x`.
//! A group that did not take part in the match expands to nothing.

use std::borrow::Cow;
use std::collections::HashMap;

use driftless_api::image::TagFilter;
use regex::Regex;

use crate::PolicyError;

/// A tag that passed the filter, with the value the policy compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate<'a> {
    pub(crate) original: &'a str,
    pub(crate) value: Cow<'a, str>,
}

impl<'a> Candidate<'a> {
    pub(crate) fn unfiltered(tag: &'a str) -> Self {
        Self {
            original: tag,
            value: Cow::Borrowed(tag),
        }
    }
}

/// One piece of an `extract` template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Group(usize),
}

/// A compiled `spec.filterTags`.
#[derive(Clone, Debug)]
pub(crate) struct CompiledFilter {
    pattern: Regex,
    /// None when `extract` is empty: the tag itself is the value.
    extract: Option<Vec<Piece>>,
}

impl CompiledFilter {
    pub(crate) fn new(filter: &TagFilter) -> Result<Self, PolicyError> {
        // An absent pattern is Go's empty string, which matches every tag.
        let source = filter.pattern.as_deref().unwrap_or("");
        let pattern = Regex::new(source).map_err(|err| PolicyError::InvalidPattern {
            pattern: source.to_owned(),
            reason: err.to_string(),
        })?;
        let extract = match filter.extract.as_deref() {
            None | Some("") => None,
            Some(template) => Some(compile_template(template, &pattern)?),
        };
        Ok(Self { pattern, extract })
    }

    /// The matching tags with their values, in input order. When two tags give the same
    /// value, the later tag replaces the earlier one, as Flux's map of values to tags does.
    pub(crate) fn apply<'a>(&self, tags: impl Iterator<Item = &'a str>) -> Vec<Candidate<'a>> {
        let mut candidates: Vec<Candidate<'a>> = Vec::new();
        let mut position_of_value: HashMap<String, usize> = HashMap::new();
        for tag in tags {
            let Some(captures) = self.pattern.captures(tag) else {
                continue;
            };
            let value = match &self.extract {
                None => Cow::Borrowed(tag),
                Some(pieces) => Cow::Owned(expand(pieces, &captures)),
            };
            match position_of_value.get(value.as_ref()) {
                Some(&position) => candidates[position].original = tag,
                None => {
                    position_of_value.insert(value.to_string(), candidates.len());
                    candidates.push(Candidate {
                        original: tag,
                        value,
                    });
                }
            }
        }
        candidates
    }
}

fn expand(pieces: &[Piece], captures: &regex::Captures<'_>) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Group(index) => {
                if let Some(group) = captures.get(*index) {
                    out.push_str(group.as_str());
                }
            }
        }
    }
    out
}

/// A reference in a template: a group name or number, as Go's `Expand` reads it.
#[derive(Debug, PartialEq, Eq)]
enum Reference<'t> {
    Number(usize),
    Name(&'t str),
}

/// Reads the reference after a `$`: `name`, `{name}`; None when malformed (then the `$` is
/// literal). Returns the reference and the rest of the template.
fn read_reference(text: &str) -> Option<(Reference<'_>, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let end = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphabetic() || c.is_numeric() || *c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let rest = if braced {
        body[end..].strip_prefix('}')?
    } else {
        &body[end..]
    };
    // Go reads a name of at most 9 ASCII digits without a leading zero as a number.
    let is_number = name.bytes().all(|b| b.is_ascii_digit())
        && (name == "0" || !name.starts_with('0'))
        && name.len() <= 9;
    let reference = match name.parse::<usize>() {
        Ok(number) if is_number => Reference::Number(number),
        _ => Reference::Name(name),
    };
    Some((reference, rest))
}

/// Parses `template` and resolves each reference against the pattern's groups.
fn compile_template(template: &str, pattern: &Regex) -> Result<Vec<Piece>, PolicyError> {
    let unknown = |group: &str| PolicyError::UnknownGroup {
        extract: template.to_owned(),
        group: group.to_owned(),
        pattern: pattern.as_str().to_owned(),
    };
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('$') {
        literal.push_str(before);
        if let Some(after_dollar) = after.strip_prefix('$') {
            literal.push('$');
            rest = after_dollar;
            continue;
        }
        let Some((reference, after_reference)) = read_reference(after) else {
            literal.push('$');
            rest = after;
            continue;
        };
        let index = match reference {
            Reference::Number(number) if number < pattern.captures_len() => number,
            Reference::Number(number) => return Err(unknown(&number.to_string())),
            Reference::Name(name) => pattern
                .capture_names()
                .position(|group| group == Some(name))
                .ok_or_else(|| unknown(name))?,
        };
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(Piece::Group(index));
        rest = after_reference;
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(pattern: &str, extract: &str) -> Result<CompiledFilter, PolicyError> {
        CompiledFilter::new(&TagFilter {
            pattern: Some(pattern.to_owned()),
            extract: Some(extract.to_owned()),
        })
    }

    /// (original, value) pairs the filter keeps.
    fn kept(pattern: &str, extract: &str, tags: &[&str]) -> Vec<(String, String)> {
        filter(pattern, extract)
            .unwrap()
            .apply(tags.iter().copied())
            .into_iter()
            .map(|c| (c.original.to_owned(), c.value.into_owned()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn expands_templates_like_go() {
        let cases: &[(&str, &str, &str, &str)] = &[
            // (pattern, extract, tag, value)
            (
                r"^main-[a-fA-F0-9]+-(?P<ts>.*)",
                "$ts",
                "main-3f2a9c1-1700000000",
                "1700000000",
            ),
            (
                r"^main-[a-fA-F0-9]+-(?P<ts>.*)",
                "${ts}",
                "main-abc-17",
                "17",
            ),
            (
                r"^v?(?P<version>[0-9]+\.[0-9]+\.[0-9]+)$",
                "$version",
                "v1.2.3",
                "1.2.3",
            ),
            (r"^[a-f0-9]+-(?P<ts>[0-9]+)", "$ts", "0af3-1699", "1699"),
            (
                r"^(?<major>\d+)\.(?<minor>\d+)$",
                "$major-$minor",
                "4.7",
                "4-7",
            ),
            (r"^(\d+)-(\d+)$", "$2.$1", "10-20", "20.10"),
            (r"^(\d+)-(\d+)$", "${1}x", "10-20", "10x"),
            (r"^(\d+)$", "$0!", "42", "42!"),
            (r"^(\d+)$", "$$1 costs $", "42", "$1 costs $"),
            (r"^(\d+)$", "a$", "42", "a$"),
            (r"^(\d+)$", "${", "42", "${"),
            (r"^(\d+)$", "${1", "42", "${1"),
            (r"^(\d+)(x)?$", "$1<$2>", "42", "42<>"),
            (
                r"^RELEASE\.(?P<timestamp>.*)Z$",
                "$timestamp",
                "RELEASE.2024-01-02T03-04-05Z",
                "2024-01-02T03-04-05",
            ),
        ];
        for (pattern, extract, tag, value) in cases {
            assert_eq!(
                kept(pattern, extract, &[tag]),
                pairs(&[(tag, value)]),
                "{pattern} / {extract}"
            );
        }
    }

    #[test]
    fn keeps_only_matching_tags_unanchored() {
        assert_eq!(
            kept("rc", "", &["1.0.0", "1.0.0-rc.1", "rc", "latest"]),
            pairs(&[("1.0.0-rc.1", "1.0.0-rc.1"), ("rc", "rc")])
        );
        // An empty or absent pattern matches everything.
        assert_eq!(kept("", "", &["a", "b"]), pairs(&[("a", "a"), ("b", "b")]));
        let absent = CompiledFilter::new(&TagFilter::default()).unwrap();
        assert_eq!(absent.apply(["x"].into_iter()).len(), 1);
    }

    #[test]
    fn a_repeated_value_keeps_the_last_tag() {
        assert_eq!(
            kept(r"^(?P<n>\d+)-", "$n", &["1-a", "2-a", "1-b"]),
            pairs(&[("1-b", "1"), ("2-a", "2")])
        );
    }

    #[test]
    fn rejects_bad_patterns_and_unknown_groups() {
        let cases: &[(&str, &str, &str)] = &[
            // (pattern, extract, expected message start)
            ("(", "", "invalid regular expression pattern '('"),
            (r"\Qa.b\E", "", "invalid regular expression pattern"),
            (
                "^(?P<ts>.*)$",
                "$timestamp",
                "extract '$timestamp' refers to capture group 'timestamp'",
            ),
            ("^(.*)$", "$2", "extract '$2' refers to capture group '2'"),
            // Go reads `$1x` as the group named `1x`.
            (
                "^(.*)$",
                "$1x",
                "extract '$1x' refers to capture group '1x'",
            ),
            (
                "^(.*)$",
                "$01",
                "extract '$01' refers to capture group '01'",
            ),
        ];
        for (pattern, extract, message) in cases {
            let err = filter(pattern, extract).unwrap_err().to_string();
            assert!(err.starts_with(message), "{pattern} / {extract}: {err}");
        }
    }

    #[test]
    fn go_syntax_flux_users_write_compiles() {
        for pattern in [
            r"^main-[a-fA-F0-9]+-(?P<ts>.*)",
            r"^v?(?P<version>[0-9]+\.[0-9]+\.[0-9]+)$",
            r"^[a-f0-9]+-(?P<ts>[0-9]+)",
            r"^(?<name>[[:alpha:]]+)-\d{1,3}$",
            r"(?i)^RELEASE\.",
            r"^\p{L}+$",
            r"^.*-ls\d{3,}$",
            r"^(?P<SEMVER>[0-9.]+)_p(?P<PATCH>\d+)-r(?P<REVISION>\d+)-ls(?P<LSVER>\d+)$",
            r"^[^-]+\-\_$",
        ] {
            assert!(filter(pattern, "").is_ok(), "{pattern}");
        }
    }
}
