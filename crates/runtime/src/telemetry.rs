use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::flags::{LogEncoding, LogLevel};

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `--log-level`.
pub fn init(level: LogLevel, encoding: LogEncoding) {
    let default = match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Error => "error",
    };
    // Dependencies are noisy at debug; keep them at warn unless asked for explicitly. The
    // Kubernetes client logs every failed request at error, and every watch cut by an API
    // server restart at warn; outages are reported once by `api_outage` instead, and failed
    // reconciles by the controllers.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,kube_client=error,kube_client::client::builder=off,driftless={default},{}",
            crate_filters(default)
        ))
    });
    let registry = tracing_subscriber::registry().with(filter);
    let result = match encoding {
        // Flux's line shape, so tools made for Flux (`flux logs`) read these logs.
        LogEncoding::Json => registry
            .with(fmt::layer().event_format(crate::log_format::FluxJson))
            .try_init(),
        // Colour only on a terminal: log files and collectors get plain text.
        LogEncoding::Console => registry
            .with(fmt::layer().with_ansi(std::io::stdout().is_terminal()))
            .try_init(),
    };
    // A second init (tests starting several managers) keeps the first subscriber.
    let _ = result;
}

fn crate_filters(level: &str) -> String {
    [
        "driftless_runtime",
        "source_controller",
        "kustomize_controller",
        "helm_controller",
        "image_automation_controller",
        "notification_controller",
    ]
    .iter()
    .map(|c| format!("{c}={level}"))
    .collect::<Vec<_>>()
    .join(",")
}
