//! GitRepository end to end: the real control plane, a real `git http-backend` on loopback,
//! and the source-controller binary.
//!
//! One test binary with a module per scenario group, so every scenario shares the one control
//! plane `driftless_testenv::shared` starts per process; each test has its own namespace and
//! its own controller.

#[path = "../support/mod.rs"]
mod support;

mod artifact_storage;
mod auth;
mod events;
mod failure_reasons;
mod ignore_and_sparse;
mod include;
mod refs;
mod submodules;
mod suspend_and_timeout;
mod updates;
mod verification;

use driftless_api::meta::Artifact;
use driftless_api::source::GitRepository;
use driftless_testenv::git::GitServer;

fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The revision of the object's artifact, empty without one.
fn revision(object: &GitRepository) -> String {
    object
        .status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .map(|a| a.revision.clone())
        .unwrap_or_default()
}

fn artifact(object: &GitRepository) -> Artifact {
    object
        .status
        .as_ref()
        .and_then(|s| s.artifact.clone())
        .expect("artifact in status")
}

/// Whether the server was asked to list its refs (the cheap check before any fetch).
fn listed_refs(server: &GitServer) -> bool {
    server
        .requests()
        .iter()
        .any(|r| r.command.as_deref() == Some("ls-refs"))
}

/// How many packs the server has sent since its requests were last cleared.
fn pack_fetches(server: &GitServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.command.as_deref() == Some("fetch"))
        .count()
}
