//! Waits with `waitStrategy: legacy`: the reads Helm 3's checks need (see
//! [`crate::legacy_wait`] for the checks themselves).

use driftless_runtime::apply::Applier;
use driftless_runtime::health::Health;
use driftless_runtime::inventory::ObjectId;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::actions::{Round, Tally};
use crate::legacy_wait;

/// One look with Helm 3's checks: each object of a kind Helm 3 waits for is read (a
/// Deployment's ReplicaSets too); the others pass at once.
pub(super) async fn helm3_round(applier: &Applier, ids: &[ObjectId]) -> Round {
    let mut tally = Tally::default();
    for id in ids {
        if !legacy_wait::waits_for(&id.group, &id.kind) {
            continue;
        }
        // Helm 3 retries failed reads until its timeout; so does this wait.
        let state = look(applier, id).await.unwrap_or_else(Health::InProgress);
        if let Some(failed) = tally.add(id, state) {
            return failed;
        }
    }
    tally.round()
}

async fn look(applier: &Applier, id: &ObjectId) -> Result<Health, String> {
    let Some(mut live) = applier.get(id).await.map_err(|e| e.to_string())? else {
        return Ok(Health::InProgress("not found".into()));
    };
    live["kind"] = Value::String(id.kind.clone());
    if id.kind != "Deployment" {
        return Ok(legacy_wait::readiness(&live, None));
    }
    let replica_sets = owned_replica_sets(applier, &live, &id.namespace).await?;
    let newest = legacy_wait::newest_replica_set(&live, &replica_sets);
    Ok(legacy_wait::readiness(&live, newest))
}

/// The ReplicaSets matching a Deployment's `matchLabels` (ownership is checked by the caller).
async fn owned_replica_sets(
    applier: &Applier,
    deployment: &Value,
    namespace: &str,
) -> Result<Vec<Value>, String> {
    let selector = deployment
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(key, value)| Some(format!("{key}={}", value.as_str()?)))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(applier.client().clone(), namespace);
    let listed = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| format!("listing the ReplicaSets of a Deployment: {e}"))?;
    Ok(listed
        .items
        .iter()
        .filter_map(|rs| serde_json::to_value(rs).ok())
        .collect())
}
