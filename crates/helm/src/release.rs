//! Helm's release records, as Helm v3 stores them: the release JSON (`pkg/release`), gzipped
//! and base64-encoded into `data.release` of a Secret named `sh.helm.release.v1.<name>.v<N>`
//! of type `helm.sh/release.v1`, labelled so Helm's queries find it. The real `helm list`,
//! `helm history`, `helm get` and `helm rollback` read what is written here, and a release
//! written by `helm` (v3 or v4) reads back without losing fields this model does not name.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Chart;
use crate::manifests::{Hook as RenderedHook, Manifest};

/// Secret type of a release record.
pub const SECRET_TYPE: &str = "helm.sh/release.v1";
/// The Secret data key holding the encoded release.
pub const DATA_KEY: &str = "release";
/// Label `owner` of every release record.
pub const OWNER: &str = "helm";

/// Release statuses (`pkg/release/status.go`).
pub mod status {
    pub const UNKNOWN: &str = "unknown";
    pub const DEPLOYED: &str = "deployed";
    pub const UNINSTALLED: &str = "uninstalled";
    pub const SUPERSEDED: &str = "superseded";
    pub const FAILED: &str = "failed";
    pub const UNINSTALLING: &str = "uninstalling";
    pub const PENDING_INSTALL: &str = "pending-install";
    pub const PENDING_UPGRADE: &str = "pending-upgrade";
    pub const PENDING_ROLLBACK: &str = "pending-rollback";

    pub fn is_pending(status: &str) -> bool {
        matches!(status, PENDING_INSTALL | PENDING_UPGRADE | PENDING_ROLLBACK)
    }
}

/// One revision of a release (`release.Release`). Times are kept as Helm wrote them
/// (RFC 3339, or `""` for none).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Release {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub info: Info,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<StoredChart>,
    /// The values given for this release (not the chart's defaults).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Value>,
    /// The release's objects, each as `---\n# Source: <template>\n<document>\n`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Fields of newer Helm versions (`apply_method`, …), written back as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    #[serde(default, deserialize_with = "time_text")]
    pub first_deployed: String,
    #[serde(default, deserialize_with = "time_text")]
    pub last_deployed: String,
    #[serde(default, deserialize_with = "time_text")]
    pub deleted: String,
    #[serde(
        default,
        alias = "Description",
        skip_serializing_if = "String::is_empty"
    )]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A time as Helm writes it, `null` (older releases) read as none.
fn time_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// The chart as a release stores it: the parent chart only (Helm never stores subcharts).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredChart {
    #[serde(default)]
    pub metadata: Value,
    #[serde(default)]
    pub lock: Value,
    /// `[{ "name": "templates/x.yaml", "data": "<base64>" }]`.
    #[serde(default)]
    pub templates: Value,
    /// `values.yaml`, parsed.
    #[serde(default)]
    pub values: Value,
    /// `values.schema.json`, base64.
    #[serde(default)]
    pub schema: Value,
    #[serde(default)]
    pub files: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl StoredChart {
    /// What Helm's loader would store of `chart`, with `values` its parsed `values.yaml`.
    pub fn from_chart(chart: &Chart, values: &Map<String, Value>) -> StoredChart {
        let files = |files: &[crate::ChartFile]| {
            Value::Array(
                files
                    .iter()
                    .map(
                        |f| serde_json::json!({ "name": f.name, "data": STANDARD.encode(&f.data) }),
                    )
                    .collect(),
            )
        };
        let mut metadata = serde_json::to_value(&chart.metadata).unwrap_or(Value::Null);
        if let Some(fields) = metadata.as_object_mut() {
            fields
                .entry("apiVersion")
                .or_insert_with(|| Value::String("v1".into()));
        }
        StoredChart {
            metadata,
            lock: chart.lock.clone().unwrap_or(Value::Null),
            templates: files(&chart.templates),
            values: Value::Object(values.clone()),
            schema: chart
                .schema
                .as_ref()
                .map_or(Value::Null, |schema| Value::String(STANDARD.encode(schema))),
            files: if chart.files.is_empty() {
                Value::Null
            } else {
                files(&chart.files)
            },
            extra: Map::new(),
        }
    }

    fn metadata_field(&self, key: &str) -> &str {
        self.metadata
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.metadata_field("name")
    }

    pub fn version(&self) -> &str {
        self.metadata_field("version")
    }

    pub fn app_version(&self) -> &str {
        self.metadata_field("appVersion")
    }
}

/// A hook of a release (`release.Hook`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    #[serde(default)]
    pub last_run: HookExecution,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete_policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_log_policies: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HookExecution {
    #[serde(default, deserialize_with = "time_text")]
    pub started_at: String,
    #[serde(default, deserialize_with = "time_text")]
    pub completed_at: String,
    /// `""` (never run), `Running`, `Succeeded`, `Failed` or `Unknown`.
    #[serde(default)]
    pub phase: String,
}

impl Hook {
    /// A rendered hook as Helm records it, with its delete and output-log policies read from
    /// its annotations.
    pub fn from_rendered(hook: &RenderedHook) -> Hook {
        let annotation = |key: &str| -> Vec<String> {
            hook_annotation(&hook.manifest.content, key)
                .map(|value| {
                    value
                        .split(',')
                        .map(|part| part.trim().to_owned())
                        .filter(|part| !part.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        Hook {
            name: hook.manifest.name.clone(),
            kind: hook.manifest.kind.clone(),
            path: hook.manifest.path.clone(),
            manifest: hook.manifest.content.clone(),
            events: hook.events.clone(),
            last_run: HookExecution::default(),
            weight: hook.weight,
            delete_policies: annotation("helm.sh/hook-delete-policy"),
            output_log_policies: annotation("helm.sh/hook-output-log-policy"),
            extra: Map::new(),
        }
    }

    pub fn is_test(&self) -> bool {
        self.events.iter().any(|event| event == "test")
    }
}

fn hook_annotation(document: &str, key: &str) -> Option<String> {
    let node = driftless_yaml::parse_one(document).ok()?;
    let value = node.get("metadata")?.get("annotations")?.get(key)?;
    value.as_str().map(str::to_owned)
}

/// The manifest text Helm stores for `manifests` (already in install order).
pub fn manifest_text(manifests: &[Manifest]) -> String {
    let mut text = String::new();
    for manifest in manifests {
        text.push_str("---\n# Source: ");
        text.push_str(&manifest.path);
        text.push('\n');
        text.push_str(&manifest.content);
        text.push('\n');
    }
    text
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("release data is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("release data is not gzip: {0}")]
    Gzip(#[from] std::io::Error),
    #[error("release data is not a release: {0}")]
    Json(#[from] serde_json::Error),
}

/// `data.release` of a record: base64 of the gzipped JSON (Helm's `encodeRelease`).
pub fn encode(release: &Release) -> Result<String, CodecError> {
    let json = serde_json::to_vec(release)?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&json)?;
    Ok(STANDARD.encode(gzip.finish()?))
}

/// A release from `data.release` (Helm's `decodeRelease`: gunzipped only when it starts with
/// the gzip magic, as very old records are plain JSON).
pub fn decode(data: &[u8]) -> Result<Release, CodecError> {
    let bytes = STANDARD.decode(data.trim_ascii())?;
    if bytes.len() > 3 && bytes.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut json)?;
        return Ok(serde_json::from_slice(&json)?);
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// Name of the record of `version` of release `name`.
pub fn secret_name(name: &str, version: i64) -> String {
    format!("sh.helm.release.v1.{name}.v{version}")
}

/// The labels Helm's storage queries by: `name`, `owner`, `status`, `version`.
pub fn labels(release: &Release) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("name".to_owned(), release.name.clone()),
        ("owner".to_owned(), OWNER.to_owned()),
        ("status".to_owned(), release.info.status.clone()),
        ("version".to_owned(), release.version.to_string()),
    ])
}

/// Label selector of every record of release `name`.
pub fn history_selector(name: &str) -> String {
    format!("name={name},owner={OWNER}")
}

/// Revisions to delete so that at most `max` remain once one more is created, oldest first,
/// never the latest deployed one (Helm's `removeLeastRecent` with `max - 1`). `max <= 0`
/// keeps everything.
pub fn revisions_to_prune(history: &[Release], max: i64) -> Vec<i64> {
    if max <= 0 {
        return Vec::new();
    }
    let keep = (max - 1).max(0) as usize;
    let mut versions: Vec<&Release> = history.iter().collect();
    versions.sort_by_key(|release| release.version);
    if versions.len() <= keep {
        return Vec::new();
    }
    let deployed = versions
        .iter()
        .rev()
        .find(|release| release.info.status == status::DEPLOYED)
        .map(|release| release.version);
    let mut prune = Vec::new();
    for release in &versions {
        if versions.len() - prune.len() == keep {
            break;
        }
        if Some(release.version) != deployed {
            prune.push(release.version);
        }
    }
    prune
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What helm v3.21.4's `json.Marshal` wrote for a release (one template, one hook not run).
    const HELM_JSON: &str = r#"{"name":"demo","info":{"first_deployed":"2024-01-02T03:04:05.1234Z","last_deployed":"2024-01-02T03:04:05.1234Z","deleted":"","description":"Install complete","status":"deployed","notes":"hi \u003cthere\u003e"},"chart":{"metadata":{"name":"demo","version":"0.1.0","apiVersion":"v2","appVersion":"1.0"},"lock":null,"templates":[{"name":"templates/cm.yaml","data":"a2luZDogQ29uZmlnTWFwCg=="}],"values":{"a":1},"schema":null,"files":null},"config":{"b":"x\u0026y"},"manifest":"---\n# Source: demo/templates/cm.yaml\nkind: ConfigMap\n","hooks":[{"name":"h","kind":"Job","path":"demo/templates/job.yaml","manifest":"kind: Job","events":["pre-install"],"last_run":{"started_at":"","completed_at":"","phase":""}}],"version":1,"namespace":"default"}"#;

    #[test]
    fn helm_written_json_reads_and_writes_back_the_same() {
        let release: Release = serde_json::from_str(HELM_JSON).unwrap();
        assert_eq!(release.name, "demo");
        assert_eq!(release.version, 1);
        assert_eq!(release.info.status, status::DEPLOYED);
        assert_eq!(release.info.notes, "hi <there>");
        assert_eq!(release.chart.as_ref().unwrap().name(), "demo");
        assert_eq!(release.chart.as_ref().unwrap().app_version(), "1.0");
        assert_eq!(release.hooks[0].events, ["pre-install"]);
        let written: Value = serde_json::to_value(&release).unwrap();
        let original: Value = serde_json::from_str(HELM_JSON).unwrap();
        assert_eq!(written, original);
    }

    #[test]
    fn newer_fields_and_null_times_survive_a_rewrite() {
        let json = r#"{"name":"x","info":{"first_deployed":null,"last_deployed":"2024-01-02T03:04:05+02:00","status":"deployed"},"apply_method":"ssa","version":3}"#;
        let release: Release = serde_json::from_str(json).unwrap();
        assert_eq!(release.info.first_deployed, "");
        assert_eq!(release.info.last_deployed, "2024-01-02T03:04:05+02:00");
        let written = serde_json::to_value(&release).unwrap();
        assert_eq!(written["apply_method"], "ssa");
        assert_eq!(written["info"]["deleted"], "");
    }

    #[test]
    fn records_round_trip_through_gzip_and_base64() {
        let release: Release = serde_json::from_str(HELM_JSON).unwrap();
        let data = encode(&release).unwrap();
        // Go's gzip header at best compression, as Helm's records start.
        assert!(data.starts_with("H4sI"), "{data}");
        assert_eq!(decode(data.as_bytes()).unwrap(), release);
        // Records from before Helm compressed them are plain JSON.
        let plain = STANDARD.encode(HELM_JSON);
        assert_eq!(decode(plain.as_bytes()).unwrap(), release);
        assert!(matches!(decode(b"%%%"), Err(CodecError::Base64(_))));
    }

    #[test]
    fn records_are_named_and_labelled_as_helm_queries_them() {
        let release: Release = serde_json::from_str(HELM_JSON).unwrap();
        assert_eq!(secret_name("demo", 12), "sh.helm.release.v1.demo.v12");
        let labels = labels(&release);
        assert_eq!(labels["name"], "demo");
        assert_eq!(labels["owner"], "helm");
        assert_eq!(labels["status"], "deployed");
        assert_eq!(labels["version"], "1");
    }

    fn revision(version: i64, status: &str) -> Release {
        Release {
            version,
            info: Info {
                status: status.into(),
                ..Info::default()
            },
            ..Release::default()
        }
    }

    #[test]
    fn pruning_keeps_the_newest_and_the_deployed_revision() {
        let history = [
            revision(1, status::SUPERSEDED),
            revision(2, status::DEPLOYED),
            revision(3, status::FAILED),
            revision(4, status::FAILED),
        ];
        // Room for 3 after the next one: 1 and 3 go, 2 (deployed) and 4 stay.
        assert_eq!(revisions_to_prune(&history, 3), vec![1, 3]);
        assert_eq!(revisions_to_prune(&history, 5), Vec::<i64>::new());
        assert_eq!(revisions_to_prune(&history, 0), Vec::<i64>::new());
    }

    #[test]
    fn manifest_text_is_as_helm_joins_it() {
        let manifests = [Manifest {
            path: "demo/templates/cm.yaml".into(),
            content: "kind: ConfigMap".into(),
            kind: "ConfigMap".into(),
            name: "cm".into(),
        }];
        assert_eq!(
            manifest_text(&manifests),
            "---\n# Source: demo/templates/cm.yaml\nkind: ConfigMap\n"
        );
    }
}
