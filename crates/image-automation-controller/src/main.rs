//! Scans image registries, selects tags by policy and commits updates to Git.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use driftless_runtime::{CommonArgs, EventForwardingArgs, Manager};
use image_automation_controller::registry::Registries;
use image_automation_controller::tags::TagStore;
use image_automation_controller::{imagepolicy, imagerepository, imageupdateautomation};

#[derive(Parser, Debug)]
#[command(version, about, args_override_self = true)]
struct Args {
    /// Directory the scanned tags (and Git clones) are kept in across restarts.
    #[arg(long, default_value = "/data")]
    storage_path: PathBuf,
    /// After pushing to the branch a GitRepository follows, request that GitRepository's
    /// reconcile so the commit is fetched at once (instead of at its next interval).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    request_source_reconcile: bool,
    #[command(flatten)]
    events: EventForwardingArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> anyhow::Result<()> {
    driftless_runtime::run_main(run())
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.storage_path)
        .with_context(|| format!("creating storage directory {}", args.storage_path.display()))?;
    let tags = TagStore::new(&args.storage_path);
    let automation = imageupdateautomation::Settings {
        storage: args.storage_path.clone(),
        force_push_branch: args.common.feature_gate("GitForcePushBranch", true),
        request_source_reconcile: args.request_source_reconcile,
    };
    let registries = Registries::new(concat!(
        "driftless-image-automation/",
        env!("CARGO_PKG_VERSION")
    ));
    let manager = Manager::start(
        "image-automation-controller",
        args.common,
        &args.events.events_addr,
    )
    .await?;
    manager
        .run(|ctx| async move {
            tokio::join!(
                imagerepository::Reconciler::new(ctx.clone(), registries.clone(), tags.clone())
                    .run(),
                imagepolicy::Reconciler::new(ctx.clone(), registries, tags).run(),
                imageupdateautomation::Reconciler::new(ctx, automation).run(),
            );
        })
        .await?;
    Ok(())
}
