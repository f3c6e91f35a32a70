//! kustomize-controller end to end: a real control plane, a real `git http-backend`, and the
//! source-controller and kustomize-controller binaries.
//!
//! One test binary with a module per scenario group, so every scenario shares the one control
//! plane `driftless_testenv::shared` starts per process; each test has its own namespace and
//! its own controllers.

#[path = "../support/mod.rs"]
mod support;

mod apply_update_drift_prune;
mod deletion_policies;
mod health_checks;
mod push_webhook;
mod remote_cluster;
mod sops;

/// A plain ConfigMap, for scenarios that only need something to apply.
const EXTRA: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n";
