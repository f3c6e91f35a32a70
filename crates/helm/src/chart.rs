//! A chart as Helm's loader (`pkg/chart/loader`) leaves it: metadata, the raw `values.yaml`,
//! templates, other files, and subcharts from `charts/` (directories or `.tgz` archives).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use crate::ignore::Rules;
use crate::metadata::{Metadata, MetadataError};

/// Helm's bounds on a chart archive (`loader.MaxDecompressedChartSize` and
/// `MaxDecompressedFileSize`).
pub const MAX_CHART_BYTES: u64 = 100 << 20;
pub const MAX_FILE_BYTES: u64 = 5 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartFile {
    /// Relative to the chart root, `/`-separated.
    pub name: String,
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    pub metadata: Metadata,
    /// `Chart.lock` (API v2 charts), as read.
    pub lock: Option<serde_json::Value>,
    /// `values.yaml` exactly as written.
    pub values: Option<Vec<u8>>,
    /// `values.schema.json` exactly as written.
    pub schema: Option<Vec<u8>>,
    pub templates: Vec<ChartFile>,
    /// Every other file (`README.md`, `.helmignore`, `crds/`, files read by `.Files`).
    pub files: Vec<ChartFile>,
    pub dependencies: Vec<Chart>,
    /// The chart's values parsed (before a render) and, after dependency processing, with
    /// the values it imports; `None` means `values.yaml` as written.
    pub processed_values: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("Chart.yaml file is missing")]
    MissingChartYaml,
    #[error("cannot load {file}: {error}")]
    File { file: String, error: String },
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("error unpacking subchart {subchart} in {parent}: {error}")]
    Subchart {
        subchart: String,
        parent: String,
        error: Box<LoadError>,
    },
    #[error("{0}")]
    Archive(String),
    #[error("{0}")]
    Ignore(#[from] crate::ignore::IgnoreError),
}

impl Chart {
    /// The chart's name (`Chart.yaml` `name`).
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The chart's default values, numbers as Go's `float64` (an unreadable `values.yaml` was
    /// refused when the chart was loaded).
    pub fn default_values(&self) -> serde_json::Map<String, serde_json::Value> {
        if let Some(values) = &self.processed_values {
            return values.clone();
        }
        self.values
            .as_deref()
            .and_then(|raw| crate::values::parse_go(&String::from_utf8_lossy(raw)).ok())
            .unwrap_or_default()
    }

    /// Whether this is a library chart (`type: library`).
    pub fn is_library(&self) -> bool {
        self.metadata.is_library()
    }

    /// A chart directory's files (paths relative to it), after its `.helmignore` and Helm's
    /// default rule have dropped what they ignore, as `loader.LoadDir` reads them.
    pub fn load_dir<I>(files: I) -> Result<Chart, LoadError>
    where
        I: IntoIterator<Item = (String, Vec<u8>)>,
    {
        let files: BTreeMap<String, Vec<u8>> = files.into_iter().collect();
        let rules = match files.get(".helmignore") {
            Some(text) => Rules::parse(&String::from_utf8_lossy(text))?,
            None => Rules::defaults(),
        };
        let mut ignored_dirs = HashMap::new();
        let kept = files
            .into_iter()
            .filter(|(path, _)| !ignored(&rules, path, &mut ignored_dirs))
            .map(|(name, data)| ChartFile { name, data })
            .collect();
        Self::load_files(kept)
    }

    /// A packaged chart (`.tgz`) as `loader.LoadArchive` reads it: everything below the one
    /// top directory, paths refused when they climb out of it, Helm's size bounds.
    pub fn load_archive(bytes: &[u8]) -> Result<Chart, LoadError> {
        Self::load_files(archive_files(bytes)?)
    }

    /// Helm's `LoadFiles`: sorts files into the chart's parts and loads its subcharts.
    pub fn load_files(files: Vec<ChartFile>) -> Result<Chart, LoadError> {
        let mut chart = Chart::default();
        let mut metadata: Option<Metadata> = None;
        let mut subcharts: BTreeMap<String, Vec<ChartFile>> = BTreeMap::new();
        // Chart.yaml first, so requirements.yaml merges into it whatever the order.
        let (chart_yaml, rest): (Vec<_>, Vec<_>) =
            files.into_iter().partition(|f| f.name == "Chart.yaml");
        for file in chart_yaml.into_iter().chain(rest) {
            let text = || utf8_text(&file.data).into_owned();
            let wrap = |error: String| LoadError::File {
                file: file.name.clone(),
                error,
            };
            match file.name.as_str() {
                "Chart.yaml" => {
                    let mut read = Metadata::default();
                    read.merge_yaml(&text()).map_err(|e| wrap(e.to_string()))?;
                    if read.api_version.is_empty() {
                        read.api_version = "v1".into();
                    }
                    metadata = Some(read);
                }
                "Chart.lock" => {
                    let lock = driftless_yaml::parse_one(&text())
                        .map_err(|e| wrap(e.to_string()))?
                        .to_json();
                    chart.lock = Some(lock);
                }
                "values.yaml" => {
                    // Read once, as Helm reads it: loading checks it, rendering uses it.
                    let read = crate::values::parse_go(&text()).map_err(|e| wrap(e.to_string()))?;
                    chart.processed_values = Some(read);
                    chart.values = Some(file.data);
                }
                "values.schema.json" => chart.schema = Some(file.data),
                "requirements.yaml" | "requirements.lock" => {
                    let read = metadata.get_or_insert_with(Metadata::default);
                    if file.name == "requirements.yaml" {
                        read.merge_yaml(&text()).map_err(|e| wrap(e.to_string()))?;
                    }
                    if read.api_version == "v1" {
                        chart.files.push(file);
                    }
                }
                name if name.starts_with("templates/") => chart.templates.push(file),
                name if name.starts_with("charts/") && !name.ends_with(".prov") => {
                    let inside = &name["charts/".len()..];
                    let subchart = inside.split('/').next().unwrap_or_default().to_owned();
                    subcharts.entry(subchart).or_default().push(ChartFile {
                        name: inside.to_owned(),
                        data: file.data,
                    });
                }
                _ => chart.files.push(file),
            }
        }
        chart.metadata = metadata.ok_or(LoadError::MissingChartYaml)?;
        if chart.metadata.api_version == "v1" {
            chart.lock = None;
        }
        for (name, files) in subcharts {
            if name.starts_with(['_', '.']) {
                continue;
            }
            let loaded = if name.ends_with(".tgz") {
                match files.into_iter().find(|f| f.name == name) {
                    Some(file) => Chart::load_archive(&file.data),
                    None => continue,
                }
            } else {
                let inner = files
                    .into_iter()
                    .filter_map(|f| {
                        let (_, rest) = f.name.split_once('/')?;
                        Some(ChartFile {
                            name: rest.to_owned(),
                            data: f.data,
                        })
                    })
                    .collect();
                Chart::load_files(inner)
            };
            let subchart = loaded.map_err(|error| LoadError::Subchart {
                subchart: name.clone(),
                parent: chart.metadata.name.clone(),
                error: Box::new(error),
            })?;
            chart.dependencies.push(subchart);
        }
        chart.metadata.validate()?;
        Ok(chart)
    }
}

/// A file's text; invalid UTF-8 replaced as Go's conversions do. Checked with the fast
/// validator first: nearly every chart file is valid.
fn utf8_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Whether `.helmignore` drops `path` or one of the directories above it; `dirs` remembers
/// the answer for each directory, asked again for every file below it.
fn ignored(rules: &Rules, path: &str, dirs: &mut HashMap<String, bool>) -> bool {
    let mut dir_end = 0;
    while let Some(slash) = path[dir_end..].find('/') {
        dir_end += slash;
        let dir = &path[..dir_end];
        let dir_ignored = match dirs.get(dir) {
            Some(&known) => known,
            None => {
                let answer = rules.ignores(dir, true);
                dirs.insert(dir.to_owned(), answer);
                answer
            }
        };
        if dir_ignored {
            return true;
        }
        dir_end += 1;
    }
    rules.ignores(path, false)
}

/// The files of a chart archive, relative to its top directory.
fn archive_files(bytes: &[u8]) -> Result<Vec<ChartFile>, LoadError> {
    const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Err(LoadError::Archive(
            "file does not appear to be a gzipped archive".into(),
        ));
    }
    let archive_error = |e: std::io::Error| LoadError::Archive(e.to_string());
    let decoder = flate2::read::GzDecoder::new(bytes).take(MAX_CHART_BYTES + 1);
    let mut archive = tar::Archive::new(decoder);
    let mut files: Vec<ChartFile> = Vec::new();
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(archive_error)? {
        let mut entry = entry.map_err(archive_error)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).replace('\\', "/");
        let mut parts = raw.splitn(2, '/');
        let top = parts.next().unwrap_or_default();
        let Some(inside) = parts.next() else {
            if top == "Chart.yaml" {
                return Err(LoadError::Archive(
                    "chart yaml not in base directory".into(),
                ));
            }
            continue;
        };
        if inside.starts_with("..") || inside.split('/').any(|p| p == "..") {
            return Err(LoadError::Archive(
                "chart illegally references parent directory".into(),
            ));
        }
        let name = driftless_artifact::normalize_path(inside).map_err(|_| {
            LoadError::Archive("chart illegally contains content outside the base directory".into())
        })?;
        if !kind.is_file() {
            return Err(LoadError::Archive(format!(
                "chart file {name:?} is not a regular file"
            )));
        }
        if entry.size() > MAX_FILE_BYTES {
            return Err(LoadError::Archive(format!(
                "decompressed chart file {name:?} is larger than the maximum file size {MAX_FILE_BYTES}"
            )));
        }
        let mut data = Vec::with_capacity(entry.size() as usize);
        entry
            .by_ref()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(archive_error)?;
        total += data.len() as u64;
        if total > MAX_CHART_BYTES {
            return Err(LoadError::Archive(format!(
                "decompressed chart is larger than the maximum size {MAX_CHART_BYTES}"
            )));
        }
        // A later entry of the same name replaces an earlier one, as in Helm.
        files.retain(|f| f.name != name);
        files.push(ChartFile { name, data });
    }
    if files.is_empty() {
        return Err(LoadError::Archive("no files in chart archive".into()));
    }
    Ok(files)
}

/// A chart from `(path, text)` pairs, for tests.
#[cfg(test)]
pub(crate) fn test_chart(files: &[(&str, &str)]) -> Chart {
    Chart::load_files(
        files
            .iter()
            .map(|(name, data)| ChartFile {
                name: (*name).into(),
                data: data.as_bytes().to_vec(),
            })
            .collect(),
    )
    .expect("test chart loads")
}
