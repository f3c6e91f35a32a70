//! Dispatches events to alert providers and turns webhooks into reconcile requests.

use clap::Parser;
use driftless_runtime::{CommonArgs, Manager};

#[derive(Parser, Debug)]
#[command(
    name = "notification-controller",
    version,
    about = "Dispatches events to alert providers and turns webhooks into reconcile requests.",
    args_override_self = true
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// Number of objects reconciled in parallel.
    #[arg(long, default_value_t = 4)]
    concurrent: u16,
}

fn main() -> anyhow::Result<()> {
    driftless_runtime::run_main(run())
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let manager = Manager::start("notification-controller", args.common, "").await?;
    manager
        .context()
        .metrics
        .set_max_concurrent_reconciles("notification-controller", args.concurrent);
    // Reconcilers are registered here as they are implemented; until then the binary runs the
    // shared plumbing (probes, metrics, leader election) and waits for shutdown.
    manager
        .run(|ctx| async move { ctx.shutdown.cancelled().await })
        .await?;
    Ok(())
}
