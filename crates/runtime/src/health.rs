//! Health of applied objects, by kstatus rules: a status that has caught up with the
//! object's generation, then per kind (Deployments rolled out, Jobs complete, Namespaces
//! active, CRDs established, PVCs bound...), and a `Ready` condition for anything else (which
//! Toolkit objects must have).

use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Current,
    InProgress(String),
    Failed(String),
    /// The status could not be read (a health check expression failed to evaluate).
    Unknown(String),
}

fn int(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn condition_status<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    condition(object, type_)?.get("status")?.as_str()
}

fn message(object: &Value, type_: &str) -> String {
    condition(object, type_)
        .and_then(|c| c.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// The health of one object as read from the API server.
pub fn health(object: &Value) -> Health {
    let generation = int(object, "/metadata/generation");
    let observed = int(object, "/status/observedGeneration");
    if let (Some(generation), Some(observed)) = (generation, observed)
        && observed < generation
    {
        return Health::InProgress(format!(
            "status is for generation {observed}, the object is at {generation}"
        ));
    }
    if condition_status(object, "Stalled") == Some("True") {
        return Health::Failed(message(object, "Stalled"));
    }
    let group_kind = (
        object
            .get("apiVersion")
            .and_then(Value::as_str)
            .map(|v| v.split_once('/').map_or("", |(g, _)| g))
            .unwrap_or(""),
        object.get("kind").and_then(Value::as_str).unwrap_or(""),
    );
    match group_kind {
        ("apps", "Deployment") => rollout(
            object,
            "/status/updatedReplicas",
            "/status/availableReplicas",
        ),
        ("apps", "StatefulSet") => {
            rollout(object, "/status/updatedReplicas", "/status/readyReplicas")
        }
        ("apps", "ReplicaSet") => {
            rollout(object, "/status/availableReplicas", "/status/readyReplicas")
        }
        ("apps", "DaemonSet") => {
            let desired = int(object, "/status/desiredNumberScheduled").unwrap_or(0);
            let available = int(object, "/status/numberAvailable").unwrap_or(0);
            let updated = int(object, "/status/updatedNumberScheduled").unwrap_or(0);
            if observed.is_none() {
                Health::InProgress("no status yet".into())
            } else if updated < desired || available < desired {
                Health::InProgress(format!("{available} of {desired} pods available"))
            } else {
                Health::Current
            }
        }
        ("batch", "Job") => {
            if condition_status(object, "Failed") == Some("True") {
                Health::Failed(message(object, "Failed"))
            } else if condition_status(object, "Complete") == Some("True") {
                Health::Current
            } else {
                Health::InProgress("job not complete".into())
            }
        }
        ("", "Pod") => match object.pointer("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Health::Current,
            Some("Failed") => Health::Failed("pod failed".into()),
            _ if condition_status(object, "Ready") == Some("True") => Health::Current,
            _ => Health::InProgress("pod not ready".into()),
        },
        ("", "Namespace") => match object.pointer("/status/phase").and_then(Value::as_str) {
            Some("Active") | None => Health::Current,
            Some(phase) => Health::InProgress(format!("namespace is {phase}")),
        },
        ("", "PersistentVolumeClaim") => {
            match object.pointer("/status/phase").and_then(Value::as_str) {
                Some("Bound") => Health::Current,
                phase => Health::InProgress(format!("claim is {}", phase.unwrap_or("pending"))),
            }
        }
        ("", "Service") => {
            let load_balancer =
                object.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer");
            let ingress = object
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .is_some_and(|i| !i.is_empty());
            if load_balancer && !ingress {
                Health::InProgress("no load balancer address yet".into())
            } else {
                Health::Current
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if condition_status(object, "Established") == Some("True") {
                Health::Current
            } else {
                Health::InProgress("not established".into())
            }
        }
        // A Toolkit object reports Ready once its controller has looked at it; until then it
        // is not ready, whatever kstatus makes of an object without conditions.
        (group, _) if group.ends_with(".toolkit.fluxcd.io") => {
            match condition_status(object, "Ready") {
                Some("True") => Health::Current,
                Some(_) => Health::InProgress(message(object, "Ready")),
                None => Health::InProgress("not reconciled yet".into()),
            }
        }
        _ => match condition_status(object, "Ready") {
            Some("True") | None => Health::Current,
            Some(_) => Health::InProgress(message(object, "Ready")),
        },
    }
}

fn rollout(object: &Value, updated_path: &str, available_path: &str) -> Health {
    if object.get("status").is_none() || int(object, "/status/observedGeneration").is_none() {
        return Health::InProgress("no status yet".into());
    }
    if condition_status(object, "Progressing") == Some("False")
        && condition(object, "Progressing")
            .and_then(|c| c.get("reason"))
            .and_then(Value::as_str)
            == Some("ProgressDeadlineExceeded")
    {
        return Health::Failed(message(object, "Progressing"));
    }
    let desired = int(object, "/spec/replicas").unwrap_or(1);
    let updated = int(object, updated_path).unwrap_or(0);
    let available = int(object, available_path).unwrap_or(0);
    let replicas = int(object, "/status/replicas").unwrap_or(0);
    if updated < desired {
        Health::InProgress(format!("{updated} of {desired} replicas updated"))
    } else if replicas > updated {
        Health::InProgress(format!(
            "{} old replicas pending termination",
            replicas - updated
        ))
    } else if available < desired {
        Health::InProgress(format!("{available} of {desired} replicas available"))
    } else {
        Health::Current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployments_are_current_once_rolled_out() {
        let mut deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": 2, "replicas": 2}});
        assert!(
            matches!(health(&deployment), Health::InProgress(_)),
            "old generation"
        );
        deployment["status"]["observedGeneration"] = json!(2);
        assert_eq!(health(&deployment), Health::Current);
        deployment["status"]["availableReplicas"] = json!(1);
        assert!(matches!(health(&deployment), Health::InProgress(m) if m.contains("1 of 2")));
        let scaled_to_zero = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 0}, "status": {"observedGeneration": 1}});
        assert_eq!(health(&scaled_to_zero), Health::Current);
    }

    #[test]
    fn toolkit_objects_are_ready_only_once_their_controller_says_so() {
        let release = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"generation": 1}});
        assert!(matches!(health(&release), Health::InProgress(m) if m == "not reconciled yet"));
        let mut ready = release.clone();
        ready["status"] = json!({"observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "message": "done"}]});
        assert_eq!(health(&ready), Health::Current);
    }

    #[test]
    fn jobs_custom_resources_and_plain_objects() {
        assert!(matches!(
            health(
                &json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True", "message": "backoff"}]}})
            ),
            Health::Failed(_)
        ));
        assert!(
            matches!(health(&json!({"apiVersion": "x/v1", "kind": "W", "status": {"conditions": [{"type": "Ready", "status": "False", "message": "waiting"}]}})), Health::InProgress(m) if m == "waiting")
        );
        assert_eq!(
            health(&json!({"apiVersion": "v1", "kind": "ConfigMap"})),
            Health::Current
        );
        assert!(matches!(
            health(
                &json!({"apiVersion": "x/v1", "kind": "W", "status": {"conditions": [{"type": "Stalled", "status": "True", "message": "bad"}]}})
            ),
            Health::Failed(_)
        ));
    }
}
