//! `image.toolkit.fluxcd.io/v1`: ImageRepository, ImagePolicy, ImageUpdateAutomation. One
//! module per kind, as Flux's `api/v1/<kind>_types.go`; everything is re-exported here, so
//! callers name `image::ImagePolicy` and never the file.

mod imagepolicy;
mod imagerepository;
mod imageupdateautomation;

pub use imagepolicy::*;
pub use imagerepository::*;
pub use imageupdateautomation::*;

pub const GROUP: &str = "image.toolkit.fluxcd.io";
pub const VERSION: &str = "v1";

// image-reflector-controller reasons.
pub const IMAGE_URL_INVALID_REASON: &str = "ImageURLInvalid";
pub const DEPENDENCY_NOT_READY_REASON: &str = crate::conditions::DEPENDENCY_NOT_READY;
pub const AUTHENTICATION_FAILED_REASON: &str = "AuthenticationFailed";
pub const READ_OPERATION_FAILED_REASON: &str = "ReadOperationFailed";
pub const INTERVAL_NOT_CONFIGURED_REASON: &str = "IntervalNotConfigured";
pub const INVALID_POLICY_REASON: &str = "InvalidPolicy";
// Reconciling reasons of the image-reflector-controller.
pub const NEW_GENERATION_REASON: &str = "NewGeneration";
pub const SCANNING_REASON: &str = "Scanning";
pub const ACCESSING_REPOSITORY_REASON: &str = "AccessingRepository";
pub const APPLYING_POLICY_REASON: &str = "ApplyingPolicy";

// image-automation-controller reasons.
pub const INVALID_UPDATE_STRATEGY_REASON: &str = "InvalidUpdateStrategy";
pub const INVALID_SOURCE_CONFIG_REASON: &str = "InvalidSourceConfiguration";
pub const SOURCE_MANAGER_FAILED_REASON: &str = "SourceManagerFailed";
pub const GIT_OPERATION_FAILED_REASON: &str = "GitOperationFailed";
pub const UPDATE_FAILED_REASON: &str = "UpdateFailed";
pub const INVALID_POLICY_SELECTOR_REASON: &str = "InvalidPolicySelector";
pub const REMOVED_TEMPLATE_FIELD_REASON: &str = "RemovedTemplateField";
