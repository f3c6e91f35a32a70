//! `waitStrategy: legacy`: Helm 3's readiness checks instead of kstatus. Only the kinds Helm 3
//! knew are waited on, each by its own rule (a Deployment by its newest ReplicaSet, allowing
//! `maxUnavailable`); anything else, custom resources included, counts as ready at once.

use driftless_runtime::health::Health;
use serde_json::Value;

/// Whether Helm 3 waits for objects of this kind at all.
pub fn waits_for(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "",
            "Pod" | "PersistentVolumeClaim" | "Service" | "ReplicationController"
        ) | ("batch", "Job")
            | (
                "apps" | "extensions",
                "Deployment" | "DaemonSet" | "ReplicaSet"
            )
            | ("apps", "StatefulSet")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

/// The annotation the deployment controller sets, on a Deployment and on the ReplicaSet of
/// the same revision.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// Helm 3's verdict on `object` as read now. A Deployment is judged with its newest
/// ReplicaSet, `new_replica_set` (see [`newest_replica_set`]).
pub fn readiness(object: &Value, new_replica_set: Option<&Value>) -> Health {
    let kind = object["kind"].as_str().unwrap_or_default();
    let ready = match kind {
        "Pod" => condition_true(object, "Ready"),
        "Job" => return job(object),
        "Deployment" => deployment(object, new_replica_set),
        "PersistentVolumeClaim" => object.pointer("/status/phase") == Some(&"Bound".into()),
        "Service" => service(object),
        "DaemonSet" => daemon_set(object),
        "CustomResourceDefinition" => crd(object),
        "StatefulSet" => stateful_set(object),
        "ReplicaSet" | "ReplicationController" => {
            observed(object) && int(object, "/status/readyReplicas") >= replicas(object)
        }
        _ => true,
    };
    if ready {
        Health::Current
    } else {
        Health::InProgress(format!("{kind} is not ready"))
    }
}

/// Of the ReplicaSets a Deployment owns, the one of its current revision: the ReplicaSet
/// Helm 3 reads a Deployment's readiness from.
pub fn newest_replica_set<'a>(deployment: &Value, owned: &'a [Value]) -> Option<&'a Value> {
    let uid = deployment.pointer("/metadata/uid")?.as_str()?;
    let revision = annotation(deployment, REVISION_ANNOTATION)?;
    owned.iter().find(|rs| {
        let owners = rs
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array);
        owners.is_some_and(|owners| owners.iter().any(|o| o["uid"] == uid))
            && annotation(rs, REVISION_ANNOTATION) == Some(revision)
    })
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/annotations")?.get(key)?.as_str()
}

fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn replicas(object: &Value) -> i64 {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn observed(object: &Value) -> bool {
    int(object, "/status/observedGeneration") == int(object, "/metadata/generation")
}

fn condition_true(object: &Value, type_: &str) -> bool {
    condition(object, type_) == Some("True")
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?["status"]
        .as_str()
}

fn job(object: &Value) -> Health {
    let backoff_limit = object
        .pointer("/spec/backoffLimit")
        .and_then(Value::as_i64)
        .unwrap_or(6);
    if int(object, "/status/failed") > backoff_limit {
        let name = object.pointer("/metadata/name").and_then(Value::as_str);
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        return Health::Failed(format!(
            "job is failed: {}/{}",
            namespace.unwrap_or_default(),
            name.unwrap_or_default()
        ));
    }
    match object.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(completions) if int(object, "/status/succeeded") < completions => {
            Health::InProgress("Job is not ready".into())
        }
        _ => Health::Current,
    }
}

fn deployment(object: &Value, new_replica_set: Option<&Value>) -> bool {
    if object.pointer("/spec/paused") == Some(&Value::Bool(true)) {
        // Helm 3 counts a paused Deployment as ready rather than wait for ever.
        return true;
    }
    let Some(replica_set) = new_replica_set else {
        return false;
    };
    let wanted = replicas(object);
    observed(replica_set)
        && observed(object)
        && int(replica_set, "/status/readyReplicas") >= wanted - max_unavailable(object, wanted)
}

/// A Deployment's `maxUnavailable` resolved as the deployment controller resolves it
/// (percentages round down; 1 when both it and `maxSurge` come to 0).
fn max_unavailable(object: &Value, replicas: i64) -> i64 {
    let strategy = object.pointer("/spec/strategy");
    let rolling = strategy
        .and_then(|s| s.get("type"))
        .is_none_or(|t| t == "RollingUpdate");
    if !rolling || replicas == 0 {
        return 0;
    }
    let field = |name: &str| {
        strategy
            .and_then(|s| s.pointer(&format!("/rollingUpdate/{name}")))
            .cloned()
            .unwrap_or(Value::String("25%".into()))
    };
    let surge = scaled(&field("maxSurge"), replicas, true).unwrap_or(0);
    let unavailable = scaled(&field("maxUnavailable"), replicas, false).unwrap_or(0);
    let unavailable = if surge == 0 && unavailable == 0 {
        1
    } else {
        unavailable
    };
    unavailable.min(replicas)
}

/// An int-or-percent value scaled against `total`, percentages rounded up or down.
fn scaled(value: &Value, total: i64, round_up: bool) -> Option<i64> {
    if let Some(number) = value.as_i64() {
        return Some(number);
    }
    let percent: i64 = value.as_str()?.strip_suffix('%')?.parse().ok()?;
    let product = percent * total;
    Some(if round_up {
        (product + 99) / 100
    } else {
        product / 100
    })
}

fn service(object: &Value) -> bool {
    let spec = &object["spec"];
    match spec["type"].as_str() {
        Some("ExternalName") => true,
        _ if spec["clusterIP"].as_str().unwrap_or_default().is_empty() => false,
        Some("LoadBalancer") => {
            spec["externalIPs"]
                .as_array()
                .is_some_and(|ips| !ips.is_empty())
                || object.pointer("/status/loadBalancer/ingress").is_some()
        }
        _ => true,
    }
}

/// The `updateStrategy` of a DaemonSet or StatefulSet whose controller has seen its
/// generation: `Ok(strategy)` when it rolls updates out, `Err(ready)` when that already
/// decides (not observed yet: not ready; not a rolling update: nothing to wait for).
fn rolling_update(object: &Value) -> Result<Option<&Value>, bool> {
    if !observed(object) {
        return Err(false);
    }
    let strategy = object.pointer("/spec/updateStrategy");
    if strategy
        .and_then(|s| s.get("type"))
        .is_some_and(|t| t != "RollingUpdate")
    {
        return Err(true);
    }
    Ok(strategy)
}

fn daemon_set(object: &Value) -> bool {
    let strategy = match rolling_update(object) {
        Ok(strategy) => strategy,
        Err(ready) => return ready,
    };
    let desired = int(object, "/status/desiredNumberScheduled");
    if int(object, "/status/updatedNumberScheduled") != desired {
        return false;
    }
    let max_unavailable = strategy
        .and_then(|s| s.pointer("/rollingUpdate/maxUnavailable"))
        .map_or(Some(1), |v| scaled(v, desired, true))
        .unwrap_or(desired);
    int(object, "/status/numberReady") >= desired - max_unavailable
}

fn crd(object: &Value) -> bool {
    // A naming conflict is not for the wait to fail on: Helm 3 lets it pass.
    condition_true(object, "Established") || condition(object, "NamesAccepted") == Some("False")
}

fn stateful_set(object: &Value) -> bool {
    let strategy = match rolling_update(object) {
        Ok(strategy) => strategy,
        Err(ready) => return ready,
    };
    let partition = strategy
        .and_then(|s| s.pointer("/rollingUpdate/partition"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let wanted = replicas(object);
    int(object, "/status/updatedReplicas") >= wanted - partition
        && int(object, "/status/readyReplicas") == wanted
        && (partition != 0
            || object.pointer("/status/currentRevision")
                == object.pointer("/status/updateRevision"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment_of(replicas: i64, strategy: Value) -> Value {
        json!({
            "kind": "Deployment",
            "metadata": {"uid": "d1", "generation": 2, "annotations": {REVISION_ANNOTATION: "3"}},
            "spec": {"replicas": replicas, "strategy": strategy},
            "status": {"observedGeneration": 2},
        })
    }

    fn replica_set(revision: &str, ready: i64) -> Value {
        json!({
            "kind": "ReplicaSet",
            "metadata": {
                "generation": 1,
                "annotations": {REVISION_ANNOTATION: revision},
                "ownerReferences": [{"uid": "d1"}],
            },
            "status": {"observedGeneration": 1, "readyReplicas": ready},
        })
    }

    #[test]
    fn a_deployment_is_ready_when_its_newest_replica_set_allows_for_max_unavailable() {
        // 4 replicas with the default 25%: one may be unavailable.
        let deployment = deployment_of(4, json!({"type": "RollingUpdate"}));
        let owned = [replica_set("2", 4), replica_set("3", 3)];
        let newest = newest_replica_set(&deployment, &owned);
        assert_eq!(newest, Some(&owned[1]));
        assert_eq!(readiness(&deployment, newest), Health::Current);
        let owned = [replica_set("3", 2)];
        let newest = newest_replica_set(&deployment, &owned);
        assert!(matches!(
            readiness(&deployment, newest),
            Health::InProgress(_)
        ));
        // No ReplicaSet of the current revision yet: not ready.
        assert!(matches!(
            readiness(&deployment, None),
            Health::InProgress(_)
        ));
        // Recreate allows none unavailable; a paused Deployment is ready.
        let recreate = deployment_of(4, json!({"type": "Recreate"}));
        let owned = [replica_set("3", 3)];
        let newest = newest_replica_set(&recreate, &owned);
        assert!(matches!(
            readiness(&recreate, newest),
            Health::InProgress(_)
        ));
        let mut paused = recreate.clone();
        paused["spec"]["paused"] = json!(true);
        assert_eq!(readiness(&paused, None), Health::Current);
    }

    #[test]
    fn max_unavailable_resolves_as_the_deployment_controller_does() {
        let strategy = |surge: Value, unavailable: Value| {
            deployment_of(
                10,
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}),
            )
        };
        assert_eq!(
            max_unavailable(&strategy(json!("25%"), json!("25%")), 10),
            2
        );
        assert_eq!(max_unavailable(&strategy(json!(1), json!(0)), 10), 0);
        // Both round to zero: one may be unavailable.
        assert_eq!(max_unavailable(&strategy(json!(0), json!("5%")), 10), 1);
        assert_eq!(max_unavailable(&strategy(json!(0), json!(30)), 10), 10);
    }

    #[test]
    fn kinds_helm_3_did_not_know_are_not_waited_on() {
        assert!(waits_for("apps", "Deployment"));
        assert!(waits_for("", "Service"));
        assert!(waits_for("batch", "Job"));
        assert!(!waits_for("", "ConfigMap"));
        assert!(!waits_for("example.com", "Widget"));
        let widget = json!({"kind": "Widget", "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(readiness(&widget, None), Health::Current);
    }

    #[test]
    fn services_jobs_and_stateful_sets_follow_helm_3() {
        let service =
            |spec: Value, status: Value| json!({"kind": "Service", "spec": spec, "status": status});
        assert_eq!(
            readiness(&service(json!({"clusterIP": "10.0.0.1"}), json!({})), None),
            Health::Current
        );
        let balancer = json!({"type": "LoadBalancer", "clusterIP": "10.0.0.1"});
        assert!(matches!(
            readiness(&service(balancer.clone(), json!({})), None),
            Health::InProgress(_)
        ));
        let ingress = json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}});
        assert_eq!(
            readiness(&service(balancer, ingress), None),
            Health::Current
        );

        let job = |failed: i64, succeeded: i64| {
            json!({"kind": "Job", "metadata": {"name": "migrate", "namespace": "apps"},
                   "spec": {"backoffLimit": 1, "completions": 1},
                   "status": {"failed": failed, "succeeded": succeeded}})
        };
        assert!(matches!(readiness(&job(1, 0), None), Health::InProgress(_)));
        assert_eq!(
            readiness(&job(2, 0), None),
            Health::Failed("job is failed: apps/migrate".into())
        );
        assert_eq!(readiness(&job(0, 1), None), Health::Current);

        let stateful = |ready: i64, current: &str| {
            json!({"kind": "StatefulSet", "metadata": {"generation": 1},
                   "spec": {"replicas": 2, "updateStrategy": {"type": "RollingUpdate"}},
                   "status": {"observedGeneration": 1, "updatedReplicas": 2, "readyReplicas": ready,
                              "currentRevision": current, "updateRevision": "b"}})
        };
        assert_eq!(readiness(&stateful(2, "b"), None), Health::Current);
        assert!(matches!(
            readiness(&stateful(1, "b"), None),
            Health::InProgress(_)
        ));
        assert!(matches!(
            readiness(&stateful(2, "a"), None),
            Health::InProgress(_)
        ));
    }
}
