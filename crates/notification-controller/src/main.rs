//! Dispatches events to alert providers and turns webhooks into reconcile requests.

use std::num::NonZeroU32;

use anyhow::Context as _;
use clap::Parser;
use driftless_api::notification::{Alert, Provider, Receiver};
use driftless_runtime::flags::{bind_addr, duration};
use driftless_runtime::reconcile::spawn_cache;
use driftless_runtime::{CommonArgs, Manager};
use notification_controller::events;
use notification_controller::receiver::ReceiverReconciler;
use notification_controller::webhook::{self, Limits};

#[derive(Parser, Debug)]
#[command(version, about, args_override_self = true)]
struct Args {
    /// Address the event server binds to (controllers post their events here).
    #[arg(long, default_value = ":9090", value_parser = bind_addr)]
    events_addr: std::net::SocketAddr,
    /// The same event for the same Alert within this interval is sent once.
    #[arg(long, default_value = "5m", value_parser = duration)]
    rate_limit_interval: std::time::Duration,
    /// Address the webhook receiver server binds to.
    #[arg(long, default_value = ":9292", value_parser = bind_addr)]
    receiver_addr: std::net::SocketAddr,
    /// Largest webhook body accepted; larger ones are refused with 413.
    #[arg(long, default_value_t = 5 << 20)]
    receiver_max_body_bytes: usize,
    /// Webhook requests per second per Receiver (bursts of twice as many); more get 429.
    #[arg(long, default_value_t = NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN))]
    receiver_requests_per_second: NonZeroU32,
    /// OIDC issuer of the Google ID tokens that gcr Receivers accept on Pub/Sub pushes (its
    /// discovery document gives the signing keys).
    #[arg(long, default_value = webhook::GOOGLE_ISSUER)]
    gcr_token_issuer: String,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> anyhow::Result<()> {
    driftless_runtime::run_main(run())
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let limits = Limits {
        max_body_bytes: args.receiver_max_body_bytes,
        per_receiver_per_second: args.receiver_requests_per_second,
        no_cross_namespace_refs: args.common.no_cross_namespace_refs,
    };
    let manager = Manager::start("notification-controller", args.common, "").await?;
    let ctx = manager.context().clone();

    // Every replica serves webhooks and events, leader or not, from its own caches.
    let receivers = spawn_cache::<Receiver>(&ctx);
    let alerts = spawn_cache::<Alert>(&ctx);
    let providers = spawn_cache::<Provider>(&ctx);
    let bound = driftless_runtime::server::serve(
        args.receiver_addr,
        driftless_runtime::http_metrics::instrument(
            webhook::router(
                ctx.client.clone(),
                receivers,
                limits,
                args.gcr_token_issuer.clone(),
            )
            .map_err(anyhow::Error::msg)?,
            &ctx.metrics,
            "gotk_receiver",
        ),
        ctx.shutdown.clone(),
    )
    .await
    .with_context(|| format!("binding the webhook receiver on {}", args.receiver_addr))?;
    tracing::info!(addr = %bound, "serving webhook receivers");

    let settings = events::Settings {
        max_body_bytes: 1 << 20,
        dedupe: args.rate_limit_interval,
        no_cross_namespace_refs: limits.no_cross_namespace_refs,
    };
    let bound = driftless_runtime::server::serve(
        args.events_addr,
        driftless_runtime::http_metrics::instrument(
            events::router(
                ctx.client.clone(),
                &ctx.metrics,
                ctx.events.clone(),
                alerts,
                providers,
                settings,
            ),
            &ctx.metrics,
            "gotk_event",
        ),
        ctx.shutdown.clone(),
    )
    .await
    .with_context(|| format!("binding the event server on {}", args.events_addr))?;
    tracing::info!(addr = %bound, "serving events");

    manager.run(ReceiverReconciler::run).await?;
    Ok(())
}
