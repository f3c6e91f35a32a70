//! Commit signatures, as `git commit -S` makes them: an armored signature over the commit
//! object without its `gpgsig` header. OpenPGP with rpgp (Flux's `git.asc` and
//! `passphrase` keys), SSH with sshsig in the "git" namespace (Flux's `identity` and
//! `password`).

use pgp::composed::{ArmorOptions, Deserializable, DetachedSignature, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::Password;

/// The sshsig namespace git signs and verifies commits in.
const SSH_NAMESPACE: &str = "git";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("reading the OpenPGP key: {0}")]
    OpenPgpKey(String),
    #[error("reading the SSH key: {0}")]
    SshKey(String),
    #[error("the key is encrypted and no passphrase was given")]
    MissingPassphrase,
    #[error("signing failed: {0}")]
    Signing(String),
}

/// A key that signs commits.
pub enum CommitSigner {
    OpenPgp {
        key: Box<SignedSecretKey>,
        passphrase: Password,
    },
    Ssh(Box<ssh_key::PrivateKey>),
}

impl std::fmt::Debug for CommitSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OpenPgp { .. } => "CommitSigner::OpenPgp",
            Self::Ssh(_) => "CommitSigner::Ssh",
        })
    }
}

impl CommitSigner {
    /// An armored OpenPGP secret key (`git.asc`), unlocked with `passphrase` when it is
    /// protected. A signing subkey is preferred over the primary key, as gpg does.
    pub fn openpgp(armored: &[u8], passphrase: Option<&str>) -> Result<Self, SignError> {
        let (key, _headers) = SignedSecretKey::from_armor_single(armored)
            .map_err(|e| SignError::OpenPgpKey(e.to_string()))?;
        let passphrase = passphrase
            .map(Password::from)
            .unwrap_or_else(Password::empty);
        let signer = Self::OpenPgp {
            key: Box::new(key),
            passphrase,
        };
        // Fails now, on a wrong passphrase, rather than at the first commit.
        signer.sign(b"driftless key check")?;
        Ok(signer)
    }

    /// An OpenSSH private key (`identity`), decrypted with `password` when it is encrypted.
    pub fn ssh(identity: &[u8], password: Option<&str>) -> Result<Self, SignError> {
        let key = ssh_key::PrivateKey::from_openssh(identity)
            .map_err(|e| SignError::SshKey(e.to_string()))?;
        let key = if key.is_encrypted() {
            let password = password.ok_or(SignError::MissingPassphrase)?;
            key.decrypt(password)
                .map_err(|e| SignError::SshKey(format!("decrypting: {e}")))?
        } else {
            key
        };
        Ok(Self::Ssh(Box::new(key)))
    }

    /// The armored signature of `payload` (ends with a newline).
    pub fn sign(&self, payload: &[u8]) -> Result<String, SignError> {
        match self {
            Self::OpenPgp { key, passphrase } => {
                let rng = rand_core_06::OsRng;
                let hash = HashAlgorithm::Sha256;
                let subkey = key.secret_subkeys.iter().find(|subkey| {
                    subkey
                        .signatures
                        .iter()
                        .any(|signature| signature.key_flags().sign())
                });
                let signature = match subkey {
                    Some(subkey) => DetachedSignature::sign_binary_data(
                        rng,
                        &subkey.key,
                        passphrase,
                        hash,
                        payload,
                    ),
                    None => DetachedSignature::sign_binary_data(
                        rng,
                        &key.primary_key,
                        passphrase,
                        hash,
                        payload,
                    ),
                }
                .map_err(|e| SignError::Signing(e.to_string()))?;
                signature
                    .to_armored_string(ArmorOptions::default())
                    .map_err(|e| SignError::Signing(e.to_string()))
            }
            Self::Ssh(key) => key
                .sign(SSH_NAMESPACE, ssh_key::HashAlg::Sha512, payload)
                .and_then(|signature| signature.to_pem(ssh_key::LineEnding::LF))
                .map_err(|e| SignError::Signing(e.to_string())),
        }
    }
}
