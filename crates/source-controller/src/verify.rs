//! `spec.verify`: OpenPGP signatures of the fetched commit and/or tag, checked against the
//! public keys in the referenced Secret (every key except `*.sshpub` ones is read as armored
//! OpenPGP, as Flux does). Pure Rust (rpgp); no `gpg` binary involved.

use std::collections::BTreeMap;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;

/// Suffix Flux uses for SSH `authorized_keys`-style signing keys.
pub const SSH_KEY_SUFFIX: &str = ".sshpub";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("no OpenPGP public keys found in the verification Secret")]
    NoKeys,
    #[error("invalid OpenPGP key in '{key}': {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("unable to verify {what}: it has no signature")]
    Unsigned { what: String },
    #[error("unable to verify {what}: {format} signatures are not supported")]
    UnsupportedFormat { what: String, format: String },
    #[error("unable to verify {what}: malformed signature: {reason}")]
    Malformed { what: String, reason: String },
    #[error("unable to verify {what}: no trusted key made its signature")]
    Untrusted { what: String },
}

/// The trusted OpenPGP keys of a verification Secret.
pub struct TrustedKeys {
    keys: Vec<SignedPublicKey>,
}

impl TrustedKeys {
    pub fn from_secret(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, VerifyError> {
        let mut keys = Vec::new();
        for (name, value) in data {
            if name.ends_with(SSH_KEY_SUFFIX) {
                continue;
            }
            let text = String::from_utf8_lossy(value);
            let invalid = |reason: String| VerifyError::InvalidKey {
                key: name.clone(),
                reason,
            };
            let (parsed, _) =
                SignedPublicKey::from_string_many(&text).map_err(|e| invalid(e.to_string()))?;
            for key in parsed {
                keys.push(key.map_err(|e| invalid(e.to_string()))?);
            }
        }
        if keys.is_empty() {
            return Err(VerifyError::NoKeys);
        }
        Ok(Self { keys })
    }

    /// Checks `armored` over `payload`; returns the key ID (16 upper-case hex digits, as
    /// Flux reports it) of the primary key whose key or subkey made the signature.
    pub fn verify(
        &self,
        what: &str,
        armored: &[u8],
        payload: &[u8],
    ) -> Result<String, VerifyError> {
        let text = std::str::from_utf8(armored).map_err(|e| VerifyError::Malformed {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
        if !text
            .trim_start()
            .starts_with("-----BEGIN PGP SIGNATURE-----")
        {
            let format = if text.contains("BEGIN SSH SIGNATURE") {
                "SSH"
            } else if text.contains("BEGIN SIGNED MESSAGE") {
                "X.509"
            } else {
                "unknown"
            };
            return Err(VerifyError::UnsupportedFormat {
                what: what.to_owned(),
                format: format.to_owned(),
            });
        }
        let (signature, _) =
            DetachedSignature::from_string(text).map_err(|e| VerifyError::Malformed {
                what: what.to_owned(),
                reason: e.to_string(),
            })?;
        for key in &self.keys {
            let made_it = signature.verify(key, payload).is_ok()
                || key
                    .public_subkeys
                    .iter()
                    .any(|subkey| signature.verify(subkey, payload).is_ok());
            if made_it {
                let id = key.legacy_key_id();
                return Ok(id.as_ref().iter().map(|b| format!("{b:02X}")).collect());
            }
        }
        Err(VerifyError::Untrusted {
            what: what.to_owned(),
        })
    }
}

/// An armored signature and the exact bytes it signs.
pub struct Signed {
    pub armored: Vec<u8>,
    pub payload: Vec<u8>,
}

/// The armored signature and signed bytes of a commit, if it is signed.
pub fn commit_signature(
    repo: &gix::Repository,
    id: gix::ObjectId,
) -> Result<Option<Signed>, String> {
    let commit = repo.find_commit(id).map_err(|e| e.to_string())?;
    let signature = commit.signature().map_err(|e| e.to_string())?;
    Ok(signature.map(|(armored, signed)| Signed {
        armored: armored.to_vec(),
        payload: signed.to_bstring().to_vec(),
    }))
}

/// The armored signature and signed bytes of an annotated tag, if it is signed.
pub fn tag_signature(repo: &gix::Repository, id: gix::ObjectId) -> Result<Option<Signed>, String> {
    let tag = repo.find_object(id).map_err(|e| e.to_string())?;
    Ok(
        gix::objs::TagRefIter::signature(&tag.data).map(|(signature, signed)| Signed {
            armored: signature.data.to_vec(),
            payload: signed.to_bstring().to_vec(),
        }),
    )
}
