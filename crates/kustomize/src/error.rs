//! Build errors: what went wrong and in which file or kustomization.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }

    pub fn yaml(file: &str, error: driftless_yaml::ParseError) -> Error {
        Error::new(format!("{file}: invalid YAML: {error}"))
    }

    pub fn invalid(file: &str, message: String) -> Error {
        Error::new(format!("{file}: {message}"))
    }

    /// The same error, prefixed with where it happened.
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error::new(format!("{context}: {}", self.message))
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
