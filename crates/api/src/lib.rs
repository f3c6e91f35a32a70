//! Rust types for the GitOps Toolkit APIs that Flux v2 defines, field for field.
//!
//! Every kind serialises to the same JSON as Flux's Go types, and [`crds()`]
//! yields CustomResourceDefinitions equivalent to Flux's, so existing manifests
//! and the `flux` CLI work unchanged. This crate does no I/O.

pub mod conditions;
pub mod crds;
pub mod event;
pub mod helm;
pub mod image;
pub mod kustomize;
pub mod meta;
pub mod notification;
pub mod source;

pub use crds::crds;

#[cfg(test)]
mod test_support {
    use kube::CustomResourceExt;
    use serde_json::Value;

    /// The generated OpenAPI schema of `K`'s `spec`.
    pub fn spec_schema<K: CustomResourceExt>() -> Value {
        let crd = serde_json::to_value(K::crd()).unwrap_or_default();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
    }
}
