//! `status.history`: the last few distinct outcomes of reconciling, keyed by the digest of the
//! objects a build produced and the Ready reason, newest first, as Flux keeps them.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::kustomize::{MAX_HISTORY_SNAPSHOTS, Snapshot};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;
use sha2::{Digest, Sha256};

use driftless_runtime::go_duration;

/// `sha256:<hex>` of the built objects (after decryption and substitution): the same
/// objects always give the same digest.
pub fn digest(objects: &[Value]) -> String {
    let mut hasher = Sha256::new();
    for object in objects {
        // serde_json writes maps in key order, so equal objects serialize identically.
        hasher.update(serde_json::to_vec(object).unwrap_or_default());
        hasher.update(b"\n---\n");
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Records one reconciliation: counted into the snapshot with the same digest and outcome
/// (which moves to the front), or added as a new first snapshot, dropping the oldest beyond
/// the limit.
pub fn record(
    history: &mut Vec<Snapshot>,
    digest: &str,
    now: Time,
    duration: Duration,
    status: &str,
    metadata: BTreeMap<String, String>,
) {
    let duration = go_duration(duration);
    if let Some(index) = history
        .iter()
        .position(|s| s.digest == digest && s.last_reconciled_status == status)
    {
        let mut snapshot = history.remove(index);
        snapshot.last_reconciled = now;
        snapshot.last_reconciled_duration = duration;
        snapshot.total_reconciliations += 1;
        snapshot.metadata = metadata;
        history.insert(0, snapshot);
        return;
    }
    history.insert(
        0,
        Snapshot {
            digest: digest.to_owned(),
            first_reconciled: now.clone(),
            last_reconciled: now,
            last_reconciled_duration: duration,
            last_reconciled_status: status.to_owned(),
            total_reconciliations: 1,
            metadata,
        },
    );
    history.truncate(MAX_HISTORY_SNAPSHOTS);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn revision(r: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("revision".to_owned(), r.to_owned())])
    }

    #[test]
    fn digests_depend_on_content_only() {
        let a = serde_json::json!({"kind": "ConfigMap", "data": {"a": "1", "b": "2"}});
        let same: Value =
            serde_json::from_str(r#"{"data": {"b": "2", "a": "1"}, "kind": "ConfigMap"}"#).unwrap();
        let other = serde_json::json!({"kind": "ConfigMap", "data": {"a": "1", "b": "3"}});
        assert_eq!(digest(std::slice::from_ref(&a)), digest(&[same]));
        assert_ne!(digest(std::slice::from_ref(&a)), digest(&[other]));
        assert!(digest(&[a]).starts_with("sha256:"));
    }

    #[test]
    fn repeated_outcomes_are_counted_and_new_ones_lead() {
        let mut history = Vec::new();
        let ok = "ReconciliationSucceeded";
        record(
            &mut history,
            "sha256:a",
            at(10),
            Duration::from_millis(1500),
            ok,
            revision("r1"),
        );
        record(
            &mut history,
            "sha256:a",
            at(20),
            Duration::from_secs(2),
            ok,
            revision("r1"),
        );
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].total_reconciliations, 2);
        assert_eq!(history[0].first_reconciled, at(10));
        assert_eq!(history[0].last_reconciled, at(20));
        assert_eq!(history[0].last_reconciled_duration, "2s");

        // The same objects failing are another outcome; returning to success moves the first
        // snapshot back to the front.
        record(
            &mut history,
            "sha256:a",
            at(30),
            Duration::from_secs(1),
            "HealthCheckFailed",
            revision("r1"),
        );
        assert_eq!(history[0].last_reconciled_status, "HealthCheckFailed");
        record(
            &mut history,
            "sha256:a",
            at(40),
            Duration::from_secs(1),
            ok,
            revision("r1"),
        );
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].last_reconciled_status, ok);
        assert_eq!(history[0].total_reconciliations, 3);

        for (i, d) in ["b", "c", "d", "e", "f"].iter().enumerate() {
            record(
                &mut history,
                &format!("sha256:{d}"),
                at(50 + i as i64),
                Duration::ZERO,
                ok,
                revision(d),
            );
        }
        assert_eq!(history.len(), MAX_HISTORY_SNAPSHOTS);
        assert_eq!(history[0].digest, "sha256:f");
        assert_eq!(history[0].metadata["revision"], "f");
        assert!(history.iter().all(|s| s.digest != "sha256:a"));
    }
}
