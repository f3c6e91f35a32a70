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
use driftless_api::meta::RECONCILE_REQUEST_ANNOTATION;
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

/// A health wait under way: what its revision applied. The polls that follow look at health
/// alone, as Flux's wait does, instead of fetching, building and applying the same revision
/// again: with many Kustomizations waiting, that is API load that slows every other one.
pub(super) struct HealthWait {
    /// What the wait is for; a new revision, generation or reconcile request reconciles in
    /// full.
    key: WaitKey,
    /// The applied objects, reported already (so `Unchanged` from here on).
    pub(super) changes: Vec<Change>,
    pub(super) built_digest: String,
}

#[derive(Clone, PartialEq, Eq)]
struct WaitKey {
    revision: String,
    generation: Option<i64>,
    requested_at: Option<String>,
}

impl WaitKey {
    fn of(object: &Kustomization, revision: &str) -> WaitKey {
        WaitKey {
            revision: revision.to_owned(),
            generation: object.metadata.generation,
            requested_at: object
                .annotations()
                .get(RECONCILE_REQUEST_ANNOTATION)
                .cloned(),
        }
    }
}

/// The changes of an apply as later polls see them: nothing changes again.
fn as_reported(changes: &[Change]) -> Vec<Change> {
    changes
        .iter()
        .map(|change| {
            let mut change = change.clone();
            if matches!(change.action, Applied::Created | Applied::Configured) {
                change.action = Applied::Unchanged;
            }
            change.drifted.clear();
            change
        })
        .collect()
}

impl Reconciler {
    /// The health wait `object` has under way at `revision`, if this reconcile is a poll of it.
    pub(super) fn health_wait_of(
        &self,
        object: &Kustomization,
        revision: &str,
    ) -> Option<HealthWait> {
        let waits = self.health_waits.lock().unwrap_or_else(|e| e.into_inner());
        let wait = waits.get(&object_key(object))?;
        (wait.key == WaitKey::of(object, revision)).then(|| HealthWait {
            key: wait.key.clone(),
            changes: wait.changes.clone(),
            built_digest: wait.built_digest.clone(),
        })
    }

    /// Remembers a revision whose health is still awaited; forgets it on any other result.
    pub(super) fn note_health_wait(
        &self,
        object: &Kustomization,
        revision: &str,
        result: &Result<(Vec<Change>, HealthOutcome), Outcome>,
        built_digest: Option<&str>,
    ) {
        let mut waits = self.health_waits.lock().unwrap_or_else(|e| e.into_inner());
        let key = object_key(object);
        match (result, built_digest) {
            (Ok((changes, HealthOutcome::Waiting(_))), Some(digest)) => {
                waits.insert(
                    key,
                    HealthWait {
                        key: WaitKey::of(object, revision),
                        changes: as_reported(changes),
                        built_digest: digest.to_owned(),
                    },
                );
            }
            _ => {
                waits.remove(&key);
            }
        }
    }

    /// One poll of a health wait: the health of what the revision applied.
    pub(super) async fn poll_health(
        &self,
        object: &Kustomization,
        changes: Vec<Change>,
        revision: &str,
        custom: &CustomHealthChecks,
    ) -> Result<(Vec<Change>, HealthOutcome), Outcome> {
        let applier = self.applier_for(object).await?;
        let health = self
            .check_health(object, &applier, &changes, revision, custom)
            .await?;
        Ok((changes, health))
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: &str, action: Applied) -> Change {
        Change {
            id: ObjectId {
                group: String::new(),
                version: "v1".into(),
                kind: kind.into(),
                namespace: "apps".into(),
                name: "web".into(),
            },
            action,
            drifted: vec!["/data/a".into()],
        }
    }

    #[test]
    fn polls_see_what_was_applied_as_unchanged() {
        let applied = [
            change("ConfigMap", Applied::Created),
            change("Service", Applied::Configured),
            change("Secret", Applied::Skipped),
            change("Pod", Applied::Deleted),
        ];
        let actions: Vec<Applied> = as_reported(&applied).iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            [
                Applied::Unchanged,
                Applied::Unchanged,
                Applied::Skipped,
                Applied::Deleted
            ]
        );
        assert!(as_reported(&applied).iter().all(|c| c.drifted.is_empty()));
    }

    #[test]
    fn a_new_generation_revision_or_request_ends_the_wait() {
        let mut object = Kustomization::new("app", Default::default());
        object.metadata.generation = Some(1);
        let waiting = WaitKey::of(&object, "main@sha1:1");
        assert!(WaitKey::of(&object, "main@sha1:1") == waiting);
        assert!(WaitKey::of(&object, "main@sha1:2") != waiting);
        object.metadata.generation = Some(2);
        assert!(WaitKey::of(&object, "main@sha1:1") != waiting);
        object.metadata.generation = Some(1);
        object.metadata.annotations = Some(
            [(RECONCILE_REQUEST_ANNOTATION.to_owned(), "now".to_owned())]
                .into_iter()
                .collect(),
        );
        assert!(WaitKey::of(&object, "main@sha1:1") != waiting);
    }
}
