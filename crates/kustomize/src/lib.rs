//! A pure-Rust kustomize. [`build`] reads a kustomization from a [`fs::FileSystem`] and returns
//! its resources in `kustomize build` order; nothing here talks to a cluster.

pub mod config;
mod error;
pub mod fieldspec;
pub mod fs;
pub mod openapi;
pub mod origin;
pub mod resid;
pub mod resmap;
pub mod resource;
pub mod types;
pub mod yaml;

pub use error::{Error, Result};
pub mod build;
pub mod generators;
pub mod hash;
pub mod loader;
pub mod path;
pub mod remote;
pub mod transform;

pub use build::{BuildOptions, build, build_yaml};
