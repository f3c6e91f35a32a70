//! Scans image registries, selects tags by policy and commits updates to Git.

use driftless_api::image::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
use driftless_runtime::Manager;
use driftless_runtime::flags::ControllerArgs;
use driftless_runtime::not_implemented;

fn main() -> anyhow::Result<()> {
    driftless_runtime::run_main(run())
}

async fn run() -> anyhow::Result<()> {
    let args = ControllerArgs::parse_for(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_DESCRIPTION"));
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
