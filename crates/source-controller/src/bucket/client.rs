//! The object-store client of a Bucket: one `object_store` client per provider (S3 for
//! `generic` and `aws`, GCS, Azure Blob) configured from the spec and its Secrets as Flux
//! reads them; the listing; and the downloads, bounded in concurrency and size.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use driftless_api::source::{BucketProvider, BucketSpec};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::client::{HttpClient, HttpConnector};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

/// Objects downloaded at once.
pub const DOWNLOAD_CONCURRENCY: usize = 16;

/// What a Bucket's Secrets hold.
#[derive(Clone, Debug, Default, Hash)]
pub struct Secrets {
    /// `secretRef`: provider credentials.
    pub credentials: Option<BTreeMap<String, Vec<u8>>>,
    /// `certSecretRef`: `ca.crt`.
    pub ca_pem: Option<Vec<u8>>,
    /// `certSecretRef`: `tls.crt` and `tls.key`, the client certificate.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// `proxySecretRef`: `address`, optional `username` and `password`.
    pub proxy_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The spec or its Secrets cannot make a client: only a change can fix it.
    #[error("{0}")]
    Invalid(String),
    #[error("bucket '{0}' not found")]
    BucketNotFound(String),
    /// A key the bucket does not hold (the message names it).
    #[error("{0}")]
    ObjectNotFound(String),
    #[error("{0}")]
    Transfer(String),
    #[error("{0}")]
    TooLarge(String),
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> Option<String> {
    data.get(key)
        .map(|v| String::from_utf8_lossy(v).trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The URL of `endpoint`: as written when it has a scheme, else `http://` when `insecure`.
pub fn endpoint_url(endpoint: &str, insecure: bool) -> Result<String, ClientError> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.is_empty() {
        return Err(ClientError::Invalid("the bucket endpoint is empty".into()));
    }
    let url = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        let scheme = if insecure { "http" } else { "https" };
        format!("{scheme}://{endpoint}")
    };
    let parsed = reqwest::Url::parse(&url)
        .map_err(|e| ClientError::Invalid(format!("invalid bucket endpoint '{endpoint}': {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ClientError::Invalid(format!(
            "invalid bucket endpoint '{endpoint}': an http(s) host is expected"
        )));
    }
    if parsed.path().len() > 1 {
        return Err(ClientError::Invalid(format!(
            "invalid bucket endpoint '{endpoint}': endpoint url cannot have fully qualified paths"
        )));
    }
    Ok(url)
}

/// Clients kept by everything that configures them (spec and Secrets), so Buckets of one
/// store and repeated reconciles share a connection pool instead of building a TLS client
/// each time.
#[derive(Clone)]
pub struct Clients {
    cache: Arc<quick_cache::sync::Cache<u64, Arc<dyn ObjectStore>>>,
    /// HTTP clients by transport (CA, proxy, timeout): the stores of many buckets share one
    /// TLS configuration and connection pool.
    transports: Arc<quick_cache::sync::Cache<u64, HttpClient>>,
}

/// Hands object_store a client built once, instead of one per store.
#[derive(Debug)]
struct SharedConnector(HttpClient);

impl HttpConnector for SharedConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(self.0.clone())
    }
}

fn hash_of(value: impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// An HTTP client with the Secrets' CA, client certificate and proxy, and `timeout` per
/// request.
pub fn http_client(secrets: &Secrets, timeout: Duration) -> Result<HttpClient, ClientError> {
    let client_cert = secrets
        .client_cert
        .as_ref()
        .map(|(cert, key)| (cert.as_slice(), key.as_slice()));
    let tls = driftless_runtime::tls::client_config(secrets.ca_pem.as_deref(), client_cert)
        .map_err(|e| ClientError::Invalid(format!("invalid certSecretRef: {e}")))?;
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .http1_only()
        .user_agent(concat!(
            "driftless-source-controller/",
            env!("CARGO_PKG_VERSION")
        ));
    if let Some(proxy) = &secrets.proxy_url {
        let proxy = reqwest::Proxy::all(proxy)
            .map_err(|e| ClientError::Invalid(format!("invalid proxy address: {e}")))?;
        builder = builder.proxy(proxy);
    }
    let client = builder
        .build()
        .map_err(|e| ClientError::Invalid(format!("building the HTTP client: {e}")))?;
    Ok(HttpClient::new(client))
}

impl Clients {
    pub fn new(capacity: usize) -> Self {
        Self {
            cache: Arc::new(quick_cache::sync::Cache::new(capacity)),
            transports: Arc::new(quick_cache::sync::Cache::new(64)),
        }
    }

    pub fn get(
        &self,
        spec: &BucketSpec,
        secrets: &Secrets,
        timeout: Duration,
    ) -> Result<Arc<dyn ObjectStore>, ClientError> {
        let key = hash_of((
            serde_json::to_string(spec).unwrap_or_default(),
            secrets,
            timeout,
        ));
        if let Some(store) = self.cache.get(&key) {
            return Ok(store);
        }
        let transport_key = hash_of((
            &secrets.ca_pem,
            &secrets.client_cert,
            &secrets.proxy_url,
            timeout,
        ));
        let http = match self.transports.get(&transport_key) {
            Some(http) => http,
            None => {
                let http = http_client(secrets, timeout)?;
                self.transports.insert(transport_key, http.clone());
                http
            }
        };
        let store = build(spec, secrets, http, timeout)?;
        self.cache.insert(key, store.clone());
        Ok(store)
    }
}

/// A client for the spec's provider and bucket.
pub fn build(
    spec: &BucketSpec,
    secrets: &Secrets,
    http: HttpClient,
    timeout: Duration,
) -> Result<Arc<dyn ObjectStore>, ClientError> {
    if spec.sts.is_some() {
        return Err(ClientError::Invalid(
            "spec.sts is not supported yet: use static credentials in spec.secretRef".into(),
        ));
    }
    // TLS, proxy and timeouts live in `http`, shared by the stores of one transport.
    let options = ClientOptions::new().with_allow_http(spec.insecure);
    let connector = || SharedConnector(http.clone());
    // Failures show in status soon; the next reconcile is the retry.
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 2,
        retry_timeout: timeout,
    };
    let invalid = |e: object_store::Error| ClientError::Invalid(e.to_string());
    let credentials = secrets.credentials.clone().unwrap_or_default();
    let region = spec.region.clone().filter(|r| !r.is_empty());
    let store: Arc<dyn ObjectStore> = match spec.provider.unwrap_or_default() {
        BucketProvider::Generic | BucketProvider::Aws => {
            let aws = spec.provider == Some(BucketProvider::Aws);
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(&spec.bucket_name)
                .with_region(region.unwrap_or_else(|| "us-east-1".into()))
                .with_client_options(options)
                .with_http_connector(connector())
                .with_retry(retry.clone());
            let url = endpoint_url(&spec.endpoint, spec.insecure)?;
            // AWS's own endpoint is addressed by region; any other by URL, path-style.
            if !(aws && url.contains("amazonaws.com")) {
                builder = builder
                    .with_endpoint(url)
                    .with_virtual_hosted_style_request(false);
            }
            match (
                text(&credentials, "accesskey"),
                text(&credentials, "secretkey"),
            ) {
                (Some(access), Some(secret)) => {
                    builder = builder
                        .with_access_key_id(access)
                        .with_secret_access_key(secret);
                }
                (None, None) if secrets.credentials.is_none() && !aws => {
                    builder = builder.with_skip_signature(true);
                }
                (None, None) if secrets.credentials.is_none() => {
                    // The controller's own AWS identity (IRSA, instance profile).
                    builder = AmazonS3Builder::from_env()
                        .with_bucket_name(&spec.bucket_name)
                        .with_region(spec.region.clone().unwrap_or_else(|| "us-east-1".into()))
                        .with_http_connector(connector())
                        .with_retry(retry);
                }
                _ => {
                    return Err(ClientError::Invalid(
                        "invalid 'secretRef': the Secret needs both 'accesskey' and 'secretkey'"
                            .into(),
                    ));
                }
            }
            Arc::new(builder.build().map_err(invalid)?)
        }
        BucketProvider::Gcp => {
            let mut builder = GoogleCloudStorageBuilder::new()
                .with_bucket_name(&spec.bucket_name)
                .with_client_options(options)
                .with_http_connector(connector())
                .with_retry(retry.clone());
            match text(&credentials, "serviceaccount") {
                Some(key) => builder = builder.with_service_account_key(key),
                None if secrets.credentials.is_some() => {
                    return Err(ClientError::Invalid(
                        "invalid 'secretRef': the Secret has no 'serviceaccount' key".into(),
                    ));
                }
                None => {
                    builder =
                        GoogleCloudStorageBuilder::from_env().with_bucket_name(&spec.bucket_name)
                }
            }
            Arc::new(builder.build().map_err(invalid)?)
        }
        BucketProvider::Azure => {
            let url = endpoint_url(&spec.endpoint, spec.insecure)?;
            let account = reqwest::Url::parse(&url)
                .ok()
                .and_then(|u| {
                    u.host_str()
                        .map(|h| h.split('.').next().unwrap_or(h).to_owned())
                })
                .unwrap_or_default();
            let mut builder = MicrosoftAzureBuilder::new()
                .with_account(account)
                .with_container_name(&spec.bucket_name)
                .with_endpoint(url)
                .with_client_options(options)
                .with_http_connector(connector())
                .with_retry(retry);
            if let Some(key) = text(&credentials, "accountKey") {
                builder = builder.with_access_key(key);
            } else if let Some(sas) = text(&credentials, "sasKey") {
                builder = builder.with_config(
                    object_store::azure::AzureConfigKey::SasKey,
                    sas.trim_start_matches('?'),
                );
            } else if let (Some(id), Some(tenant), Some(secret)) = (
                text(&credentials, "clientId"),
                text(&credentials, "tenantId"),
                text(&credentials, "clientSecret"),
            ) {
                builder = builder.with_client_secret_authorization(id, secret, tenant);
            } else if secrets.credentials.is_some() {
                return Err(ClientError::Invalid(
                    "invalid 'secretRef': the Secret needs 'accountKey', 'sasKey' or \
                     'clientId', 'tenantId' and 'clientSecret'"
                        .into(),
                ));
            }
            Arc::new(builder.build().map_err(invalid)?)
        }
    };
    Ok(store)
}

/// Every `(key, etag)` whose key starts with `prefix`.
pub async fn list(
    store: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<(String, String)>, ClientError> {
    // object_store lists by whole path segments: list the directory holding the prefix and
    // keep the keys that start with it.
    let directory = prefix.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
    let location = (!directory.is_empty()).then(|| ObjectPath::from(directory));
    store
        .list(location.as_ref())
        .map_err(|e| transfer_error(bucket, "listing objects", e))
        .try_filter_map(|meta| async move {
            let key = meta.location.to_string();
            Ok(key
                .starts_with(prefix)
                .then(|| (key, meta.e_tag.unwrap_or_default())))
        })
        .try_collect()
        .await
}

/// `key`'s contents, or `None` when the bucket does not hold it.
pub async fn get_optional(
    store: &dyn ObjectStore,
    bucket: &str,
    key: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, ClientError> {
    match get(store, bucket, key, limit).await {
        Err(ClientError::ObjectNotFound(_)) => Ok(None),
        other => other.map(Some),
    }
}

async fn get(
    store: &dyn ObjectStore,
    bucket: &str,
    key: &str,
    limit: u64,
) -> Result<Vec<u8>, ClientError> {
    let object = store
        .get(&ObjectPath::from(key))
        .await
        .map_err(|e| transfer_error(bucket, &format!("downloading '{key}'"), e))?;
    if object.meta.size > limit {
        return Err(ClientError::TooLarge(format!(
            "object '{key}' of {} bytes is larger than the {limit} bytes allowed",
            object.meta.size
        )));
    }
    let bytes = object
        .bytes()
        .await
        .map_err(|e| transfer_error(bucket, &format!("downloading '{key}'"), e))?;
    Ok(bytes.to_vec())
}

/// Downloads `keys`, [`DOWNLOAD_CONCURRENCY`] at a time, stopping at the first error or once
/// more than `max_bytes` arrived in total.
pub async fn download_all(
    store: Arc<dyn ObjectStore>,
    bucket: &str,
    keys: Vec<String>,
    max_bytes: u64,
) -> Result<Vec<(String, Vec<u8>)>, ClientError> {
    let mut downloads = futures::stream::iter(keys.into_iter().map(|key| {
        let store = store.clone();
        async move {
            let data = get(store.as_ref(), bucket, &key, max_bytes).await?;
            Ok::<_, ClientError>((key, data))
        }
    }))
    .buffer_unordered(DOWNLOAD_CONCURRENCY);
    let mut files = Vec::new();
    let mut total: u64 = 0;
    while let Some(file) = downloads.next().await {
        let (key, data) = file?;
        total += data.len() as u64;
        if total > max_bytes {
            return Err(ClientError::TooLarge(format!(
                "the bucket's objects exceed the {max_bytes} bytes allowed"
            )));
        }
        files.push((key, data));
    }
    Ok(files)
}

fn transfer_error(bucket: &str, what: &str, error: object_store::Error) -> ClientError {
    // S3 and Azure name a missing bucket in the error body; object_store keeps it generic.
    let missing_bucket = matches!(error, object_store::Error::NotFound { .. })
        || ["NoSuchBucket", "ContainerNotFound"]
            .iter()
            .any(|code| error.to_string().contains(code));
    match &error {
        _ if missing_bucket && what == "listing objects" => {
            ClientError::BucketNotFound(bucket.to_owned())
        }
        object_store::Error::NotFound { .. } => {
            ClientError::ObjectNotFound(format!("{what} from bucket '{bucket}': not found"))
        }
        _ => ClientError::Transfer(format!("{what} from bucket '{bucket}' failed: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_become_urls_as_flux_reads_them() {
        assert_eq!(
            endpoint_url("minio.minio.svc:9000", true).unwrap(),
            "http://minio.minio.svc:9000"
        );
        assert_eq!(
            endpoint_url("s3.amazonaws.com", false).unwrap(),
            "https://s3.amazonaws.com"
        );
        assert_eq!(
            endpoint_url("https://account.blob.core.windows.net/", false).unwrap(),
            "https://account.blob.core.windows.net"
        );
        assert!(endpoint_url("", false).is_err());
        assert!(
            endpoint_url("host:9000/some/path", false)
                .unwrap_err()
                .to_string()
                .contains("fully qualified paths")
        );
        assert!(endpoint_url("ftp://host", false).is_err());
    }

    fn spec(provider: BucketProvider) -> BucketSpec {
        BucketSpec {
            provider: Some(provider),
            bucket_name: "b".into(),
            endpoint: "127.0.0.1:9000".into(),
            insecure: true,
            interval: "1m".into(),
            ..BucketSpec::default()
        }
    }

    #[test]
    fn client_certificates_must_be_readable() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_secs(5);
        let broken = Secrets {
            client_cert: Some((b"not a certificate".to_vec(), b"not a key".to_vec())),
            ..Secrets::default()
        };
        let refused = http_client(&broken, timeout).map(|_| ());
        assert!(
            matches!(&refused, Err(ClientError::Invalid(m)) if m.starts_with("invalid certSecretRef")),
            "{refused:?}"
        );
        assert!(http_client(&Secrets::default(), timeout).is_ok());
    }

    #[test]
    fn secrets_are_read_per_provider() {
        // As the binary does at start-up.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_secs(5);
        let with = |pairs: &[(&str, &str)]| Secrets {
            credentials: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                    .collect(),
            ),
            ..Secrets::default()
        };
        let http = http_client(&Secrets::default(), timeout).unwrap();
        let build = |spec: &BucketSpec, secrets: &Secrets, _timeout| {
            build(spec, secrets, http.clone(), timeout)
        };
        assert!(build(&spec(BucketProvider::Generic), &Secrets::default(), timeout).is_ok());
        assert!(
            build(
                &spec(BucketProvider::Generic),
                &with(&[("accesskey", "a"), ("secretkey", "s")]),
                timeout
            )
            .is_ok()
        );
        let half = build(
            &spec(BucketProvider::Generic),
            &with(&[("accesskey", "a")]),
            timeout,
        );
        assert!(
            matches!(half, Err(ClientError::Invalid(m)) if m.contains("'accesskey' and 'secretkey'"))
        );
        let gcp = build(
            &spec(BucketProvider::Gcp),
            &with(&[("other", "x")]),
            timeout,
        );
        assert!(matches!(gcp, Err(ClientError::Invalid(m)) if m.contains("serviceaccount")));
        let mut azure = spec(BucketProvider::Azure);
        azure.endpoint = "https://account.blob.core.windows.net".into();
        azure.insecure = false;
        assert!(build(&azure, &with(&[("accountKey", "a2V5")]), timeout).is_ok());
        assert!(build(&azure, &with(&[("nothing", "x")]), timeout).is_err());
        let mut sts = spec(BucketProvider::Generic);
        sts.sts = Some(driftless_api::source::BucketSTSSpec {
            provider: driftless_api::source::BucketSTSProvider::Ldap,
            endpoint: "https://sts".into(),
            secret_ref: None,
            cert_secret_ref: None,
        });
        assert!(matches!(
            build(&sts, &Secrets::default(), timeout),
            Err(ClientError::Invalid(_))
        ));
    }
}
