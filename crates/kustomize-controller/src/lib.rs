//! kustomize-controller: Flux's Kustomization API, applied with server-side apply.

pub mod build;
pub mod decrypt;
pub mod history;
pub mod kustomization;
pub mod substitute;

/// Who applied objects are applied as.
pub const FIELD_MANAGER: &str = "kustomize-controller";
