//! The lifecycle every controller binary must get right, checked against the real control
//! plane: start, become ready, serve metrics, elect exactly one leader among two replicas,
//! hand leadership over when the leader stops, exit cleanly on SIGTERM, and stop (with an
//! error) when the Lease is taken away.
//!
//! Call from a `#[tokio::test(flavor = "multi_thread")]` test in the controller's crate with
//! `env!("CARGO_BIN_EXE_<name>")`.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;

use crate::controller::ControllerProcess;
use crate::{ControlPlane, Result};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Short leases keep the test quick; failover after a crash would take this long.
const LEASE_DURATION: &str = "6s";
const RENEW_DEADLINE: &str = "4s";
const RETRY_PERIOD: &str = "1s";

/// The whole lifecycle check for the controller `name` built at `binary` on the test binary's
/// [`shared`](crate::shared) control plane, with `extra_args` for both replicas: the body of
/// every controller crate's lifecycle test.
pub async fn check_on_shared_plane(name: &'static str, binary: &Path, extra_args: &[String]) {
    let plane = crate::shared().await.expect("test control plane");
    check_controller_lifecycle_with_args(plane, name, binary, extra_args).await;
}

/// Runs the whole lifecycle check for the controller `name` built at `binary`, with extra
/// flags for both replicas (for example, where a controller keeps its files or which ports it
/// serves on besides probes and metrics). Panics with the controllers' logs on any violation.
pub async fn check_controller_lifecycle_with_args(
    plane: &ControlPlane,
    name: &'static str,
    binary: &Path,
    extra_args: &[String],
) {
    if let Err(error) = run(plane, name, binary, extra_args).await {
        panic!("{name} lifecycle: {error}");
    }
}

async fn run(
    plane: &ControlPlane,
    name: &'static str,
    binary: &Path,
    extra_args: &[String],
) -> Result<()> {
    let namespace = plane.namespace("lifecycle").await?;
    let leases: Api<Lease> = Api::namespaced(plane.client().await?, &namespace);
    let lease_name = format!("{name}-leader-election");
    let args = vec![
        "--enable-leader-election".to_owned(),
        format!("--runtime-namespace={namespace}"),
        format!("--leader-election-lease-duration={LEASE_DURATION}"),
        format!("--leader-election-renew-deadline={RENEW_DEADLINE}"),
        format!("--leader-election-retry-period={RETRY_PERIOD}"),
    ]
    .into_iter()
    .chain(extra_args.iter().cloned())
    .collect::<Vec<_>>();
    let kubeconfig = plane.kubeconfig_path();
    let spawn = || ControllerProcess::spawn(name, binary, &kubeconfig, plane.dir(), &args);

    let mut first = spawn()?;
    blocking(|| first.wait_ready(READY_TIMEOUT)).await?;
    assert_eq!(first.healthz(), Some(200), "{name}: /healthz");
    let leader = wait_for_holder(&leases, &lease_name, first.pid()).await;
    assert!(
        leader,
        "{name}: first replica never acquired Lease {lease_name}\n{}",
        first.log_tail(30)
    );
    // The Lease is written before the replica records that it leads; allow a moment.
    let leading = format!("leader_election_master_status{{name=\"{lease_name}\"}} 1");
    for expected in [
        leading.clone(),
        // Labelled by reconciler (Flux: the kind, e.g. `gitrepository`) once any runs.
        "controller_runtime_max_concurrent_reconciles{controller=".to_owned(),
    ] {
        let metrics = wait_for_metric(&first, &expected).await;
        assert!(
            metrics.contains(&expected),
            "{name}: metrics lack {expected:?}:\n{metrics}"
        );
    }

    let mut second = spawn()?;
    blocking(|| second.wait_ready(READY_TIMEOUT)).await?;
    // A standby is ready but must not lead while the first replica renews its Lease.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        holder(&leases, &lease_name).await,
        Some(first.pid()),
        "{name}: holder changed"
    );
    let standby = second.metrics().unwrap_or_default();
    assert!(
        standby.contains(&format!(
            "leader_election_master_status{{name=\"{lease_name}\"}} 0"
        )),
        "{name}: standby claims leadership:\n{standby}"
    );

    let stopped_at = Instant::now();
    let status = blocking(|| Ok(first.terminate(Duration::from_secs(15)))).await?;
    assert!(
        status.is_some_and(|s| s.success()),
        "{name}: leader did not exit cleanly on SIGTERM ({status:?})\n{}",
        first.log_tail(30)
    );
    assert!(
        wait_for_holder(&leases, &lease_name, second.pid()).await,
        "{name}: standby never took over\n{}",
        second.log_tail(30)
    );
    let handover = stopped_at.elapsed();
    // Released on shutdown, so the standby must not have to wait for the Lease to expire.
    assert!(
        handover < Duration::from_secs(5),
        "{name}: handover took {handover:?}, longer than a released Lease should"
    );
    let metrics = wait_for_metric(&second, &leading).await;
    assert!(
        metrics.contains(&leading),
        "{name}: new leader's metrics:\n{metrics}"
    );

    // A leader that finds someone else holding its Lease must stop leading at once: it exits
    // with an error rather than keep reconciling beside another leader.
    let mut lease = leases.get(&lease_name).await?;
    if let Some(spec) = lease.spec.as_mut() {
        spec.holder_identity = Some("intruder_0_0".into());
        spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            k8s_openapi::jiff::Timestamp::now(),
        ));
    }
    leases
        .replace(&lease_name, &Default::default(), &lease)
        .await?;
    let status = blocking(|| Ok(second.wait_exit(Duration::from_secs(10)))).await?;
    assert!(
        status.is_some_and(|s| !s.success()),
        "{name}: leader kept running after losing its Lease ({status:?})\n{}",
        second.log_tail(30)
    );
    Ok(())
}

/// Runs a blocking wait without stalling the test's runtime.
async fn blocking<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    tokio::task::block_in_place(f)
}

/// Polls `/metrics` for up to 5 s until it contains `expected`; returns the last text read.
async fn wait_for_metric(controller: &ControllerProcess, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = controller.metrics().unwrap_or_default();
        if metrics.contains(expected) || Instant::now() > deadline {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn holder(leases: &Api<Lease>, name: &str) -> Option<u32> {
    let lease = leases.get_opt(name).await.ok().flatten()?;
    // Identities are `<hostname>_<pid>_<random>`.
    let identity = lease.spec?.holder_identity?;
    identity.rsplit('_').nth(1)?.parse().ok()
}

async fn wait_for_holder(leases: &Api<Lease>, name: &str, pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if holder(leases, name).await == Some(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
