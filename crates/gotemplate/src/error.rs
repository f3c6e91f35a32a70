//! Errors, worded as Go's `text/template` words them.

/// A parse error: `template: NAME:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }
}

/// An execution error: `template: NAME:LINE:COL: executing "NAME" at <node>: message`, or
/// a bare `template: …` message for errors without a node (undefined template).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExecError {
    /// The template being executed.
    pub name: String,
    pub message: String,
}

/// An invalid template option (Go's `Option` panics on these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized option: {0}")]
pub struct OptionError(pub String);

/// Either error, for callers that parse and execute in one go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Exec(#[from] ExecError),
}
