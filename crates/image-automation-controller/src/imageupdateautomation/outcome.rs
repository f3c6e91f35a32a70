//! Pure decisions of the ImageUpdateAutomation reconciler: whether a run can skip the Git
//! work, how a pushed commit is announced, and how each failure reads.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::conditions::SUCCEEDED;
use driftless_api::event::Severity;
use driftless_api::image::{
    GIT_OPERATION_FAILED_REASON, INVALID_POLICY_SELECTOR_REASON, INVALID_SOURCE_CONFIG_REASON,
    ImageRef, REMOVED_TEMPLATE_FIELD_REASON, SOURCE_MANAGER_FAILED_REASON, UPDATE_FAILED_REASON,
};
use driftless_runtime::reconcile::outcome::Notice;
use driftless_runtime::reconcile::{Outcome, RetryAfter};

/// Flux's Ready message of a finished run, pushed or not.
pub const READY_MESSAGE: &str = "repository up-to-date";

/// Whether the Git work can be skipped: the checkout branch is where the last run saw it and
/// the selected images are the same, so the setters would write nothing new.
pub fn unchanged(
    observed_policies: &BTreeMap<String, ImageRef>,
    policies: &BTreeMap<String, ImageRef>,
    observed_source_revision: Option<&str>,
    source_revision: &str,
) -> bool {
    observed_policies == policies && observed_source_revision == Some(source_revision)
}

/// `pushed commit '<short>' to branch '<branch>'[ and refspecs '<r>']\n<message>`, as Flux
/// announces a push.
pub fn push_summary(commit: &str, branch: &str, refspecs: &[String], message: &str) -> String {
    let short = commit.get(..7).unwrap_or(commit);
    let mut summary = format!("pushed commit '{short}' to branch '{branch}'");
    if !refspecs.is_empty() {
        summary.push_str(&format!(" and refspecs '{}'", refspecs.join("', '")));
    }
    if !message.is_empty() {
        summary.push('\n');
        summary.push_str(message);
    }
    summary
}

/// The Normal event of a push (what Alerts announce), with the commit as revision.
pub fn push_event(summary: String, commit: &str) -> Notice {
    Notice {
        severity: Severity::Info,
        reason: SUCCEEDED.to_owned(),
        message: summary,
        metadata: BTreeMap::from([("revision".to_owned(), commit.to_owned())]),
    }
}

/// Why a run failed, with what the condition says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// `.spec.git`, the push branch or the update path cannot work.
    InvalidSource(String),
    /// Cross-namespace reference refused.
    AccessDenied(String),
    /// `policySelector` is not a valid selector.
    InvalidSelector(String),
    /// The GitRepository or a Secret could not be read.
    SourceManager(String),
    /// Fetch, commit or push failed.
    Git(String),
    /// The setters could not be applied (a file that is not YAML, a marker naming a missing
    /// policy).
    Update(String),
    /// The message template does not parse, or uses a removed field: only a new spec helps.
    Template {
        removed_field: bool,
        message: String,
    },
}

pub fn failed(failure: Failure, interval: Duration) -> Outcome {
    let retry = |reason, message| Outcome::Retry {
        reason,
        message,
        after: RetryAfter::Backoff { at_most: interval },
    };
    match failure {
        Failure::InvalidSource(message) => Outcome::Stalled {
            reason: INVALID_SOURCE_CONFIG_REASON,
            message,
        },
        Failure::AccessDenied(message) => Outcome::Stalled {
            reason: driftless_api::conditions::ACCESS_DENIED,
            message,
        },
        Failure::InvalidSelector(message) => Outcome::Stalled {
            reason: INVALID_POLICY_SELECTOR_REASON,
            message,
        },
        Failure::Template {
            removed_field: true,
            message,
        } => Outcome::Stalled {
            reason: REMOVED_TEMPLATE_FIELD_REASON,
            message,
        },
        Failure::Template { message, .. } => Outcome::Stalled {
            reason: GIT_OPERATION_FAILED_REASON,
            message: format!("failed to update source: {message}"),
        },
        Failure::SourceManager(message) => retry(
            SOURCE_MANAGER_FAILED_REASON,
            format!("failed configuring source manager: {message}"),
        ),
        Failure::Git(message) => retry(GIT_OPERATION_FAILED_REASON, message),
        Failure::Update(message) => retry(
            UPDATE_FAILED_REASON,
            format!("failed to apply policies: {message}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(tag: &str) -> ImageRef {
        ImageRef {
            name: "ghcr.io/app".into(),
            tag: tag.into(),
            digest: None,
        }
    }

    #[test]
    fn a_run_is_skipped_only_when_source_and_images_are_as_last_seen() {
        let seen = BTreeMap::from([("app".to_owned(), image("1.0.0"))]);
        let newer = BTreeMap::from([("app".to_owned(), image("1.1.0"))]);
        let rev = "main@sha1:aaaa";
        assert!(unchanged(&seen, &seen, Some(rev), rev));
        assert!(!unchanged(&seen, &newer, Some(rev), rev));
        assert!(!unchanged(&seen, &seen, Some(rev), "main@sha1:bbbb"));
        assert!(!unchanged(&seen, &seen, None, rev));
    }

    #[test]
    fn pushes_are_announced_as_flux_announces_them() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            push_summary(commit, "main", &[], "Update app to 1.1.0"),
            "pushed commit '0123456' to branch 'main'\nUpdate app to 1.1.0"
        );
        assert_eq!(
            push_summary(commit, "auto", &["HEAD:refs/heads/release".into()], ""),
            "pushed commit '0123456' to branch 'auto' and refspecs 'HEAD:refs/heads/release'"
        );
        let event = push_event("x".into(), commit);
        assert_eq!(event.metadata["revision"], commit);
    }

    #[test]
    fn configuration_errors_stall_and_the_rest_retry() {
        let hour = Duration::from_secs(3600);
        let stalled = |f| matches!(failed(f, hour), Outcome::Stalled { .. });
        assert!(stalled(Failure::InvalidSource("x".into())));
        assert!(stalled(Failure::InvalidSelector("x".into())));
        assert!(stalled(Failure::Template {
            removed_field: false,
            message: "x".into()
        }));
        let removed = failed(
            Failure::Template {
                removed_field: true,
                message: "x".into(),
            },
            hour,
        );
        assert_eq!(removed.reason(), REMOVED_TEMPLATE_FIELD_REASON);
        let git = failed(Failure::Git("push refused".into()), hour);
        assert_eq!(
            (git.reason(), git.message()),
            (GIT_OPERATION_FAILED_REASON, "push refused")
        );
        let update = failed(Failure::Update("deploy.yaml: not YAML".into()), hour);
        assert_eq!(
            update.message(),
            "failed to apply policies: deploy.yaml: not YAML"
        );
        assert!(matches!(update, Outcome::Retry { .. }));
    }
}
