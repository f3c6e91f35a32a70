//! The digests a HelmRelease records: of its values (`configDigest`), of a release revision as
//! stored (a snapshot's `digest`, to recognise the revision later) and of its post-renderers.

use driftless_helm::release::Release;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Flux's `DigestValues`: SHA-256 of the values as sorted-key YAML (go-yaml v2), of nothing
/// when there are none.
pub fn config_digest(values: &Map<String, Value>) -> String {
    sha256(driftless_helm::values::to_yaml(values).as_bytes())
}

/// What of a revision its digest covers (Flux's `Observation`): not the chart's files, nor
/// test hooks, which a test run updates.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Observation<'a> {
    name: &'a str,
    version: i64,
    info: &'a driftless_helm::release::Info,
    chart_metadata: &'a Value,
    config: &'a Map<String, Value>,
    manifest: &'a str,
    hooks: Vec<&'a driftless_helm::release::Hook>,
    namespace: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    oci_digest: Option<&'a str>,
}

/// Digest of a stored revision.
pub fn release_digest(release: &Release, oci_digest: Option<&str>) -> String {
    let observation = Observation {
        name: &release.name,
        version: release.version,
        info: &release.info,
        chart_metadata: release
            .chart
            .as_ref()
            .map_or(&Value::Null, |chart| &chart.metadata),
        config: &release.config,
        manifest: &release.manifest,
        hooks: release
            .hooks
            .iter()
            .filter(|hook| !hook.is_test())
            .collect(),
        namespace: &release.namespace,
        oci_digest,
    };
    let mut json = serde_json::to_vec(&observation).unwrap_or_default();
    json.push(b'\n');
    sha256(&json)
}

/// Digest of anything serialisable (post-renderers, common metadata), as JSON.
pub fn json_digest(value: &impl Serialize) -> String {
    let mut json = serde_json::to_vec(value).unwrap_or_default();
    json.push(b'\n');
    sha256(&json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_digest_is_of_sorted_yaml_and_empty_values_hash_nothing() {
        let empty = config_digest(&Map::new());
        assert_eq!(
            empty,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let a = json!({"b": 1, "a": {"d": true, "c": "x"}});
        let b = json!({"a": {"c": "x", "d": true}, "b": 1});
        let digest = config_digest(a.as_object().unwrap());
        assert_eq!(digest, config_digest(b.as_object().unwrap()));
        // sha256 of "a:\n  c: x\n  d: true\nb: 1\n".
        assert_eq!(
            digest,
            format!(
                "sha256:{}",
                hex::encode(Sha256::digest(b"a:\n  c: x\n  d: true\nb: 1\n"))
            )
        );
        assert_ne!(digest, config_digest(json!({"b": 2}).as_object().unwrap()));
    }

    #[test]
    fn release_digest_ignores_test_hooks_and_follows_the_status() {
        let mut release = Release {
            name: "web".into(),
            version: 1,
            manifest: "---\n# Source: x\nkind: A\n".into(),
            ..Release::default()
        };
        release.info.status = "deployed".into();
        let before = release_digest(&release, None);
        release.hooks.push(driftless_helm::release::Hook {
            name: "t".into(),
            events: vec!["test".into()],
            ..Default::default()
        });
        assert_eq!(release_digest(&release, None), before);
        release.info.status = "superseded".into();
        assert_ne!(release_digest(&release, None), before);
        assert_ne!(
            release_digest(&release, Some("sha256:1")),
            release_digest(&release, None)
        );
    }
}
