//! Rust types for the GitOps Toolkit APIs that Flux v2 defines, field for field.
//!
//! Every kind serialises to the same JSON as Flux's Go types, and [`crds()`]
//! yields CustomResourceDefinitions equivalent to Flux's, so existing manifests
//! and the `flux` CLI work unchanged. This crate does no I/O.

pub mod conditions;
pub mod crds;
pub mod event;
pub mod image;
pub mod kustomize;
pub mod meta;
pub mod notification;
pub mod source;

pub use crds::crds;
