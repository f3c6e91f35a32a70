//! Credentials for a Git remote, read from a GitRepository's `spec.secretRef` with Flux's key
//! names, and the transport settings built from them.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// Flux's Secret keys.
pub const USERNAME_KEY: &str = "username";
pub const PASSWORD_KEY: &str = "password";
pub const BEARER_TOKEN_KEY: &str = "bearerToken";
pub const CA_KEY: &str = "ca.crt";
/// Older spelling of `ca.crt`, still read by Flux.
pub const LEGACY_CA_KEY: &str = "caFile";
pub const CLIENT_CERT_KEY: &str = "tls.crt";
pub const CLIENT_KEY_KEY: &str = "tls.key";
pub const SSH_IDENTITY_KEY: &str = "identity";
pub const SSH_KNOWN_HOSTS_KEY: &str = "known_hosts";

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("invalid '{0}' auth option: {1}")]
    Invalid(&'static str, String),
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
}

/// SSH key material for one connection.
#[derive(Clone)]
pub struct SshCredentials {
    pub identity: Vec<u8>,
    pub known_hosts: Vec<u8>,
    pub passphrase: Option<String>,
}

impl std::fmt::Debug for SshCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshCredentials").finish_non_exhaustive()
    }
}

/// What a GitRepository authenticates with. Debug output never shows secret values.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The `Authorization` header sent with every HTTP request (basic or bearer).
    pub authorization: Option<String>,
    /// TLS settings for `https://`, when the Secret customises them.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub ssh: Option<SshCredentials>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<set>"),
            )
            .field("tls", &self.tls.is_some())
            .field("ssh", &self.ssh.is_some())
            .finish()
    }
}

/// The transport a URL uses, as far as credentials are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Http,
    Https,
    Ssh,
}

impl Transport {
    pub fn of(url: &str) -> Option<Self> {
        let Some((scheme, _)) = url.split_once("://") else {
            // scp-like `[user@]host:path`, common in .gitmodules.
            let (host, path) = url.split_once(':')?;
            let scp_like = !host.is_empty() && !host.contains('/') && !path.is_empty();
            return scp_like.then_some(Self::Ssh);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "http" => Some(Self::Http),
            "https" => Some(Self::Https),
            "ssh" => Some(Self::Ssh),
            _ => None,
        }
    }
}

impl Credentials {
    /// Reads the keys Flux reads for `transport` from a Secret's data. Keys meant for another
    /// transport are ignored, as in Flux (one Secret may serve both).
    pub fn from_secret(
        transport: Transport,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, AuthError> {
        let text = |key: &str| {
            data.get(key)
                .map(|v| {
                    String::from_utf8_lossy(v)
                        .trim_end_matches(['\n', '\r'])
                        .to_owned()
                })
                .filter(|v| !v.is_empty())
        };
        match transport {
            Transport::Http | Transport::Https => {
                let username = text(USERNAME_KEY);
                let password = text(PASSWORD_KEY);
                let bearer = text(BEARER_TOKEN_KEY);
                let authorization = match (username, password, bearer) {
                    (Some(_), _, Some(_)) => {
                        return Err(AuthError::Invalid(
                            "http",
                            "username and bearerToken cannot both be set".into(),
                        ));
                    }
                    (None, Some(_), _) => {
                        return Err(AuthError::Invalid(
                            "http",
                            "password is set without a username".into(),
                        ));
                    }
                    (Some(user), password, None) => {
                        use base64::Engine;
                        let pair = format!("{user}:{}", password.unwrap_or_default());
                        Some(format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(pair)
                        ))
                    }
                    (None, None, Some(token)) => Some(format!("Bearer {token}")),
                    (None, None, None) => None,
                };
                let ca = data.get(CA_KEY).or_else(|| data.get(LEGACY_CA_KEY));
                let client = match (data.get(CLIENT_CERT_KEY), data.get(CLIENT_KEY_KEY)) {
                    (Some(cert), Some(key)) => Some((cert.as_slice(), key.as_slice())),
                    (None, None) => None,
                    _ => {
                        return Err(AuthError::Invalid(
                            "https",
                            "tls.crt and tls.key must be set together".into(),
                        ));
                    }
                };
                let tls = if transport == Transport::Https && (ca.is_some() || client.is_some()) {
                    Some(Arc::new(tls_config(ca.map(Vec::as_slice), client)?))
                } else {
                    None
                };
                Ok(Self {
                    authorization,
                    tls,
                    ssh: None,
                })
            }
            Transport::Ssh => {
                let identity = data.get(SSH_IDENTITY_KEY).filter(|v| !v.is_empty());
                let known_hosts = data.get(SSH_KNOWN_HOSTS_KEY).filter(|v| !v.is_empty());
                let (Some(identity), Some(known_hosts)) = (identity, known_hosts) else {
                    return Err(AuthError::Invalid(
                        "ssh",
                        "identity and known_hosts are required".into(),
                    ));
                };
                Ok(Self {
                    authorization: None,
                    tls: None,
                    ssh: Some(SshCredentials {
                        identity: identity.clone(),
                        known_hosts: known_hosts.clone(),
                        passphrase: text(PASSWORD_KEY),
                    }),
                })
            }
        }
    }
}

/// The TLS configuration of connections without custom TLS settings, built once: building it
/// per connection would re-read the system trust store for every fetch.
pub fn default_tls_config() -> Result<Arc<rustls::ClientConfig>, AuthError> {
    static DEFAULT: OnceLock<Result<Arc<rustls::ClientConfig>, AuthError>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| tls_config(None, None).map(Arc::new))
        .clone()
}

/// A rustls client configuration trusting the system roots plus `ca_pem` (as Git does with a
/// custom CA bundle), optionally presenting a client certificate.
pub fn tls_config(
    ca_pem: Option<&[u8]>,
    client: Option<(&[u8], &[u8])>,
) -> Result<rustls::ClientConfig, AuthError> {
    driftless_tls::client_config(ca_pem, client).map_err(AuthError::Tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn basic_and_bearer_headers() {
        let basic = Credentials::from_secret(
            Transport::Http,
            &data(&[("username", "git"), ("password", "s3cret\n")]),
        )
        .unwrap();
        // base64("git:s3cret"); the trailing newline of a `kubectl create secret --from-file`
        // value is not part of the password.
        assert_eq!(
            basic.authorization.as_deref(),
            Some("Basic Z2l0OnMzY3JldA==")
        );
        let bearer =
            Credentials::from_secret(Transport::Https, &data(&[("bearerToken", "tok")])).unwrap();
        assert_eq!(bearer.authorization.as_deref(), Some("Bearer tok"));
        assert!(bearer.tls.is_none());
        let none = Credentials::from_secret(Transport::Https, &data(&[])).unwrap();
        assert!(none.authorization.is_none());
        assert!(!format!("{basic:?}").contains("Z2l0"));
    }

    #[test]
    fn rejects_ambiguous_or_incomplete_secrets() {
        for (transport, pairs) in [
            (
                Transport::Https,
                vec![("username", "a"), ("bearerToken", "b")],
            ),
            (Transport::Https, vec![("password", "p")]),
            (Transport::Https, vec![("tls.crt", "x")]),
            (Transport::Ssh, vec![("identity", "k")]),
            (Transport::Ssh, vec![("known_hosts", "h")]),
            (Transport::Https, vec![("ca.crt", "not pem")]),
        ] {
            assert!(
                Credentials::from_secret(transport, &data(&pairs)).is_err(),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn custom_ca_builds_a_tls_config() {
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let creds =
            Credentials::from_secret(Transport::Https, &data(&[("ca.crt", &ca.cert.pem())]))
                .unwrap();
        assert!(creds.tls.is_some());
        // A CA for http:// is irrelevant and ignored.
        let plain = Credentials::from_secret(Transport::Http, &data(&[("ca.crt", &ca.cert.pem())]))
            .unwrap();
        assert!(plain.tls.is_none());
    }

    #[test]
    fn transport_of_url() {
        assert_eq!(Transport::of("https://x/y"), Some(Transport::Https));
        assert_eq!(Transport::of("HTTP://x/y"), Some(Transport::Http));
        assert_eq!(Transport::of("ssh://git@x/y"), Some(Transport::Ssh));
        assert_eq!(Transport::of("git@x:org/y.git"), Some(Transport::Ssh));
        assert_eq!(Transport::of("/srv/git/y.git"), None);
        assert_eq!(Transport::of("./y.git"), None);
        assert_eq!(Transport::of("file:///x"), None);
    }
}
