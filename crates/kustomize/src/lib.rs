//! A pure-Rust kustomize. [`build`] reads a kustomization from a [`fs::FileSystem`] and returns
//! its resources in `kustomize build` order; nothing here talks to a cluster.

pub mod yaml;
pub mod fs;
pub mod openapi;
pub mod resid;
