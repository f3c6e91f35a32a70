//! Starts, readiness, metrics, leader election with two replicas and SIGTERM, against the
//! real test control plane.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_elects_one_leader_hands_over_and_stops_cleanly() {
    let plane = driftless_testenv::shared()
        .await
        .expect("test control plane");
    driftless_testenv::lifecycle::check_controller_lifecycle_with_args(
        plane,
        "notification-controller",
        std::path::Path::new(env!("CARGO_BIN_EXE_notification-controller")),
        // Each replica serves webhooks on its own free port.
        &[
            "--receiver-addr=127.0.0.1:0".to_owned(),
            "--events-addr=127.0.0.1:0".to_owned(),
        ],
    )
    .await;
}
