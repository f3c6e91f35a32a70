//! `spec.verify`: the artifact's cosign signature checked (see [`crate::cosign`]) before
//! anything is pulled; a failure is SourceVerified=False with reason VerificationError.

use driftless_api::conditions::{SOURCE_VERIFIED, VERIFICATION_ERROR};
use driftless_api::source::OCIRepositorySpec;
use driftless_registry::{Access, ImageName};

use crate::cosign::{self, Verify};
use crate::failure::Failure;

pub(super) async fn verify(
    client: &kube::Client,
    namespace: &str,
    spec: &OCIRepositorySpec,
    image: &ImageName,
    access: &Access,
    digest: &str,
) -> Result<(), Failure> {
    let Some(wanted) = &spec.verify else {
        return Ok(());
    };
    let with = Verify {
        provider: wanted.provider,
        secret: wanted.secret_ref.as_ref().map(|s| s.name.as_str()),
    };
    cosign::verify(client, namespace, with, image, access, digest)
        .await
        .map_err(|e| Failure {
            condition: SOURCE_VERIFIED,
            reason: VERIFICATION_ERROR,
            message: e.message,
            stalled: e.permanent,
        })
}
