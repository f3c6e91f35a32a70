//! Starts, readiness, metrics, leader election with two replicas and SIGTERM, against the
//! real test control plane.

mod support;

use std::path::Path;

use driftless_testenv::lifecycle::check_on_shared_plane;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_elects_one_leader_hands_over_and_stops_cleanly() {
    let binary = Path::new(env!("CARGO_BIN_EXE_source-controller"));
    let storage = tempfile::tempdir().expect("storage directory");
    // Each replica serves artifacts on its own free port.
    let args = support::storage_flags(storage.path(), "127.0.0.1:0");
    check_on_shared_plane("source-controller", binary, &args).await;
}
