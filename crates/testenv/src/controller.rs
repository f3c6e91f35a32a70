//! Running a Driftless controller binary against a test control plane.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::control_plane::free_ports;
use crate::process::Process;
use crate::{ControlPlane, Error, Result};

/// How long a controller may take to answer `/readyz` after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The flags that confine a controller to `namespace`: it watches no other namespace and
/// keeps its runtime objects (Leases, events) there, so tests sharing a control plane do not
/// see each other's objects.
fn confined_to(namespace: &str) -> [String; 2] {
    [
        "--watch-all-namespaces=false".to_owned(),
        format!("--runtime-namespace={namespace}"),
    ]
}

pub struct ControllerProcess {
    process: Process,
    pub metrics_addr: SocketAddr,
    pub health_addr: SocketAddr,
}

impl ControllerProcess {
    /// Starts `binary` with `KUBECONFIG=kubeconfig`, console logs in
    /// `log_dir/<name>-<metrics port>.log`, probes and metrics on free loopback ports, and
    /// `extra_args`.
    pub fn spawn(
        name: &'static str,
        binary: &Path,
        kubeconfig: &Path,
        log_dir: &Path,
        extra_args: &[String],
    ) -> Result<Self> {
        let [metrics_port, health_port] = free_ports()?;
        let log = log_dir.join(format!("{name}-{metrics_port}.log"));
        Self::spawn_on(
            name,
            binary,
            kubeconfig,
            &log,
            [metrics_port, health_port],
            &[],
            extra_args,
        )
    }

    /// Like [`ControllerProcess::spawn`], with `env` set too: Flux's controllers take their
    /// runtime namespace from `RUNTIME_NAMESPACE`.
    pub fn spawn_with_env(
        name: &'static str,
        binary: &Path,
        kubeconfig: &Path,
        log_dir: &Path,
        env: &[(&str, String)],
        extra_args: &[String],
    ) -> Result<Self> {
        let [metrics_port, health_port] = free_ports()?;
        let log = log_dir.join(format!("{name}-{metrics_port}.log"));
        let ports = [metrics_port, health_port];
        Self::spawn_on(name, binary, kubeconfig, &log, ports, env, extra_args)
    }

    /// Like [`ControllerProcess::spawn`], with the console log in `log` (plain text).
    pub fn spawn_logging_to(
        name: &'static str,
        binary: &Path,
        kubeconfig: &Path,
        log: &Path,
        extra_args: &[String],
    ) -> Result<Self> {
        let ports = free_ports()?;
        Self::spawn_on(name, binary, kubeconfig, log, ports, &[], extra_args)
    }

    fn spawn_on(
        name: &'static str,
        binary: &Path,
        kubeconfig: &Path,
        log: &Path,
        [metrics_port, health_port]: [u16; 2],
        env: &[(&str, String)],
        extra_args: &[String],
    ) -> Result<Self> {
        let metrics_addr = SocketAddr::from(([127, 0, 0, 1], metrics_port));
        let health_addr = SocketAddr::from(([127, 0, 0, 1], health_port));
        let mut command = Command::new(binary);
        command
            .env("KUBECONFIG", kubeconfig)
            // An error's cause chain, not a backtrace, belongs in the log tail tests print.
            .env("RUST_LIB_BACKTRACE", "0")
            // The log is a file: no colour codes (tracing-subscriber honours NO_COLOR).
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .arg(format!("--metrics-addr={metrics_addr}"))
            .arg(format!("--health-addr={health_addr}"))
            .arg("--log-encoding=console")
            .args(extra_args);
        Ok(Self {
            process: Process::spawn(name, command, log)?,
            metrics_addr,
            health_addr,
        })
    }

    /// Spawns `binary` against `plane` (its log in the plane's directory), watching only
    /// `namespace`, with `flags`, and waits until it is ready. Panics with the reason, and the
    /// log tail, otherwise.
    ///
    /// Call from a multi-threaded tokio test: the wait blocks only its own worker thread.
    pub fn start_in_namespace(
        plane: &ControlPlane,
        namespace: &str,
        name: &'static str,
        binary: &Path,
        flags: &[String],
    ) -> Self {
        let args = [confined_to(namespace).as_slice(), flags].concat();
        let mut controller =
            Self::spawn(name, binary, &plane.kubeconfig_path(), plane.dir(), &args)
                .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        tokio::task::block_in_place(|| controller.wait_ready(READY_TIMEOUT))
            .unwrap_or_else(|e| panic!("{name} ready: {e}"));
        controller
    }

    /// Sends SIGTERM and asserts the controller exits successfully within 15 s.
    pub fn stop_cleanly(&mut self) {
        let status = self.terminate(Duration::from_secs(15));
        assert!(
            status.is_some_and(|s| s.success()),
            "{} did not exit cleanly ({status:?})\n{}",
            self.process.name,
            self.log_tail(30)
        );
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if crate::http::get(self.health_addr, "/readyz").is_some_and(|(s, _)| s == 200) {
                return Ok(());
            }
            self.process.ensure_running()?;
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    component: self.process.name,
                    seconds: timeout.as_secs(),
                    log: self.process.log_tail(40),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `/healthz` status code, if anything answers.
    pub fn healthz(&self) -> Option<u16> {
        crate::http::get(self.health_addr, "/healthz").map(|(status, _)| status)
    }

    /// The Prometheus exposition text from `/metrics`.
    pub fn metrics(&self) -> Option<String> {
        crate::http::get(self.metrics_addr, "/metrics")
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| body)
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit (None: had to be killed).
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.process.stop(grace)
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.process.wait_exit(timeout)
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }
}
