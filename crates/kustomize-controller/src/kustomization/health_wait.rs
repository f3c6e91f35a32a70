//! Health of what a revision applied (`spec.wait`, `spec.healthChecks`, custom CEL checks),
//! looked at once per reconcile: a rollout in progress requeues soon instead of holding a
//! worker until the timeout, so one slow Kustomization never delays the others.

use std::time::{Duration, Instant};

use driftless_api::conditions::HEALTH_CHECK_FAILED;
use driftless_api::kustomize::Kustomization;
use driftless_api::meta::parse_duration;
use driftless_runtime::go_duration;
use driftless_runtime::reconcile::Outcome;
use kube::ResourceExt;

use super::Reconciler;
use super::outcome::failure;
use driftless_runtime::apply::{Action as Applied, Applier, Change};
use driftless_runtime::health::{self, Health};
use driftless_runtime::health_exprs::CustomHealthChecks;
use driftless_runtime::inventory::ObjectId;
use driftless_runtime::reconcile::object_key;

/// How often health is looked at again while objects roll out.
pub(super) const HEALTH_POLL: Duration = Duration::from_secs(2);

pub(super) enum HealthOutcome {
    /// Neither `wait` nor `healthChecks`.
    NotChecked,
    Healthy(Duration),
    Waiting(String),
}

impl Reconciler {
    /// `spec.wait` (every applied object) or `spec.healthChecks`, checked once per reconcile:
    /// a rollout in progress requeues soon instead of holding a worker until the timeout.
    pub(super) async fn check_health(
        &self,
        object: &Kustomization,
        applier: &Applier,
        changes: &[Change],
        revision: &str,
        custom: &CustomHealthChecks,
    ) -> Result<HealthOutcome, Outcome> {
        let targets: Vec<ObjectId> = if object.spec.wait {
            changes
                .iter()
                .filter(|c| !matches!(c.action, Applied::Skipped | Applied::Deleted))
                .map(|c| c.id.clone())
                .collect()
        } else {
            let own = object.namespace().unwrap_or_default();
            object
                .spec
                .health_checks
                .iter()
                .map(|check| {
                    let api_version = check
                        .api_version
                        .clone()
                        .unwrap_or_else(|| "apps/v1".to_owned());
                    let (group, version) = api_version
                        .split_once('/')
                        .map_or((String::new(), api_version.clone()), |(g, v)| {
                            (g.to_owned(), v.to_owned())
                        });
                    ObjectId {
                        group,
                        version,
                        kind: check.kind.clone(),
                        namespace: check.namespace.clone().unwrap_or_else(|| own.clone()),
                        name: check.name.clone(),
                    }
                })
                .collect()
        };
        if targets.is_empty() {
            return Ok(HealthOutcome::NotChecked);
        }
        let key = object_key(object);
        let started = {
            let mut started = self
                .health_started
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let entry = started
                .entry(key.clone())
                .or_insert_with(|| (revision.to_owned(), Instant::now()));
            if entry.0 != revision {
                *entry = (revision.to_owned(), Instant::now());
            }
            entry.1
        };
        let mut pending = Vec::new();
        for id in &targets {
            let state = match applier.get(id).await {
                Ok(Some(live)) => custom
                    .health(&live)
                    .unwrap_or_else(|| health::health(&live)),
                Ok(None) => Health::InProgress("not found".to_owned()),
                Err(e) => Health::InProgress(e.to_string()),
            };
            match state {
                Health::Current => {}
                Health::Failed(message) => {
                    self.forget_health(&key);
                    let detail = if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    };
                    return Err(failure(
                        object,
                        HEALTH_CHECK_FAILED,
                        format!(
                            "health check failed after {}: {} status: 'Failed'{detail}",
                            go_duration(started.elapsed()),
                            id.display()
                        ),
                    ));
                }
                Health::InProgress(_) => {
                    pending.push(format!("{} status: 'InProgress'", id.display()))
                }
                Health::Unknown(error) => {
                    pending.push(format!("{} status: 'Unknown': {error}", id.display()))
                }
            }
        }
        let timeout = timeout_of(object);
        if pending.is_empty() {
            self.forget_health(&key);
            return Ok(HealthOutcome::Healthy(started.elapsed()));
        }
        if started.elapsed() >= timeout {
            self.forget_health(&key);
            return Err(failure(
                object,
                HEALTH_CHECK_FAILED,
                format!(
                    "health check failed after {}: timeout waiting for: [{}]",
                    go_duration(started.elapsed()),
                    pending.join(", ")
                ),
            ));
        }
        Ok(HealthOutcome::Waiting(format!(
            "Waiting for health checks: [{}]",
            pending.join(", ")
        )))
    }

    pub(super) fn forget_health(&self, key: &str) {
        self.health_started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// `spec.timeout`, else the interval less 30s (at least 30s).
pub(super) fn timeout_of(object: &Kustomization) -> Duration {
    if let Some(timeout) = object
        .spec
        .timeout
        .as_deref()
        .and_then(|t| parse_duration(t).ok())
    {
        return timeout;
    }
    let interval = parse_duration(&object.spec.interval).unwrap_or(Duration::from_secs(600));
    interval
        .saturating_sub(Duration::from_secs(30))
        .max(Duration::from_secs(30))
}
