//! image-automation-controller: Flux's image-reflector and image-automation controllers in
//! one binary. [`imagerepository`] scans registries into the [`tags`] store, [`imagepolicy`]
//! selects the latest image from the stored tags; both reach registries through
//! [`registry`] (the shared `driftless-registry` crate).

pub mod imagepolicy;
pub mod imagerepository;
pub mod imageupdateautomation;
pub use driftless_registry as registry;
pub mod tags;
