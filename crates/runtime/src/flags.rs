//! Flags every controller shares, spelled as Flux spells them so existing deployments'
//! arguments keep working.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Parses a Go duration (`35s`, `1m30s`) for clap.
pub fn duration(value: &str) -> Result<Duration, String> {
    driftless_api::meta::parse_duration(value).map_err(|e| e.to_string())
}

/// Parses a Go-style listen address: `:8080` means all interfaces.
pub fn bind_addr(value: &str) -> Result<SocketAddr, String> {
    let full = if value.starts_with(':') {
        format!("0.0.0.0{value}")
    } else {
        value.to_owned()
    };
    full.parse()
        .map_err(|e| format!("invalid address {value:?}: {e}"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogEncoding {
    Json,
    Console,
}

/// Where controllers that emit events forward them (not notification-controller, whose
/// `--events-addr` is the address it listens on).
#[derive(Clone, Debug, Args)]
pub struct EventForwardingArgs {
    /// notification-controller event endpoint; events are only forwarded when set.
    #[arg(long, default_value = "")]
    pub events_addr: String,
}

/// Parses `A` from the command line with some flags' defaults replaced, for a controller
/// whose default differs from the shared one (source-controller's `--concurrent=2`).
pub fn parse_with_defaults<A: clap::Parser>(defaults: &[(&'static str, &'static str)]) -> A {
    let mut command = A::command();
    for &(flag, value) in defaults {
        command = command.mut_arg(flag, |arg| arg.default_value(value));
    }
    let matches = command.get_matches();
    A::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// All the flags of a controller that has none of its own: the shared ones and where its
/// events go.
#[derive(Clone, Debug, clap::Parser)]
#[command(version, args_override_self = true)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub events: EventForwardingArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl ControllerArgs {
    /// Parses the command line of the controller `name`, described by `about` in `--help`.
    pub fn parse_for(name: &'static str, about: &'static str) -> Self {
        let matches = <Self as clap::CommandFactory>::command()
            .name(name)
            .about(about)
            .get_matches();
        <Self as clap::FromArgMatches>::from_arg_matches(&matches)
            .unwrap_or_else(|error| error.exit())
    }
}

#[derive(Clone, Debug, Args)]
pub struct CommonArgs {
    /// Number of objects of each kind reconciled in parallel.
    #[arg(long, default_value_t = 4)]
    pub concurrent: u16,
    /// Address the Prometheus metrics endpoint binds to.
    #[arg(long, default_value = ":8080", value_parser = bind_addr)]
    pub metrics_addr: SocketAddr,
    /// Address the /healthz and /readyz probes bind to.
    #[arg(long, default_value = ":9440", value_parser = bind_addr)]
    pub health_addr: SocketAddr,
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    #[arg(long, value_enum, default_value_t = LogEncoding::Json)]
    pub log_encoding: LogEncoding,

    /// Run only while holding the `<controller>-leader-election` Lease.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_leader_election: bool,
    #[arg(long, default_value = "35s", value_parser = duration)]
    pub leader_election_lease_duration: Duration,
    /// A leader that cannot confirm a renewal for this long stops leading and exits.
    #[arg(long, default_value = "30s", value_parser = duration)]
    pub leader_election_renew_deadline: Duration,
    /// How often the leader renews the Lease (and a standby rechecks it).
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub leader_election_retry_period: Duration,
    /// Give the Lease up on shutdown so another replica takes over at once.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub leader_election_release_on_cancel: bool,

    /// Accepted for compatibility with Flux's flags. Driftless does not throttle on the
    /// client: the API server's priority and fairness protects it, and client-side limits
    /// are what make more concurrency slower in Flux.
    #[arg(long, default_value_t = 50.0)]
    pub kube_api_qps: f32,
    /// Accepted for compatibility; see `--kube-api-qps`.
    #[arg(long, default_value_t = 300)]
    pub kube_api_burst: u32,

    /// First delay after a failed reconcile; doubles per consecutive failure.
    #[arg(long, default_value = "750ms", value_parser = duration)]
    pub min_retry_delay: Duration,
    /// Upper bound of the failure backoff.
    #[arg(long, default_value = "15m", value_parser = duration)]
    pub max_retry_delay: Duration,

    /// Watch objects in all namespaces; when false only the runtime namespace.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub watch_all_namespaces: bool,
    /// Only reconcile objects matching this label selector (sharding).
    #[arg(long, default_value = "")]
    pub watch_label_selector: String,
    /// ConfigMaps and Secrets with these labels re-trigger the objects that reference them.
    #[arg(long, default_value = "reconcile.fluxcd.io/watch=Enabled")]
    pub watch_configs_label_selector: String,
    /// Refuse references to objects in other namespaces.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub no_cross_namespace_refs: bool,
    /// Feature gates, `Name=true,Other=false`.
    #[arg(long, default_value = "")]
    pub feature_gates: String,
    /// Percentage of random jitter added to requeue intervals.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub interval_jitter_percentage: u8,
    /// Namespace the controller runs in (Lease, and the only watched namespace when not
    /// watching all). Defaults to the kubeconfig's or pod's namespace.
    #[arg(long, env = "RUNTIME_NAMESPACE", default_value = "")]
    pub runtime_namespace: String,
}

impl CommonArgs {
    /// `--feature-gates` setting of gate `name`, or `default` when the flag does not name it
    /// (Go's `Name=true,Other=false`; a bare `Name` means true).
    pub fn feature_gate(&self, name: &str, default: bool) -> bool {
        self.feature_gates
            .split(',')
            .filter_map(|gate| {
                let (key, value) = gate.split_once('=').unwrap_or((gate, "true"));
                (key.trim() == name).then(|| value.trim().eq_ignore_ascii_case("true"))
            })
            .next_back()
            .unwrap_or(default)
    }

    /// Watch configuration honouring `--watch-label-selector` (sharding).
    pub fn watcher_config(&self) -> kube::runtime::watcher::Config {
        let config = kube::runtime::watcher::Config::default();
        if self.watch_label_selector.is_empty() {
            config
        } else {
            config.labels(&self.watch_label_selector)
        }
    }

    /// The one namespace to watch, or None for all namespaces (`--watch-all-namespaces`).
    pub fn watched_namespace<'a>(&self, runtime_namespace: &'a str) -> Option<&'a str> {
        (!self.watch_all_namespaces).then_some(runtime_namespace)
    }

    /// An `Api` over the watched namespaces.
    pub fn watched_api<K>(&self, client: kube::Client, runtime_namespace: &str) -> kube::Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match self.watched_namespace(runtime_namespace) {
            Some(namespace) => kube::Api::namespaced(client, namespace),
            None => kube::Api::all(client),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(args_override_self = true)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn feature_gates_read_as_go_writes_them() {
        let cli = Cli::parse_from([
            "c",
            "--feature-gates=GitForcePushBranch=false, StrictPostBuildSubstitutions=true,Bare",
        ]);
        assert!(!cli.common.feature_gate("GitForcePushBranch", true));
        assert!(
            cli.common
                .feature_gate("StrictPostBuildSubstitutions", false)
        );
        assert!(cli.common.feature_gate("Bare", false));
        assert!(cli.common.feature_gate("Unnamed", true));
        assert!(!cli.common.feature_gate("Unnamed", false));
    }

    #[test]
    fn flux_flag_spellings_parse() {
        let cli = Cli::try_parse_from([
            "x",
            "--metrics-addr=:9000",
            "--health-addr=127.0.0.1:9441",
            "--enable-leader-election",
            "--leader-election-release-on-cancel=false",
            "--leader-election-lease-duration=1m5s",
            "--watch-all-namespaces=false",
            "--log-level=debug",
            "--log-encoding=console",
        ])
        .unwrap();
        let c = cli.common;
        assert_eq!(c.metrics_addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.health_addr, "127.0.0.1:9441".parse().unwrap());
        assert!(c.enable_leader_election);
        assert!(!c.leader_election_release_on_cancel);
        assert_eq!(c.leader_election_lease_duration, Duration::from_secs(65));
        assert!(!c.watch_all_namespaces);
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.min_retry_delay, Duration::from_millis(750));
        assert_eq!(c.max_retry_delay, Duration::from_secs(900));
    }

    #[test]
    fn sharding_and_namespace_scoping() {
        let all = Cli::try_parse_from(["x"]).unwrap().common;
        assert_eq!(all.watched_namespace("flux-system"), None);
        assert_eq!(all.watcher_config().label_selector, None);
        let shard = Cli::try_parse_from([
            "x",
            "--watch-all-namespaces=false",
            "--watch-label-selector=sharding.fluxcd.io/key=shard1",
        ])
        .unwrap()
        .common;
        assert_eq!(shard.watched_namespace("flux-system"), Some("flux-system"));
        assert_eq!(
            shard.watcher_config().label_selector.as_deref(),
            Some("sharding.fluxcd.io/key=shard1")
        );
    }

    #[test]
    fn defaults_match_flux() {
        let c = Cli::try_parse_from(["x"]).unwrap().common;
        assert!(!c.enable_leader_election && c.leader_election_release_on_cancel);
        assert!(c.watch_all_namespaces);
        assert_eq!(c.leader_election_renew_deadline, Duration::from_secs(30));
        assert_eq!(
            c.watch_configs_label_selector,
            "reconcile.fluxcd.io/watch=Enabled"
        );
        assert!(Cli::try_parse_from(["x", "--interval-jitter-percentage=101"]).is_err());
        assert!(Cli::try_parse_from(["x", "--min-retry-delay=soon"]).is_err());
        // Like Go's pflag, a repeated flag's last value wins (chart extraArgs override).
        let c = Cli::try_parse_from(["x", "--log-level=info", "--log-level=error"]).unwrap();
        assert_eq!(c.common.log_level, LogLevel::Error);
    }
}
