//! `spec.verify`: commit and tag signatures checked against the trusted PGP keys of a
//! Secret, as the mode asks.

use driftless_api::conditions::{SOURCE_VERIFIED, VERIFICATION_ERROR};
use driftless_api::source::{GitRepositorySpec, GitRepositoryVerification, GitVerificationMode};

use super::Reconciler;
use super::failure::Failure;
use crate::verify::{self, TrustedKeys};
use driftless_git as git;

/// The keys a signature must be made with, and what must be signed.
pub(super) struct Verification {
    pub keys: TrustedKeys,
    pub mode: GitVerificationMode,
}

/// The verification mode `spec` asks for, as recorded in `status.sourceVerificationMode`.
pub(super) fn verification_mode(spec: &GitRepositorySpec) -> Option<GitVerificationMode> {
    spec.verification
        .as_ref()
        .and_then(|v| v.mode)
        .map(normalized_mode)
}

/// `head` is the legacy spelling of `HEAD`.
fn normalized_mode(mode: GitVerificationMode) -> GitVerificationMode {
    match mode {
        GitVerificationMode::LegacyHead => GitVerificationMode::Head,
        other => other,
    }
}

impl Verification {
    /// Verifies what the mode asks for; returns Flux's SourceVerified message.
    pub fn check(&self, checkout: &git::Checkout) -> Result<String, Failure> {
        let repo = &checkout.repo;
        let mut lines = Vec::new();
        if self.mode.verify_tag() {
            let invalid = |message: String| Failure {
                condition: SOURCE_VERIFIED,
                reason: "InvalidTagSignature",
                message,
                stalled: false,
            };
            let Some(tag) = checkout.tag else {
                return Err(invalid(
                    "cannot verify tag object's signature if a tag reference is not specified"
                        .into(),
                ));
            };
            let what = format!("tag '{tag}'");
            let signed = verify::tag_signature(repo, tag)
                .map_err(|e| invalid(format!("reading {what}: {e}")))?
                .ok_or_else(|| invalid(format!("unable to verify {what}: it has no signature")))?;
            let key = self
                .keys
                .verify(&what, &signed.armored, &signed.payload)
                .map_err(|e| invalid(format!("signature verification of {what} failed: {e}")))?;
            lines.push(format!("\t- tag '{tag}' with key '{key}'"));
        }
        if self.mode.verify_head() {
            let commit = checkout.resolved.commit;
            let invalid = |message: String| Failure {
                condition: SOURCE_VERIFIED,
                reason: "InvalidCommitSignature",
                message,
                stalled: false,
            };
            let what = format!("commit '{commit}'");
            let signed = verify::commit_signature(repo, commit)
                .map_err(|e| invalid(format!("reading {what}: {e}")))?
                .ok_or_else(|| {
                    invalid(format!(
                        "signature verification of {what} failed: it has no signature"
                    ))
                })?;
            let key = self
                .keys
                .verify(&what, &signed.armored, &signed.payload)
                .map_err(|e| invalid(format!("signature verification of {what} failed: {e}")))?;
            lines.push(format!("\t- commit '{commit}' with key '{key}'"));
        }
        Ok(format!("verified signature of\n{}", lines.join("\n")))
    }
}

impl Reconciler {
    /// The trusted keys and mode of `spec.verify`.
    pub(super) async fn verification(
        &self,
        namespace: &str,
        verify: &GitRepositoryVerification,
    ) -> Result<Verification, Failure> {
        let failure = |message: String| Failure {
            condition: SOURCE_VERIFIED,
            reason: VERIFICATION_ERROR,
            message,
            stalled: false,
        };
        let data = self
            .secret_data(namespace, &verify.secret_ref.name)
            .await
            .map_err(|e| failure(format!("PGP public keys secret error: {e}")))?;
        let keys = TrustedKeys::from_secret(&data)
            .map_err(|e| failure(format!("PGP public keys secret error: {e}")))?;
        Ok(Verification {
            keys,
            mode: normalized_mode(verify.mode.unwrap_or(GitVerificationMode::Head)),
        })
    }
}
