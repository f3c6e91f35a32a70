//! The consumer side of source artifacts: download `status.artifact.url`, verify the sha256 in
//! `status.artifact.digest` while unpacking, and share unpacked trees by digest. Hundreds of
//! objects on the same revision download and unpack it once: concurrent requests for one
//! digest wait for a single download, and later ones are served from the cache.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use driftless_api::meta::Artifact;
use driftless_artifact::{Digest, Limits, Tree, UnpackError, unpack_to_dir, unpack_to_memory};
use futures::StreamExt;

/// Environment variable Flux's consumers read: replaces the host (and port) of artifact URLs,
/// for running a consumer outside the cluster against a port-forwarded source-controller.
pub const SOURCE_HOST_OVERRIDE_ENV: &str = "SOURCE_CONTROLLER_LOCALHOST";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("artifact not found at {url}")]
    NotFound { url: String },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("artifact {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("invalid artifact digest: {0}")]
    InvalidDigest(#[from] driftless_artifact::DigestError),
    #[error("invalid artifact URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("artifact from {url}: {source}")]
    Unpack {
        url: String,
        #[source]
        source: UnpackError,
    },
}

impl FetchError {
    /// Whether the source may simply not have published the artifact yet (Flux requeues
    /// these without counting them as failures).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// The weight of a cached tree: its bytes, so the cache is bounded in memory, not entries.
#[derive(Clone, Copy, Default)]
struct TreeBytes;

impl quick_cache::Weighter<String, Arc<Tree>> for TreeBytes {
    fn weight(&self, _digest: &String, tree: &Arc<Tree>) -> u64 {
        let bytes: usize = tree.iter().map(|(p, f)| p.len() + f.data.len() + 64).sum();
        (bytes as u64).max(1)
    }
}

/// How failed downloads are retried: Flux's `--http-retry`, with retryablehttp's policy
/// (connection errors, 429 and 5xx other than 501; exponential waits between bounds).
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub retries: u32,
    pub wait_min: Duration,
    pub wait_max: Duration,
}

impl RetryPolicy {
    /// `retries` more attempts, waiting 1 s, 2 s, 4 s… up to 30 s between them.
    pub fn flux(retries: u32) -> Self {
        Self {
            retries,
            wait_min: Duration::from_secs(1),
            wait_max: Duration::from_secs(30),
        }
    }

    fn wait(&self, attempt: u32) -> Duration {
        self.wait_min
            .saturating_mul(1 << attempt.min(16))
            .min(self.wait_max)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::flux(0)
    }
}

/// Whether a failed download may succeed if tried again: source-controller restarting, its
/// Service not yet routed, a proxy in between overloaded.
fn retryable(error: &FetchError) -> bool {
    match error {
        FetchError::Transport { .. } => true,
        FetchError::Status { status, .. } => *status == 429 || (*status >= 500 && *status != 501),
        _ => false,
    }
}

/// Downloads, verifies and unpacks artifacts, keeping recently used trees by digest.
pub struct ArtifactFetcher {
    http: reqwest::Client,
    limits: Limits,
    cache: quick_cache::sync::Cache<String, Arc<Tree>, TreeBytes>,
    host_override: Option<String>,
    retry: RetryPolicy,
}

impl ArtifactFetcher {
    /// `cache_bytes` bounds the memory of cached trees (0 disables caching).
    pub fn new(http: reqwest::Client, limits: Limits, cache_bytes: u64) -> Self {
        let host_override = std::env::var(SOURCE_HOST_OVERRIDE_ENV)
            .ok()
            .filter(|v| !v.is_empty());
        Self::with_host_override(http, limits, cache_bytes, host_override)
    }

    pub fn with_host_override(
        http: reqwest::Client,
        limits: Limits,
        cache_bytes: u64,
        host_override: Option<String>,
    ) -> Self {
        Self {
            http,
            limits,
            cache: quick_cache::sync::Cache::with_weighter(256, cache_bytes.max(1), TreeBytes),
            host_override,
            retry: RetryPolicy::default(),
        }
    }

    /// Retries failed downloads by `retry`.
    pub fn with_retries(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The URL to download from, with the host replaced when overridden.
    pub fn url_for(&self, artifact: &Artifact) -> Result<reqwest::Url, FetchError> {
        let invalid = |reason: String| FetchError::InvalidUrl {
            url: artifact.url.clone(),
            reason,
        };
        let mut url = reqwest::Url::parse(&artifact.url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http and https are supported".into()));
        }
        if let Some(host) = &self.host_override {
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) => (
                    name,
                    Some(
                        port.parse::<u16>()
                            .map_err(|e| invalid(format!("{SOURCE_HOST_OVERRIDE_ENV}: {e}")))?,
                    ),
                ),
                None => (host.as_str(), None),
            };
            url.set_host(Some(name))
                .map_err(|e| invalid(e.to_string()))?;
            url.set_port(port)
                .map_err(|()| invalid("cannot set port".into()))?;
        }
        Ok(url)
    }

    /// The artifact's tree, verified against its digest; from the cache when another caller
    /// already fetched the same digest.
    pub async fn fetch(&self, artifact: &Artifact) -> Result<Arc<Tree>, FetchError> {
        let digest: Digest = artifact.digest.parse()?;
        let key = digest.to_string();
        self.cache
            .get_or_insert_async(&key, async {
                let bytes = self.download(artifact).await?;
                let limits = self.limits;
                let url = artifact.url.clone();
                let tree = tokio::task::spawn_blocking(move || {
                    unpack_to_memory(&bytes[..], &digest, limits)
                })
                .await
                .map_err(|e| FetchError::Unpack {
                    url: url.clone(),
                    source: UnpackError::Io(std::io::Error::other(e.to_string())),
                })?
                .map_err(|source| FetchError::Unpack { url, source })?;
                Ok(Arc::new(tree))
            })
            .await
    }

    /// Downloads and unpacks the artifact into `dest` (which must not exist); nothing is left
    /// there unless the digest matched.
    pub async fn fetch_to_dir(&self, artifact: &Artifact, dest: &Path) -> Result<(), FetchError> {
        let digest: Digest = artifact.digest.parse()?;
        let bytes = self.download(artifact).await?;
        let limits = self.limits;
        let dest = dest.to_owned();
        let url = artifact.url.clone();
        tokio::task::spawn_blocking(move || unpack_to_dir(&bytes[..], &digest, &dest, limits))
            .await
            .map_err(|e| FetchError::Unpack {
                url: url.clone(),
                source: UnpackError::Io(std::io::Error::other(e.to_string())),
            })?
            .map_err(|source| FetchError::Unpack { url, source })
    }

    /// The compressed bytes, retried as the policy allows.
    async fn download(&self, artifact: &Artifact) -> Result<Vec<u8>, FetchError> {
        let mut attempt = 0;
        loop {
            match self.download_once(artifact).await {
                Err(error) if attempt < self.retry.retries && retryable(&error) => {
                    tracing::debug!(%error, attempt, "retrying the artifact download");
                    tokio::time::sleep(self.retry.wait(attempt)).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// The compressed bytes, bounded by the compressed-size limit while streaming.
    async fn download_once(&self, artifact: &Artifact) -> Result<Vec<u8>, FetchError> {
        let url = self.url_for(artifact)?;
        let shown = artifact.url.clone();
        let transport = |source| FetchError::Transport {
            url: shown.clone(),
            source,
        };
        let response = self.http.get(url).send().await.map_err(transport)?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(FetchError::NotFound { url: shown }),
            status => return Err(FetchError::Status { url: shown, status }),
        }
        let limit = self.limits.max_compressed_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge { url: shown, limit });
        }
        let capacity = response.content_length().unwrap_or(0).min(limit);
        let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(transport)?;
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge { url: shown, limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}
