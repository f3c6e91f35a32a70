//! Builds Kustomizations from source artifacts and applies them with server-side apply.

use std::time::Duration;

use clap::Parser;
use driftless_artifact::Limits;
use driftless_runtime::artifact::{ArtifactFetcher, RetryPolicy};
use driftless_runtime::clients::ClientArgs;
use driftless_runtime::{CommonArgs, EventForwardingArgs, Manager, flags};
use kustomize_controller::kustomization::{Reconciler, Settings};

#[derive(Parser, Debug)]
#[command(version, about, args_override_self = true)]
struct Args {
    /// How soon to look again at a Kustomization whose source has no artifact yet.
    #[arg(long, default_value = "30s", value_parser = flags::duration)]
    requeue_dependency: Duration,
    #[command(flatten)]
    clients: ClientArgs,
    /// Secret (in the controller's namespace, `--runtime-namespace`) whose `*.agekey` entries
    /// decrypt Kustomizations that set `spec.decryption` without a `secretRef`.
    #[arg(long, default_value = "")]
    sops_age_secret: String,
    /// A field manager whose changes to applied objects are reverted, like `kubectl`'s
    /// (repeatable or comma-separated).
    #[arg(long = "override-manager", value_delimiter = ',')]
    override_managers: Vec<String>,
    /// Memory for unpacked artifacts shared by the Kustomizations built from them.
    #[arg(long, default_value_t = 256 << 20)]
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
    let strict_substitution = args
        .common
        .feature_gate("StrictPostBuildSubstitutions", false);
    let external_artifacts = args.common.feature_gate("ExternalArtifact", false);
    let manager = Manager::start(
        "kustomize-controller",
        args.common,
        &args.events.events_addr,
    )
    .await?;
    // The same configuration the manager's client uses, for impersonating clients.
    let config = kube::Config::infer().await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let fetcher = ArtifactFetcher::new(http, Limits::default(), args.artifact_cache_bytes)
        .with_retries(RetryPolicy::flux(args.http_retry));
    let settings = Settings {
        default_service_account: args.clients.default_service_account(),
        strict_substitution,
        requeue_dependency: args.requeue_dependency,
        no_cross_namespace_refs,
        sops_age_secret: Some(args.sops_age_secret.clone()).filter(|s| !s.is_empty()),
        kubeconfig_policy: args.clients.policy(),
        override_managers: args.override_managers,
        external_artifacts,
    };
    manager
        .run(move |ctx| async move {
            Reconciler::new(ctx, config, fetcher, settings).run().await;
        })
        .await?;
    Ok(())
}
