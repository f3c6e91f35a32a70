//! A Helm repository index as Helm loads it, without I/O: JSON or YAML in, the versions Helm
//! would drop (no name, no version, an unparsable version) dropped, each chart's versions
//! newest first; out as indented JSON, the artifact HelmCharts read. Also the chart version
//! a HelmChart asks for, and the size wording of Flux's event.

use driftless_version::{Constraint, Version, parse_version};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Helm's limit on an index file (`helm.MaxIndexSize`).
pub const MAX_INDEX_BYTES: u64 = 50 << 20;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("{0}")]
    Syntax(String),
    #[error("no API version specified")]
    NoApiVersion,
    #[error("'entries' is not a map of chart names to version lists")]
    Entries,
}

/// The index, checked and sorted as Helm's `loadIndex` leaves it.
#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    document: Map<String, Value>,
}

/// One version of a chart as the index lists it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ChartVersion {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
}

impl Index {
    /// Parses an index: JSON when it is valid JSON, else YAML (as Flux reads both).
    pub fn load(raw: &[u8]) -> Result<Self, IndexError> {
        let parsed: Value = match serde_json::from_slice(raw) {
            Ok(value) => value,
            Err(_) => serde_yaml::from_slice(raw).map_err(|e| IndexError::Syntax(e.to_string()))?,
        };
        let Value::Object(mut document) = parsed else {
            return Err(IndexError::Syntax("the index is not a map".into()));
        };
        match document.get("apiVersion") {
            Some(Value::String(version)) if !version.is_empty() => {}
            _ => return Err(IndexError::NoApiVersion),
        }
        let entries = match document.remove("entries") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(entries)) => entries,
            Some(_) => return Err(IndexError::Entries),
        };
        let mut kept = Map::new();
        for (name, versions) in entries {
            let versions = match versions {
                Value::Array(versions) => versions,
                Value::Null => Vec::new(),
                _ => return Err(IndexError::Entries),
            };
            let mut valid: Vec<(Version, Value)> =
                versions.into_iter().filter_map(valid_entry).collect();
            // Newest first; equal versions (differing only in build metadata) by creation time.
            valid.sort_by(|(a, ea), (b, eb)| {
                driftless_version::compare(b, a).then_with(|| created(eb).cmp(created(ea)))
            });
            kept.insert(
                name,
                Value::Array(valid.into_iter().map(|(_, e)| e).collect()),
            );
        }
        document.insert("entries".into(), Value::Object(kept));
        Ok(Self { document })
    }

    /// The artifact's bytes: the index as indented JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.document).unwrap_or_default()
    }

    /// How many chart versions the index lists.
    pub fn versions(&self) -> usize {
        self.entries().map(|(_, versions)| versions.len()).sum()
    }

    fn entries(&self) -> impl Iterator<Item = (&String, &Vec<Value>)> {
        self.document
            .get("entries")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, versions)| versions.as_array().map(|v| (name, v)))
    }

    /// The newest version of `chart` that `constraint` allows (`*` when empty, which, as in
    /// Helm, does not match prereleases). An exact version is looked up as written first.
    pub fn chart_version(&self, chart: &str, constraint: &str) -> Result<ChartVersion, String> {
        let versions = self
            .entries()
            .find(|(name, _)| name.as_str() == chart)
            .map(|(_, versions)| versions)
            .filter(|versions| !versions.is_empty())
            .ok_or_else(|| format!("no chart name found: {chart}"))?;
        let wanted = if constraint.is_empty() {
            "*"
        } else {
            constraint
        };
        let entries = versions
            .iter()
            .filter_map(|v| ChartVersion::deserialize(v).ok());
        if let Some(exact) = entries.clone().find(|v| v.version == wanted) {
            return Ok(exact);
        }
        let parsed = Constraint::parse(wanted)
            .map_err(|e| format!("invalid chart version constraint '{wanted}': {e}"))?;
        // Entries are sorted newest first: the first match is the newest.
        let mut entries = entries;
        entries
            .find(|v| parse_version(&v.version).is_some_and(|version| parsed.matches(&version)))
            .ok_or_else(|| format!("no '{chart}' chart with version matching '{wanted}' found"))
    }
}

/// The entry with its parsed version when Helm would keep it: a map with a name and a valid
/// version. A missing `apiVersion` is filled in as `v1`, as Helm does.
fn valid_entry(entry: Value) -> Option<(Version, Value)> {
    let Value::Object(mut entry) = entry else {
        return None;
    };
    let name = entry
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        return None;
    }
    let version = parse_version(entry.get("version").and_then(Value::as_str)?)?;
    if !matches!(entry.get("apiVersion"), Some(Value::String(v)) if !v.is_empty()) {
        entry.insert("apiVersion".into(), Value::String("v1".into()));
    }
    Some((version, Value::Object(entry)))
}

fn created(entry: &Value) -> &str {
    entry
        .get("created")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A size as Docker's `units.HumanSize` words it (decimal units, four significant digits),
/// which Flux's "stored fetched index of size …" event uses.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", four_significant(size), UNITS[unit])
}

/// `%.4g` for 0 ≤ value < 1000: four significant digits, trailing zeros dropped.
fn four_significant(value: f64) -> String {
    let digits_before = if value < 1.0 {
        1
    } else {
        value.log10().floor() as usize + 1
    };
    let decimals = 4usize.saturating_sub(digits_before);
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The repository URL Flux works with: `http(s)://` only for an index, with one trailing
/// slash, so `index.yaml` and relative chart URLs resolve below it.
pub fn normalize_url(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    match parsed.scheme() {
        "http" | "https" => {}
        "oci" => {
            return Err(
                "'oci' URL scheme cannot be used with 'default' HelmRepository type".to_owned(),
            );
        }
        other => return Err(format!("scheme \"{other}\" not supported")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_owned());
    }
    Ok(format!("{}/", url.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"
apiVersion: v1
entries:
  podinfo:
  - name: podinfo
    version: 6.1.0
    urls: [podinfo-6.1.0.tgz]
    created: "2026-01-02T00:00:00Z"
  - name: podinfo
    version: 6.10.0
    urls: [https://cdn.example/podinfo-6.10.0.tgz]
    digest: abc
  - name: podinfo
    version: not-a-version
  - name: podinfo
    version: 7.0.0-rc.1
  - version: 1.0.0
  - name: podinfo
    version: v6.2
    apiVersion: v2
generated: "2026-01-03T00:00:00Z"
"#;

    fn versions(index: &Index, chart: &str) -> Vec<String> {
        index.document["entries"][chart]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn loads_as_helm_does_newest_first_invalid_dropped() {
        let index = Index::load(INDEX.as_bytes()).unwrap();
        assert_eq!(
            versions(&index, "podinfo"),
            ["7.0.0-rc.1", "6.10.0", "v6.2", "6.1.0"]
        );
        assert_eq!(index.versions(), 4);
        // A missing apiVersion is filled in; a given one kept.
        assert_eq!(index.document["entries"]["podinfo"][1]["apiVersion"], "v1");
        assert_eq!(index.document["entries"]["podinfo"][2]["apiVersion"], "v2");
        // Other fields pass through, and the JSON form loads to the same index.
        assert_eq!(index.document["generated"], "2026-01-03T00:00:00Z");
        assert_eq!(Index::load(&index.to_json()).unwrap(), index);
    }

    #[test]
    fn equal_versions_are_ordered_by_creation() {
        let raw = r#"{"apiVersion":"v1","entries":{"a":[
            {"name":"a","version":"1.0.0+old","created":"2026-01-01T00:00:00Z"},
            {"name":"a","version":"1.0.0+new","created":"2026-02-01T00:00:00Z"}]}}"#;
        let index = Index::load(raw.as_bytes()).unwrap();
        assert_eq!(versions(&index, "a"), ["1.0.0+new", "1.0.0+old"]);
    }

    #[test]
    fn broken_indexes_are_refused() {
        assert_eq!(Index::load(b"entries: {}\n"), Err(IndexError::NoApiVersion));
        assert_eq!(
            Index::load(b"apiVersion: v1\nentries: [a]\n"),
            Err(IndexError::Entries)
        );
        assert!(matches!(
            Index::load(b"apiVersion: v1\nentries: {a: [\n"),
            Err(IndexError::Syntax(_))
        ));
        assert!(matches!(Index::load(b"- a\n"), Err(IndexError::Syntax(_))));
    }

    #[test]
    fn chart_versions_follow_helm_constraints() {
        let index = Index::load(INDEX.as_bytes()).unwrap();
        let pick = |c: &str| index.chart_version("podinfo", c).map(|v| v.version);
        // `*` (and no version) skips prereleases.
        assert_eq!(pick("").unwrap(), "6.10.0");
        assert_eq!(pick("*").unwrap(), "6.10.0");
        assert_eq!(pick("6.1.x").unwrap(), "6.1.0");
        assert_eq!(pick("~6.2").unwrap(), "v6.2");
        assert_eq!(pick(">=7.0.0-0").unwrap(), "7.0.0-rc.1");
        assert_eq!(pick("v6.2").unwrap(), "v6.2");
        assert_eq!(
            pick("9.x").unwrap_err(),
            "no 'podinfo' chart with version matching '9.x' found"
        );
        assert_eq!(
            index.chart_version("nginx", "*").unwrap_err(),
            "no chart name found: nginx"
        );
        let chosen = index.chart_version("podinfo", "6.10.0").unwrap();
        assert_eq!(chosen.urls, ["https://cdn.example/podinfo-6.10.0.tgz"]);
        assert_eq!(chosen.digest.as_deref(), Some("abc"));
    }

    #[test]
    fn sizes_are_worded_as_docker_units_does() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(30_880), "30.88kB");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(52_428_800), "52.43MB");
    }

    #[test]
    fn repository_urls_are_normalized() {
        assert_eq!(
            normalize_url("https://charts.example/stable").unwrap(),
            "https://charts.example/stable/"
        );
        assert_eq!(
            normalize_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            normalize_url("oci://ghcr.io/charts").unwrap_err(),
            "'oci' URL scheme cannot be used with 'default' HelmRepository type"
        );
        assert!(normalize_url("ftp://x/").is_err());
        assert!(normalize_url("not a url").is_err());
    }
}
