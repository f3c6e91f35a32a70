//! `.Capabilities` for rendering: the API server's version and what it serves (group
//! versions and `group/version/Kind`s), read by discovery and kept for a few minutes so a
//! thousand releases do not each walk the API.

use std::time::{Duration, Instant};

use driftless_helm::render::{Capabilities, KubeVersion, default_api_versions};
use kube::discovery::Discovery;
use serde_json::Value;

use crate::post_render::Rendered;

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

    /// Forgets what was discovered: new kinds (a chart's CRDs) are served now.
    pub(super) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

/// Whether `capabilities` lists every served version of each CRD in `crds` (as
/// `group/version/Kind`).
pub(super) fn serves_all(capabilities: &Capabilities, crds: &[Rendered]) -> bool {
    crds.iter().all(|crd| {
        let spec = &crd.object["spec"];
        let (group, kind) = (
            spec["group"].as_str().unwrap_or_default(),
            spec["names"]["kind"].as_str().unwrap_or_default(),
        );
        let versions = spec["versions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        versions
            .iter()
            .filter(|v| v["served"] != Value::Bool(false))
            .filter_map(|v| v["name"].as_str())
            .all(|version| {
                let wanted = format!("{group}/{version}/{kind}");
                capabilities.api_versions.contains(&wanted)
            })
    })
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_crd_is_served_when_each_served_version_is_listed() {
        let crd = Rendered {
            path: "crds/widget.yaml".into(),
            object: json!({"spec": {"group": "example.com", "names": {"kind": "Widget"},
                "versions": [{"name": "v1", "served": true}, {"name": "v0", "served": false}]}}),
        };
        let mut capabilities = Capabilities::default();
        assert!(!serves_all(&capabilities, std::slice::from_ref(&crd)));
        capabilities.api_versions = vec!["example.com/v1".into(), "example.com/v1/Widget".into()];
        assert!(serves_all(&capabilities, &[crd]));
    }
}
