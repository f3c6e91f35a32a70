//! How an object (ImageRepository, OCIRepository, an OCI HelmRepository) reaches its
//! registry: credentials from `secretRef` or the ServiceAccount's image pull secrets, a CA from
//! `certSecretRef`, a proxy from `proxySecretRef`, and plain HTTP with `insecure`. Reading the
//! Secrets is the only I/O here.

use driftless_runtime::secrets::secret_data;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Client;
use kube::api::Api;
use oci_client::secrets::RegistryAuth;

use crate::credentials::{self, Credentials};
use crate::reference::ImageName;

/// Everything a registry client is configured from; equal accesses share a client.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Access {
    pub credentials: Option<Credentials>,
    /// Extra trusted CA (PEM), `ca.crt` of `certSecretRef`.
    pub ca_pem: Option<Vec<u8>>,
    /// Proxy URL, with its credentials in the user info.
    pub proxy: Option<String>,
    pub insecure: bool,
}

impl Access {
    pub fn auth(&self) -> RegistryAuth {
        match &self.credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }
}

/// Why the access could not be put together; shown as `AuthenticationFailed`.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("provider '{0}' is not supported yet: use 'generic' with a secretRef")]
    UnsupportedProvider(&'static str),
    #[error("failed to get secret '{namespace}/{name}': {error}")]
    Secret {
        namespace: String,
        name: String,
        error: String,
    },
    #[error("invalid registry credentials in secret '{namespace}/{name}': {error}")]
    Credentials {
        namespace: String,
        name: String,
        error: credentials::CredentialsError,
    },
    #[error(
        "secret '{0}': client certificates (tls.crt/tls.key) are not supported by the registry client; only 'ca.crt' is"
    )]
    ClientCertificate(String),
    #[error("secret '{0}': proxy secret needs an 'address'")]
    ProxyAddress(String),
    #[error("failed to get service account '{namespace}/{name}': {error}")]
    ServiceAccount {
        namespace: String,
        name: String,
        error: String,
    },
}

impl AccessError {
    /// A cloud provider can only be supported by a new release, not by retrying.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedProvider(_) | Self::ClientCertificate(_)
        )
    }
}

/// The registry fields an object's spec names; the same on every kind that pulls.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessSpec<'a> {
    /// `generic`, or a cloud provider (`aws`, `azure`, `gcp`), which is not supported yet.
    pub provider: &'a str,
    pub secret_ref: Option<&'a str>,
    pub service_account_name: Option<&'a str>,
    pub cert_secret_ref: Option<&'a str>,
    pub proxy_secret_ref: Option<&'a str>,
    pub insecure: bool,
}

/// The access `spec` (of an object in `namespace`) asks for to reach `image`.
pub async fn resolve(
    client: &Client,
    namespace: &str,
    spec: &AccessSpec<'_>,
    image: &ImageName,
) -> Result<Access, AccessError> {
    let namespace = namespace.to_owned();
    match spec.provider {
        "" | "generic" => {}
        "aws" => return Err(AccessError::UnsupportedProvider("aws")),
        "azure" => return Err(AccessError::UnsupportedProvider("azure")),
        "gcp" => return Err(AccessError::UnsupportedProvider("gcp")),
        _ => return Err(AccessError::UnsupportedProvider("unknown")),
    }
    let mut access = Access {
        insecure: spec.insecure,
        ..Access::default()
    };
    let mut pull_secrets = Vec::new();
    if let Some(secret) = spec.secret_ref {
        pull_secrets.push(secret.to_owned());
    }
    if let Some(account) = spec.service_account_name {
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
        let account = accounts
            .get(account)
            .await
            .map_err(|error| AccessError::ServiceAccount {
                namespace: namespace.clone(),
                name: account.to_owned(),
                error: driftless_runtime::kube_errors::message(&error),
            })?;
        pull_secrets.extend(
            account
                .image_pull_secrets
                .unwrap_or_default()
                .into_iter()
                .map(|reference| reference.name),
        );
    }
    // The first Secret with an entry for the registry wins, as with Kubernetes' own pulls.
    for name in pull_secrets {
        let data = read(client, &namespace, &name).await?;
        let found = credentials::for_registry(&data, &image.registry).map_err(|error| {
            AccessError::Credentials {
                namespace: namespace.clone(),
                name: name.clone(),
                error,
            }
        })?;
        if found.is_some() {
            access.credentials = found;
            break;
        }
    }
    if let Some(secret) = spec.cert_secret_ref {
        let data = read(client, &namespace, secret).await?;
        if data.contains_key("tls.crt") || data.contains_key("tls.key") {
            return Err(AccessError::ClientCertificate(secret.to_owned()));
        }
        access.ca_pem = data.get("ca.crt").or_else(|| data.get("caFile")).cloned();
    }
    if let Some(secret) = spec.proxy_secret_ref {
        let data = read(client, &namespace, secret).await?;
        access.proxy = Some(proxy_url(&data).ok_or(AccessError::ProxyAddress(secret.to_owned()))?);
    }
    Ok(access)
}

async fn read(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<std::collections::BTreeMap<String, Vec<u8>>, AccessError> {
    secret_data(client, namespace, name)
        .await
        .map_err(|error| AccessError::Secret {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            error: driftless_runtime::kube_errors::message(&error),
        })
}

/// `address` with `username`/`password` folded into its user info.
fn proxy_url(data: &std::collections::BTreeMap<String, Vec<u8>>) -> Option<String> {
    let text = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let address = text("address")?;
    let Some(username) = text("username") else {
        return Some(address);
    };
    let password = text("password").unwrap_or_default();
    let (scheme, rest) = address.split_once("://").unwrap_or(("http", &address));
    Some(format!("{scheme}://{username}:{password}@{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn proxy_credentials_go_into_the_url() {
        assert_eq!(
            proxy_url(&data(&[("address", "http://proxy:3128")])).as_deref(),
            Some("http://proxy:3128")
        );
        assert_eq!(
            proxy_url(&data(&[
                ("address", "http://proxy:3128"),
                ("username", "u"),
                ("password", "p")
            ]))
            .as_deref(),
            Some("http://u:p@proxy:3128")
        );
        assert_eq!(proxy_url(&data(&[("username", "u")])), None);
    }
}
