//! `spec.verify`: signature verification of the pulled artifact. Neither cosign nor notation
//! is implemented yet, so an object asking for it is told so (SourceVerified=False, Stalled)
//! and nothing unverified is stored.

use driftless_api::conditions::{SOURCE_VERIFIED, VERIFICATION_ERROR};
use driftless_api::source::{OCIRepositorySpec, OCIVerificationProvider};

use crate::failure::Failure;

/// The failure of an object that asks for verification.
pub(super) fn unsupported(spec: &OCIRepositorySpec) -> Failure {
    let provider = match spec
        .verify
        .as_ref()
        .map(|v| (v.provider, v.secret_ref.is_some()))
    {
        Some((OCIVerificationProvider::Notation, _)) => "notation",
        Some((OCIVerificationProvider::Cosign, false)) => "cosign keyless",
        _ => "cosign",
    };
    Failure {
        condition: SOURCE_VERIFIED,
        reason: VERIFICATION_ERROR,
        message: format!(
            "failed to verify the signature using provider '{provider}': signature verification is not supported yet"
        ),
        stalled: true,
    }
}
