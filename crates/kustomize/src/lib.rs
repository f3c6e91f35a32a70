//! A pure-Rust kustomize. [`build`] reads a kustomization from a [`fs::FileSystem`] and returns
//! its resources in `kustomize build` order; [`build_yaml`] returns them as `kustomize build`
//! prints them. Nothing here talks to a cluster or, unless given a [`remote::Remote`], to the
//! network.
//!
//! ```
//! use std::path::Path;
//! use driftless_kustomize::{BuildOptions, build_yaml, fs::MemFs};
//!
//! let mut tree = MemFs::new();
//! tree.add_file("/app/kustomization.yaml", "namePrefix: prod-\nresources: [cm.yaml]\n");
//! tree.add_file("/app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n");
//! let yaml = build_yaml(&tree, Path::new("/app"), &BuildOptions::default()).unwrap();
//! assert_eq!(yaml, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prod-settings\n");
//! ```

pub mod build;
pub mod config;
mod error;
pub mod fieldspec;
pub mod fs;
pub mod generators;
pub mod hash;
pub mod helm_charts;
pub mod loader;
pub mod openapi;
pub mod origin;
pub mod path;
pub mod remote;
pub mod resid;
pub mod resmap;
pub mod resource;
pub mod transform;
pub mod types;

pub use build::{BuildOptions, build, build_yaml};
/// The YAML model this crate's resources are made of, so callers holding a [`resource::Resource`]
/// name the same `driftless-yaml` version it was built with.
pub use driftless_yaml as yaml;
pub use error::{Error, Result};
pub use helm_charts::HelmOptions;
