//! What waiting releases look at, without a request per look: one shared watch per workload
//! kind (Deployments, StatefulSets, DaemonSets, Jobs), limited to objects carrying
//! helm-controller's origin label, started the first time a release waits on that kind.
//! Waits then poll memory, not the API server; a release of 500 waiting up to 100 s would
//! otherwise read its Deployment 40 times. Other kinds (and remote clusters) are read with a
//! GET as before: they are ready once they exist, so one look usually settles them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use driftless_api::helm::NAME_LABEL;
use driftless_runtime::inventory::ObjectId;
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, TypeMeta};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

/// The kinds watched: those whose readiness takes a while (a rollout, a run).
const WATCHED: [(&str, &str, &str, &str); 4] = [
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("batch", "v1", "Job", "jobs"),
];

/// A kind's shared watch: its cache and whether the first list has filled it.
struct KindCache {
    store: Store<DynamicObject>,
    resource: ApiResource,
    synced: Arc<AtomicBool>,
}

/// Shared watches of the workload kinds releases wait on, in the controller's own cluster.
pub(super) struct LiveObjects {
    client: kube::Client,
    kinds: Mutex<HashMap<&'static str, KindCache>>,
}

/// What the cache says of an object.
pub(super) enum Cached {
    /// Found, with its latest state.
    Found(Value),
    /// The cache is synced and has no such object (yet: a watch follows an apply closely).
    Absent,
    /// Not a watched kind, or its watch has not listed yet: read it from the API.
    Unknown,
}

impl LiveObjects {
    pub(super) fn new(client: kube::Client) -> Self {
        Self {
            client,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// The cached state of `id`, starting the watch of its kind if this is the first look.
    pub(super) fn get(&self, id: &ObjectId) -> Cached {
        let Some(&(group, version, kind, plural)) = WATCHED
            .iter()
            .find(|(group, _, kind, _)| *group == id.group && *kind == id.kind)
        else {
            return Cached::Unknown;
        };
        let Ok(mut kinds) = self.kinds.lock() else {
            return Cached::Unknown;
        };
        let cache = kinds
            .entry(kind)
            .or_insert_with(|| self.watch(group, version, kind, plural));
        if !cache.synced.load(Ordering::Acquire) {
            return Cached::Unknown;
        }
        let key = ObjectRef::new_with(&id.name, cache.resource.clone()).within(&id.namespace);
        match cache.store.get(&key) {
            Some(object) => Cached::Found(serde_json::to_value(&*object).unwrap_or(Value::Null)),
            None => Cached::Absent,
        }
    }

    fn watch(&self, group: &str, version: &str, kind: &str, plural: &str) -> KindCache {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        let synced = Arc::new(AtomicBool::new(false));
        let config = watcher::Config::default().labels(NAME_LABEL);
        let types = TypeMeta {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
        };
        let events = watcher(api, config)
            .default_backoff()
            .modify(move |object| keep_what_health_reads(object, &types))
            .reflect(writer);
        tokio::spawn(events.for_each(|_| futures::future::ready(())));
        let ready = store.clone();
        let flag = synced.clone();
        tokio::spawn(async move {
            if ready.wait_until_ready().await.is_ok() {
                flag.store(true, Ordering::Release);
            }
        });
        KindCache {
            store,
            resource,
            synced,
        }
    }
}

/// Drops what readiness never reads, so the cache stays small: of the metadata, the name,
/// namespace and generation; of the spec, `replicas`; the status is kept whole. (Releases
/// with `healthCheckExprs` for a kind read it with a GET: their expressions may read
/// anything.) Sets `types`: the items of a list (the watch's first, and every re-list)
/// come without `apiVersion` and `kind`, and health reads those to pick a kind's rules;
/// without them a Deployment would pass as a kind with no rules, ready at once.
fn keep_what_health_reads(object: &mut DynamicObject, types: &TypeMeta) {
    object.types = Some(types.clone());
    let metadata = &mut object.metadata;
    metadata.managed_fields = None;
    metadata.annotations = None;
    metadata.labels = None;
    metadata.owner_references = None;
    metadata.finalizers = None;
    if let Some(spec) = object.data.get_mut("spec") {
        let replicas = spec.get("replicas").cloned();
        *spec = match replicas {
            Some(replicas) => serde_json::json!({ "replicas": replicas }),
            None => serde_json::json!({}),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment_types() -> TypeMeta {
        TypeMeta {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
        }
    }

    /// A Deployment as a list returns it (no `apiVersion`, no `kind`), not available yet:
    /// cached, it is still read by the Deployment rules, so not ready.
    #[test]
    fn listed_copies_are_read_by_their_kinds_rules() {
        let mut listed: DynamicObject = serde_json::from_value(json!({
            "metadata": {"name": "web-extra", "namespace": "apps", "generation": 1},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "updatedReplicas": 1, "replicas": 1,
                "unavailableReplicas": 1},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        keep_what_health_reads(&mut listed, &deployment_types());
        let kept = serde_json::to_value(&listed).unwrap_or_default();
        assert_eq!(kept["kind"], "Deployment");
        assert_eq!(
            driftless_runtime::health::health(&kept),
            driftless_runtime::health::Health::InProgress("0 of 1 replicas available".into())
        );
    }

    #[test]
    fn cached_copies_keep_what_readiness_reads() {
        let mut deployment: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps", "generation": 3,
                "labels": {"app": "web"}, "annotations": {"big": "x"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web"}]}}},
            "status": {"observedGeneration": 3, "updatedReplicas": 2, "availableReplicas": 2,
                "readyReplicas": 2, "replicas": 2},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let before = driftless_runtime::health::health(
            &serde_json::to_value(&deployment).unwrap_or_default(),
        );
        keep_what_health_reads(&mut deployment, &deployment_types());
        let kept = serde_json::to_value(&deployment).unwrap_or_default();
        assert_eq!(kept["spec"], json!({"replicas": 2}));
        assert!(kept["metadata"].get("annotations").is_none());
        assert_eq!(kept["metadata"]["generation"], 3);
        assert_eq!(driftless_runtime::health::health(&kept), before);
        assert_eq!(before, driftless_runtime::health::Health::Current);
    }
}
