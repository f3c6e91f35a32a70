//! Building a HelmChart's artifact, without I/O: a chart directory (or archive) from a source
//! artifact, or an archive pulled from a repository, turned into the packaged chart Flux
//! would store — the version given build metadata, `valuesFiles` merged into `values.yaml`,
//! `file://` dependencies added — and the errors as Flux's chart builder names them.

use std::collections::BTreeMap;

use driftless_api::conditions::{BUILD_FAILED, FETCH_FAILED};
use driftless_artifact::FileData;
use driftless_helm::chart::Chart;
use driftless_helm::metadata::Dependency;
use driftless_helm::{package, values};
use serde_json::{Map, Value};

/// Flux's chart build error reasons: the condition reason, and the summary that starts the
/// message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildErrorReason {
    ChartReference,
    ChartPull,
    MetadataPatch,
    ValuesFiles,
    DependencyBuild,
    ChartPackage,
}

impl BuildErrorReason {
    pub fn reason(self) -> &'static str {
        match self {
            Self::ChartReference => "InvalidChartReference",
            Self::ChartPull => "ChartPullError",
            Self::MetadataPatch => "MetadataPatchError",
            Self::ValuesFiles => "ValuesFilesError",
            Self::DependencyBuild => "DependencyBuildError",
            Self::ChartPackage => "ChartPackageError",
        }
    }

    fn summary(self) -> &'static str {
        match self {
            Self::ChartReference => "invalid chart reference",
            Self::ChartPull => "chart pull error",
            Self::MetadataPatch => "chart metadata patch error",
            Self::ValuesFiles => "values files merge error",
            Self::DependencyBuild => "dependency build error",
            Self::ChartPackage => "chart package error",
        }
    }

    /// The condition naming the failed step.
    pub fn condition(self) -> &'static str {
        match self {
            Self::ChartReference | Self::ChartPull => FETCH_FAILED,
            _ => BUILD_FAILED,
        }
    }

    /// Only a new spec (or a new source) can fix these: retrying cannot.
    pub fn persistent(self) -> bool {
        matches!(
            self,
            Self::ChartReference | Self::MetadataPatch | Self::ValuesFiles
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", reason.summary())]
pub struct BuildError {
    pub reason: BuildErrorReason,
    pub message: String,
}

impl BuildError {
    pub fn new(reason: BuildErrorReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// What the HelmChart asks to be built.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Build metadata appended to the chart version (`+<metadata>`), when not empty.
    pub version_metadata: String,
    pub values_files: Vec<String>,
    pub ignore_missing_values_files: bool,
    /// Archives of the dependencies from chart repositories, by dependency name, fetched
    /// for [`remote_dependencies`].
    pub remote_dependencies: BTreeMap<String, Vec<u8>>,
}

/// A built chart: the archive's bytes and what the status and events say of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Build {
    pub name: String,
    pub version: String,
    /// Re-packaged (as opposed to pulled and stored verbatim).
    pub packaged: bool,
    /// The values files that were merged (missing ones skipped when allowed).
    pub values_files: Vec<String>,
    pub archive: Vec<u8>,
}

impl Build {
    /// Flux's build summary, the message of the Ready condition and of the event.
    pub fn summary(&self) -> String {
        summary(&self.name, &self.version, self.packaged, &self.values_files)
    }

    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }
}

pub fn summary(name: &str, version: &str, packaged: bool, values_files: &[String]) -> String {
    let action = if packaged { "packaged" } else { "pulled" };
    let mut text = format!("{action} '{name}' chart with version '{version}'");
    if !values_files.is_empty() {
        text.push_str(&format!(
            " and merged values files [{}]",
            values_files.join(" ")
        ));
    }
    text
}

/// The version metadata Flux gives a chart: the source revision's hash (first 12
/// characters) with `reconcileStrategy: Revision` for Git and Bucket sources, the generation
/// when values files are merged (`.`-joined when both).
pub fn version_metadata(revision_hash: Option<&str>, generation: Option<i64>) -> String {
    let mut metadata = revision_hash.map(str::to_owned).unwrap_or_default();
    if let Some(generation) = generation {
        if !metadata.is_empty() {
            metadata.push('.');
        }
        metadata.push_str(&generation.to_string());
    }
    metadata
}

/// The hash part of a source revision (`main@sha1:abc…` → `abc…`, `sha256:abc…` → `abc…`),
/// shortened to 12 characters as Flux does for Git and Bucket sources.
pub fn short_revision_hash(revision: &str) -> String {
    let after_ref = revision.rsplit_once('@').map_or(revision, |(_, hash)| hash);
    let hash = after_ref
        .split_once(':')
        .map_or(after_ref, |(_, hash)| hash);
    hash.chars().take(12).collect()
}

/// `version` with `metadata` as its build metadata (replacing any), as Masterminds' semver
/// `SetMetadata` writes it.
pub fn with_metadata(version: &str, metadata: &str) -> Result<String, BuildError> {
    let patch_error = |why: String| BuildError::new(BuildErrorReason::MetadataPatch, why);
    let mut parsed = driftless_version::parse_version(version)
        .ok_or_else(|| patch_error(format!("Invalid Semantic Version '{version}'")))?;
    if metadata.is_empty() {
        return Ok(version.to_owned());
    }
    parsed.build = driftless_version::BuildMetadata::new(metadata)
        .map_err(|_| patch_error(format!("Invalid Metadata string '{metadata}'")))?;
    Ok(parsed.to_string())
}

/// The chart at `chart_path` in a source artifact's files: a directory (loaded with its
/// `.helmignore`) or a packaged `.tgz`. `values.yaml` paths of `valuesFiles` are relative
/// to the source root, as Flux reads them.
pub fn build_local(
    tree: &BTreeMap<String, FileData>,
    chart_path: &str,
    options: &BuildOptions,
    cached: Option<(&str, &str)>,
) -> Result<LocalBuild, BuildError> {
    let reference = |why: String| BuildError::new(BuildErrorReason::ChartReference, why);
    let path = normalize(chart_path).map_err(reference)?;
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let archive = tree.get(&path).filter(|_| !path.is_empty());
    let mut chart = match archive {
        Some(file) => Chart::load_archive(&file.data).map_err(|e| reference(e.to_string()))?,
        None => {
            let files: Vec<(String, Vec<u8>)> = tree
                .iter()
                .filter_map(|(name, file)| {
                    Some((name.strip_prefix(&prefix)?.to_owned(), file.data.clone()))
                })
                .collect();
            if !files.iter().any(|(name, _)| name == "Chart.yaml") {
                return Err(reference(format!(
                    "no chart directory or archive at '{chart_path}' in the source artifact"
                )));
            }
            Chart::load_dir(files).map_err(|e| reference(e.to_string()))?
        }
    };
    let version = with_metadata(&chart.metadata.version, &options.version_metadata)?;
    // Flux's cached chart: the same name and version was already built.
    if let Some((name, cached_version)) = cached
        && name == chart.metadata.name
        && cached_version == version
    {
        return Ok(LocalBuild::UpToDate {
            name: name.to_owned(),
            version,
            packaged: archive.is_none() || needs_packaging(options),
        });
    }
    // An archive with nothing to change is stored as it is.
    if let Some(file) = archive
        && !needs_packaging(options)
    {
        return Ok(LocalBuild::Built(Build {
            name: chart.metadata.name.clone(),
            version,
            packaged: false,
            values_files: Vec::new(),
            archive: file.data.clone(),
        }));
    }
    chart.metadata.version = version;
    let merged = if options.values_files.is_empty() {
        Vec::new()
    } else {
        let (values, merged) = merge_source_values(tree, options)?;
        overwrite_values(&mut chart, &values)?;
        merged
    };
    add_dependencies(tree, &path, &mut chart, &options.remote_dependencies)?;
    let bytes = package::package(&chart)
        .map_err(|e| BuildError::new(BuildErrorReason::ChartPackage, e.to_string()))?;
    Ok(LocalBuild::Built(Build {
        name: chart.metadata.name.clone(),
        version: chart.metadata.version.clone(),
        packaged: true,
        values_files: merged,
        archive: bytes,
    }))
}

#[derive(Debug)]
pub enum LocalBuild {
    Built(Build),
    /// The stored chart already has this name and version.
    UpToDate {
        name: String,
        version: String,
        packaged: bool,
    },
}

/// A chart archive pulled from a repository: stored verbatim unless values files are merged
/// or the version gets metadata, then re-packaged.
pub fn build_remote(archive: Vec<u8>, options: &BuildOptions) -> Result<Build, BuildError> {
    let mut chart = Chart::load_archive(&archive)
        .map_err(|e| BuildError::new(BuildErrorReason::ChartPull, e.to_string()))?;
    let version = with_metadata(&chart.metadata.version, &options.version_metadata)?;
    if !needs_packaging(options) {
        return Ok(Build {
            name: chart.metadata.name.clone(),
            version,
            packaged: false,
            values_files: Vec::new(),
            archive,
        });
    }
    chart.metadata.version = version;
    let (values, merged) = merge_chart_values(&chart, options)?;
    overwrite_values(&mut chart, &values)?;
    let bytes = package::package(&chart)
        .map_err(|e| BuildError::new(BuildErrorReason::ChartPackage, e.to_string()))?;
    Ok(Build {
        name: chart.metadata.name.clone(),
        version: chart.metadata.version.clone(),
        packaged: true,
        values_files: merged,
        archive: bytes,
    })
}

fn needs_packaging(options: &BuildOptions) -> bool {
    !options.values_files.is_empty() || !options.version_metadata.is_empty()
}

/// A relative path inside the source, `""` for its root.
fn normalize(path: &str) -> Result<String, String> {
    let trimmed = path.trim().trim_start_matches("./").trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        return Ok(String::new());
    }
    let trimmed = trimmed.trim_start_matches('/');
    driftless_artifact::normalize_path(trimmed).map_err(|why| format!("path '{path}' {why}"))
}

fn values_error(message: String) -> BuildError {
    BuildError::new(BuildErrorReason::ValuesFiles, message)
}

/// `valuesFiles` read from the source root (a local chart), merged in order.
fn merge_source_values(
    tree: &BTreeMap<String, FileData>,
    options: &BuildOptions,
) -> Result<(Map<String, Value>, Vec<String>), BuildError> {
    merge_values(
        options,
        |path| tree.get(path).map(|file| file.data.as_slice()),
        |path, reference| {
            format!("no values file found at path '/{path}' (reference '{reference}')")
        },
    )
}

/// `valuesFiles` read from the chart's own files (a pulled chart), merged in order;
/// `values.yaml` is the chart's default values.
fn merge_chart_values(
    chart: &Chart,
    options: &BuildOptions,
) -> Result<(Map<String, Value>, Vec<String>), BuildError> {
    merge_values(
        options,
        |path| {
            if path == "values.yaml" {
                return chart.values.as_deref();
            }
            let file = chart.files.iter().find(|f| f.name == path)?;
            Some(file.data.as_slice())
        },
        |_, reference| format!("no values file found at path '{reference}'"),
    )
}

/// Merges `options.valuesFiles` in order, each read by `read` (its normalized path); a
/// missing one is skipped when allowed, else reported with `missing`'s words. Returns the
/// merged values and the files that were merged.
fn merge_values<'a>(
    options: &BuildOptions,
    read: impl Fn(&str) -> Option<&'a [u8]>,
    missing: impl Fn(&str, &str) -> String,
) -> Result<(Map<String, Value>, Vec<String>), BuildError> {
    let mut merged = Map::new();
    let mut used = Vec::new();
    for reference in &options.values_files {
        let path = normalize(reference).unwrap_or_else(|_| reference.clone());
        let Some(data) = read(&path) else {
            if options.ignore_missing_values_files {
                continue;
            }
            return Err(values_error(missing(&path, reference)));
        };
        let values = values::parse(&String::from_utf8_lossy(data)).map_err(|e| {
            values_error(format!(
                "unmarshaling values from '{reference}' failed: {e}"
            ))
        })?;
        values::merge(&mut merged, values);
        used.push(reference.clone());
    }
    Ok((merged, used))
}

/// Flux's `OverwriteChartDefaultValues`: the merged values become the chart's
/// `values.yaml`, which a chart must have.
fn overwrite_values(chart: &mut Chart, merged: &Map<String, Value>) -> Result<(), BuildError> {
    if chart.values.is_none() {
        return Err(values_error(
            "failed to locate values file: values.yaml".to_owned(),
        ));
    }
    chart.values = Some(values::to_yaml(merged).into_bytes());
    Ok(())
}

/// The dependencies `Chart.yaml` lists that `charts/` does not hold.
fn missing_dependencies(chart: &Chart) -> Vec<Dependency> {
    let present: Vec<&str> = chart.dependencies.iter().map(|d| d.name()).collect();
    chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !present.contains(&d.name.as_str()))
        .cloned()
        .collect()
}

/// The missing dependencies of the chart directory at `chart_path` that come from chart
/// repositories (not `file://`): what the caller fetches before [`build_local`]. Empty when
/// the path holds no loadable chart directory (the build reports that).
pub fn remote_dependencies(tree: &BTreeMap<String, FileData>, chart_path: &str) -> Vec<Dependency> {
    let Ok(path) = normalize(chart_path) else {
        return Vec::new();
    };
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let files = tree.iter().filter_map(|(name, file)| {
        Some((name.strip_prefix(&prefix)?.to_owned(), file.data.clone()))
    });
    match Chart::load_dir(files) {
        Ok(chart) => missing_dependencies(&chart)
            .into_iter()
            .filter(|d| !d.repository.starts_with("file://"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Adds the dependencies `charts/` does not hold: `file://` ones loaded from the source
/// (below its root), others from `remote` (fetched by the caller).
fn add_dependencies(
    tree: &BTreeMap<String, FileData>,
    chart_path: &str,
    chart: &mut Chart,
    remote: &BTreeMap<String, Vec<u8>>,
) -> Result<(), BuildError> {
    let dependency_error = |why: String| BuildError::new(BuildErrorReason::DependencyBuild, why);
    for dependency in missing_dependencies(chart) {
        let Some(relative) = dependency.repository.strip_prefix("file://") else {
            let archive = remote.get(&dependency.name).ok_or_else(|| {
                dependency_error(format!(
                    "dependency '{}' from '{}' was not fetched",
                    dependency.name, dependency.repository
                ))
            })?;
            let loaded = Chart::load_archive(archive).map_err(|e| {
                dependency_error(format!(
                    "failed to load downloaded archive of dependency '{}': {e}",
                    dependency.name
                ))
            })?;
            chart.dependencies.push(loaded);
            continue;
        };
        let joined = if chart_path.is_empty() {
            relative.to_owned()
        } else {
            format!("{chart_path}/{relative}")
        };
        let dir = resolve_dots(&joined).ok_or_else(|| {
            dependency_error(format!(
                "dependency '{}': path '{relative}' leaves the source",
                dependency.name
            ))
        })?;
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let files: Vec<(String, Vec<u8>)> = tree
            .iter()
            .filter_map(|(name, file)| {
                Some((name.strip_prefix(&prefix)?.to_owned(), file.data.clone()))
            })
            .collect();
        let loaded = Chart::load_dir(files).map_err(|e| {
            dependency_error(format!(
                "failed to add local dependency '{}': {e}",
                dependency.name
            ))
        })?;
        if !dependency.version.is_empty() {
            let constraint = driftless_version::Constraint::parse(&dependency.version)
                .map_err(|e| dependency_error(format!("dependency '{}': {e}", dependency.name)))?;
            let matches = driftless_version::parse_version(&loaded.metadata.version)
                .is_some_and(|v| constraint.matches(&v));
            if !matches {
                return Err(dependency_error(format!(
                    "can't get a valid version for dependency '{}': version '{}' does not match '{}'",
                    dependency.name, loaded.metadata.version, dependency.version
                )));
            }
        }
        chart.dependencies.push(loaded);
    }
    Ok(())
}

/// `a/b/../c` → `a/c`; `None` when `..` climbs above the root.
fn resolve_dots(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> BTreeMap<String, FileData> {
        files
            .iter()
            .map(|(name, data)| {
                let data = data.as_bytes().to_vec();
                (
                    name.to_string(),
                    FileData {
                        executable: false,
                        data,
                    },
                )
            })
            .collect()
    }

    const CHART: &str = "apiVersion: v2\nname: app\nversion: 1.2.0\n";

    fn built(result: Result<LocalBuild, BuildError>) -> Build {
        match result {
            Ok(LocalBuild::Built(build)) => build,
            other => panic!("expected a build, got {other:?}"),
        }
    }

    #[test]
    fn versions_get_flux_metadata() {
        assert_eq!(
            short_revision_hash("main@sha1:0123456789abcdef"),
            "0123456789ab"
        );
        assert_eq!(
            short_revision_hash("sha256:fedcba9876543210"),
            "fedcba987654"
        );
        assert_eq!(
            version_metadata(Some("0123456789ab"), Some(3)),
            "0123456789ab.3"
        );
        assert_eq!(version_metadata(None, Some(3)), "3");
        assert_eq!(version_metadata(None, None), "");
        assert_eq!(with_metadata("v1.2", "abc").unwrap(), "1.2.0+abc");
        assert_eq!(with_metadata("1.2.0+old", "new").unwrap(), "1.2.0+new");
        assert_eq!(with_metadata("1.2.0", "").unwrap(), "1.2.0");
        assert_eq!(
            with_metadata("1.2.0", "bad meta").unwrap_err().reason,
            BuildErrorReason::MetadataPatch
        );
    }

    #[test]
    fn a_directory_is_packaged_with_values_files_merged() {
        let files = tree(&[
            ("charts/app/Chart.yaml", CHART),
            ("charts/app/values.yaml", "replicas: 1\nimage: {tag: a}\n"),
            ("charts/app/templates/a.yaml", "kind: A\n"),
            ("env/prod.yaml", "image: {tag: b}\n"),
        ]);
        let options = BuildOptions {
            version_metadata: version_metadata(None, Some(2)),
            values_files: vec![
                "charts/app/values.yaml".into(),
                "./env/prod.yaml".into(),
                "gone.yaml".into(),
            ],
            ignore_missing_values_files: true,
            ..BuildOptions::default()
        };
        let build = built(build_local(&files, "./charts/app", &options, None));
        assert_eq!(
            (build.name.as_str(), build.version.as_str()),
            ("app", "1.2.0+2")
        );
        assert!(build.packaged);
        assert_eq!(
            build.values_files,
            ["charts/app/values.yaml", "./env/prod.yaml"]
        );
        assert_eq!(
            build.summary(),
            "packaged 'app' chart with version '1.2.0+2' and merged values files [charts/app/values.yaml ./env/prod.yaml]"
        );
        let chart = Chart::load_archive(&build.archive).unwrap();
        assert_eq!(
            chart.values.as_deref(),
            Some(&b"image:\n  tag: b\nreplicas: 1\n"[..])
        );
        assert_eq!(chart.metadata.version, "1.2.0+2");

        let strict = BuildOptions {
            ignore_missing_values_files: false,
            ..options
        };
        let error = build_local(&files, "charts/app", &strict, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "values files merge error: no values file found at path '/gone.yaml' (reference 'gone.yaml')"
        );
        assert!(error.reason.persistent());
    }

    #[test]
    fn the_same_name_and_version_is_up_to_date() {
        let files = tree(&[("Chart.yaml", CHART), ("templates/a.yaml", "kind: A\n")]);
        let options = BuildOptions::default();
        assert!(matches!(
            build_local(&files, ".", &options, Some(("app", "1.2.0"))),
            Ok(LocalBuild::UpToDate { packaged: true, .. })
        ));
        let build = built(build_local(&files, "", &options, Some(("app", "1.1.0"))));
        assert_eq!(build.file_name(), "app-1.2.0.tgz");
    }

    #[test]
    fn a_packaged_chart_in_the_source_is_stored_as_it_is() {
        let files = tree(&[("Chart.yaml", CHART), ("values.yaml", "a: 1\n")]);
        let packed = built(build_local(&files, "", &BuildOptions::default(), None)).archive;
        let mut with_archive = tree(&[]);
        with_archive.insert(
            "release/app-1.2.0.tgz".into(),
            FileData {
                executable: false,
                data: packed.clone(),
            },
        );
        let build = built(build_local(
            &with_archive,
            "release/app-1.2.0.tgz",
            &BuildOptions::default(),
            None,
        ));
        assert!(!build.packaged);
        assert_eq!(build.archive, packed);
        assert_eq!(build.summary(), "pulled 'app' chart with version '1.2.0'");
    }

    #[test]
    fn file_dependencies_are_added_and_others_refused() {
        let files = tree(&[
            (
                "apps/web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: lib\n  version: ~0.1\n  repository: file://../../shared/lib\n",
            ),
            (
                "shared/lib/Chart.yaml",
                "apiVersion: v2\nname: lib\nversion: 0.1.3\ntype: library\n",
            ),
            (
                "shared/lib/templates/_h.tpl",
                "{{- define \"x\" }}{{- end }}\n",
            ),
        ]);
        let build = built(build_local(
            &files,
            "apps/web",
            &BuildOptions::default(),
            None,
        ));
        let chart = Chart::load_archive(&build.archive).unwrap();
        assert_eq!(chart.dependencies[0].name(), "lib");

        let remote = tree(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: db\n  version: 1.x\n  repository: https://charts.example\n- name: lib\n  repository: file://lib\n",
            ),
            (
                "lib/Chart.yaml",
                "apiVersion: v2\nname: lib\nversion: 0.1.0\n",
            ),
        ]);
        let wanted = remote_dependencies(&remote, "");
        assert_eq!(
            wanted.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["db"]
        );
        let error = build_local(&remote, "", &BuildOptions::default(), None).unwrap_err();
        assert_eq!(error.reason, BuildErrorReason::DependencyBuild);
        let db = tree(&[("Chart.yaml", "apiVersion: v2\nname: db\nversion: 1.4.0\n")]);
        let db_archive = built(build_local(&db, "", &BuildOptions::default(), None)).archive;
        let options = BuildOptions {
            remote_dependencies: BTreeMap::from([("db".to_owned(), db_archive)]),
            ..BuildOptions::default()
        };
        let with_db = built(build_local(&remote, "", &options, None));
        let names: Vec<String> = Chart::load_archive(&with_db.archive)
            .unwrap()
            .dependencies
            .iter()
            .map(|d| d.name().to_owned())
            .collect();
        assert_eq!(names, ["db", "lib"]);
        let escaping = tree(&[(
            "Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: db\n  repository: file://../db\n",
        )]);
        let error = build_local(&escaping, "", &BuildOptions::default(), None).unwrap_err();
        assert!(error.message.contains("leaves the source"), "{error}");
    }

    #[test]
    fn bad_references_are_invalid_chart_references() {
        let files = tree(&[("Chart.yaml", CHART)]);
        for path in ["missing", "../x"] {
            let error = build_local(&files, path, &BuildOptions::default(), None).unwrap_err();
            assert_eq!(error.reason, BuildErrorReason::ChartReference, "{path}");
            assert!(error.to_string().starts_with("invalid chart reference: "));
        }
        let broken = tree(&[("Chart.yaml", "apiVersion: v2\nname: app\n")]);
        let error = build_local(&broken, "", &BuildOptions::default(), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid chart reference: validation: chart.metadata.version is required"
        );
    }

    #[test]
    fn pulled_charts_are_kept_verbatim_unless_values_are_merged() {
        let files = tree(&[
            ("Chart.yaml", CHART),
            ("values.yaml", "a: 1\n"),
            ("values-prod.yaml", "a: 2\n"),
        ]);
        let packed = built(build_local(&files, "", &BuildOptions::default(), None)).archive;
        let verbatim = build_remote(packed.clone(), &BuildOptions::default()).unwrap();
        assert_eq!(verbatim.archive, packed);
        assert!(!verbatim.packaged);
        let options = BuildOptions {
            version_metadata: "4".into(),
            values_files: vec!["values.yaml".into(), "values-prod.yaml".into()],
            ..BuildOptions::default()
        };
        let merged = build_remote(packed, &options).unwrap();
        assert_eq!(merged.version, "1.2.0+4");
        let chart = Chart::load_archive(&merged.archive).unwrap();
        assert_eq!(chart.values.as_deref(), Some(&b"a: 2\n"[..]));
        let error = build_remote(b"not a chart".to_vec(), &options).unwrap_err();
        assert_eq!(error.reason, BuildErrorReason::ChartPull);
    }

    #[test]
    fn dots_resolve_inside_the_source_only() {
        assert_eq!(resolve_dots("a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(resolve_dots("a/../..").as_deref(), None);
    }
}
