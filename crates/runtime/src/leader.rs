//! Leader election on a `coordination.k8s.io` Lease with client-go's semantics: a replica runs
//! its controllers only while it holds the Lease, renews it every retry period, steps down
//! (and the process exits) when it cannot confirm a renewal within the renew deadline or sees
//! another holder, and gives the Lease up on a clean shutdown so a standby takes over at once.
//!
//! Expiry is judged by when this replica last saw the Lease change, not by the holder's
//! timestamps, so clock skew between nodes cannot make two replicas lead at once.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use tokio_util::sync::CancellationToken;

const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("lost the leader-election Lease {lease}: {reason}")]
    Lost { lease: String, reason: String },
}

#[derive(Clone, Debug)]
pub struct LeaderConfig {
    pub lease_name: String,
    pub namespace: String,
    /// Unique per replica: `<hostname>_<pid>_<random>`.
    pub identity: String,
    pub lease_duration: Duration,
    /// A leader that has not confirmed a renewal for this long stops leading.
    pub renew_deadline: Duration,
    /// How often the leader renews and a standby retries.
    pub retry_period: Duration,
    pub release_on_cancel: bool,
}

/// `<hostname>_<pid>_<random>`: the random part keeps identities unique where hostnames and
/// pids repeat (pid 1 in every container, host-network pods on one node).
pub fn new_identity() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into());
    format!(
        "{host}_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// The Lease record as last observed, and when this replica observed it.
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    duration: Duration,
    at: Instant,
}

struct LeaseLock {
    api: Api<Lease>,
    config: LeaderConfig,
    observed: Option<Observed>,
}

enum Attempt {
    Holding,
    HeldByOther(String),
}

impl LeaseLock {
    /// One client-go style round: create the Lease, take it if free or expired, or renew it
    /// if ours. Writes carry the read's resourceVersion, so concurrent candidates conflict
    /// instead of both winning.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let duration_seconds =
            i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.config.lease_name).await? else {
            let lease = Lease {
                metadata: kube::api::ObjectMeta {
                    name: Some(self.config.lease_name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Holding),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::HeldByOther(
                    "another replica created it first".into(),
                )),
                Err(error) => Err(error),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        self.observe(&spec);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(self.config.identity.as_str());
        if let Some(other) = holder.as_ref().filter(|_| !ours)
            && !self.observed_expired()
        {
            return Ok(Attempt::HeldByOther(other.clone()));
        }
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(duration_seconds),
            acquire_time: if ours {
                spec.acquire_time
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(
                spec.lease_transitions.unwrap_or(0) + i32::from(!ours && holder.is_some()),
            ),
            ..spec
        });
        match self
            .api
            .replace(&self.config.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                if let Some(spec) = &written.spec {
                    self.observe(spec);
                }
                Ok(Attempt::Holding)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::HeldByOther(
                "the Lease changed while taking it".into(),
            )),
            Err(error) => Err(error),
        }
    }

    fn observe(&mut self, spec: &LeaseSpec) {
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|o| o.holder != spec.holder_identity || o.renew_time != spec.renew_time);
        if changed {
            self.observed = Some(Observed {
                holder: spec.holder_identity.clone(),
                renew_time: spec.renew_time.clone(),
                duration: Duration::from_secs(
                    u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
                ),
                at: Instant::now(),
            });
        }
    }

    fn observed_expired(&self) -> bool {
        self.observed
            .as_ref()
            .is_none_or(|o| o.at.elapsed() > o.duration)
    }

    /// Gives the Lease up if we still hold it, as client-go does on release.
    async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.config.lease_name).await? else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        lease.spec = Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..spec
        });
        self.api
            .replace(&self.config.lease_name, &PostParams::default(), &lease)
            .await?;
        Ok(())
    }
}

pub struct Elector {
    lock: LeaseLock,
}

impl Elector {
    pub fn new(client: Client, config: LeaderConfig) -> Self {
        Self {
            lock: LeaseLock {
                api: Api::namespaced(client, &config.namespace),
                config,
                observed: None,
            },
        }
    }

    /// Waits until this replica holds the Lease. Returns false if `shutdown` fired first.
    pub async fn acquire(&mut self, shutdown: &CancellationToken) -> bool {
        let config = &self.lock.config;
        let watch =
            watcher::Config::default().fields(&format!("metadata.name={}", config.lease_name));
        // Wakes the standby as soon as the holder releases the Lease, instead of at the next
        // retry; the retry period still bounds the wait if the watch is down.
        let mut lease_changes = watcher(self.lock.api.clone(), watch)
            .backoff(crate::watch_backoff::WatchBackoff::default())
            .boxed();
        loop {
            let attempt = tokio::time::timeout(
                self.lock.config.renew_deadline,
                self.lock.try_acquire_or_renew(),
            )
            .await;
            match attempt {
                Ok(Ok(Attempt::Holding)) => {
                    tracing::info!(lease = %self.lock.config.lease_name, identity = %self.lock.config.identity, "acquired leader-election lease");
                    return true;
                }
                Ok(Ok(Attempt::HeldByOther(holder))) => {
                    tracing::debug!(%holder, "leader-election lease is held");
                }
                Ok(Err(error)) => tracing::warn!(%error, "acquiring leader-election lease failed"),
                Err(_) => tracing::warn!("acquiring leader-election lease timed out"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.lock.config.retry_period) => {}
                Some(_) = lease_changes.next() => {}
                () = shutdown.cancelled() => return false,
            }
        }
    }

    /// Runs `work` while renewing the Lease in the background. Returns when `work` finishes,
    /// or with [`LeaderError::Lost`] (dropping `work`) when leadership cannot be confirmed.
    /// Gives the Lease up afterwards when configured to.
    pub async fn lead<F: std::future::Future<Output = ()>>(
        mut self,
        work: F,
    ) -> Result<(), LeaderError> {
        let stop = CancellationToken::new();
        let lease = self.lock.config.lease_name.clone();
        let renewer = tokio::spawn(keep_renewing(self.lock, stop.clone()));
        tokio::pin!(work);
        tokio::pin!(renewer);
        tokio::select! {
            () = &mut work => {
                stop.cancel();
                let Ok(lock) = renewer.await else { return Ok(()) };
                self.lock = lock.map_err(|(_, error)| error)?;
            }
            finished = &mut renewer => {
                return match finished {
                    Ok(Err((_, error))) => Err(error),
                    Ok(Ok(_)) | Err(_) => Err(LeaderError::Lost {
                        lease,
                        reason: "the renewal task ended".into(),
                    }),
                };
            }
        }
        if self.lock.config.release_on_cancel {
            match tokio::time::timeout(RELEASE_TIMEOUT, self.lock.release()).await {
                Ok(Ok(())) => {
                    tracing::info!(lease = %self.lock.config.lease_name, "released leader-election lease")
                }
                Ok(Err(error)) => tracing::warn!(%error, "releasing leader-election lease failed"),
                Err(_) => tracing::warn!("releasing leader-election lease timed out"),
            }
        }
        Ok(())
    }
}

/// Renews every retry period until `stop`; fails once another holder is seen or no renewal
/// has been confirmed for the renew deadline.
async fn keep_renewing(
    mut lock: LeaseLock,
    stop: CancellationToken,
) -> Result<LeaseLock, (LeaseLock, LeaderError)> {
    let mut last_renewed = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(lock),
            () = tokio::time::sleep(lock.config.retry_period) => {}
        }
        let remaining = lock
            .config
            .renew_deadline
            .saturating_sub(last_renewed.elapsed());
        let failure = match tokio::time::timeout(remaining, lock.try_acquire_or_renew()).await {
            Ok(Ok(Attempt::Holding)) => {
                last_renewed = Instant::now();
                continue;
            }
            Ok(Ok(Attempt::HeldByOther(holder))) => {
                let lease = lock.config.lease_name.clone();
                let reason = format!("now held by {holder}");
                return Err((lock, LeaderError::Lost { lease, reason }));
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => "renewal timed out".to_owned(),
        };
        tracing::warn!(error = %failure, "renewing leader-election lease failed");
        if last_renewed.elapsed() >= lock.config.renew_deadline {
            let lease = lock.config.lease_name.clone();
            let reason = format!("no renewal within the renew deadline ({failure})");
            return Err((lock, LeaderError::Lost { lease, reason }));
        }
    }
}
