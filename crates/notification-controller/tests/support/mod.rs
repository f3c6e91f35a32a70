//! The real control plane with the Toolkit CRDs, a fresh namespace, and the
//! notification-controller binary watching it, its event and webhook servers on free ports.
// Each test binary uses only part of this module.
#![allow(dead_code)]

use std::path::Path;

use driftless_testenv::controller::ControllerProcess;

pub struct Running {
    pub namespace: String,
    pub client: kube::Client,
    pub controller: ControllerProcess,
    pub events_port: u16,
    pub receiver_port: u16,
}

pub async fn start(prefix: &str, extra_args: &[&str]) -> Running {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let plane = driftless_testenv::shared().await.expect("control plane");
    plane
        .install_crds(&driftless_api::crds())
        .await
        .expect("CRDs");
    let namespace = plane.namespace(prefix).await.unwrap();
    let client = plane.client().await.unwrap();
    let [events_port, receiver_port] = driftless_testenv::free_ports().unwrap();
    let mut flags = vec![
        format!("--events-addr=127.0.0.1:{events_port}"),
        format!("--receiver-addr=127.0.0.1:{receiver_port}"),
    ];
    flags.extend(extra_args.iter().map(|a| a.to_string()));
    let controller = ControllerProcess::start_in_namespace(
        plane,
        &namespace,
        "notification-controller",
        Path::new(env!("CARGO_BIN_EXE_notification-controller")),
        &flags,
    );
    Running {
        namespace,
        client,
        controller,
        events_port,
        receiver_port,
    }
}
