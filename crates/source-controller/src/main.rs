//! Fetches Git, OCI and Bucket sources and serves them as tar.gz artifacts.

use clap::Parser;
use driftless_runtime::{CommonArgs, EventForwardingArgs, Manager};

#[derive(Parser, Debug)]
#[command(
    name = "source-controller",
    version,
    about = "Fetches Git, OCI and Bucket sources and serves them as tar.gz artifacts.",
    args_override_self = true
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    events: EventForwardingArgs,
    /// Number of objects reconciled in parallel.
    #[arg(long, default_value_t = 2)]
    concurrent: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let manager =
        Manager::start("source-controller", args.common, &args.events.events_addr).await?;
    manager
        .context()
        .metrics
        .set_max_concurrent_reconciles("source-controller", args.concurrent);
    // Reconcilers are registered here as they are implemented; until then the binary runs the
    // shared plumbing (probes, metrics, leader election) and waits for shutdown.
    manager
        .run(|ctx| async move { ctx.shutdown.cancelled().await })
        .await?;
    Ok(())
}
