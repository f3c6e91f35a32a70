//! `type: oci`: a HelmRepository that only holds how HelmCharts reach a registry. It is Ready
//! once the registry's API answers; charts are pulled by the HelmChart reconciler with the
//! access resolved here.

use std::time::Duration;

use driftless_api::conditions::{AUTHENTICATION_FAILED, FAILED, FETCH_FAILED, URL_INVALID};
use driftless_api::source::{HelmRepository, OCI_REPOSITORY_PREFIX, OCIProvider};
use driftless_registry::access::{self, AccessSpec};
use driftless_registry::credentials::Credentials;
use driftless_registry::{Access, ImageName};
use driftless_runtime::secrets::secret_data;
use kube::ResourceExt;

use crate::failure::Failure;

/// The registry and repository path of an `oci://` URL.
pub fn repository_name(url: &str) -> Result<ImageName, Failure> {
    let invalid = |why: &str| Failure {
        condition: FETCH_FAILED,
        reason: URL_INVALID,
        message: format!("invalid Helm repository URL: {why}"),
        stalled: true,
    };
    let rest = url
        .strip_prefix(OCI_REPOSITORY_PREFIX)
        .ok_or_else(|| invalid(&format!("'{url}' is not a valid OCI URL (oci:// expected)")))?;
    let rest = rest.trim_end_matches('/');
    let (registry, repository) = rest.split_once('/').unwrap_or((rest, ""));
    if registry.is_empty() || registry.contains(['@', ' ']) {
        return Err(invalid(&format!("'{url}' names no registry host")));
    }
    Ok(ImageName {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
    })
}

/// How `repository` reaches its registry: `secretRef` may hold `username`/`password` (as Flux
/// accepts for OCI Helm repositories) or a `.dockerconfigjson`.
pub async fn registry_access(
    client: &kube::Client,
    repository: &HelmRepository,
    image: &ImageName,
) -> Result<Access, Failure> {
    let namespace = repository.namespace().unwrap_or_default();
    let spec = &repository.spec;
    let auth_failed = |message: String, stalled: bool| Failure {
        condition: FETCH_FAILED,
        reason: AUTHENTICATION_FAILED,
        message,
        stalled,
    };
    let mut basic = None;
    let mut docker_config_secret = None;
    if let Some(reference) = &spec.secret_ref {
        let data = secret_data(client, &namespace, &reference.name)
            .await
            .map_err(|error| {
                auth_failed(
                    format!(
                        "failed to get secret '{namespace}/{}': {}",
                        reference.name,
                        driftless_runtime::kube_errors::message(&error)
                    ),
                    false,
                )
            })?;
        match (data.get("username"), data.get("password")) {
            (Some(username), Some(password)) => {
                basic = Some(Credentials {
                    username: String::from_utf8_lossy(username).into_owned(),
                    password: String::from_utf8_lossy(password).into_owned(),
                });
            }
            _ => docker_config_secret = Some(reference.name.as_str()),
        }
    }
    let access_spec = AccessSpec {
        provider: match spec.provider.unwrap_or_default() {
            OCIProvider::Generic => "generic",
            OCIProvider::Aws => "aws",
            OCIProvider::Azure => "azure",
            OCIProvider::Gcp => "gcp",
        },
        secret_ref: docker_config_secret,
        service_account_name: None,
        cert_secret_ref: spec.cert_secret_ref.as_ref().map(|r| r.name.as_str()),
        proxy_secret_ref: None,
        insecure: spec.insecure,
    };
    let mut access = access::resolve(client, &namespace, &access_spec, image)
        .await
        .map_err(|error| {
            auth_failed(
                format!("failed to get credential: {error}"),
                error.is_permanent(),
            )
        })?;
    if basic.is_some() {
        access.credentials = basic;
    }
    Ok(access)
}

/// Ready once the registry's API base (`/v2/`) answers, with or without asking to log in.
pub(super) async fn check(
    client: &kube::Client,
    repository: &HelmRepository,
    timeout: Duration,
) -> Result<(), Failure> {
    let image = repository_name(&repository.spec.url)?;
    let access = registry_access(client, repository, &image).await?;
    let scheme = if access.insecure { "http" } else { "https" };
    let url = format!("{scheme}://{}/v2/", image.registry);
    let unreachable = |message: String| {
        Failure::fetch(
            FAILED,
            format!("failed to reach registry '{}': {message}", image.registry),
        )
    };
    let tls = driftless_runtime::tls::client_config(access.ca_pem.as_deref(), None)
        .map_err(|e| unreachable(format!("failed to construct TLS config: {e}")))?;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .build()
        .map_err(|e| unreachable(e.to_string()))?;
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| unreachable(driftless_runtime::errors::chain(&e)))?;
    let status = response.status();
    if status.is_success() || status.as_u16() == 401 {
        Ok(())
    } else {
        Err(unreachable(format!("GET {url}: {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_urls_name_a_registry_and_a_path() {
        let name = repository_name("oci://127.0.0.1:5000/charts/").unwrap();
        assert_eq!(name.registry, "127.0.0.1:5000");
        assert_eq!(name.repository, "charts");
        let bare = repository_name("oci://ghcr.io").unwrap();
        assert_eq!(
            (bare.registry.as_str(), bare.repository.as_str()),
            ("ghcr.io", "")
        );
        let wrong = repository_name("https://charts.example").unwrap_err();
        assert_eq!(wrong.reason, URL_INVALID);
        assert!(wrong.stalled);
    }
}
