//! Why a GitRepository reconcile failed: the steps it names (FetchFailed,
//! StorageOperationFailed, IncludeUnavailable, ArtifactOutdated), and Git's errors sorted into
//! Flux's reasons.

use driftless_api::conditions::{
    ARTIFACT_OUTDATED, AUTHENTICATION_FAILED, FETCH_FAILED, STORAGE_OPERATION_FAILED, URL_INVALID,
};
use driftless_api::source::{
    GIT_OPERATION_FAILED_REASON, GitRepository, GitRepositoryStatus, INCLUDE_UNAVAILABLE_CONDITION,
};
use driftless_runtime::reconcile::Outcome;
use kube::Resource;

use super::interval;
pub(super) use crate::failure::Failure;
use driftless_git::GitError;

/// Conditions naming a failed step: only the step failing now is shown.
pub(super) const FAILED_STEPS: [&str; 4] = [
    FETCH_FAILED,
    STORAGE_OPERATION_FAILED,
    INCLUDE_UNAVAILABLE_CONDITION,
    ARTIFACT_OUTDATED,
];

impl From<GitError> for Failure {
    fn from(error: GitError) -> Self {
        let message = format!("failed to checkout and determine revision: {error}");
        match &error {
            GitError::InvalidUrl { .. } => Self {
                condition: FETCH_FAILED,
                reason: URL_INVALID,
                message,
                stalled: true,
            },
            GitError::InvalidSemver { .. } => Self {
                condition: FETCH_FAILED,
                reason: GIT_OPERATION_FAILED_REASON,
                message,
                stalled: true,
            },
            GitError::Unauthenticated { .. } => Self::fetch(AUTHENTICATION_FAILED, message),
            _ => Self::fetch(GIT_OPERATION_FAILED_REASON, message),
        }
    }
}

/// A step failed: its condition (only the step failing now is shown), and a retry on the
/// failure backoff, or Stalled for a spec no retry can fix.
pub(super) fn failed(
    object: &GitRepository,
    status: &mut GitRepositoryStatus,
    failure: Failure,
) -> Outcome {
    crate::failure::failed(
        &mut status.conditions,
        &FAILED_STEPS,
        status.artifact.is_some(),
        object.meta().generation,
        interval(object),
        failure,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::conditions::{ARTIFACT_IN_STORAGE, SOURCE_VERIFIED};
    use driftless_api::meta::Artifact;
    use driftless_api::source::GitRepositorySpec;
    use driftless_runtime::conditions as cond;
    use driftless_runtime::reconcile::RetryAfter;
    use std::time::Duration;

    fn repo() -> GitRepository {
        let mut repo = GitRepository::new(
            "podinfo",
            GitRepositorySpec {
                interval: "1m".into(),
                ..Default::default()
            },
        );
        repo.metadata.generation = Some(2);
        repo
    }

    fn artifact() -> Artifact {
        Artifact {
            path: "gitrepository/apps/podinfo/abc.tar.gz".into(),
            url: "http://source-controller/gitrepository/apps/podinfo/abc.tar.gz".into(),
            revision: "main@sha1:abc".into(),
            digest: "sha256:abc".into(),
            last_update_time: cond::now(),
            size: None,
            metadata: None,
        }
    }

    #[test]
    fn a_failed_step_replaces_the_failure_of_another_and_keeps_the_artifact() {
        let mut status = GitRepositoryStatus {
            artifact: Some(artifact()),
            ..Default::default()
        };
        let storage_failed = Failure::storage("ArchiveOperationFailed", "disk full".into());
        failed(&repo(), &mut status, storage_failed);
        assert!(cond::is_true(&status.conditions, STORAGE_OPERATION_FAILED));
        let outcome = failed(
            &repo(),
            &mut status,
            Failure::fetch(GIT_OPERATION_FAILED_REASON, "unreachable".into()),
        );
        assert!(cond::get(&status.conditions, STORAGE_OPERATION_FAILED).is_none());
        assert!(cond::is_true(&status.conditions, FETCH_FAILED));
        assert!(status.artifact.is_some(), "the last good artifact stays");
        assert_eq!(
            outcome,
            Outcome::Retry {
                reason: GIT_OPERATION_FAILED_REASON,
                message: "unreachable".into(),
                after: RetryAfter::Backoff {
                    at_most: Duration::from_secs(60)
                },
            }
        );
    }

    #[test]
    fn a_spec_no_retry_fixes_stalls() {
        let mut status = GitRepositoryStatus::default();
        let invalid = Failure {
            condition: FETCH_FAILED,
            reason: URL_INVALID,
            message: "invalid URL".into(),
            stalled: true,
        };
        assert_eq!(
            failed(&repo(), &mut status, invalid),
            Outcome::Stalled {
                reason: URL_INVALID,
                message: "invalid URL".into()
            }
        );
        assert!(cond::get(&status.conditions, ARTIFACT_IN_STORAGE).is_none());
    }

    #[test]
    fn a_failed_signature_check_makes_source_verified_false() {
        let mut status = GitRepositoryStatus::default();
        let unsigned = Failure {
            condition: SOURCE_VERIFIED,
            reason: "InvalidCommitSignature",
            message: "no signature".into(),
            stalled: false,
        };
        failed(&repo(), &mut status, unsigned);
        let verified = cond::get(&status.conditions, SOURCE_VERIFIED).unwrap();
        assert_eq!(verified.status, "False");
    }
}
