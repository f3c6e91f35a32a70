//! Server-side apply of a build's objects, as Flux's ssa manager does it: CRDs and
//! Namespaces first (and CRDs established before anything that may need them), then the
//! rest, each object dry-run first so that an unchanged object costs no write; and pruning
//! of objects that left the build.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
};
use kube::discovery::Scope;
use serde_json::Value;

use crate::inventory::ObjectId;

pub const FIELD_MANAGER: &str = "kustomize-controller";
pub const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
pub const SSA_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/ssa";
pub const RECONCILE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/reconcile";

/// Objects applied at once within a stage.
const CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{object}: no such kind in the cluster ({message})")]
    UnknownKind { object: String, message: String },
    #[error("{object} apply failed: {message}")]
    Apply { object: String, message: String },
    #[error("{object}: invalid object: {message}")]
    Invalid { object: String, message: String },
    #[error("CustomResourceDefinition/{name} not established after {seconds}s")]
    NotEstablished { name: String, seconds: u64 },
    #[error("{object} delete failed: {message}")]
    Delete { object: String, message: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Skipped,
    Deleted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Skipped => "skipped",
            Action::Deleted => "deleted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub id: ObjectId,
    pub action: Action,
    /// For a configured object: the fields that differed from the cluster (JSON pointers).
    pub drifted: Vec<String>,
}

impl Change {
    fn new(id: &ObjectId, action: Action) -> Change {
        Change {
            id: id.clone(),
            action,
            drifted: Vec::new(),
        }
    }
}

#[derive(Clone)]
struct Kind {
    resource: ApiResource,
    namespaced: bool,
}

/// Applies and deletes objects with one client; remembers what the API server serves.
pub struct Applier {
    client: Client,
    kinds: RwLock<HashMap<(String, String, String), Kind>>,
}

fn kube_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// The identity of an object from the build.
pub fn object_id(object: &Value) -> Option<ObjectId> {
    let api_version = object.get("apiVersion")?.as_str()?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    Some(ObjectId {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: object.get("kind")?.as_str()?.to_owned(),
        namespace: object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        name: object.pointer("/metadata/name")?.as_str()?.to_owned(),
    })
}

/// Stage 1 kinds: what other objects need to exist first.
fn first_stage(id: &ObjectId) -> bool {
    (id.kind == "CustomResourceDefinition" && id.group == "apiextensions.k8s.io")
        || (id.kind == "Namespace" && id.group.is_empty())
        || (id.kind == "ClusterRole" && id.group == "rbac.authorization.k8s.io")
}

/// The apply stage of an object: 0 for CRDs, Namespaces and ClusterRoles, 1 for classes
/// (`StorageClass`, `IngressClass`, ...) that later objects name, 2 for the rest.
fn stage(id: &ObjectId) -> usize {
    if first_stage(id) {
        0
    } else if id.kind.ends_with("Class") {
        1
    } else {
        2
    }
}

/// Whether a desired or live object opts out with `…/reconcile: disabled` or `…/ssa: ignore`.
fn opted_out(annotations: Option<&serde_json::Map<String, Value>>) -> bool {
    let Some(annotations) = annotations else {
        return false;
    };
    let value = |key: &str| {
        annotations
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    };
    value(RECONCILE_ANNOTATION).as_deref() == Some("disabled")
        || value(SSA_ANNOTATION).as_deref() == Some("ignore")
}

/// JSON pointers of the fields that differ between two objects (leaves, and whole
/// subtrees present on one side only).
pub fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    fn walk(before: &Value, after: &Value, path: String, out: &mut Vec<String>) {
        match (before, after) {
            (Value::Object(a), Value::Object(b)) => {
                let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
                keys.sort();
                keys.dedup();
                for key in keys {
                    let child = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                    match (a.get(key), b.get(key)) {
                        (Some(x), Some(y)) => walk(x, y, child, out),
                        _ => out.push(child),
                    }
                }
            }
            (x, y) if x != y => out.push(if path.is_empty() {
                "/".to_owned()
            } else {
                path
            }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(before, after, String::new(), &mut out);
    out
}

/// An object as stored, minus what changes on every write.
fn comparable(object: &DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "managedFields",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "uid",
        ] {
            metadata.remove(field);
        }
    }
    value
}

impl Applier {
    pub fn new(client: Client) -> Applier {
        Applier {
            client,
            kinds: RwLock::new(HashMap::new()),
        }
    }

    async fn kind(&self, id: &ObjectId) -> Result<Kind, ApplyError> {
        let key = (id.group.clone(), id.version.clone(), id.kind.clone());
        if let Some(kind) = self
            .kinds
            .read()
            .ok()
            .and_then(|kinds| kinds.get(&key).cloned())
        {
            return Ok(kind);
        }
        let gvk = GroupVersionKind::gvk(&id.group, &id.version, &id.kind);
        let (resource, capabilities) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| ApplyError::UnknownKind {
                object: id.display(),
                message: kube_message(&e),
            })?;
        let kind = Kind {
            resource,
            namespaced: capabilities.scope == Scope::Namespaced,
        };
        if let Ok(mut kinds) = self.kinds.write() {
            kinds.insert(key, kind.clone());
        }
        Ok(kind)
    }

    fn api(&self, kind: &Kind, namespace: &str) -> Api<DynamicObject> {
        if kind.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &kind.resource)
        } else {
            Api::all_with(self.client.clone(), &kind.resource)
        }
    }

    /// Applies every object in stages: CRDs, Namespaces and ClusterRoles (then waits for the
    /// CRDs), classes, then the rest.
    /// Results are in input order.
    pub async fn apply_all(
        &self,
        objects: Vec<Value>,
        force: bool,
    ) -> Result<Vec<Change>, ApplyError> {
        let mut ids = Vec::with_capacity(objects.len());
        for object in &objects {
            let id = object_id(object).ok_or_else(|| ApplyError::Invalid {
                object: object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned(),
                message: "missing apiVersion, kind or metadata.name".to_owned(),
            })?;
            ids.push(id);
        }
        let mut stages: [Vec<usize>; 3] = Default::default();
        for (i, id) in ids.iter().enumerate() {
            stages[stage(id)].push(i);
        }
        let mut changes: Vec<Option<Change>> = vec![None; objects.len()];
        for stage in stages {
            let applied: Vec<(usize, Change)> = futures::stream::iter(stage.iter().copied())
                .map(|i| {
                    let (id, object) = (&ids[i], &objects[i]);
                    async move {
                        self.apply_one(id, object, force)
                            .await
                            .map(|change| (i, change))
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .try_collect()
                .await?;
            let crds: Vec<String> = applied
                .iter()
                .filter(|(_, c)| {
                    c.id.kind == "CustomResourceDefinition" && c.action != Action::Unchanged
                })
                .map(|(_, c)| c.id.name.clone())
                .collect();
            self.wait_established(&crds, Duration::from_secs(60))
                .await?;
            for (i, change) in applied {
                changes[i] = Some(change);
            }
        }
        Ok(changes.into_iter().flatten().collect())
    }

    async fn apply_one(
        &self,
        id: &ObjectId,
        object: &Value,
        force: bool,
    ) -> Result<Change, ApplyError> {
        let kind = self.kind(id).await?;
        if kind.namespaced && id.namespace.is_empty() {
            return Err(ApplyError::Invalid {
                object: id.display(),
                message: "namespace not specified".to_owned(),
            });
        }
        let namespace = if kind.namespaced {
            id.namespace.as_str()
        } else {
            ""
        };
        let api = self.api(&kind, namespace);
        let failed = |e: kube::Error| ApplyError::Apply {
            object: id.display(),
            message: kube_message(&e),
        };
        let existing = api.get_opt(&id.name).await.map_err(failed)?;
        let desired_annotations = object
            .pointer("/metadata/annotations")
            .and_then(Value::as_object);
        let live_annotations = existing
            .as_ref()
            .and_then(|e| e.metadata.annotations.as_ref())
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect::<serde_json::Map<_, _>>()
            });
        let if_not_present = desired_annotations
            .and_then(|a| a.get(SSA_ANNOTATION))
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case("ifnotpresent"));
        if opted_out(desired_annotations)
            || opted_out(live_annotations.as_ref())
            || (if_not_present && existing.is_some())
        {
            return Ok(Change::new(id, Action::Skipped));
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        if let Some(existing) = &existing {
            let dry = api
                .patch(&id.name, &params.clone().dry_run(), &Patch::Apply(object))
                .await;
            let drifted = match dry {
                Ok(dry) => {
                    let (live, planned) = (comparable(existing), comparable(&dry));
                    if live == planned {
                        return Ok(Change::new(id, Action::Unchanged));
                    }
                    changed_fields(&live, &planned)
                }
                Err(kube::Error::Api(status)) if force && status.code == 422 => {
                    // An immutable field changed: recreate, as `spec.force` asks.
                    api.delete(&id.name, &DeleteParams::foreground())
                        .await
                        .map_err(failed)?;
                    self.wait_gone(&api, &id.name).await;
                    api.patch(&id.name, &params, &Patch::Apply(object))
                        .await
                        .map_err(failed)?;
                    return Ok(Change::new(id, Action::Created));
                }
                Err(e) => return Err(failed(e)),
            };
            api.patch(&id.name, &params, &Patch::Apply(object))
                .await
                .map_err(failed)?;
            if !drifted.is_empty() {
                tracing::info!(object = %id.display(), fields = ?drifted, "configured");
            }
            return Ok(Change {
                id: id.clone(),
                action: Action::Configured,
                drifted,
            });
        }
        api.patch(&id.name, &params, &Patch::Apply(object))
            .await
            .map_err(failed)?;
        Ok(Change::new(id, Action::Created))
    }

    async fn wait_gone(&self, api: &Api<DynamicObject>, name: &str) {
        for _ in 0..100 {
            if matches!(api.get_opt(name).await, Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_established(
        &self,
        names: &[String],
        timeout: Duration,
    ) -> Result<(), ApplyError> {
        if names.is_empty() {
            return Ok(());
        }
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let deadline = tokio::time::Instant::now() + timeout;
        for name in names {
            loop {
                let established = api.get_opt(name).await.ok().flatten().is_some_and(|crd| {
                    crd.status.and_then(|s| s.conditions).is_some_and(|c| {
                        c.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    })
                });
                if established {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(ApplyError::NotEstablished {
                        name: name.clone(),
                        seconds: timeout.as_secs(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        // New kinds: forget what discovery said before they existed.
        if let Ok(mut kinds) = self.kinds.write() {
            kinds.clear();
        }
        Ok(())
    }

    /// The live object, if it exists.
    pub async fn get(&self, id: &ObjectId) -> Result<Option<Value>, ApplyError> {
        let kind = self.kind(id).await?;
        let api = self.api(&kind, if kind.namespaced { &id.namespace } else { "" });
        let found = api.get_opt(&id.name).await.map_err(|e| ApplyError::Apply {
            object: id.display(),
            message: kube_message(&e),
        })?;
        Ok(found.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)))
    }

    /// Deletes objects that left the build, unless they opt out with
    /// `kustomize.toolkit.fluxcd.io/prune: disabled` or are no longer ours (`owner` labels).
    /// Namespaced objects go before Namespaces and CRDs.
    pub async fn prune(
        &self,
        stale: Vec<ObjectId>,
        owner: &[(String, String)],
    ) -> Result<Vec<Change>, ApplyError> {
        let (last, first): (Vec<ObjectId>, Vec<ObjectId>) =
            stale.into_iter().partition(first_stage);
        let mut deleted = Vec::new();
        for stage in [first, last] {
            for id in stage {
                let kind = match self.kind(&id).await {
                    Ok(kind) => kind,
                    // The kind is gone (its CRD deleted): so are its objects.
                    Err(ApplyError::UnknownKind { .. }) => continue,
                    Err(e) => return Err(e),
                };
                let api = self.api(&kind, &id.namespace);
                let failed = |e: kube::Error| ApplyError::Delete {
                    object: id.display(),
                    message: kube_message(&e),
                };
                let Some(existing) = api.get_opt(&id.name).await.map_err(failed)? else {
                    continue;
                };
                let annotations = existing.metadata.annotations.clone().unwrap_or_default();
                let opted_out = [PRUNE_ANNOTATION, RECONCILE_ANNOTATION].iter().any(|key| {
                    annotations
                        .get(*key)
                        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
                }) || annotations
                    .get(SSA_ANNOTATION)
                    .is_some_and(|v| v.eq_ignore_ascii_case("ignore"));
                if opted_out {
                    continue;
                }
                let labels = existing.metadata.labels.clone().unwrap_or_default();
                if !owner.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                    continue;
                }
                match api.delete(&id.name, &DeleteParams::background()).await {
                    Ok(_) => deleted.push(Change::new(&id, Action::Deleted)),
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(e) => return Err(failed(e)),
                }
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_name_the_drift() {
        let before = json!({"data": {"a": "1", "b": "2"}, "metadata": {"labels": {"x": "y"}}});
        let after =
            json!({"data": {"a": "9", "b": "2", "c": "3"}, "metadata": {"labels": {"x": "y"}}});
        assert_eq!(changed_fields(&before, &after), ["/data/a", "/data/c"]);
        assert!(changed_fields(&before, &before).is_empty());
    }

    #[test]
    fn stages_put_definitions_and_classes_first() {
        let id = |group: &str, kind: &str| ObjectId {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: String::new(),
            name: "n".into(),
        };
        assert_eq!(
            stage(&id("apiextensions.k8s.io", "CustomResourceDefinition")),
            0
        );
        assert_eq!(stage(&id("rbac.authorization.k8s.io", "ClusterRole")), 0);
        assert_eq!(stage(&id("storage.k8s.io", "StorageClass")), 1);
        assert_eq!(stage(&id("apps", "Deployment")), 2);
        assert!(opted_out(
            json!({"kustomize.toolkit.fluxcd.io/reconcile": "Disabled"}).as_object()
        ));
        assert!(!opted_out(
            json!({"kustomize.toolkit.fluxcd.io/ssa": "Merge"}).as_object()
        ));
    }
}
