//! `.Capabilities` for rendering: the API server's version and what it serves (group
//! versions and `group/version/Kind`s), read by discovery and kept for a few minutes so a
//! thousand releases do not each walk the API.

use std::time::{Duration, Instant};

use driftless_helm::render::{Capabilities, KubeVersion, default_api_versions};
use kube::discovery::Discovery;

/// How long discovered capabilities are reused.
const FRESH_FOR: Duration = Duration::from_secs(300);

#[derive(Default)]
pub(super) struct CapabilitiesCache {
    cached: tokio::sync::Mutex<Option<(Instant, Capabilities)>>,
}

impl CapabilitiesCache {
    pub(super) async fn get(&self, client: &kube::Client) -> Result<Capabilities, kube::Error> {
        let mut cached = self.cached.lock().await;
        if let Some((at, capabilities)) = cached.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return Ok(capabilities.clone());
        }
        let capabilities = discover(client).await?;
        *cached = Some((Instant::now(), capabilities.clone()));
        Ok(capabilities)
    }
}

pub(super) async fn discover(client: &kube::Client) -> Result<Capabilities, kube::Error> {
    let info = client.apiserver_version().await?;
    let discovery = Discovery::new(client.clone()).run_aggregated().await?;
    let mut api_versions = default_api_versions();
    for group in discovery.groups() {
        for version in group.versions() {
            let group_version = if group.name().is_empty() {
                version.to_owned()
            } else {
                format!("{}/{version}", group.name())
            };
            for (resource, _) in group.versioned_resources(version) {
                api_versions.push(format!("{group_version}/{}", resource.kind));
            }
            api_versions.push(group_version);
        }
    }
    api_versions.sort();
    api_versions.dedup();
    let minor = info.minor.trim_end_matches('+').to_owned();
    Ok(Capabilities {
        kube_version: KubeVersion {
            version: info
                .git_version
                .split('-')
                .next()
                .unwrap_or_default()
                .to_owned(),
            major: info.major,
            minor,
        },
        api_versions,
        ..Capabilities::default()
    })
}
