//! helm-controller: Flux's HelmRelease API, released with the pure-Rust Helm renderer and
//! stored as Helm stores releases, so `helm list`, `helm history` and `helm rollback` see
//! them.

pub mod apply_method;
pub mod digest;
pub mod drift;
pub mod helmrelease;
pub mod legacy_wait;
pub mod post_render;
pub mod release_name;
pub mod release_state;
pub mod storage;
pub mod three_way;
pub mod values;

/// Who released objects are applied as.
pub const FIELD_MANAGER: &str = "helm-controller";
