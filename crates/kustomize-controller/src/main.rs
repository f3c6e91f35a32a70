//! Builds Kustomizations from source artifacts and applies them with server-side apply.

use clap::Parser;
use driftless_runtime::{CommonArgs, EventForwardingArgs, Manager};

#[derive(Parser, Debug)]
#[command(
    name = "kustomize-controller",
    version,
    about = "Builds Kustomizations from source artifacts and applies them with server-side apply.",
    args_override_self = true
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    events: EventForwardingArgs,
    /// Number of objects reconciled in parallel.
    #[arg(long, default_value_t = 4)]
    concurrent: u16,
}

fn main() -> anyhow::Result<()> {
    driftless_runtime::run_main(run())
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let manager = Manager::start(
        "kustomize-controller",
        args.common,
        &args.events.events_addr,
    )
    .await?;
    manager
        .context()
        .metrics
        .set_max_concurrent_reconciles("kustomize-controller", args.concurrent);
    // Reconcilers are registered here as they are implemented; until then the binary runs the
    // shared plumbing (probes, metrics, leader election) and waits for shutdown.
    manager
        .run(|ctx| async move { ctx.shutdown.cancelled().await })
        .await?;
    Ok(())
}
