//! Controller plumbing shared by every Driftless controller: kstatus conditions, status
//! writes, events (Kubernetes and forwarded to notification-controller), reconcile requests,
//! metrics, probes, leader election, flags and graceful shutdown; and for the appliers
//! (kustomize- and helm-controller) server-side apply, inventories and health checks.

pub mod api_outage;
pub mod apply;
pub mod artifact;
pub mod cel;
pub mod client_metrics;
pub mod clients;
pub mod conditions;
pub mod errors;
pub mod events;
pub mod flags;
pub mod go_duration;
pub mod health;
pub mod health_exprs;
pub mod http_metrics;
pub mod inventory;
pub mod kube_errors;
pub mod label_selector;
pub mod leader;
pub mod log_format;
pub mod manager;
pub mod memory;
pub mod metrics;
pub mod not_implemented;
pub mod reconcile;
pub mod secrets;
pub mod server;
pub mod status;
pub mod telemetry;
/// TLS client settings; lives in its own crate so `driftless-git` can share it without a
/// kube client.
pub use driftless_tls as tls;
pub mod watch_backoff;
pub mod workload_identity;

pub use flags::{CommonArgs, EventForwardingArgs};
pub use go_duration::go_duration;
pub use manager::{Context, Manager, ManagerError};

/// Runs a controller's `main` future: tunes the allocator before any thread exists, then
/// drives the future on a multi-threaded tokio runtime, and gives blocking work at most a
/// second once it returns.
pub fn run_main<F>(main: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    memory::tune_allocator();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(main);
    // Blocking work still running (a Git fetch waiting on a slow server) must not hold the
    // process past its termination grace period; what it writes is atomic, so abandoning it
    // is safe.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}
