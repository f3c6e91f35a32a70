//! `kustomize.toolkit.fluxcd.io/v1`: Kustomization, in its own module as Flux's
//! `api/v1/kustomization_types.go`, re-exported here so callers name
//! `kustomize::Kustomization` and never the file.

use crate::conditions;

mod kustomization;

pub use kustomization::*;

pub const GROUP: &str = "kustomize.toolkit.fluxcd.io";
pub const VERSION: &str = "v1";

/// Condition type: result of the last health assessment.
pub const HEALTHY_CONDITION: &str = conditions::HEALTHY;
pub const PRUNE_FAILED_REASON: &str = conditions::PRUNE_FAILED;
pub const ARTIFACT_FAILED_REASON: &str = conditions::ARTIFACT_FAILED;
pub const BUILD_FAILED_REASON: &str = conditions::BUILD_FAILED_REASON;
pub const HEALTH_CHECK_FAILED_REASON: &str = conditions::HEALTH_CHECK_FAILED;
pub const DEPENDENCY_NOT_READY_REASON: &str = conditions::DEPENDENCY_NOT_READY;
pub const RECONCILIATION_SUCCEEDED_REASON: &str = conditions::RECONCILIATION_SUCCEEDED;
pub const RECONCILIATION_FAILED_REASON: &str = conditions::RECONCILIATION_FAILED;
pub const PROGRESSING_WITH_RETRY_REASON: &str = conditions::PROGRESSING_WITH_RETRY;

/// Longest condition message the controller writes.
pub const MAX_CONDITION_MESSAGE_LENGTH: usize = 20000;

// Values of the `kustomize.toolkit.fluxcd.io/*` annotations and labels on applied objects.
pub const ENABLED_VALUE: &str = "enabled";
pub const DISABLED_VALUE: &str = "disabled";
pub const MERGE_VALUE: &str = "Merge";
pub const IF_NOT_PRESENT_VALUE: &str = "IfNotPresent";
pub const IGNORE_VALUE: &str = "Ignore";
