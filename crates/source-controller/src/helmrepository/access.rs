//! How a HelmRepository of `type: default` is reached: basic auth from `secretRef`
//! (`username`/`password`), TLS from `certSecretRef` (`ca.crt`, `tls.crt`/`tls.key`) or, as
//! Flux still accepts, the legacy `caFile`/`certFile`/`keyFile` keys of `secretRef`; and the
//! bounded GET that index and chart downloads share. Reading Secrets and HTTP are the I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::source::HelmRepository;
use driftless_runtime::secrets::secret_data;
use futures::StreamExt;
use kube::ResourceExt;

/// Credentials and TLS settings of one repository.
#[derive(Clone, Default)]
pub struct RepositoryAccess {
    basic: Option<(String, String)>,
    ca_pem: Option<Vec<u8>>,
    client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// Send the credentials to other hosts too (`passCredentials`).
    pass_credentials: bool,
}

/// Why the access could not be read: a missing Secret, or data that does not fit.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AccessError(pub String);

/// A failed GET: the message names the URL as Helm's getter does.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("{0}")]
    Client(String),
    #[error("failed to fetch {url} : {status}")]
    Status { url: String, status: String },
    #[error("{url}: {message}")]
    Transfer { url: String, message: String },
    #[error("{what} exceeds the maximum size of {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
}

impl GetError {
    /// 401/403: the credentials are missing or wrong.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Status { status, .. } if status.starts_with("401") || status.starts_with("403"))
    }
}

impl RepositoryAccess {
    /// Reads the Secrets `repository` names.
    pub async fn read(
        client: &kube::Client,
        repository: &HelmRepository,
    ) -> Result<Self, AccessError> {
        let namespace = repository.namespace().unwrap_or_default();
        let spec = &repository.spec;
        let mut access = Self {
            pass_credentials: spec.pass_credentials,
            ..Self::default()
        };
        if let Some(reference) = &spec.secret_ref {
            let data = read_secret(client, &namespace, &reference.name).await?;
            access.basic = basic_auth(&data).map_err(|e| {
                AccessError(format!("invalid '{}' secret data: {e}", reference.name))
            })?;
            // Legacy TLS keys, used only when certSecretRef does not override them.
            access.set_tls(&data, "caFile", "certFile", "keyFile", &reference.name)?;
        }
        if let Some(reference) = &spec.cert_secret_ref {
            let data = read_secret(client, &namespace, &reference.name).await?;
            access.ca_pem = None;
            access.client_cert = None;
            access.set_tls(&data, "ca.crt", "tls.crt", "tls.key", &reference.name)?;
        }
        Ok(access)
    }

    fn set_tls(
        &mut self,
        data: &BTreeMap<String, Vec<u8>>,
        ca: &str,
        cert: &str,
        key: &str,
        secret: &str,
    ) -> Result<(), AccessError> {
        if let Some(pem) = data.get(ca) {
            self.ca_pem = Some(pem.clone());
        }
        match (data.get(cert), data.get(key)) {
            (Some(cert), Some(key)) => self.client_cert = Some((cert.clone(), key.clone())),
            (None, None) => {}
            _ => {
                return Err(AccessError(format!(
                    "invalid '{secret}' secret data: '{cert}' and '{key}' must be given together"
                )));
            }
        }
        Ok(())
    }

    /// An HTTP client with these TLS settings and `timeout` for each request.
    pub fn client(&self, timeout: Duration) -> Result<reqwest::Client, GetError> {
        let cert = self
            .client_cert
            .as_ref()
            .map(|(cert, key)| (cert.as_slice(), key.as_slice()));
        let tls = driftless_runtime::tls::client_config(self.ca_pem.as_deref(), cert)
            .map_err(|e| GetError::Client(format!("failed to construct TLS config: {e}")))?;
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(timeout)
            .user_agent(concat!(
                "driftless-source-controller/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| GetError::Client(format!("building the HTTP client: {e}")))
    }

    /// GETs `url` into memory, refusing more than `limit` bytes. Credentials go to the
    /// repository's own host only, unless `passCredentials` is set.
    pub async fn get(
        &self,
        client: &reqwest::Client,
        repository_url: &str,
        url: &str,
        what: &'static str,
        limit: u64,
    ) -> Result<Vec<u8>, GetError> {
        let transfer = |e: reqwest::Error| GetError::Transfer {
            url: url.to_owned(),
            message: driftless_runtime::errors::chain(&e),
        };
        let mut request = client.get(url);
        if let Some((username, password)) = &self.basic
            && (self.pass_credentials || same_host(repository_url, url))
        {
            request = request.basic_auth(username, Some(password));
        }
        let response = request.send().await.map_err(transfer)?;
        if !response.status().is_success() {
            return Err(GetError::Status {
                url: url.to_owned(),
                status: response.status().to_string(),
            });
        }
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(GetError::TooLarge { what, limit });
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(transfer)?;
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(GetError::TooLarge { what, limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

async fn read_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, AccessError> {
    secret_data(client, namespace, name).await.map_err(|error| {
        AccessError(format!(
            "failed to get secret '{namespace}/{name}': {}",
            driftless_runtime::kube_errors::message(&error)
        ))
    })
}

/// `username` and `password`, both or neither.
fn basic_auth(data: &BTreeMap<String, Vec<u8>>) -> Result<Option<(String, String)>, String> {
    let text = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    match (text("username"), text("password")) {
        (Some(username), Some(password)) => Ok(Some((username, password))),
        (None, None) => Ok(None),
        _ => Err("required fields 'username' and 'password'".to_owned()),
    }
}

/// Whether two URLs name the same scheme, host and port.
fn same_host(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => false,
    }
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
    fn basic_auth_needs_both_fields() {
        assert_eq!(
            basic_auth(&data(&[("username", "u"), ("password", "p")])),
            Ok(Some(("u".into(), "p".into())))
        );
        assert_eq!(basic_auth(&data(&[("ca.crt", "x")])), Ok(None));
        assert!(basic_auth(&data(&[("username", "u")])).is_err());
    }

    #[test]
    fn credentials_stay_on_the_repository_host() {
        assert!(same_host(
            "https://charts.example/",
            "https://charts.example/podinfo-1.0.0.tgz"
        ));
        assert!(same_host(
            "https://charts.example:443/",
            "https://charts.example/a"
        ));
        assert!(!same_host(
            "https://charts.example/",
            "https://cdn.example/a.tgz"
        ));
        assert!(!same_host(
            "http://charts.example/",
            "https://charts.example/a"
        ));
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let mut access = RepositoryAccess::default();
        let error = access
            .set_tls(
                &data(&[("tls.crt", "x")]),
                "ca.crt",
                "tls.crt",
                "tls.key",
                "certs",
            )
            .unwrap_err();
        assert!(
            error
                .0
                .contains("'tls.crt' and 'tls.key' must be given together")
        );
        access
            .set_tls(
                &data(&[("ca.crt", "ca")]),
                "ca.crt",
                "tls.crt",
                "tls.key",
                "certs",
            )
            .unwrap();
        assert_eq!(access.ca_pem.as_deref(), Some(b"ca".as_slice()));
    }
}
