//! Talking to container registries: tag lists (every page), manifest digests, manifests and
//! blobs, through the `oci-client` crate, which does the token (Bearer challenge) and basic
//! authentication. Clients are shared between objects with the same access (credentials, CA,
//! proxy, plain HTTP), so one registry's token is fetched once, not once per object.
//! image-automation-controller scans with it; source-controller pulls OCI artifacts.

pub mod access;
mod capped;
pub mod credentials;
pub mod reference;
mod scheme;

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::{Client, Reference};
use tokio::io::AsyncWrite;

pub use access::{Access, AccessSpec};
pub use reference::ImageName;

/// Tags asked for per page; registries that cap pages lower (Quay: 100) are paged on by the
/// last tag they returned.
const PAGE_SIZE: usize = 1000;
/// Throttled (429) or failing (5xx, connection) requests are retried this often, backing off
/// from one second (oci-client does not expose `Retry-After`, so the wait doubles instead).
const ATTEMPTS: u32 = 4;
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Distinct accesses whose clients (and tokens) are kept.
const CLIENTS: usize = 256;
/// How long a registry on loopback or a private network is given to answer the scheme probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// 401/403: the credentials are missing, wrong, or lack access.
    #[error("{0}")]
    Unauthorized(String),
    /// 404: no such repository or tag.
    #[error("{0}")]
    NotFound(String),
    /// Throttled (429) or failing (5xx) on every attempt.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A blob larger than the caller accepts.
    #[error("{what} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("{0}")]
    Other(String),
}

impl RegistryError {
    fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Unreachable(_))
    }
}

/// The registry clients, shared by every scan, digest lookup and pull.
#[derive(Clone)]
pub struct Registries {
    clients: Arc<quick_cache::sync::Cache<u64, Arc<Client>>>,
    /// Registries on loopback or a private network, by host: whether they speak plain HTTP
    /// (see [`scheme`]).
    plain_http: Arc<quick_cache::sync::Cache<String, bool>>,
    user_agent: &'static str,
}

/// A manifest as pulled: the image manifest, and the digest the reference points to (the
/// index's when it named a multi-platform index, else the manifest's own).
#[derive(Clone, Debug)]
pub struct Pulled {
    pub manifest: OciImageManifest,
    pub digest: String,
}

impl Registries {
    /// Clients announcing themselves as `user_agent`.
    pub fn new(user_agent: &'static str) -> Self {
        Self {
            clients: Arc::new(quick_cache::sync::Cache::new(CLIENTS)),
            plain_http: Arc::new(quick_cache::sync::Cache::new(CLIENTS)),
            user_agent,
        }
    }

    /// Every tag of `image`, in the order the registry lists them, within `timeout`.
    pub async fn list_tags(
        &self,
        image: &ImageName,
        access: &Access,
        timeout: Duration,
    ) -> Result<Vec<String>, RegistryError> {
        let client = self.client(image, access).await;
        let reference = reference_of(image, "latest");
        let auth = access.auth();
        let listing = async {
            let mut tags: Vec<String> = Vec::new();
            let mut last: Option<String> = None;
            loop {
                let page = retrying(|| {
                    client.list_tags(&reference, &auth, Some(PAGE_SIZE), last.as_deref())
                })
                .await?;
                // A page that does not move past the last tag ends the listing, as an empty
                // one does: a registry that ignores `last` must not loop forever.
                let fresh: Vec<String> = match &last {
                    Some(after) => page.tags.into_iter().filter(|t| t > after).collect(),
                    None => page.tags,
                };
                let Some(next) = fresh.iter().max().cloned() else {
                    break;
                };
                tags.extend(fresh);
                last = Some(next);
            }
            Ok(tags)
        };
        tokio::time::timeout(timeout, listing)
            .await
            .map_err(|_| RegistryError::Timeout(timeout))?
    }

    /// The manifest digest `image:tag` resolves to (a HEAD request).
    pub async fn digest(
        &self,
        image: &ImageName,
        tag: &str,
        access: &Access,
        timeout: Duration,
    ) -> Result<String, RegistryError> {
        let client = self.client(image, access).await;
        let reference = reference_of(image, tag);
        let auth = access.auth();
        let lookup = retrying(|| client.fetch_manifest_digest(&reference, &auth));
        tokio::time::timeout(timeout, lookup)
            .await
            .map_err(|_| RegistryError::Timeout(timeout))?
    }

    /// The image manifest `image:tag` (or `image@digest`) names, within `timeout`.
    pub async fn manifest(
        &self,
        image: &ImageName,
        tag_or_digest: &str,
        access: &Access,
        timeout: Duration,
    ) -> Result<Pulled, RegistryError> {
        let client = self.client(image, access).await;
        let reference = reference_of(image, tag_or_digest);
        let auth = access.auth();
        let pull = retrying(|| client.pull_image_manifest_and_list_digest(&reference, &auth));
        let (manifest, digest, index_digest) = tokio::time::timeout(timeout, pull)
            .await
            .map_err(|_| RegistryError::Timeout(timeout))??;
        Ok(Pulled {
            manifest,
            digest: index_digest.unwrap_or(digest),
        })
    }

    /// Writes the blob `layer` of `image` to `out`, refusing one larger than `limit` bytes;
    /// its digest is verified while it streams.
    pub async fn blob<W: AsyncWrite + Unpin>(
        &self,
        image: &ImageName,
        layer: &OciDescriptor,
        access: &Access,
        limit: u64,
        out: W,
    ) -> Result<(), RegistryError> {
        let declared = u64::try_from(layer.size).unwrap_or(u64::MAX);
        if declared > limit {
            return Err(RegistryError::TooLarge {
                what: "layer",
                size: declared,
                limit,
            });
        }
        let client = self.client(image, access).await;
        let reference = reference_of(image, "latest");
        let auth = access.auth();
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        // A registry sending more than the manifest declared is cut off at the declared size
        // (the digest check then fails), so a lying registry cannot fill the disk.
        let capped = capped::CappedWriter::new(out, declared);
        client
            .pull_blob(&reference, layer, capped)
            .await
            .map_err(classify)
    }

    /// The client for `image`'s registry with `access`.
    async fn client(&self, image: &ImageName, access: &Access) -> Arc<Client> {
        let plain_http = !access.insecure
            && scheme::may_fall_back_to_http(&image.registry)
            && self.speaks_plain_http(image, access).await;
        let protocol = if access.insecure {
            ClientProtocol::Http
        } else if plain_http {
            ClientProtocol::HttpsExcept(vec![image.registry.clone()])
        } else {
            ClientProtocol::Https
        };
        self.client_with(access, protocol)
    }

    fn client_with(&self, access: &Access, protocol: ClientProtocol) -> Arc<Client> {
        let key = {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            access.hash(&mut hasher);
            format!("{protocol:?}").hash(&mut hasher);
            hasher.finish()
        };
        if let Some(client) = self.clients.get(&key) {
            return client;
        }
        let client = Arc::new(Client::new(client_config(
            access,
            self.user_agent,
            protocol,
        )));
        self.clients.insert(key, client.clone());
        client
    }

    /// Whether a registry on loopback or a private network answers plain HTTP rather than
    /// HTTPS, asked once per host: HTTPS first, then HTTP if HTTPS could not connect (a
    /// refused certificate included). Over HTTPS any answer counts; over HTTP only a
    /// registry's (a tag list, an authentication challenge, not found), so an HTTPS server
    /// refusing a plain request keeps HTTPS and its certificate error. Nothing is kept while
    /// neither answers, so a registry that was down is asked again.
    async fn speaks_plain_http(&self, image: &ImageName, access: &Access) -> bool {
        if let Some(known) = self.plain_http.get(&image.registry) {
            return known;
        }
        let answers = |protocol: ClientProtocol, only_a_registry: bool| {
            let client = self.client_with(access, protocol);
            let reference = reference_of(image, "latest");
            let auth = access.auth();
            async move {
                let probe = client.list_tags(&reference, &auth, Some(1), None);
                match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                    Ok(Ok(_)) => true,
                    Ok(Err(error)) => match classify(error) {
                        RegistryError::Unreachable(_) => false,
                        RegistryError::Unauthorized(_) | RegistryError::NotFound(_) => true,
                        _ => !only_a_registry,
                    },
                    Err(_) => false,
                }
            }
        };
        if answers(ClientProtocol::Https, false).await {
            self.plain_http.insert(image.registry.clone(), false);
            return false;
        }
        let plain = answers(
            ClientProtocol::HttpsExcept(vec![image.registry.clone()]),
            true,
        )
        .await;
        if plain {
            tracing::info!(registry = %image.registry, "registry answers plain HTTP, not HTTPS; using HTTP as Flux does for loopback and private addresses");
            self.plain_http.insert(image.registry.clone(), true);
        }
        plain
    }
}

fn client_config(
    access: &Access,
    user_agent: &'static str,
    protocol: ClientProtocol,
) -> ClientConfig {
    let mut config = ClientConfig {
        protocol,
        user_agent,
        connect_timeout: Some(Duration::from_secs(10)),
        ..ClientConfig::default()
    };
    if let Some(ca) = &access.ca_pem {
        config
            .extra_root_certificates
            .push(oci_client::client::Certificate {
                encoding: oci_client::client::CertificateEncoding::Pem,
                data: ca.clone(),
            });
    }
    if let Some(proxy) = &access.proxy {
        config.https_proxy = Some(proxy.clone());
        config.http_proxy = Some(proxy.clone());
    }
    config
}

fn reference_of(image: &ImageName, tag_or_digest: &str) -> Reference {
    if tag_or_digest.contains(':') {
        return Reference::with_digest(
            image.registry.clone(),
            image.repository.clone(),
            tag_or_digest.to_owned(),
        );
    }
    Reference::with_tag(
        image.registry.clone(),
        image.repository.clone(),
        tag_or_digest.to_owned(),
    )
}

/// Runs `request` until it succeeds, fails for good, or runs out of attempts.
async fn retrying<T, F, Fut>(mut request: F) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, OciDistributionError>>,
{
    let mut delay = FIRST_RETRY;
    let mut attempt = 1;
    loop {
        match request().await.map_err(classify) {
            Err(error) if error.retryable() && attempt < ATTEMPTS => {
                tracing::debug!(%error, attempt, "registry request failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Sorts oci-client's errors into what a status condition can say.
fn classify(error: OciDistributionError) -> RegistryError {
    let text = error.to_string();
    match error {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. } => RegistryError::Unauthorized(text),
        OciDistributionError::ServerError { code, .. } => match code {
            401 | 403 => RegistryError::Unauthorized(text),
            404 => RegistryError::NotFound(text),
            429 | 500..=599 => RegistryError::Unavailable(text),
            _ => RegistryError::Other(text),
        },
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                RegistryError::Unauthorized(text)
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::NameUnknown
                        | OciErrorCode::ManifestUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                RegistryError::NotFound(text)
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Toomanyrequests))
            {
                RegistryError::Unavailable(text)
            } else {
                RegistryError::Other(text)
            }
        }
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            RegistryError::Unreachable(text_of(&e))
        }
        OciDistributionError::RequestError(e) => RegistryError::Other(text_of(&e)),
        _ => RegistryError::Other(text),
    }
}

/// A reqwest error with its causes: "error sending request" alone does not say that the
/// connection was refused.
fn text_of(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
