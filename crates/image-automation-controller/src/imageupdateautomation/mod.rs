//! The ImageUpdateAutomation reconciler (in progress): [`plan`] decides what a run does from
//! the spec and its GitRepository; [`policies`] picks the ImagePolicies it writes.

pub mod plan;
pub mod policies;

pub use driftless_api::image::ImageUpdateAutomation;
