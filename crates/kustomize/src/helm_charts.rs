//! kustomize's `helmCharts` (its HelmChartInflationGenerator), rendered in process by
//! `driftless-helm` instead of by running a `helm` binary. Off unless enabled, as kustomize's
//! `--enable-helm`. Charts must already be in the chart home: pulling from a repository is
//! network I/O this library does not do.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use driftless_helm::render::{Capabilities, KubeVersion, default_api_versions};
use driftless_helm::template::{DEFAULT_KUBE_VERSION, TemplateOptions, output, render_release};
use driftless_helm::{Chart, values};

use crate::fs::FileSystem;
use crate::loader::Loader;
use crate::resource::{Resource, resources_from_yaml};
use crate::types::Kustomization;
use crate::{Error, Result};

/// What `--enable-helm`, `--helm-kube-version` and `--helm-api-versions` set.
#[derive(Clone, Debug, Default)]
pub struct HelmOptions {
    pub enabled: bool,
    /// Overrides every chart's `kubeVersion`.
    pub kube_version: Option<String>,
    /// Replace every chart's `apiVersions` when not empty.
    pub api_versions: Vec<String>,
}

/// The annotation kustomize puts on what a chart rendered (the namespace transformer leaves
/// those objects alone) and strips from the output.
pub const HELM_GENERATED: &str = "kustomize.config.k8s.io/helm-generated";

const BUILTIN: &str = "HelmChartInflationGenerator";

/// `helmGlobals.chartHome` when not set.
const DEFAULT_CHART_HOME: &str = "charts";

/// One `helmCharts` entry (kustomize's `types.HelmChart`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HelmChart {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    repo: String,
    #[serde(default)]
    release_name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    additional_values_files: Vec<String>,
    #[serde(default)]
    values_file: String,
    #[serde(default)]
    values_inline: Option<Map<String, Value>>,
    #[serde(default)]
    values_merge: String,
    #[serde(default, rename = "includeCRDs")]
    include_crds: bool,
    #[serde(default)]
    skip_hooks: bool,
    #[serde(default)]
    api_versions: Vec<String>,
    #[serde(default)]
    kube_version: String,
    #[serde(default)]
    name_template: String,
    #[serde(default)]
    skip_tests: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HelmGlobals {
    // `configHome` is read by kustomize only to run the helm binary, which is not run here.
    #[serde(default)]
    chart_home: String,
}

/// The deprecated `helmChartInflationGenerator` entry, which kustomize converts.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HelmChartArgs {
    #[serde(default)]
    chart_name: String,
    #[serde(default)]
    chart_version: String,
    #[serde(default)]
    chart_repo_url: String,
    #[serde(default)]
    chart_home: String,
    #[serde(default)]
    values: String,
    #[serde(default)]
    values_local: Option<Map<String, Value>>,
    #[serde(default)]
    values_merge: String,
    #[serde(default)]
    release_name: String,
}

fn lenient<T: serde::de::DeserializeOwned>(value: &Value, what: &str) -> Result<T> {
    serde_json::from_value(value.clone()).map_err(|e| Error::new(format!("{what}: {e}")))
}

/// The charts and globals of a kustomization, the deprecated field folded in as kustomize's
/// `FixKustomization` does.
fn configured(k: &Kustomization) -> Result<(Vec<(HelmChart, Value)>, HelmGlobals)> {
    let mut charts = Vec::new();
    for value in k.helm_charts.iter().flatten() {
        charts.push((lenient(value, "helmCharts")?, value.clone()));
    }
    let mut legacy_globals = HelmGlobals::default();
    for value in k.helm_chart_inflation_generator.iter().flatten() {
        let old: HelmChartArgs = lenient(value, "helmChartInflationGenerator")?;
        // Last non-empty wins.
        if !old.chart_home.is_empty() {
            legacy_globals.chart_home = old.chart_home.clone();
        }
        let chart = HelmChart {
            name: old.chart_name,
            version: old.chart_version,
            repo: old.chart_repo_url,
            values_file: old.values,
            values_inline: old.values_local,
            values_merge: old.values_merge,
            release_name: old.release_name,
            ..HelmChart::default()
        };
        charts.push((chart, value.clone()));
    }
    let globals = match &k.helm_globals {
        Some(value) => lenient(value, "helmGlobals")?,
        None => legacy_globals,
    };
    Ok((charts, globals))
}

fn trouble(config: &Value, message: impl std::fmt::Display) -> Error {
    let yaml = driftless_yaml::to_string(&driftless_yaml::Node::from_json(config));
    Error::new(format!(
        "trouble configuring builtin {BUILTIN} with config: `\n{yaml}`: {message}"
    ))
}

/// Renders every chart of the kustomization, in order, as kustomize's generator does.
pub fn generate(
    k: &Kustomization,
    loader: &Loader<'_>,
    options: &HelmOptions,
) -> Result<Vec<Resource>> {
    let (charts, globals) = configured(k)?;
    let mut out = Vec::new();
    for (chart, config) in charts {
        if !options.enabled {
            return Err(trouble(&config, "must specify --enable-helm"));
        }
        out.extend(inflate(chart, &globals, loader, options).map_err(|e| trouble(&config, e))?);
    }
    Ok(out)
}

/// `chartHome`, absolute, with kustomize's `<name>-<version>` folder for pulled charts.
fn chart_home(chart: &HelmChart, globals: &HelmGlobals, root: &Path) -> PathBuf {
    let home = if globals.chart_home.is_empty() {
        DEFAULT_CHART_HOME
    } else {
        globals.chart_home.as_str()
    };
    let home = crate::fs::normalize(&root.join(home));
    if !chart.version.is_empty() && !chart.repo.is_empty() {
        home.join(format!("{}-{}", chart.name, chart.version))
    } else {
        home
    }
}

fn inflate(
    mut chart: HelmChart,
    globals: &HelmGlobals,
    loader: &Loader<'_>,
    options: &HelmOptions,
) -> std::result::Result<Vec<Resource>, String> {
    if chart.name.is_empty() {
        return Err("chart name cannot be empty".into());
    }
    if let Some(kube_version) = &options.kube_version {
        chart.kube_version = kube_version.clone();
    }
    if !options.api_versions.is_empty() {
        chart.api_versions = options.api_versions.clone();
    }
    if !chart.name_template.is_empty() {
        return Err("nameTemplate is not supported; set releaseName".into());
    }
    let home = chart_home(&chart, globals, loader.root());
    let chart_dir = home.join(&chart.name);
    let values_file = if chart.values_file.is_empty() {
        chart_dir.join("values.yaml").display().to_string()
    } else {
        chart.values_file.clone()
    };
    let mut additional = Vec::new();
    for file in &chart.additional_values_files {
        let text = loader
            .load_string(file)
            .map_err(|e| format!("could not load additionalValuesFile: {e}"))?;
        additional.push(text);
    }
    let merge = match chart.values_merge.as_str() {
        "" | "override" => ValuesMerge::Override,
        "merge" => ValuesMerge::Merge,
        "replace" => ValuesMerge::Replace,
        _ => return Err("valuesMerge must be one of [merge override replace]".into()),
    };

    if !loader.fs().is_dir(&chart_dir) {
        if chart.repo.is_empty() {
            return Err("no repo specified for pull, no chart found at ''".into());
        }
        return Err(format!(
            "chart {} not found at '{}': charts are rendered in process and not pulled from {}; vendor the chart there (helm pull --untar --untardir {})",
            chart.name,
            chart_dir.display(),
            chart.repo,
            home.display()
        ));
    }

    let file_values = || {
        let text = loader
            .load_string(&values_file)
            .map_err(|e| e.to_string())?;
        values::parse_go(&text).map_err(|e| format!("failed to parse {values_file}: {e}"))
    };
    let inline = chart.values_inline.clone().unwrap_or_default();
    let mut user_values = match merge {
        _ if inline.is_empty() => file_values()?,
        ValuesMerge::Replace => inline,
        ValuesMerge::Override => {
            let mut file = file_values()?;
            merge_values(&mut file, inline);
            drop_nulls(&mut file);
            file
        }
        ValuesMerge::Merge => {
            let mut merged = inline;
            merge_values(&mut merged, file_values()?);
            drop_nulls(&mut merged);
            merged
        }
    };
    for text in additional {
        let read = values::parse_go(&text).map_err(|e| e.to_string())?;
        values::merge(&mut user_values, read);
    }

    let loaded = load_chart(loader.fs(), &chart_dir)?;
    let kube_version = if chart.kube_version.is_empty() {
        DEFAULT_KUBE_VERSION
    } else {
        chart.kube_version.as_str()
    };
    let kube_version = KubeVersion::parse(kube_version)
        .ok_or_else(|| format!("invalid kube version '{kube_version}'"))?;
    let mut api_versions = default_api_versions();
    api_versions.extend(chart.api_versions.iter().cloned());
    let template_options = TemplateOptions {
        // Helm's `--generate-name` would name the release after the clock; a build must
        // give the same objects every time, so an unnamed release is Helm's default name.
        release_name: if chart.release_name.is_empty() {
            "release-name".into()
        } else {
            chart.release_name.clone()
        },
        namespace: if chart.namespace.is_empty() {
            "default".into()
        } else {
            chart.namespace.clone()
        },
        capabilities: Capabilities {
            kube_version,
            api_versions,
            ..Capabilities::default()
        },
        include_crds: chart.include_crds,
        skip_tests: chart.skip_tests,
        is_upgrade: false,
        revision: 1,
        skip_schema_validation: false,
    };
    let mut rendered =
        render_release(loaded, &user_values, &template_options).map_err(|e| e.to_string())?;
    if chart.skip_hooks {
        rendered.hooks.clear();
    }
    let text = output(&rendered, chart.skip_tests);
    let mut resources = resources_from_yaml(&text, "helm output")
        .map_err(|e| format!("error reading helm output: {e}"))?;
    for resource in &mut resources {
        resource
            .node
            .ensure_map_path(&["metadata", "annotations"])
            .insert(HELM_GENERATED, driftless_yaml::Node::string("true"));
    }
    Ok(resources)
}

enum ValuesMerge {
    /// Inline values over the values file.
    Override,
    /// The values file over inline values (kustomize merges the file into the inline map).
    Merge,
    /// Inline values alone.
    Replace,
}

/// kyaml's `merge2.Merge` of plain values: maps merged key by key, a null deleting the key,
/// anything else (lists included) replaced by `source`'s.
fn merge_values(dest: &mut Map<String, Value>, source: Map<String, Value>) {
    for (key, value) in source {
        match (dest.get_mut(&key), value) {
            (_, Value::Null) => {
                dest.remove(&key);
            }
            (Some(Value::Object(into)), Value::Object(from)) => merge_values(into, from),
            (_, value) => {
                dest.insert(key, value);
            }
        }
    }
}

/// kyaml's merge leaves no null field behind, in either input: a key the values file sets to
/// null (`limits:`) is not passed to Helm at all, so the chart's default applies.
fn drop_nulls(map: &mut Map<String, Value>) {
    map.retain(|_, value| !value.is_null());
    for value in map.values_mut() {
        drop_nulls_in(value);
    }
}

fn drop_nulls_in(value: &mut Value) {
    match value {
        Value::Object(map) => drop_nulls(map),
        Value::Array(items) => items.iter_mut().for_each(drop_nulls_in),
        _ => {}
    }
}

/// Every file under `dir`, relative to it, as Helm's directory loader reads a chart.
fn load_chart(fs: &dyn FileSystem, dir: &Path) -> std::result::Result<Chart, String> {
    let mut files = Vec::new();
    collect(fs, dir, dir, &mut files)?;
    files.sort();
    Chart::load_dir(files).map_err(|e| e.to_string())
}

fn collect(
    fs: &dyn FileSystem,
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, Vec<u8>)>,
) -> std::result::Result<(), String> {
    let entries = fs
        .read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    for name in entries {
        let path = dir.join(&name);
        if fs.is_dir(&path) {
            collect(fs, root, &path, out)?;
        } else if fs.is_file(&path) {
            let relative = path
                .strip_prefix(root)
                .map_err(|_| format!("{} is outside the chart", path.display()))?
                .to_string_lossy()
                .replace('\\', "/");
            let data = fs
                .read(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            out.push((relative, data));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn inline_values_merge_into_the_file_key_by_key_and_null_deletes() {
        let mut file = map(json!({"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": true}));
        merge_values(
            &mut file,
            map(json!({"a": {"c": 3}, "list": [9], "gone": null, "new": "x"})),
        );
        assert_eq!(
            Value::Object(file),
            json!({"a": {"b": 1, "c": 3}, "list": [9], "new": "x"})
        );
    }

    #[test]
    fn chart_home_has_a_versioned_folder_only_for_pulled_charts() {
        let chart = HelmChart {
            name: "app".into(),
            version: "1.2.3".into(),
            ..HelmChart::default()
        };
        let globals = HelmGlobals::default();
        assert_eq!(
            chart_home(&chart, &globals, Path::new("/k")),
            Path::new("/k/charts")
        );
        let pulled = HelmChart {
            repo: "https://charts.example.com".into(),
            ..chart
        };
        let globals = HelmGlobals {
            chart_home: "../vendor".into(),
        };
        assert_eq!(
            chart_home(&pulled, &globals, Path::new("/k/app")),
            Path::new("/k/vendor/app-1.2.3")
        );
    }
}
