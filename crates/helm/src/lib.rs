//! Helm charts in pure Rust, without I/O.
//!
//! - [`Chart`]: a chart loaded from its files as Helm's loader reads them (`Chart.yaml`,
//!   `values.yaml`, `templates/`, subcharts under `charts/` as directories or archives),
//!   after [`ignore`] rules (`.helmignore` plus Helm's default) have dropped files.
//! - [`metadata`]: `Chart.yaml` as Helm's `chart.Metadata`, validated as Helm validates it.
//! - [`package`]: the chart archive `helm package` writes (`<name>-<version>.tgz`).
//! - [`values`]: values files parsed and merged as Flux merges a HelmChart's `valuesFiles`.
//! - [`yaml`]: YAML written as Go's `sigs.k8s.io/yaml` writes it (sorted keys, Go's quoting).

pub mod chart;
pub mod ignore;
pub mod metadata;
pub mod package;
pub mod values;
pub mod yaml;

pub use chart::{Chart, ChartFile, LoadError};
pub use metadata::Metadata;
