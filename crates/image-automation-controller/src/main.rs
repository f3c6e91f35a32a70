//! Scans image registries, selects tags by policy and commits updates to Git.

use clap::Parser;
use driftless_api::image::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
use driftless_runtime::not_implemented;
use driftless_runtime::{CommonArgs, EventForwardingArgs, Manager};

#[derive(Parser, Debug)]
#[command(
    name = "image-automation-controller",
    version,
    about = "Scans image registries, selects tags by policy and commits updates to Git.",
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
        "image-automation-controller",
        args.common,
        &args.events.events_addr,
    )
    .await?;
    // No kind is implemented yet: each one's objects are marked as such instead of being
    // silently ignored. Replace an entry by its reconciler once it exists.
    manager
        .run(|ctx| async move {
            tokio::join!(
                not_implemented::run::<ImageRepository>(ctx.clone()),
                not_implemented::run::<ImagePolicy>(ctx.clone()),
                not_implemented::run::<ImageUpdateAutomation>(ctx),
            );
        })
        .await?;
    Ok(())
}
