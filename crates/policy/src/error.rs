//! Errors, worded as Flux words them where Flux has a message.

/// Why a policy could not be built or could not select a tag.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// `spec.policy` names none of semver, alphabetical, numerical.
    #[error("given ImagePolicyChoice object is invalid")]
    NoPolicy,
    /// `spec.policy.semver.range` is not a constraint.
    #[error("improper constraint: {range}: {reason}")]
    InvalidRange { range: String, reason: String },
    /// `spec.filterTags.pattern` does not compile.
    #[error("invalid regular expression pattern '{pattern}': {reason}")]
    InvalidPattern { pattern: String, reason: String },
    /// `spec.filterTags.extract` refers to a group the pattern lacks. Flux would silently
    /// expand it to nothing, so every tag would compare equal; rejecting it is kinder.
    #[error(
        "extract '{extract}' refers to capture group '{group}', which pattern '{pattern}' does not have"
    )]
    UnknownGroup {
        extract: String,
        group: String,
        pattern: String,
    },
    /// The tag list is empty (Flux: the repository has not been scanned yet).
    #[error("no tags in database")]
    NoTags,
    /// No tag is left after `filterTags`.
    #[error("version list argument cannot be empty")]
    EmptyTagList,
    /// No tag is a version satisfying the semver range.
    #[error("unable to determine latest version from provided list")]
    NoMatchingVersion,
    /// The numerical policy met a value that is not a number.
    #[error("failed to parse invalid numeric value '{value}'")]
    NotNumeric { value: String },
}
