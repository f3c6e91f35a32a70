//! Starts, readiness, metrics, leader election with two replicas and SIGTERM, against the
//! real test control plane.

use std::path::Path;

use driftless_testenv::lifecycle::check_on_shared_plane;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_elects_one_leader_hands_over_and_stops_cleanly() {
    let binary = Path::new(env!("CARGO_BIN_EXE_helm-controller"));
    check_on_shared_plane("helm-controller", binary, &[]).await;
}
