//! Charts from a HelmRepository of `type: oci`: `<url>/<chart>` in the registry, the version
//! an exact tag (no listing) or the newest tag a constraint allows (`_` read as `+`, as Helm
//! writes build metadata into tags), the chart layer pulled with its digest checked.

use std::time::Duration;

use driftless_api::meta::parse_duration;
use driftless_api::source::HelmRepository;
use driftless_registry::{Access, ImageName, Registries};
use driftless_version::{Constraint, parse_version};

use super::build::{BuildError, BuildErrorReason};
use super::remote::MAX_CHART_BYTES;
use crate::failure::Failure;
use crate::helmrepository::oci::{registry_access, repository_name};

/// Helm's chart layer.
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// Where a chart lives in the registry and how to reach it.
pub(super) struct OciChart {
    pub image: ImageName,
    pub access: Access,
    pub timeout: Duration,
}

fn pull_error(message: String) -> BuildError {
    BuildError::new(BuildErrorReason::ChartPull, message)
}

/// The chart's repository in the registry, with the HelmRepository's credentials.
pub(super) async fn locate(
    client: &kube::Client,
    repository: &HelmRepository,
    chart: &str,
) -> Result<OciChart, Failure> {
    let mut image = repository_name(&repository.spec.url)?;
    image.repository = if image.repository.is_empty() {
        chart.to_owned()
    } else {
        format!("{}/{chart}", image.repository)
    };
    let access = registry_access(client, repository, &image).await?;
    let timeout = parse_duration(repository.spec.timeout()).unwrap_or(Duration::from_secs(60));
    Ok(OciChart {
        image,
        access,
        timeout,
    })
}

/// The version `constraint` picks: itself when it is a version, else the newest tag it allows.
pub(super) async fn resolve_version(
    registries: &Registries,
    chart: &OciChart,
    constraint: &str,
) -> Result<String, BuildError> {
    if parse_version(constraint).is_some() {
        return Ok(constraint.to_owned());
    }
    let reference = format!("{}/{}", chart.image.registry, chart.image.repository);
    let tags = registries
        .list_tags(&chart.image, &chart.access, chart.timeout)
        .await
        .map_err(|e| pull_error(format!("failed to list tags of '{reference}': {e}")))?;
    newest_matching(&tags, constraint).map_err(|why| {
        BuildError::new(
            BuildErrorReason::ChartReference,
            format!("failed to get chart version for remote reference: {why}"),
        )
    })
}

/// The newest tag (as a version, `_` read as `+`) that `constraint` allows (`*` when empty).
fn newest_matching(tags: &[String], constraint: &str) -> Result<String, String> {
    if tags.is_empty() {
        return Err("unable to locate any tags in the repository".to_owned());
    }
    let wanted = if constraint.is_empty() {
        "*"
    } else {
        constraint
    };
    let parsed =
        Constraint::parse(wanted).map_err(|e| format!("improper constraint: {wanted}: {e}"))?;
    tags.iter()
        .map(|tag| tag.replace('_', "+"))
        .filter_map(|tag| parse_version(&tag).map(|version| (version, tag)))
        .filter(|(version, _)| parsed.matches(version))
        .max_by(|(a, _), (b, _)| driftless_version::compare(a, b))
        .map(|(_, tag)| tag)
        .ok_or_else(|| {
            format!("could not locate a version matching provided version string {wanted}")
        })
}

/// The manifest digest of `version`'s tag.
pub(super) async fn digest(
    registries: &Registries,
    chart: &OciChart,
    version: &str,
) -> Result<String, BuildError> {
    let tag = version.replace('+', "_");
    registries
        .digest(&chart.image, &tag, &chart.access, chart.timeout)
        .await
        .map_err(|e| {
            pull_error(format!(
                "failed to resolve 'oci://{}/{}:{tag}': {e}",
                chart.image.registry, chart.image.repository
            ))
        })
}

/// Pulls the chart archive of `version` (tag with `+` written `_`).
pub(super) async fn pull(
    registries: &Registries,
    chart: &OciChart,
    version: &str,
) -> Result<Vec<u8>, BuildError> {
    let tag = version.replace('+', "_");
    let reference = format!(
        "oci://{}/{}:{tag}",
        chart.image.registry, chart.image.repository
    );
    let failed = |why: String| {
        pull_error(format!(
            "failed to download chart for remote reference '{reference}': {why}"
        ))
    };
    let pulled = registries
        .manifest(&chart.image, &tag, &chart.access, chart.timeout)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let layer = pulled
        .manifest
        .layers
        .iter()
        .find(|layer| layer.media_type == CHART_LAYER_MEDIA_TYPE)
        .ok_or_else(|| {
            failed(format!(
                "the artifact has no layer of media type {CHART_LAYER_MEDIA_TYPE}"
            ))
        })?;
    let mut archive = Vec::new();
    tokio::time::timeout(
        chart.timeout,
        registries.blob(
            &chart.image,
            layer,
            &chart.access,
            MAX_CHART_BYTES,
            &mut archive,
        ),
    )
    .await
    .map_err(|_| failed(format!("timed out after {:?}", chart.timeout)))?
    .map_err(|e| failed(e.to_string()))?;
    Ok(archive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_versions_with_underscores_for_plus() {
        let tags: Vec<String> = [
            "1.0.0",
            "1.2.0",
            "1.10.0_build.3",
            "2.0.0-rc.1",
            "latest",
            "0.9",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        assert_eq!(newest_matching(&tags, "").unwrap(), "1.10.0+build.3");
        assert_eq!(newest_matching(&tags, "~1.2").unwrap(), "1.2.0");
        assert_eq!(newest_matching(&tags, ">=2.0.0-0").unwrap(), "2.0.0-rc.1");
        assert_eq!(newest_matching(&tags, "<1").unwrap(), "0.9");
        assert_eq!(
            newest_matching(&tags, "3.x").unwrap_err(),
            "could not locate a version matching provided version string 3.x"
        );
        assert!(newest_matching(&[], "*").is_err());
    }
}
