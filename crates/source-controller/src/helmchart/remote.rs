//! Charts from a HelmRepository of `type: default`: the version chosen from the stored index
//! (no request while the stored chart already has it), the archive downloaded with the
//! repository's credentials and TLS, checked against the index's digest.

use std::time::Duration;

use driftless_api::meta::parse_duration;
use driftless_api::source::HelmRepository;
use driftless_artifact::Digest;

use super::build::{BuildError, BuildErrorReason};
use crate::helmrepository::access::RepositoryAccess;
use crate::helmrepository::index::{ChartVersion, Index, MAX_INDEX_BYTES, normalize_url};
use crate::storage::Storage;

/// Largest chart archive downloaded (Flux's `--helm-chart-max-file-size` default).
pub const MAX_CHART_BYTES: u64 = 10 << 20;
/// Bytes of downloaded charts kept for other HelmCharts of the same repository.
const DOWNLOADS_BYTES: u64 = 64 << 20;

/// Chart archives already downloaded, by repository, URL and the digest the index lists: the
/// many HelmCharts of one chart version download it once. Only digest-checked archives are
/// kept, and only for HelmCharts of the same HelmRepository (whose credentials fetched it).
#[derive(Clone)]
pub struct Downloads {
    cache: std::sync::Arc<quick_cache::sync::Cache<DownloadKey, std::sync::Arc<Vec<u8>>, BySize>>,
}

type DownloadKey = (String, String, String);

#[derive(Clone)]
struct BySize;

impl quick_cache::Weighter<DownloadKey, std::sync::Arc<Vec<u8>>> for BySize {
    fn weight(&self, _key: &DownloadKey, value: &std::sync::Arc<Vec<u8>>) -> u64 {
        value.len() as u64 + 1
    }
}

impl Default for Downloads {
    fn default() -> Self {
        Self {
            cache: std::sync::Arc::new(quick_cache::sync::Cache::with_weighter(
                256,
                DOWNLOADS_BYTES,
                BySize,
            )),
        }
    }
}

fn pull_error(message: String) -> BuildError {
    BuildError::new(BuildErrorReason::ChartPull, message)
}

/// The index the repository stored, checked against its digest.
pub(super) async fn stored_index(
    storage: &Storage,
    repository: &HelmRepository,
) -> Result<Index, BuildError> {
    let artifact = repository
        .status
        .as_ref()
        .and_then(|s| s.artifact.clone())
        .ok_or_else(|| pull_error("the HelmRepository has no index yet".to_owned()))?;
    let path = storage.root().join(&artifact.path);
    let raw = tokio::fs::read(&path)
        .await
        .map_err(|e| pull_error(format!("failed to read the stored index: {e}")))?;
    let digest = Digest::of(&raw).to_string();
    if digest != artifact.digest {
        return Err(pull_error(format!(
            "stored index digest {digest} differs from the advertised {}",
            artifact.digest
        )));
    }
    tokio::task::spawn_blocking(move || Index::load(&raw))
        .await
        .map_err(|e| pull_error(format!("loading the index failed unexpectedly: {e}")))?
        .map_err(|e| pull_error(format!("failed to load the stored index: {e}")))
}

/// The index of a repository no HelmRepository stores, fetched with its access (anonymous
/// for a dependency's repository).
pub(super) async fn fetch_index(
    client: &kube::Client,
    repository: &HelmRepository,
) -> Result<Index, BuildError> {
    let failed = |why: String| {
        BuildError::new(
            BuildErrorReason::DependencyBuild,
            format!(
                "failed to fetch the index of '{}': {why}",
                repository.spec.url
            ),
        )
    };
    let url = normalize_url(&repository.spec.url).map_err(failed)?;
    let access = RepositoryAccess::read(client, repository)
        .await
        .map_err(|e| failed(e.0))?;
    let timeout = parse_duration(repository.spec.timeout()).unwrap_or(Duration::from_secs(60));
    let http = access.client(timeout).map_err(|e| failed(e.to_string()))?;
    let raw = access
        .get(
            &http,
            &url,
            &format!("{url}index.yaml"),
            "index",
            MAX_INDEX_BYTES,
        )
        .await
        .map_err(|e| failed(e.to_string()))?;
    tokio::task::spawn_blocking(move || Index::load(&raw))
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(e.to_string()))
}

/// The index entry for `chart` and `version` (a constraint), or Flux's chart reference error.
pub(super) fn choose(
    index: &Index,
    chart: &str,
    version: &str,
) -> Result<ChartVersion, BuildError> {
    index.chart_version(chart, version).map_err(|e| {
        BuildError::new(
            BuildErrorReason::ChartReference,
            format!("failed to get chart version for remote reference: {e}"),
        )
    })
}

/// Downloads the chosen version's archive (its first URL, relative ones resolved against the
/// repository URL).
pub(super) async fn download(
    client: &kube::Client,
    downloads: &Downloads,
    repository: &HelmRepository,
    entry: &ChartVersion,
) -> Result<Vec<u8>, BuildError> {
    let repository_url = normalize_url(&repository.spec.url).map_err(|e| {
        BuildError::new(
            BuildErrorReason::ChartPull,
            format!("invalid Helm repository URL: {e}"),
        )
    })?;
    let first = entry
        .urls
        .first()
        .ok_or_else(|| pull_error(format!("chart '{}' has no downloadable URLs", entry.name)))?;
    let url = reqwest::Url::parse(&repository_url)
        .and_then(|base| base.join(first))
        .map_err(|e| pull_error(format!("invalid chart URL format '{first}': {e}")))?;
    let expected = entry
        .digest
        .as_deref()
        .map(|d| d.trim_start_matches("sha256:").to_owned())
        .filter(|d| !d.is_empty());
    let key = expected.clone().map(|digest| {
        let owner = format!(
            "{}/{}",
            repository.metadata.namespace.as_deref().unwrap_or_default(),
            repository.metadata.name.as_deref().unwrap_or_default()
        );
        (owner, url.to_string(), digest)
    });
    if let Some(cached) = key.as_ref().and_then(|key| downloads.cache.get(key)) {
        return Ok(cached.as_ref().clone());
    }
    let access = RepositoryAccess::read(client, repository)
        .await
        .map_err(|e| pull_error(e.0))?;
    let timeout = parse_duration(repository.spec.timeout()).unwrap_or(Duration::from_secs(60));
    let http = access
        .client(timeout)
        .map_err(|e| pull_error(e.to_string()))?;
    let archive = access
        .get(
            &http,
            &repository_url,
            url.as_str(),
            "chart",
            MAX_CHART_BYTES,
        )
        .await
        .map_err(|e| {
            pull_error(format!(
                "failed to download chart for remote reference: {e}"
            ))
        })?;
    if let Some(expected) = &expected {
        let actual = Digest::of(&archive);
        if actual.hex() != expected {
            return Err(pull_error(format!(
                "chart '{}' version '{}' has digest {actual} but the index lists sha256:{expected}",
                entry.name, entry.version
            )));
        }
    }
    if let Some(key) = key {
        downloads
            .cache
            .insert(key, std::sync::Arc::new(archive.clone()));
    }
    Ok(archive)
}
