//! Helm charts in pure Rust, without I/O: loaded, packaged and rendered as Helm v3 does.
//!
//! - [`Chart`]: a chart loaded from its files as Helm's loader reads them (`Chart.yaml`,
//!   `values.yaml`, `templates/`, subcharts under `charts/` as directories or archives),
//!   after [`ignore`] rules (`.helmignore` plus Helm's default) have dropped files.
//! - [`metadata`]: `Chart.yaml` as Helm's `chart.Metadata`, validated as Helm validates it.
//! - [`package`]: the chart archive `helm package` writes (`<name>-<version>.tgz`).
//! - [`values`], [`coalesce`], [`strvals`]: values files, Helm's coalescing of user values
//!   over chart defaults (subcharts, `global`, `null`), and `--set`.
//! - [`dependencies`]: aliases, `condition`/`tags` and `import-values`.
//! - [`render`]: the template engine (Go `text/template`, Sprig and Helm's functions).
//! - [`manifests`], [`template`]: the output of `helm template` — manifests ordered by kind,
//!   hooks apart, CRDs when asked.
//! - [`schema`]: `values.schema.json` validation.
//! - [`release`]: release records as Helm stores them (Secrets `sh.helm.release.v1.*`).
//! - [`yaml`]: YAML written as Go's `sigs.k8s.io/yaml` writes it (sorted keys, Go's quoting).

pub mod chart;
pub mod coalesce;
pub mod dependencies;
pub mod ignore;
pub mod manifests;
pub mod metadata;
pub mod package;
pub mod release;
pub mod render;
pub mod schema;
pub mod strvals;
pub mod template;
pub mod values;
pub mod yaml;

pub use chart::{Chart, ChartFile, LoadError};
pub use metadata::Metadata;
