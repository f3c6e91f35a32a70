//! Leader election on a `coordination.k8s.io` Lease, like controller-runtime: a replica runs
//! its controllers only while it holds the Lease, exits if it loses it, and gives it up on a
//! clean shutdown so a standby takes over at once.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use kube::runtime::watcher;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("lost the leader-election Lease {0}")]
    Lost(String),
}

#[derive(Clone, Debug)]
pub struct LeaderConfig {
    pub lease_name: String,
    pub namespace: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub release_on_cancel: bool,
}

pub struct Elector {
    config: LeaderConfig,
    manager: LeaseManager,
    lease_changes: futures::stream::BoxStream<'static, ()>,
}

impl Elector {
    pub async fn new(client: Client, config: LeaderConfig) -> Result<Self, LeaderError> {
        let duration = config.lease_duration.as_secs().max(2);
        // Renew `renew_deadline` into the lease: the grace is what is left of it.
        let grace = duration
            .saturating_sub(config.renew_deadline.as_secs())
            .clamp(1, duration - 1);
        let manager = LeaseManagerBuilder::new(client.clone(), &config.lease_name)
            .with_namespace(&config.namespace)
            .with_identity(&config.identity)
            .with_duration(duration)
            .with_grace(grace)
            .with_field_manager(format!("{}-{}", config.lease_name, config.identity))
            .build()
            .await?;
        let leases: Api<Lease> = Api::namespaced(client, &config.namespace);
        let watch =
            watcher::Config::default().fields(&format!("metadata.name={}", config.lease_name));
        let lease_changes = watcher(leases, watch).map(|_| ()).boxed();
        Ok(Self {
            config,
            manager,
            lease_changes,
        })
    }

    /// Waits until this replica holds the Lease. Returns false if `shutdown` fired first.
    pub async fn acquire(&mut self, shutdown: &CancellationToken) -> Result<bool, LeaderError> {
        loop {
            // The lease manager sleeps until the current holder's lease expires; a watch on the
            // Lease wakes it as soon as the holder releases it.
            tokio::select! {
                changed = self.manager.changed() => {
                    if changed? {
                        tracing::info!(lease = %self.config.lease_name, identity = %self.config.identity, "acquired leader-election lease");
                        return Ok(true);
                    }
                }
                Some(()) = self.lease_changes.next() => {}
                () = shutdown.cancelled() => return Ok(false),
            }
        }
    }

    /// Keeps renewing the Lease while `work` runs. Returns when `work` finishes, or with
    /// [`LeaderError::Lost`] if the Lease is lost first. Releases the Lease afterwards when
    /// configured to.
    pub async fn lead<F: std::future::Future<Output = ()>>(
        self,
        work: F,
    ) -> Result<(), LeaderError> {
        tokio::pin!(work);
        let outcome = loop {
            tokio::select! {
                () = &mut work => break Ok(()),
                changed = self.manager.changed() => match changed {
                    Ok(true) => {}
                    Ok(false) => break Err(LeaderError::Lost(self.config.lease_name.clone())),
                    Err(error) => {
                        tracing::warn!(%error, "renewing leader-election lease failed; retrying");
                        // Keep a failing API server from turning this into a busy loop.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        };
        if outcome.is_ok() && self.config.release_on_cancel {
            self.manager.release().await?;
            tracing::info!(lease = %self.config.lease_name, "released leader-election lease");
        }
        outcome
    }
}
