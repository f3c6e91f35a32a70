//! Releases HelmReleases: charts rendered in process, applied server-side (or client-side as
//! Helm 3 did), and recorded as Helm records releases.

use std::time::Duration;

use clap::Parser;
use driftless_artifact::Limits;
use driftless_runtime::artifact::{ArtifactFetcher, RetryPolicy};
use driftless_runtime::clients::ClientArgs;
use driftless_runtime::{CommonArgs, EventForwardingArgs, Manager, flags};
use helm_controller::helmrelease::{Reconciler, Settings};

#[derive(Parser, Debug)]
#[command(version, about, args_override_self = true)]
struct Args {
    /// How soon to look again at a HelmRelease whose chart source or dependency is not ready.
    #[arg(long, default_value = "5s", value_parser = flags::duration)]
    requeue_dependency: Duration,
    #[command(flatten)]
    clients: ClientArgs,
    /// Memory for unpacked chart artifacts shared by the releases of the same chart.
    #[arg(long, default_value_t = 128 << 20)]
    artifact_cache_bytes: u64,
    /// How many times a failed artifact download is retried (Flux's `--http-retry`).
    #[arg(long, default_value_t = 9)]
    http_retry: u32,
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
    let no_cross_namespace_refs = args.common.no_cross_namespace_refs;
    let external_artifacts = args.common.feature_gate("ExternalArtifact", false);
    let manager = Manager::start("helm-controller", args.common, &args.events.events_addr).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let fetcher = ArtifactFetcher::new(http, Limits::default(), args.artifact_cache_bytes)
        .with_retries(RetryPolicy::flux(args.http_retry));
    // The same configuration the manager's client uses, for impersonating clients.
    let config = kube::Config::infer().await?;
    let settings = Settings {
        requeue_dependency: args.requeue_dependency,
        no_cross_namespace_refs,
        default_service_account: args.clients.default_service_account(),
        kubeconfig_policy: args.clients.policy(),
        external_artifacts,
    };
    manager
        .run(move |ctx| async move {
            Reconciler::new(ctx, config, fetcher, settings).run().await;
        })
        .await?;
    Ok(())
}
