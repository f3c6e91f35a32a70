//! Why a GitRepository reconcile failed: the condition that names the failed step
//! (FetchFailed, StorageOperationFailed, IncludeUnavailable, SourceVerified), Flux's reason,
//! and whether only a new spec can fix it.

use driftless_api::conditions::{
    AUTHENTICATION_FAILED, FETCH_FAILED, STORAGE_OPERATION_FAILED, URL_INVALID,
};
use driftless_api::source::GIT_OPERATION_FAILED_REASON;

use crate::git::GitError;

/// Why a reconcile failed, as conditions and events show it.
#[derive(Debug)]
pub(super) struct Failure {
    pub condition: &'static str,
    pub reason: &'static str,
    pub message: String,
    /// The spec itself is wrong: retrying cannot help.
    pub stalled: bool,
}

impl Failure {
    pub fn fetch(reason: &'static str, message: String) -> Self {
        Self {
            condition: FETCH_FAILED,
            reason,
            message,
            stalled: false,
        }
    }

    pub fn storage(reason: &'static str, message: String) -> Self {
        Self {
            condition: STORAGE_OPERATION_FAILED,
            reason,
            message,
            stalled: false,
        }
    }
}

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
