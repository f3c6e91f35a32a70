//! `driftless helm template`: Helm's `helm template` on the built-in renderer.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use driftless_helm::ignore::Rules;
use driftless_helm::render::{Capabilities, KubeVersion, default_api_versions};
use driftless_helm::template::{DEFAULT_KUBE_VERSION, TemplateOptions, output, render_release};
use driftless_helm::{Chart, schema, strvals, values};

#[derive(Args)]
pub struct TemplateArgs {
    /// `[NAME] CHART`: the release name (default `release-name`) and the chart directory or
    /// packaged `.tgz`.
    #[arg(num_args = 1..=2, required = true)]
    args: Vec<String>,
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Values files, merged in order.
    #[arg(short = 'f', long = "values")]
    values: Vec<PathBuf>,
    /// `key=value` pairs (`a.b=1,c={x,y}`), typed as Helm types them.
    #[arg(long)]
    set: Vec<String>,
    /// `key=value` pairs whose values stay strings.
    #[arg(long = "set-string")]
    set_string: Vec<String>,
    /// `key=path`: the file's content as the value.
    #[arg(long = "set-file")]
    set_file: Vec<String>,
    /// `key=json` pairs.
    #[arg(long = "set-json")]
    set_json: Vec<String>,
    /// The Kubernetes version `.Capabilities.KubeVersion` reports.
    #[arg(long = "kube-version")]
    kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions` (repeat or comma-separate).
    #[arg(short = 'a', long = "api-versions", value_delimiter = ',')]
    api_versions: Vec<String>,
    /// Print the chart's `crds/` too.
    #[arg(long = "include-crds")]
    include_crds: bool,
    /// Leave out test hooks.
    #[arg(long = "skip-tests")]
    skip_tests: bool,
    /// Leave out all hooks.
    #[arg(long = "no-hooks")]
    no_hooks: bool,
    /// Render as an upgrade (`.Release.IsUpgrade`).
    #[arg(long = "is-upgrade")]
    is_upgrade: bool,
    /// Do not validate values against `values.schema.json`.
    #[arg(long = "skip-schema-validation")]
    skip_schema_validation: bool,
}

/// Runs `helm template`, printing the manifests; errors worded as Helm's.
pub fn template(args: TemplateArgs) -> anyhow::Result<String> {
    let (name, chart_path) = match args.args.as_slice() {
        [chart] => ("release-name".to_owned(), chart.clone()),
        [name, chart] => (name.clone(), chart.clone()),
        _ => bail!("expected at most two arguments, unexpected arguments"),
    };
    let chart = load_chart(Path::new(&chart_path))?;
    let user_values = user_values(&args)?;
    let kube_version = match &args.kube_version {
        Some(text) => {
            KubeVersion::parse(text).with_context(|| format!("invalid kube version '{text}'"))?
        }
        None => KubeVersion::parse(DEFAULT_KUBE_VERSION).context("default kube version")?,
    };
    let mut api_versions = default_api_versions();
    api_versions.extend(args.api_versions.iter().cloned());
    let options = TemplateOptions {
        release_name: name,
        namespace: args.namespace.clone(),
        capabilities: Capabilities {
            kube_version,
            api_versions,
            ..Capabilities::default()
        },
        include_crds: args.include_crds,
        skip_tests: args.skip_tests,
        is_upgrade: args.is_upgrade,
        revision: 1,
        skip_schema_validation: args.skip_schema_validation,
    };
    let mut rendered = render_release(chart, &user_values, &options)?;
    if args.no_hooks {
        rendered.hooks.clear();
    }
    Ok(output(&rendered, args.skip_tests))
}

/// `-f` files, then `--set-json`, `--set`, `--set-string` and `--set-file`, as Helm merges
/// them.
fn user_values(args: &TemplateArgs) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut merged = serde_json::Map::new();
    for file in &args.values {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("open {}: no such file or directory", file.display()))?;
        let read = values::parse_go(&text)
            .with_context(|| format!("failed to parse {}", file.display()))?;
        values::merge(&mut merged, read);
    }
    for pair in &args.set_json {
        let (key, json) = pair
            .split_once('=')
            .with_context(|| format!("failed parsing --set-json data {pair}"))?;
        let mut value: serde_json::Value = serde_json::from_str(json)
            .with_context(|| format!("failed parsing --set-json data {pair}"))?;
        // Go's JSON decoding: every number a float64.
        values::go_numbers(&mut value);
        strvals::set_at(key, value, &mut merged)?;
    }
    for text in &args.set {
        strvals::parse_into(text, &mut merged)?;
    }
    for text in &args.set_string {
        strvals::parse_string_into(text, &mut merged)?;
    }
    for pair in &args.set_file {
        let (key, path) = pair
            .split_once('=')
            .with_context(|| format!("failed parsing --set-file data {pair}"))?;
        let content = std::fs::read_to_string(path)
            .with_context(|| format!("reading {path} for --set-file"))?;
        strvals::set_at(key, serde_json::Value::String(content), &mut merged)?;
    }
    Ok(merged)
}

/// A chart directory or archive, as Helm's `loader.Load` reads it.
fn load_chart(path: &Path) -> anyhow::Result<Chart> {
    let metadata = std::fs::metadata(path)
        .with_context(|| format!("path {:?} not found", path.display().to_string()))?;
    if metadata.is_dir() {
        // As Helm's loader: .helmignore first, then a walk that skips what it ignores
        // (charts ship changelogs and test folders that would otherwise be read for nothing).
        let rules = match std::fs::read_to_string(path.join(".helmignore")) {
            Ok(text) => Rules::parse(&text)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Rules::defaults(),
            Err(error) => return Err(error).context("reading .helmignore"),
        };
        let mut files = Vec::new();
        read_dir(path, path, &rules, &mut files)?;
        Ok(Chart::load_dir(files)?)
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Chart::load_archive(&bytes)?)
    }
}

fn read_dir(
    root: &Path,
    dir: &Path,
    rules: &Rules,
    out: &mut Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        // Helm follows symbolic links inside a chart directory.
        let metadata = std::fs::metadata(&path)?;
        let relative = path
            .strip_prefix(root)
            .context("chart file outside its directory")?
            .to_string_lossy()
            .replace('\\', "/");
        if rules.ignores(&relative, metadata.is_dir()) {
            continue;
        }
        if metadata.is_dir() {
            read_dir(root, &path, rules, out)?;
        } else if metadata.is_file() {
            let data = std::fs::read(&path)?;
            if entry.file_name() == "values.schema.json" {
                // Its draft's meta-schema validator is built once per process, at about the
                // cost of a small chart's render: build it beside the rest of the reading
                // and rendering rather than in front of the schema check.
                let schema = data.clone();
                std::thread::spawn(move || schema::prepare_meta_validator(&schema));
            }
            out.push((relative, data));
        }
    }
    Ok(())
}
