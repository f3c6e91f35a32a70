//! Decides which image tag an ImagePolicy (`image.toolkit.fluxcd.io/v1`) selects from the
//! tags an ImageRepository scan found, exactly as Flux's image-reflector-controller does.
//!
//! Pure: no Kubernetes client, no I/O, no async. The reconciler builds a [`Policy`] from the
//! object's `spec.policy` and `spec.filterTags`, then asks it for the [`Policy::latest`] tag.
//!
//! How a selection runs, as in Flux:
//! 1. With `filterTags`, only tags matching `pattern` are kept, and each is turned into the
//!    value to compare by expanding `extract` Go-style (see [`filter`]); the original tag is
//!    what is selected. Without `filterTags`, tags are compared as they are.
//! 2. The policy orders the values: [`semver`], [`alphabetical`] or [`numerical`].
//!
//! Where Flux's result depends on the order it happens to see tags in (equal versions, equal
//! numbers, or its unordered map of filtered tags), this crate follows the order of the input
//! list, so the same list always gives the same tag.

pub mod alphabetical;
mod error;
pub mod filter;
pub mod numerical;
pub mod semver;

use driftless_api::image::{ImagePolicyChoice, SortOrder, TagFilter};

pub use error::PolicyError;
use filter::{Candidate, CompiledFilter};

/// How tags are ordered to find the latest one.
#[derive(Clone, Debug)]
enum PolicyKind {
    SemVer(semver::SemVerOrdering),
    Alphabetical(SortOrder),
    Numerical(SortOrder),
}

/// A validated ImagePolicy: ordering rule plus optional tag filter.
#[derive(Clone, Debug)]
pub struct Policy {
    kind: PolicyKind,
    filter: Option<CompiledFilter>,
}

/// The tag a policy selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The tag as it is in the registry (never the extracted value).
    pub tag: String,
    /// The value the policy compared: the tag itself, or what `extract` made of it.
    pub value: String,
}

impl Policy {
    /// Validates `spec.policy` and `spec.filterTags`.
    ///
    /// When several policies are set, the first of semver, alphabetical, numerical wins, as
    /// in Flux (the API allows only one, so this only matters for hand-built values).
    pub fn from_spec(
        choice: &ImagePolicyChoice,
        filter: Option<&TagFilter>,
    ) -> Result<Self, PolicyError> {
        let kind = if let Some(semver) = &choice.semver {
            PolicyKind::SemVer(semver::SemVerOrdering::new(&semver.range)?)
        } else if let Some(alphabetical) = &choice.alphabetical {
            PolicyKind::Alphabetical(alphabetical.order.unwrap_or_default())
        } else if let Some(numerical) = &choice.numerical {
            PolicyKind::Numerical(numerical.order.unwrap_or_default())
        } else {
            return Err(PolicyError::NoPolicy);
        };
        let filter = filter.map(CompiledFilter::new).transpose()?;
        Ok(Self { kind, filter })
    }

    /// The tag this policy selects from `tags`.
    ///
    /// Errors as Flux reports them: no tags at all, no tag left after filtering, no tag
    /// satisfying the semver range, or a tag that is not a number under the numerical policy.
    pub fn latest<'a>(
        &self,
        tags: impl IntoIterator<Item = &'a str>,
    ) -> Result<Selected, PolicyError> {
        let mut tags = tags.into_iter().peekable();
        if tags.peek().is_none() {
            return Err(PolicyError::NoTags);
        }
        let candidates: Vec<Candidate<'a>> = match &self.filter {
            Some(filter) => filter.apply(tags),
            None => tags.map(Candidate::unfiltered).collect(),
        };
        if candidates.is_empty() {
            return Err(PolicyError::EmptyTagList);
        }
        let chosen = match &self.kind {
            PolicyKind::SemVer(semver) => semver.latest(&candidates)?,
            PolicyKind::Alphabetical(order) => alphabetical::latest(*order, &candidates),
            PolicyKind::Numerical(order) => numerical::latest(*order, &candidates)?,
        };
        Ok(Selected {
            tag: chosen.original.to_owned(),
            value: chosen.value.to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
