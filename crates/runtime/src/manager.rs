//! The process skeleton every controller binary shares: flags → tracing → client → probes and
//! metrics → leader election → controllers → graceful shutdown on SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio_util::sync::CancellationToken;

use crate::events::EventRecorder;
use crate::flags::CommonArgs;
use crate::leader::{Elector, LeaderConfig};
use crate::metrics::Metrics;
use crate::server::{self, Readiness};

#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("building the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    #[error("reaching the Kubernetes API server: {0}")]
    ApiServer(#[source] kube::Error),
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Leader(#[from] crate::leader::LeaderError),
}

/// What a running controller gets from the manager.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub args: CommonArgs,
    pub controller: &'static str,
    pub metrics: Arc<Metrics>,
    pub events: EventRecorder,
    pub shutdown: CancellationToken,
    /// Namespace the controller runs in.
    pub runtime_namespace: String,
}

pub struct Manager {
    ctx: Context,
    readiness: Readiness,
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
}

impl Manager {
    /// Sets up logging, the client, and the probe and metrics servers. `controller` is the
    /// controller's name (`source-controller`), used for the Lease, events and field managers.
    /// `events_addr` is the notification-controller URL events are forwarded to (empty: none).
    pub async fn start(
        controller: &'static str,
        args: CommonArgs,
        events_addr: &str,
    ) -> Result<Self, ManagerError> {
        // One TLS backend for every client in the process (kube and reqwest).
        let _ = rustls::crypto::ring::default_provider().install_default();
        crate::telemetry::init(args.log_level, args.log_encoding);

        let config = kube::Config::infer()
            .await
            .map_err(|e| ManagerError::Client(kube::Error::InferConfig(e)))?;
        let default_namespace = config.default_namespace.clone();
        let metrics = Arc::new(Metrics::new());
        let requests = crate::client_metrics::RequestCountLayer {
            requests: metrics.rest_requests.clone(),
            host: config
                .cluster_url
                .authority()
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
        // An API server outage is logged once, not once per failed request.
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(ManagerError::Client)?
            .with_layer(&crate::api_outage::OutageLayer)
            .with_layer(&requests)
            .build();
        let version = client
            .apiserver_version()
            .await
            .map_err(ManagerError::ApiServer)?;
        let runtime_namespace = if args.runtime_namespace.is_empty() {
            default_namespace
        } else {
            args.runtime_namespace.clone()
        };

        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone());

        let readiness = Readiness::default();
        let metrics_addr = server::serve(
            args.metrics_addr,
            server::metrics_router(metrics.clone()),
            shutdown.clone(),
        )
        .await
        .map_err(|source| ManagerError::Bind {
            what: "metrics server",
            addr: args.metrics_addr,
            source,
        })?;
        let health_addr = server::serve(
            args.health_addr,
            server::probes_router(readiness.clone()),
            shutdown.clone(),
        )
        .await
        .map_err(|source| ManagerError::Bind {
            what: "health probes",
            addr: args.health_addr,
            source,
        })?;

        let instance = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| controller.to_owned());
        let events = EventRecorder::new(client.clone(), controller, &instance, events_addr);
        tracing::info!(
            controller,
            kubernetes = %version.git_version,
            %metrics_addr,
            %health_addr,
            namespace = %runtime_namespace,
            "starting"
        );
        Ok(Self {
            ctx: Context {
                client,
                args,
                controller,
                metrics,
                events,
                shutdown,
                runtime_namespace,
            },
            readiness,
            metrics_addr,
            health_addr,
        })
    }

    pub fn context(&self) -> &Context {
        &self.ctx
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// Runs `controllers` (once leading, when leader election is on) until SIGTERM/SIGINT or
    /// until they return. The future must stop on `ctx.shutdown`.
    pub async fn run<F, Fut>(self, controllers: F) -> Result<(), ManagerError>
    where
        F: FnOnce(Context) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let ctx = self.ctx;
        // Ready means "able to serve": a standby replica is ready too, as in controller-runtime.
        self.readiness.set(true);
        let lease_name = format!("{}-leader-election", ctx.controller);
        let result = if ctx.args.enable_leader_election {
            let config = LeaderConfig {
                lease_name: lease_name.clone(),
                namespace: ctx.runtime_namespace.clone(),
                identity: crate::leader::new_identity(),
                lease_duration: ctx.args.leader_election_lease_duration,
                renew_deadline: ctx.args.leader_election_renew_deadline,
                retry_period: ctx.args.leader_election_retry_period,
                release_on_cancel: ctx.args.leader_election_release_on_cancel,
            };
            ctx.metrics.set_leader(&lease_name, false);
            let mut elector = Elector::new(ctx.client.clone(), config);
            if elector.acquire(&ctx.shutdown).await {
                ctx.metrics.set_leader(&lease_name, true);
                let shutdown = ctx.shutdown.clone();
                let metrics = ctx.metrics.clone();
                let outcome = elector.lead(controllers(ctx)).await;
                metrics.set_leader(&lease_name, false);
                shutdown.cancel();
                outcome.map_err(ManagerError::from)
            } else {
                Ok(())
            }
        } else {
            let shutdown = ctx.shutdown.clone();
            controllers(ctx).await;
            shutdown.cancel();
            Ok(())
        };
        self.readiness.set(false);
        // Let the HTTP servers finish in-flight requests.
        tokio::time::sleep(Duration::from_millis(50)).await;
        tracing::info!("stopped");
        result
    }
}

fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = terminate => tracing::info!("received SIGTERM, shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT, shutting down"),
            () = shutdown.cancelled() => return,
        }
        shutdown.cancel();
    });
}
