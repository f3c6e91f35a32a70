//! Server-side apply of a build's objects, as Flux's ssa manager does it: CRDs and
//! Namespaces first (and CRDs established before anything that may need them), then the
//! rest, each object dry-run first so that an unchanged object costs no write (and a new one
//! no read); and pruning of objects that left the build.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use crate::kube_errors;
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
};
use kube::discovery::Scope;
use serde_json::Value;

use crate::inventory::ObjectId;

mod client_side;
pub mod takeover;

pub use client_side::ClientPatch;

use takeover::FieldManager;

pub const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
pub const SSA_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/ssa";
pub const RECONCILE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/reconcile";
pub const FORCE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/force";

/// Objects applied at once within a stage.
const CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{object}: {message}")]
    UnknownKind { object: String, message: String },
    #[error("{object} dry-run failed{}: {message}", reason_suffix(reason))]
    DryRun {
        object: String,
        reason: String,
        message: String,
    },
    #[error("{object} metadata.managedFields cleanup failed: {message}")]
    Takeover { object: String, message: String },
    #[error("{object} apply failed: {message}")]
    Apply { object: String, message: String },
    #[error("{object}: invalid object: {message}")]
    Invalid { object: String, message: String },
    #[error("CustomResourceDefinition/{name} not established after {seconds}s")]
    NotEstablished { name: String, seconds: u64 },
    #[error("{object} delete failed: {message}")]
    Delete { object: String, message: String },
}

/// Flux's `(Reason)` after "dry-run failed", when the API server gave one.
fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

/// A stage that could not be applied: every error of the stage, and the objects applied
/// before it failed, which must stay in the inventory.
#[derive(Debug)]
pub struct ApplyFailure {
    pub errors: Vec<ApplyError>,
    pub applied: Vec<Change>,
}

impl ApplyFailure {
    fn new(errors: Vec<ApplyError>, applied: Vec<Change>) -> Self {
        ApplyFailure { errors, applied }
    }
}

impl std::fmt::Display for ApplyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// How objects are applied.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// `spec.force`: recreate objects whose immutable fields changed.
    pub force: bool,
    /// Whose fields are taken over before applying (see [`takeover`]).
    pub managers: Vec<FieldManager>,
    /// Write each object without looking at the cluster first (no read, no dry run), for
    /// objects that are new: a Helm install. Each is reported `Created`, and an invalid one
    /// fails its own write rather than a validation of all of them. Objects annotated
    /// `ssa: Ignore`, `IfNotPresent` or `Merge` are still looked at.
    pub write_directly: bool,
}

impl ApplyOptions {
    /// Flux's defaults plus `--override-manager` names, for objects applied as
    /// `field_manager`.
    pub fn new(field_manager: &str, force: bool, override_managers: &[String]) -> Self {
        ApplyOptions {
            force,
            managers: takeover::managers(field_manager, override_managers),
            write_directly: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Apply,
    /// Delete, then apply: an immutable field changed and `spec.force` is set.
    Recreate,
}

/// What a dry run said about one object.
enum DryRun {
    Planned(Box<DynamicObject>),
    /// An immutable field changed and `force` allows recreating the object.
    Recreate,
}

/// What validation decided for one object.
struct Plan {
    change: Change,
    write: Option<Write>,
}

impl Plan {
    fn skip(id: &ObjectId) -> Plan {
        Plan {
            change: Change::new(id, Action::Skipped),
            write: None,
        }
    }

    fn unchanged(id: &ObjectId) -> Plan {
        Plan {
            change: Change::new(id, Action::Unchanged),
            write: None,
        }
    }

    fn write(id: &ObjectId, action: Action, drifted: Vec<String>, recreate: bool) -> Plan {
        Plan {
            change: Change {
                id: id.clone(),
                action,
                drifted,
            },
            write: Some(if recreate {
                Write::Recreate
            } else {
                Write::Apply
            }),
        }
    }
}

/// Whether a dry-run refusal means an immutable field changed and the object may be
/// recreated: `spec.force`, or the `force: Enabled` annotation on the object, and an error
/// kubectl and Flux read as immutability (Invalid, Conflict, or a webhook's wording).
fn immutable(status: &kube::core::Status, force: bool, object: &Value) -> bool {
    let annotations = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let forced = force || annotation_is(annotations, FORCE_ANNOTATION, "enabled");
    let message = status.message.to_ascii_lowercase();
    forced
        && (status.code == 422
            || status.code == 409
            || message.contains("is immutable")
            || message.contains("immutable field"))
}

/// The takeover is written as the controller, as Flux does; a request that sets
/// managedFields itself is not tracked as an update of its own.
fn takeover_params(field_manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(field_manager.to_owned()),
        ..PatchParams::default()
    }
}

/// Whether an object asks to keep the fields of other managers (`…/ssa: Merge`).
fn merges(annotations: Option<&serde_json::Map<String, Value>>) -> bool {
    annotation_is(annotations, SSA_ANNOTATION, "merge")
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
    /// Who the objects are applied as (`kustomize-controller`, `helm-controller`).
    field_manager: String,
    kinds: RwLock<HashMap<(String, String, String), Kind>>,
    /// Each object as this applier last read or wrote it: see [`Seen`].
    seen: quick_cache::sync::Cache<String, Seen>,
}

/// An object as last read or written: its resourceVersion and a digest of its comparable
/// form. A dry run that finds the object still at that version and plans the same content
/// shows it unchanged without reading it again, so an unchanged object costs one request per
/// reconcile instead of two.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    resource_version: String,
    digest: u64,
}

impl Seen {
    fn of(object: &DynamicObject) -> Option<Seen> {
        let resource_version = object.metadata.resource_version.clone()?;
        let digest = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            comparable(object).to_string().hash(&mut hasher);
            hasher.finish()
        };
        Some(Seen {
            resource_version,
            digest,
        })
    }
}

/// Objects whose last state an applier keeps (about a hundred bytes each); beyond that, the
/// least used are read again when they come up.
const SEEN_OBJECTS: usize = 20_000;

/// A stored object's annotations as the desired objects' are read (a JSON map).
fn annotations_of(object: &DynamicObject) -> Option<serde_json::Map<String, Value>> {
    object.metadata.annotations.as_ref().map(|a| {
        a.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    })
}

fn seen_key(id: &ObjectId) -> String {
    format!("{}/{}/{}/{}", id.group, id.kind, id.namespace, id.name)
}

/// Sets `entries` in the object's `metadata.<field>` (`labels`, `annotations`), over what it
/// has: how the appliers stamp their owner labels and `commonMetadata`.
pub fn set_metadata<K, V>(
    object: &mut Value,
    field: &str,
    entries: impl IntoIterator<Item = (K, V)>,
) where
    K: Into<String>,
    V: Into<String>,
{
    let mut entries = entries.into_iter().peekable();
    if entries.peek().is_none() {
        return;
    }
    let Some(root) = object.as_object_mut() else {
        return;
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    let map = metadata
        .entry(field)
        .or_insert_with(|| Value::Object(Default::default()));
    if !map.is_object() {
        *map = Value::Object(Default::default());
    }
    if let Some(map) = map.as_object_mut() {
        for (key, value) in entries {
            map.insert(key.into(), Value::String(value.into()));
        }
    }
}

/// A kind discovery could not find, named as the API server's clients name it: the group
/// version is not served (404) or does not list the kind. Other errors keep their message.
fn unknown_kind(id: &ObjectId, error: &kube::Error, served: &[String]) -> ApplyError {
    let missing = match error {
        kube::Error::Api(status) => status.code == 404,
        kube::Error::Discovery(_) => true,
        _ => false,
    };
    let message = if missing {
        let mut message = format!(
            "no matches for kind \"{}\" in version \"{}\"",
            id.kind,
            id.api_version()
        );
        if !served.is_empty() {
            let versions: Vec<String> = served
                .iter()
                .map(|v| {
                    ObjectId {
                        version: v.clone(),
                        ..id.clone()
                    }
                    .api_version()
                })
                .collect();
            message.push_str(&format!(
                " (the cluster serves {} as {})",
                id.kind,
                versions.join(", ")
            ));
        }
        message
    } else {
        format!(
            "discovering {}: {}",
            id.api_version(),
            kube_errors::message(error)
        )
    };
    ApplyError::UnknownKind {
        object: id.display(),
        message,
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
    annotation_is(annotations, RECONCILE_ANNOTATION, "disabled")
        || annotation_is(annotations, SSA_ANNOTATION, "ignore")
}

/// Whether annotation `key` is `value`, ignoring case as Flux does.
fn annotation_is(
    annotations: Option<&serde_json::Map<String, Value>>,
    key: &str,
    value: &str,
) -> bool {
    annotations
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case(value))
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
    pub fn new(client: Client, field_manager: &str) -> Applier {
        Applier {
            client,
            field_manager: field_manager.to_owned(),
            kinds: RwLock::new(HashMap::new()),
            seen: quick_cache::sync::Cache::new(SEEN_OBJECTS),
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
        let (resource, capabilities) = match kube::discovery::pinned_kind(&self.client, &gvk).await
        {
            Ok(found) => found,
            Err(error) => {
                let served = self.versions_serving(id).await;
                return Err(unknown_kind(id, &error, &served));
            }
        };
        let kind = Kind {
            resource,
            namespaced: capabilities.scope == Scope::Namespaced,
        };
        if let Ok(mut kinds) = self.kinds.write() {
            kinds.insert(key, kind.clone());
        }
        Ok(kind)
    }

    /// The versions of the object's group that serve its kind: a manifest written for a
    /// version the cluster no longer serves (Flux removed its beta versions) is told which
    /// one to use.
    async fn versions_serving(&self, id: &ObjectId) -> Vec<String> {
        let Ok(group) = kube::discovery::group(&self.client, &id.group).await else {
            return Vec::new();
        };
        group
            .versions()
            .filter(|version| {
                group
                    .versioned_resources(version)
                    .iter()
                    .any(|(resource, _)| resource.kind == id.kind)
            })
            .map(str::to_owned)
            .collect()
    }

    fn api(&self, kind: &Kind, namespace: &str) -> Api<DynamicObject> {
        if kind.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &kind.resource)
        } else {
            Api::all_with(self.client.clone(), &kind.resource)
        }
    }

    /// Keeps `object` as last seen (see [`Seen`]).
    fn remember(&self, id: &ObjectId, object: &DynamicObject) {
        if let Some(seen) = Seen::of(object) {
            self.seen.insert(seen_key(id), seen);
        }
    }

    /// Applies every object in stages: CRDs, Namespaces and ClusterRoles (then waits for the
    /// CRDs), classes, then the rest. Each stage is validated whole by a server-side dry run
    /// before any of it is written, so one invalid object applies nothing of its stage.
    /// Results are in input order; a failure carries what was applied before it.
    pub async fn apply_all(
        &self,
        objects: Vec<Value>,
        options: &ApplyOptions,
    ) -> Result<Vec<Change>, ApplyFailure> {
        let mut ids = Vec::with_capacity(objects.len());
        for object in &objects {
            match object_id(object) {
                Some(id) => ids.push(id),
                None => {
                    let name = object
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned();
                    return Err(ApplyFailure::new(
                        vec![ApplyError::Invalid {
                            object: name,
                            message: "missing apiVersion, kind or metadata.name".to_owned(),
                        }],
                        Vec::new(),
                    ));
                }
            }
        }
        let mut stages: [Vec<usize>; 3] = Default::default();
        for (i, id) in ids.iter().enumerate() {
            stages[stage(id)].push(i);
        }
        let mut changes: Vec<Option<Change>> = vec![None; objects.len()];
        let applied_so_far =
            |changes: &[Option<Change>]| changes.iter().flatten().cloned().collect::<Vec<_>>();
        for stage in stages {
            // Validate: every object of the stage is dry-run (after taking over the fields of
            // other managers, so their edits cannot make the dry run collide).
            let planned: Vec<(usize, Result<Plan, ApplyError>)> =
                futures::stream::iter(stage.iter().copied())
                    .map(|i| {
                        let (id, object) = (&ids[i], &objects[i]);
                        async move { (i, self.plan_one(id, object, options).await) }
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
            let mut plans = Vec::with_capacity(planned.len());
            let mut invalid = Vec::new();
            for (i, plan) in planned {
                match plan {
                    Ok(plan) => plans.push((i, plan)),
                    Err(error) => invalid.push((i, error)),
                }
            }
            if !invalid.is_empty() {
                invalid.sort_by_key(|(i, _)| *i);
                let errors = invalid.into_iter().map(|(_, e)| e).collect();
                return Err(ApplyFailure::new(errors, applied_so_far(&changes)));
            }
            // Write what differs; every result is kept, so a failed write leaves the others
            // (and what they applied) on the record.
            let written: Vec<(usize, Result<Change, ApplyError>)> = futures::stream::iter(plans)
                .map(|(i, plan)| {
                    let (id, object) = (&ids[i], &objects[i]);
                    async move { (i, self.write(id, object, plan).await) }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let mut failed = Vec::new();
            for (i, result) in written {
                match result {
                    Ok(change) => changes[i] = Some(change),
                    Err(error) => failed.push((i, error)),
                }
            }
            if !failed.is_empty() {
                failed.sort_by_key(|(i, _)| *i);
                let errors = failed.into_iter().map(|(_, e)| e).collect();
                return Err(ApplyFailure::new(errors, applied_so_far(&changes)));
            }
            let crds: Vec<String> = stage
                .iter()
                .filter_map(|&i| changes[i].as_ref())
                .filter(|c| {
                    c.id.kind == "CustomResourceDefinition"
                        && matches!(c.action, Action::Created | Action::Configured)
                })
                .map(|c| c.id.name.clone())
                .collect();
            if let Err(error) = self.wait_established(&crds, Duration::from_secs(60)).await {
                return Err(ApplyFailure::new(vec![error], applied_so_far(&changes)));
            }
        }
        Ok(changes.into_iter().flatten().collect())
    }

    /// Decides what to do with one object: skip it, leave it, or write it (and how), from a
    /// server-side dry run. Writes nothing but the ownership takeover.
    ///
    /// The dry run comes first and the live object is read only when the dry run shows that
    /// it exists, so a new object costs one request here instead of two.
    async fn plan_one(
        &self,
        id: &ObjectId,
        object: &Value,
        options: &ApplyOptions,
    ) -> Result<Plan, ApplyError> {
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
        let desired_annotations = object
            .pointer("/metadata/annotations")
            .and_then(Value::as_object);
        let annotated = desired_annotations.is_some_and(|a| a.contains_key(SSA_ANNOTATION))
            || opted_out(desired_annotations);
        if options.write_directly && !annotated {
            return Ok(Plan::write(id, Action::Created, Vec::new(), false));
        }
        if opted_out(desired_annotations) {
            return Ok(Plan::skip(id));
        }
        let api = self.api(&kind, namespace);
        let failed = |e: kube::Error| ApplyError::Apply {
            object: id.display(),
            message: kube_errors::message(&e),
        };
        let if_not_present = annotation_is(desired_annotations, SSA_ANNOTATION, "ifnotpresent");
        if if_not_present && api.get_opt(&id.name).await.map_err(failed)?.is_some() {
            return Ok(Plan::skip(id));
        }
        // A refusal may come from edits of other managers that the takeover below removes
        // (a list item keyed by a field they changed): it stands only if there is none.
        let mut planned = match self.dry_run(&api, id, object, options).await {
            Ok(DryRun::Planned(planned)) => Ok(planned),
            Ok(DryRun::Recreate) => return Ok(Plan::write(id, Action::Created, Vec::new(), true)),
            Err(refused) => Err(refused),
        };
        // The dry run of an object that does not exist is a create, which has no version yet.
        if let Ok(planned) = &planned
            && planned
                .metadata
                .resource_version
                .as_deref()
                .is_none_or(str::is_empty)
        {
            return Ok(Plan::write(id, Action::Created, Vec::new(), false));
        }
        // Still as last seen, and the apply would leave it so: unchanged, no read needed.
        if let Ok(planned) = &planned
            && !if_not_present
            && let Some(seen) = self.seen.get(&seen_key(id))
            && Seen::of(planned).as_ref() == Some(&seen)
        {
            if opted_out(annotations_of(planned).as_ref()) {
                return Ok(Plan::skip(id));
            }
            return Ok(Plan::unchanged(id));
        }
        let Some(mut existing) = api.get_opt(&id.name).await.map_err(failed)? else {
            // Deleted between the dry run and the read.
            planned?;
            return Ok(Plan::write(id, Action::Created, Vec::new(), false));
        };
        self.remember(id, &existing);
        let live_annotations = annotations_of(&existing);
        if opted_out(live_annotations.as_ref()) || if_not_present {
            return Ok(Plan::skip(id));
        }
        let mut took_over = false;
        if !merges(desired_annotations) && !merges(live_annotations.as_ref()) {
            let live_value = serde_json::to_value(&existing).unwrap_or(Value::Null);
            if let Some(patch) =
                takeover::patch(&live_value, &options.managers, &self.field_manager)
            {
                existing = api
                    .patch(
                        &id.name,
                        &takeover_params(&self.field_manager),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .map_err(|e| ApplyError::Takeover {
                        object: id.display(),
                        message: kube_errors::message(&e),
                    })?;
                tracing::info!(object = %id.display(), "took over fields of other managers");
                took_over = true;
                // Fields the other managers gave up may now be removed by the apply.
                planned = match self.dry_run(&api, id, object, options).await? {
                    DryRun::Planned(planned) => Ok(planned),
                    DryRun::Recreate => {
                        return Ok(Plan::write(id, Action::Created, Vec::new(), true));
                    }
                };
            }
        }
        let planned = planned?;
        let (live, planned) = (comparable(&existing), comparable(&planned));
        if live == planned && !took_over {
            return Ok(Plan::unchanged(id));
        }
        let drifted = changed_fields(&live, &planned);
        Ok(Plan::write(id, Action::Configured, drifted, false))
    }

    /// A forced server-side dry run of `object`: what the API server would store, or that an
    /// immutable field of the existing object changed and it is to be recreated.
    async fn dry_run(
        &self,
        api: &Api<DynamicObject>,
        id: &ObjectId,
        object: &Value,
        options: &ApplyOptions,
    ) -> Result<DryRun, ApplyError> {
        let params = PatchParams::apply(&self.field_manager).force().dry_run();
        let failed = |e: kube::Error| ApplyError::Apply {
            object: id.display(),
            message: kube_errors::message(&e),
        };
        let status = match api.patch(&id.name, &params, &Patch::Apply(object)).await {
            Ok(planned) => return Ok(DryRun::Planned(Box::new(planned))),
            Err(kube::Error::Api(status)) => status,
            Err(e) => return Err(failed(e)),
        };
        // Only an object that exists has fields that cannot change; a new object refused the
        // same way is invalid.
        if immutable(&status, options.force, object)
            && api.get_opt(&id.name).await.map_err(failed)?.is_some()
        {
            return Ok(DryRun::Recreate);
        }
        Err(ApplyError::DryRun {
            object: id.display(),
            reason: status.reason.clone(),
            message: status.message.clone(),
        })
    }

    /// Carries out a plan from [`Self::plan_one`].
    async fn write(&self, id: &ObjectId, object: &Value, plan: Plan) -> Result<Change, ApplyError> {
        let Some(write) = plan.write else {
            return Ok(plan.change);
        };
        let kind = self.kind(id).await?;
        let api = self.api(&kind, if kind.namespaced { &id.namespace } else { "" });
        let failed = |e: kube::Error| ApplyError::Apply {
            object: id.display(),
            message: kube_errors::message(&e),
        };
        if write == Write::Recreate {
            // An immutable field changed: recreate, as `spec.force` asks.
            match api.delete(&id.name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(failed(e)),
            }
            self.wait_gone(&api, &id.name).await;
        }
        let params = PatchParams::apply(&self.field_manager).force();
        let written = api
            .patch(&id.name, &params, &Patch::Apply(object))
            .await
            .map_err(failed)?;
        self.remember(id, &written);
        if !plan.change.drifted.is_empty() {
            tracing::debug!(object = %id.display(), fields = ?plan.change.drifted, "configured");
        }
        Ok(plan.change)
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
    /// The client objects are applied with (the cluster and identity of this applier).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// What applying `objects` would change, from server-side dry runs, writing nothing:
    /// `Created` for an object that is gone, `Configured` (with the fields) for one that
    /// differs. Fields other managers own are not taken over, so the answer is the drift.
    pub async fn diff(&self, objects: &[Value]) -> Result<Vec<Change>, ApplyError> {
        let options = ApplyOptions {
            force: false,
            managers: Vec::new(),
            write_directly: false,
        };
        let mut changes = Vec::with_capacity(objects.len());
        for object in objects {
            let id = object_id(object).ok_or_else(|| ApplyError::Invalid {
                object: "?".to_owned(),
                message: "missing apiVersion, kind or metadata.name".to_owned(),
            })?;
            changes.push(self.plan_one(&id, object, &options).await?.change);
        }
        Ok(changes)
    }

    /// Whether objects of `id`'s kind live in a namespace (from discovery, cached).
    pub async fn namespaced(&self, id: &ObjectId) -> Result<bool, ApplyError> {
        Ok(self.kind(id).await?.namespaced)
    }

    pub async fn get(&self, id: &ObjectId) -> Result<Option<Value>, ApplyError> {
        let kind = self.kind(id).await?;
        let api = self.api(&kind, if kind.namespaced { &id.namespace } else { "" });
        let found = api.get_opt(&id.name).await.map_err(|e| ApplyError::Apply {
            object: id.display(),
            message: kube_errors::message(&e),
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
        self.prune_with(stale, owner, &DeleteParams::background())
            .await
    }

    /// [`Applier::prune`] with the deletion's propagation policy (Helm's
    /// `uninstall.deletionPropagation`).
    pub async fn prune_with(
        &self,
        stale: Vec<ObjectId>,
        owner: &[(String, String)],
        params: &DeleteParams,
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
                    message: kube_errors::message(&e),
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
                match api.delete(&id.name, params).await {
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

    #[test]
    fn an_object_counts_as_seen_at_its_version_and_content_whatever_its_managers() {
        let object = |version: &str, value: &str, manager: &str| -> DynamicObject {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "apps", "resourceVersion": version,
                             "managedFields": [{"manager": manager, "operation": "Apply"}]},
                "data": {"mode": value},
            }))
            .unwrap()
        };
        let seen = Seen::of(&object("7", "live", "kustomize-controller"));
        assert!(seen.is_some());
        assert_eq!(seen, Seen::of(&object("7", "live", "kubectl")));
        assert_ne!(seen, Seen::of(&object("8", "live", "kustomize-controller")));
        assert_ne!(
            seen,
            Seen::of(&object("7", "edited", "kustomize-controller"))
        );
        let mut unversioned = object("7", "live", "kustomize-controller");
        unversioned.metadata.resource_version = None;
        assert_eq!(Seen::of(&unversioned), None);
    }
    use serde_json::json;

    #[test]
    fn metadata_entries_are_set_over_what_the_object_has() {
        let mut object =
            json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}, "annotations": null}});
        set_metadata(&mut object, "labels", [("y", "3"), ("z", "4")]);
        set_metadata(&mut object, "annotations", [("note", "n")]);
        set_metadata(&mut object, "annotations", Vec::<(String, String)>::new());
        assert_eq!(
            object["metadata"],
            json!({"name": "a", "labels": {"x": "1", "y": "3", "z": "4"}, "annotations": {"note": "n"}})
        );
    }

    #[test]
    fn changed_fields_name_the_drift() {
        let before = json!({"data": {"a": "1", "b": "2"}, "metadata": {"labels": {"x": "y"}}});
        let after =
            json!({"data": {"a": "9", "b": "2", "c": "3"}, "metadata": {"labels": {"x": "y"}}});
        assert_eq!(changed_fields(&before, &after), ["/data/a", "/data/c"]);
        assert!(changed_fields(&before, &before).is_empty());
    }

    #[test]
    fn errors_name_the_object_and_what_the_cluster_said() {
        let id = ObjectId {
            group: "source.toolkit.fluxcd.io".into(),
            version: "v1beta2".into(),
            kind: "OCIRepository".into(),
            namespace: "flux-system".into(),
            name: "podinfo".into(),
        };
        let missing = kube::Error::Api(
            kube::core::Status::failure("404 page not found", "NotFound")
                .with_code(404)
                .boxed(),
        );
        assert_eq!(
            unknown_kind(&id, &missing, &[]).to_string(),
            "OCIRepository/flux-system/podinfo: no matches for kind \"OCIRepository\" in version \"source.toolkit.fluxcd.io/v1beta2\""
        );
        assert_eq!(
            unknown_kind(&id, &missing, &["v1".to_owned()]).to_string(),
            "OCIRepository/flux-system/podinfo: no matches for kind \"OCIRepository\" in version \"source.toolkit.fluxcd.io/v1beta2\" (the cluster serves OCIRepository as source.toolkit.fluxcd.io/v1)"
        );
        let dry_run = ApplyError::DryRun {
            object: "Service/default/web".into(),
            reason: "Invalid".into(),
            message: "Service \"web\" is invalid: spec.ports[1].name: Duplicate value: \"http\""
                .into(),
        };
        assert_eq!(
            dry_run.to_string(),
            "Service/default/web dry-run failed (Invalid): Service \"web\" is invalid: spec.ports[1].name: Duplicate value: \"http\""
        );
        let failure = ApplyFailure::new(
            vec![
                dry_run,
                ApplyError::Invalid {
                    object: "ConfigMap/x".into(),
                    message: "namespace not specified".into(),
                },
            ],
            Vec::new(),
        );
        assert_eq!(failure.to_string().lines().count(), 2);
    }

    #[test]
    fn only_forced_invalid_or_conflicting_objects_are_recreated() {
        let status =
            |code: u16, message: &str| kube::core::Status::failure(message, "").with_code(code);
        let plain = json!({ "metadata": { "name": "x" } });
        let annotated =
            json!({ "metadata": { "name": "x", "annotations": { FORCE_ANNOTATION: "Enabled" } } });
        assert!(immutable(&status(422, "field is immutable"), true, &plain));
        assert!(immutable(&status(409, "conflict"), true, &plain));
        assert!(immutable(&status(422, "spec: Invalid"), false, &annotated));
        assert!(!immutable(
            &status(422, "field is immutable"),
            false,
            &plain
        ));
        assert!(!immutable(&status(403, "forbidden"), true, &plain));
        assert!(immutable(
            &status(400, "denied: spec.x is immutable"),
            true,
            &plain
        ));
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
