//! `notification.toolkit.fluxcd.io`: Provider and Alert (`v1beta3`, static objects without
//! status) and Receiver (`v1`). One module per kind, as Flux's `api/<version>/<kind>_types.go`;
//! everything is re-exported here, so callers name `notification::Receiver` and never the file.

/// Implements [`Reconcilable`](crate::meta::Reconcilable) for a kind without a status:
/// only `spec.suspend` has anything to report.
macro_rules! impl_reconcilable_without_status {
    ($kind:ty) => {
        impl $crate::meta::Reconcilable for $kind {
            fn suspended(&self) -> bool {
                self.spec.suspend
            }
            fn conditions(&self) -> &[$crate::meta::Condition] {
                &[]
            }
            fn observed_generation(&self) -> Option<i64> {
                None
            }
            fn last_handled_reconcile_at(&self) -> Option<&str> {
                None
            }
        }
    };
}

// Declared after the macro so the kinds' modules can use it.
mod alert;
mod provider;
mod receiver;
mod reference;

pub use alert::*;
pub use provider::*;
pub use receiver::*;
pub use reference::*;

pub const GROUP: &str = "notification.toolkit.fluxcd.io";
/// Version of Provider and Alert.
pub const VERSION_V1BETA3: &str = "v1beta3";
/// Version of Receiver.
pub const VERSION: &str = "v1";

pub const INITIALIZED_REASON: &str = "Initialized";
pub const VALIDATION_FAILED_REASON: &str = "ValidationFailed";
pub const TOKEN_NOT_FOUND_REASON: &str = "TokenNotFound";
pub const MIGRATION_REASON: &str = "Migration";
pub const INVALID_CONFIG_REASON: &str = "InvalidConfig";
pub const NOTIFICATION_DISPATCH_FAILED_REASON: &str = "NotificationDispatchFailed";
pub const SOURCE_FETCH_FAILED_REASON: &str = "SourceFetchFailed";
pub const METADATA_APPEND_FAILED_REASON: &str = "MetadataAppendFailed";
