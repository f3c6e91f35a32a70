//! Builds Kustomizations from source artifacts and applies them with server-side apply.

use std::time::Duration;

use clap::Parser;
use driftless_artifact::Limits;
use driftless_runtime::artifact::ArtifactFetcher;
use driftless_runtime::clients::KubeconfigPolicy;
use driftless_runtime::{CommonArgs, EventForwardingArgs, Manager};
use kustomize_controller::kustomization::{Reconciler, Settings};

#[derive(Parser, Debug)]
#[command(version, about, args_override_self = true)]
struct Args {
    /// How soon to look again at a Kustomization whose source has no artifact yet.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    requeue_dependency: Duration,
    /// Service account impersonated for Kustomizations without `spec.serviceAccountName`
    /// (none: the controller's own).
    #[arg(long, default_value = "")]
    default_service_account: String,
    /// Secret (in the controller's namespace, `--runtime-namespace`) whose `*.agekey` entries
    /// decrypt Kustomizations that set `spec.decryption` without a `secretRef`.
    #[arg(long, default_value = "")]
    sops_age_secret: String,
    /// Let kubeconfigs of remote clusters (`spec.kubeConfig`) run exec credential plugins.
    #[arg(long)]
    insecure_kubeconfig_exec: bool,
    /// Let kubeconfigs of remote clusters skip TLS verification.
    #[arg(long)]
    insecure_kubeconfig_tls: bool,
    /// A field manager whose changes to applied objects are reverted, like `kubectl`'s
    /// (repeatable or comma-separated).
    #[arg(long = "override-manager", value_delimiter = ',')]
    override_managers: Vec<String>,
    /// Memory for unpacked artifacts shared by the Kustomizations built from them.
    #[arg(long, default_value_t = 256 << 20)]
    artifact_cache_bytes: u64,
    #[command(flatten)]
    events: EventForwardingArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    driftless_api::meta::parse_duration(text).map_err(|e| e.to_string())
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
    let fetcher = ArtifactFetcher::new(http, Limits::default(), args.artifact_cache_bytes);
    let settings = Settings {
        default_service_account: Some(args.default_service_account.clone())
            .filter(|s| !s.is_empty()),
        strict_substitution,
        requeue_dependency: args.requeue_dependency,
        no_cross_namespace_refs,
        sops_age_secret: Some(args.sops_age_secret.clone()).filter(|s| !s.is_empty()),
        kubeconfig_policy: KubeconfigPolicy {
            allow_exec: args.insecure_kubeconfig_exec,
            allow_insecure_tls: args.insecure_kubeconfig_tls,
        },
        override_managers: args.override_managers,
    };
    manager
        .run(move |ctx| async move {
            Reconciler::new(ctx, config, fetcher, settings).run().await;
        })
        .await?;
    Ok(())
}
