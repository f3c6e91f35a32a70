//! `helm.toolkit.fluxcd.io/v2`: HelmRelease, as Flux's `api/v2`, split in three files: the
//! kind and its spec ([`helmrelease`]), the actions' options ([`actions`]) and the status
//! ([`status`]). Re-exported here so callers name `helm::HelmRelease`.

mod actions;
mod helmrelease;
mod status;

pub use actions::*;
pub use helmrelease::*;
pub use status::*;

pub const GROUP: &str = "helm.toolkit.fluxcd.io";
pub const VERSION: &str = "v2";

// Condition types beyond Ready/Reconciling/Stalled.
pub const RELEASED_CONDITION: &str = "Released";
pub const TEST_SUCCESS_CONDITION: &str = "TestSuccess";
pub const REMEDIATED_CONDITION: &str = "Remediated";

// Reasons, as Flux's `api/v2/condition_types.go`.
pub const INSTALL_SUCCEEDED_REASON: &str = "InstallSucceeded";
pub const INSTALL_FAILED_REASON: &str = "InstallFailed";
pub const UPGRADE_SUCCEEDED_REASON: &str = "UpgradeSucceeded";
pub const UPGRADE_FAILED_REASON: &str = "UpgradeFailed";
pub const TEST_SUCCEEDED_REASON: &str = "TestSucceeded";
pub const TEST_FAILED_REASON: &str = "TestFailed";
pub const ROLLBACK_SUCCEEDED_REASON: &str = "RollbackSucceeded";
pub const ROLLBACK_FAILED_REASON: &str = "RollbackFailed";
pub const UNINSTALL_SUCCEEDED_REASON: &str = "UninstallSucceeded";
pub const UNINSTALL_FAILED_REASON: &str = "UninstallFailed";
pub const ARTIFACT_FAILED_REASON: &str = "ArtifactFailed";
pub const INIT_FAILED_REASON: &str = "InitFailed";
pub const GET_LAST_RELEASE_FAILED_REASON: &str = "GetLastReleaseFailed";
pub const VALUES_ERROR_REASON: &str = "ValuesError";
pub const SOURCE_NOT_READY_REASON: &str = "SourceNotReady";
pub const RETRIES_EXCEEDED_REASON: &str = "RetriesExceeded";
pub const MISSING_ROLLBACK_TARGET_REASON: &str = "MissingRollbackTarget";
pub const AWAITING_TESTS_REASON: &str = "AwaitingTests";
pub const PENDING_RELEASE_REASON: &str = "PendingRelease";
pub const DRIFT_DETECTED_REASON: &str = "DriftDetected";
pub const DRIFT_CORRECTED_REASON: &str = "DriftCorrected";

/// Labels set on every object of a release, naming the HelmRelease that made it.
pub const NAME_LABEL: &str = "helm.toolkit.fluxcd.io/name";
pub const NAMESPACE_LABEL: &str = "helm.toolkit.fluxcd.io/namespace";
/// Label or annotation `disabled` leaves an object out of drift detection.
pub const DRIFT_DETECTION_KEY: &str = "helm.toolkit.fluxcd.io/driftDetection";
/// Annotations asking for a one-off forced release and a reset of the failure counters.
pub const FORCE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/forceAt";
pub const RESET_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/resetAt";

/// `x-kubernetes-preserve-unknown-fields` JSON, as Go's `apiextensionsv1.JSON`.
pub(crate) fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}
