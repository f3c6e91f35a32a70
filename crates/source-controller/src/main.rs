//! Fetches Git, OCI, bucket and Helm sources, builds Helm charts, and serves them as artifacts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use driftless_git::tree::TreeLimits;
use driftless_runtime::flags::{bind_addr, duration};
use driftless_runtime::{CommonArgs, EventForwardingArgs, Manager};
use source_controller::gitrepository::{Reconciler, Settings};
use source_controller::storage::{Retention, Storage};
use source_controller::{bucket, helmchart, helmrepository, ocirepository};

#[derive(Parser, Debug)]
#[command(version, about, args_override_self = true)]
struct Args {
    /// Directory artifacts are stored in.
    #[arg(long, default_value = "/data")]
    storage_path: PathBuf,
    /// Address the artifact file server binds to.
    #[arg(long, default_value = ":9090", value_parser = bind_addr)]
    storage_addr: std::net::SocketAddr,
    /// Host (and port), or base URL, artifacts are advertised at; derived from the bound
    /// address when empty.
    #[arg(long, default_value = "")]
    storage_adv_addr: String,
    /// Superseded artifacts older than this are removed.
    #[arg(long, default_value = "60s", value_parser = duration)]
    artifact_retention_ttl: Duration,
    /// Artifacts kept per object, the current one included.
    #[arg(long, default_value_t = 2)]
    artifact_retention_records: usize,
    /// Downloads served at once; further requests wait their turn.
    #[arg(long, default_value_t = 64)]
    storage_max_concurrent_downloads: usize,
    /// Largest source (sum of file sizes after ignore rules) packed into an artifact.
    #[arg(long, default_value_t = 512 << 20)]
    max_source_bytes: u64,
    /// Most files packed into one artifact.
    #[arg(long, default_value_t = 100_000)]
    max_source_files: usize,
    #[command(flatten)]
    events: EventForwardingArgs,
    #[command(flatten)]
    common: CommonArgs,
}

/// Flux's rule: an unspecified or wildcard host becomes this host's name.
fn advertised_address(configured: &str, bound: std::net::SocketAddr) -> String {
    if !configured.is_empty() {
        return configured.to_owned();
    }
    let host = if bound.ip().is_unspecified() {
        hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into())
    } else {
        bound.ip().to_string()
    };
    format!("{host}:{}", bound.port())
}

fn main() -> anyhow::Result<()> {
    driftless_runtime::run_main(run())
}

async fn run() -> anyhow::Result<()> {
    // Fetches are heavy: fewer at once than other controllers reconcile, as in Flux.
    let args: Args = driftless_runtime::flags::parse_with_defaults(&[("concurrent", "2")]);
    let manager =
        Manager::start("source-controller", args.common, &args.events.events_addr).await?;
    std::fs::create_dir_all(&args.storage_path)
        .with_context(|| format!("creating storage directory {}", args.storage_path.display()))?;
    let retention = Retention {
        records: args.artifact_retention_records.max(1),
        ttl: args.artifact_retention_ttl,
    };
    // Bind first, so the advertised address can carry the real port.
    let placeholder = Storage::new(args.storage_path.clone(), "localhost", retention);
    let bound = driftless_runtime::server::serve(
        args.storage_addr,
        placeholder.router(args.storage_max_concurrent_downloads),
        manager.context().shutdown.clone(),
    )
    .await
    .with_context(|| format!("binding the artifact server on {}", args.storage_addr))?;
    let storage = Storage::new(
        args.storage_path.clone(),
        &advertised_address(&args.storage_adv_addr, bound),
        retention,
    );
    tracing::info!(addr = %bound, url = %storage.url(""), "serving artifacts");

    // Temporary repositories live beside the artifacts (never served: `.tmp-` paths are
    // hidden), one directory per controller; those of a process killed mid-fetch go here.
    let work_dir = args.storage_path.join(".tmp-git");
    let _ = std::fs::remove_dir_all(&work_dir);
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating work directory {}", work_dir.display()))?;
    let settings = Settings {
        work_dir,
        limits: TreeLimits {
            max_bytes: args.max_source_bytes,
            max_files: args.max_source_files,
        },
    };
    let oci_settings = ocirepository::Settings {
        limits: driftless_artifact::Limits {
            max_compressed_bytes: args.max_source_bytes,
            max_uncompressed_bytes: args.max_source_bytes,
            max_files: args.max_source_files,
        },
    };
    let registries = driftless_registry::Registries::new(concat!(
        "driftless-source-controller/",
        env!("CARGO_PKG_VERSION")
    ));
    manager
        .run(move |ctx| async move {
            tokio::join!(
                Reconciler::new(ctx.clone(), storage.clone(), settings).run(),
                ocirepository::Reconciler::new(
                    ctx.clone(),
                    storage.clone(),
                    registries.clone(),
                    oci_settings
                )
                .run(),
                helmrepository::Reconciler::new(ctx.clone(), storage.clone()).run(),
                helmchart::Reconciler::new(
                    ctx.clone(),
                    storage.clone(),
                    registries,
                    oci_settings.limits
                )
                .run(),
                bucket::Reconciler::new(ctx, storage, oci_settings.limits).run(),
            );
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_address_follows_flux() {
        let bound = "127.0.0.1:9090".parse().unwrap();
        assert_eq!(advertised_address("", bound), "127.0.0.1:9090");
        assert_eq!(
            advertised_address("source-controller.flux-system.svc.cluster.local.", bound),
            "source-controller.flux-system.svc.cluster.local."
        );
        let any = "0.0.0.0:9090".parse().unwrap();
        assert!(advertised_address("", any).ends_with(":9090"));
        assert!(!advertised_address("", any).starts_with("0.0.0.0"));
    }
}
