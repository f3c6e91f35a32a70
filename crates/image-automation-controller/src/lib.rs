//! image-automation-controller: Flux's image-reflector and image-automation controllers in
//! one binary. [`imagerepository`] scans registries into the [`tags`] store, [`imagepolicy`]
//! selects the latest image from the stored tags; both reach registries through
//! [`registry`].

pub mod imagepolicy;
pub mod imagerepository;
pub mod imageupdateautomation;
pub mod registry;
pub mod tags;
