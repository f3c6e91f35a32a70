//! Condition types and reasons shared across the Toolkit (`fluxcd/pkg/apis/meta`), so
//! every controller speaks the same kstatus vocabulary as Flux.

// Condition types.
pub const READY: &str = "Ready";
/// Abnormal-true: present only while the controller is working towards a new state.
pub const RECONCILING: &str = "Reconciling";
/// Abnormal-true: present only when the object cannot make progress without a change.
pub const STALLED: &str = "Stalled";
pub const HEALTHY: &str = "Healthy";
pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
pub const ARTIFACT_OUTDATED: &str = "ArtifactOutdated";
pub const SOURCE_VERIFIED: &str = "SourceVerified";
pub const FETCH_FAILED: &str = "FetchFailed";
pub const BUILD_FAILED: &str = "BuildFailed";
pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";

// Generic reasons.
pub const SUCCEEDED: &str = "Succeeded";
pub const FAILED: &str = "Failed";
pub const PROGRESSING: &str = "Progressing";
pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
pub const SUSPENDED: &str = "Suspended";
pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
pub const BUILD_FAILED_REASON: &str = "BuildFailed";
pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
pub const HEALTH_CHECK_CANCELED: &str = "HealthCheckCanceled";
pub const PRUNE_FAILED: &str = "PruneFailed";
pub const INVALID_PATH: &str = "InvalidPath";
pub const INVALID_URL: &str = "InvalidURL";
pub const INVALID_CEL_EXPRESSION: &str = "InvalidCELExpression";
pub const FEATURE_GATE_DISABLED: &str = "FeatureGateDisabled";
pub const ACCESS_DENIED: &str = "AccessDenied";
pub const INSECURE_CONNECTIONS_DISALLOWED: &str = "InsecureConnectionsDisallowed";
pub const UNSUPPORTED_CONNECTION_TYPE: &str = "UnsupportedConnectionType";

// Source reasons.
pub const URL_INVALID: &str = "URLInvalid";
pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
pub const VERIFICATION_ERROR: &str = "VerificationError";
pub const DIRECTORY_CREATION_FAILED: &str = "DirectoryCreationFailed";
pub const STAT_OPERATION_FAILED: &str = "StatOperationFailed";
pub const READ_OPERATION_FAILED: &str = "ReadOperationFailed";
pub const ACQUIRE_LOCK_FAILED: &str = "AcquireLockFailed";
pub const ARCHIVE_OPERATION_FAILED: &str = "ArchiveOperationFailed";
pub const SYMLINK_UPDATE_FAILED: &str = "SymlinkUpdateFailed";
pub const ARTIFACT_UP_TO_DATE: &str = "ArtifactUpToDate";
pub const NEW_REVISION: &str = "NewRevision";
pub const PATCH_OPERATION_FAILED: &str = "PatchOperationFailed";

/// Event reason for a newly stored artifact.
pub const NEW_ARTIFACT_EVENT: &str = "NewArtifact";
