//! The commit message: `spec.git.commit.messageTemplate` (Go `text/template` with Sprig's
//! hermetic functions) over the data Flux passes, or Flux's default message.

use driftless_api::image::DEFAULT_COMMIT_MESSAGE;
use driftless_setters::UpdateResult;

use super::outcome::Failure;

/// What a template sees as `.AutomationObject` and `.Values`.
pub struct Context<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub values: &'a std::collections::BTreeMap<String, String>,
}

/// Renders `template` (the default message when absent or empty) for `changes`.
pub fn render(
    template: Option<&str>,
    _context: &Context<'_>,
    _changes: &UpdateResult,
) -> Result<String, Failure> {
    match template.filter(|t| !t.is_empty()) {
        None => Ok(DEFAULT_COMMIT_MESSAGE.to_owned()),
        Some(_) => Err(Failure::Template {
            removed_field: false,
            message: "message templates are not supported yet".into(),
        }),
    }
}

/// Checks that `template` parses, before any Git work.
pub fn check(template: Option<&str>) -> Result<(), Failure> {
    match template.filter(|t| !t.is_empty()) {
        None => Ok(()),
        Some(_) => Err(Failure::Template {
            removed_field: false,
            message: "message templates are not supported yet".into(),
        }),
    }
}
