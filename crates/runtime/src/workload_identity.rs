//! `spec.kubeConfig.configMapRef`: a remote cluster reached with a short-lived service
//! account token instead of a stored kubeconfig (Flux's secret-less authentication). The
//! `generic` provider is supported: a token of the ConfigMap's `serviceAccountName`, issued by
//! this cluster for the ConfigMap's `audiences`, presented to the API server at `address`,
//! which trusts this cluster's issuer. The cloud providers exchange that token with their
//! own token services, which this build does not do.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use kube::config::Kubeconfig;
use serde_json::json;

/// How long requested tokens are asked to live (the API server may grant less).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// A token and how long it is valid from now, as the API server granted it. Clients built
/// with it are rebuilt at half of that, so one taken just before still has half left for a
/// long wait.
pub struct Issued {
    pub token: String,
    pub valid_for: Duration,
}

/// What the ConfigMap of a `generic` connection says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub address: String,
    pub ca_pem: Option<String>,
    pub audiences: Vec<String>,
    pub service_account: String,
}

/// Reads the ConfigMap's data, with errors worded for the object's failure condition.
pub fn connection(name: &str, data: &BTreeMap<String, String>) -> Result<Connection, String> {
    let field = |key: &str| data.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let provider =
        field("provider").ok_or_else(|| format!("ConfigMap '{name}' has no 'provider'"))?;
    match provider {
        "generic" => {}
        "aws" | "azure" | "gcp" => {
            return Err(format!(
                "ConfigMap '{name}': provider '{provider}' needs the cloud's token exchange, \
                 which is not supported; use provider 'generic' or kubeConfig.secretRef"
            ));
        }
        other => {
            return Err(format!(
                "ConfigMap '{name}': unknown provider '{other}' (aws, azure, gcp or generic)"
            ));
        }
    }
    let address = field("address")
        .ok_or_else(|| format!("ConfigMap '{name}': 'address' is required for provider 'generic'"))?
        .to_owned();
    let service_account = field("serviceAccountName")
        .ok_or_else(|| {
            format!(
                "ConfigMap '{name}': 'serviceAccountName' is required (the controller's own \
                 service account is not used for remote clusters)"
            )
        })?
        .to_owned();
    let mut audiences: Vec<String> = field("audiences")
        .map(|lines| {
            lines
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences.push(address.clone());
    }
    Ok(Connection {
        address,
        ca_pem: field("ca.crt").map(str::to_owned),
        audiences,
        service_account,
    })
}

/// A kubeconfig for `connection` that presents `token`.
pub fn kubeconfig(connection: &Connection, token: &str) -> Result<Kubeconfig, String> {
    let mut cluster = json!({"server": connection.address});
    if let Some(ca) = &connection.ca_pem {
        cluster["certificate-authority-data"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ca));
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "remote", "cluster": cluster}],
        "users": [{"name": connection.service_account, "user": {"token": token}}],
        "contexts": [{"name": "remote", "context": {"cluster": "remote", "user": connection.service_account}}],
        "current-context": "remote",
    }))
    .map_err(|e| format!("invalid connection: {e}"))
}

/// A token of the connection's service account in `namespace`, issued by this cluster.
pub async fn token(
    client: &kube::Client,
    namespace: &str,
    connection: &Connection,
) -> Result<Issued, String> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(connection.audiences.clone()),
            expiration_seconds: i64::try_from(TOKEN_LIFETIME.as_secs()).ok(),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let issued = accounts
        .create_token_request(
            &connection.service_account,
            &PostParams::default(),
            &request,
        )
        .await
        .map_err(|e| {
            format!(
                "failed to get a token for ServiceAccount '{namespace}/{}': {}",
                connection.service_account,
                crate::kube_errors::message(&e)
            )
        })?;
    let status = issued
        .status
        .ok_or_else(|| "the token request returned no token".to_owned())?;
    let token = status
        .token
        .ok_or_else(|| "the token request returned no token".to_owned())?;
    let valid_for = status
        .expiration_timestamp
        .and_then(|expires| {
            let left = expires
                .0
                .duration_since(k8s_openapi::jiff::Timestamp::now());
            Duration::try_from(left).ok()
        })
        .unwrap_or(Duration::ZERO);
    Ok(Issued { token, valid_for })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn generic_connections_default_the_audience_to_the_address() {
        let read = connection(
            "remote",
            &data(&[
                ("provider", "generic"),
                ("address", "https://remote:6443"),
                ("serviceAccountName", "deployer"),
            ]),
        )
        .unwrap();
        assert_eq!(read.audiences, ["https://remote:6443"]);
        assert_eq!(read.ca_pem, None);
        let read = connection(
            "remote",
            &data(&[
                ("provider", "generic"),
                ("address", "https://remote:6443"),
                ("serviceAccountName", "deployer"),
                ("audiences", "a\n\nb\n"),
                ("ca.crt", "PEM"),
            ]),
        )
        .unwrap();
        assert_eq!(read.audiences, ["a", "b"]);
        assert_eq!(read.ca_pem.as_deref(), Some("PEM"));
        let config = kubeconfig(&read, "t0k3n").unwrap();
        let cluster = config.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://remote:6443"));
        assert_eq!(cluster.certificate_authority_data.as_deref(), Some("UEVN"));
    }

    #[test]
    fn missing_fields_and_cloud_providers_are_named() {
        let error = connection("remote", &data(&[])).unwrap_err();
        assert!(error.contains("no 'provider'"), "{error}");
        let error = connection("remote", &data(&[("provider", "aws")])).unwrap_err();
        assert!(error.contains("provider 'aws'"), "{error}");
        let error = connection("remote", &data(&[("provider", "generic")])).unwrap_err();
        assert!(error.contains("'address' is required"), "{error}");
        let error = connection(
            "remote",
            &data(&[("provider", "generic"), ("address", "https://remote")]),
        )
        .unwrap_err();
        assert!(
            error.contains("'serviceAccountName' is required"),
            "{error}"
        );
    }
}
