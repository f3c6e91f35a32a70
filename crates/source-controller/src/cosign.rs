//! Cosign signatures of an artifact in a registry (an OCIRepository's, an OCI chart's),
//! checked with the `sigstore` crate against the public keys (`*.pub`) of a Secret. The
//! transparency log is not consulted (key-based verification, as Flux does it). Keyless
//! cosign and notation are not implemented yet: asking for them is an error no retry fixes.

use std::collections::BTreeMap;

use driftless_api::source::OCIVerificationProvider;
use driftless_registry::{Access, ImageName};
use driftless_runtime::secrets::secret_data;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
use sigstore::cosign::{ClientBuilder, CosignCapabilities, verify_constraints};
use sigstore::registry::{
    Auth, Certificate, CertificateEncoding, ClientConfig, ClientProtocol, OciReference,
};

/// What to verify with: the provider and the Secret of trusted keys.
#[derive(Clone, Copy, Debug)]
pub struct Verify<'a> {
    pub provider: OCIVerificationProvider,
    pub secret: Option<&'a str>,
}

/// Why verification failed, worded as Flux words it.
#[derive(Debug)]
pub struct VerifyError {
    pub message: String,
    /// Only a new spec can fix it.
    pub permanent: bool,
}

impl Verify<'_> {
    /// The provider as Flux names it in messages.
    fn provider_name(&self) -> &'static str {
        match (self.provider, self.secret.is_some()) {
            (OCIVerificationProvider::Notation, _) => "notation",
            (OCIVerificationProvider::Cosign, false) => "cosign keyless",
            _ => "cosign",
        }
    }

    fn error(&self, why: String, permanent: bool) -> VerifyError {
        VerifyError {
            message: format!(
                "failed to verify the signature using provider '{}': {why}",
                self.provider_name()
            ),
            permanent,
        }
    }
}

/// The cosign public keys of a verification Secret: every `*.pub` entry.
fn public_keys(data: &BTreeMap<String, Vec<u8>>) -> Vec<(&str, &[u8])> {
    data.iter()
        .filter(|(name, _)| name.ends_with(".pub"))
        .map(|(name, key)| (name.as_str(), key.as_slice()))
        .collect()
}

/// Checks that a cosign signature of `image@digest` was made by one of the trusted keys.
pub async fn verify(
    client: &kube::Client,
    namespace: &str,
    verify: Verify<'_>,
    image: &ImageName,
    access: &Access,
    digest: &str,
) -> Result<(), VerifyError> {
    let failure = |why: String, permanent: bool| verify.error(why, permanent);
    let secret = match (verify.provider, verify.secret) {
        (OCIVerificationProvider::Cosign, Some(secret)) => secret,
        _ => {
            return Err(failure(
                "signature verification is not supported yet".to_owned(),
                true,
            ));
        }
    };
    let data = secret_data(client, namespace, secret).await.map_err(|e| {
        failure(
            format!(
                "failed to get secret '{namespace}/{secret}': {}",
                driftless_runtime::kube_errors::message(&e)
            ),
            false,
        )
    })?;
    let keys = public_keys(&data);
    if keys.is_empty() {
        return Err(failure(
            format!("no public keys (*.pub) found in secret '{secret}'"),
            true,
        ));
    }
    // The verifiers are not Send: checked here, made again after the registry is read.
    let constraints = || -> Result<VerificationConstraintVec, VerifyError> {
        keys.iter()
            .map(|(name, pem)| {
                PublicKeyVerifier::try_from(pem)
                    .map(|v| Box::new(v) as _)
                    .map_err(|e| failure(format!("invalid public key '{name}': {e}"), true))
            })
            .collect()
    };
    drop(constraints()?);
    let config = ClientConfig {
        protocol: if access.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        extra_root_certificates: access
            .ca_pem
            .iter()
            .map(|pem| Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect(),
        https_proxy: access.proxy.clone(),
        ..ClientConfig::default()
    };
    let mut cosign = ClientBuilder::default()
        .with_oci_client_config(config)
        .build()
        .map_err(|e| failure(e.to_string(), false))?;
    let auth = match &access.credentials {
        Some(c) => Auth::Basic(c.username.clone(), c.password.clone()),
        None => Auth::Anonymous,
    };
    let reference = OciReference::with_digest(
        image.registry.clone(),
        image.repository.clone(),
        digest.to_owned(),
    );
    let layers = cosign
        .trusted_signature_layers(&auth, &reference)
        .await
        .map_err(|e| failure(e.to_string(), false))?;
    let whole = reference.whole();
    if layers.is_empty() {
        return Err(failure(format!("no signatures found for '{whole}'"), false));
    }
    // Any trusted key that made any of the signatures verifies the artifact.
    let any_key = constraints()?
        .iter()
        .any(|key| verify_constraints(&layers, std::iter::once(key)).is_ok());
    if any_key {
        Ok(())
    } else {
        Err(failure(
            format!("no matching signatures were found for '{whole}'"),
            false,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pub_entries_are_keys() {
        let data = BTreeMap::from([
            ("cosign.pub".to_owned(), b"k1".to_vec()),
            ("cosign.key".to_owned(), b"private".to_vec()),
            ("team.pub".to_owned(), b"k2".to_vec()),
        ]);
        let names: Vec<&str> = public_keys(&data).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["cosign.pub", "team.pub"]);
    }
}
