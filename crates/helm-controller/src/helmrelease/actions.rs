//! Install and upgrade, as Helm runs and records them: render, store the pending revision,
//! run the pre-hooks, apply (server-side, or client-side as Helm 3 did), delete what the
//! previous revision had and this one has not, wait (without holding a worker), run the
//! post-hooks, store the outcome.
//! Rollback, uninstall and unlock are in [`super::revert`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_api::helm::HelmRelease;
use driftless_helm::release::{self, Hook, Release, StoredChart, status};
use driftless_helm::render::Capabilities;
use driftless_helm::template::{Rendered as RenderedRelease, TemplateOptions, render_release};
use driftless_helm::{Chart, coalesce};
use driftless_kustomize::openapi::Schemas;
use driftless_runtime::apply::{Action as Applied, Applier, ApplyOptions, Change, object_id};
use driftless_runtime::health::{self, Health};
use driftless_runtime::health_exprs::CustomHealthChecks;
use driftless_runtime::inventory::ObjectId;
use serde_json::{Map, Value};

use super::Reconciler;
use super::live::{Cached, LiveObjects};
use crate::FIELD_MANAGER;
use crate::apply_method::ApplyMethod;
use crate::post_render::{self, Rendered};
use crate::storage::Storage;

/// The first and the longest pause between looks at objects waited on.
const WAIT_POLL_FIRST: Duration = Duration::from_millis(100);
pub(super) const WAIT_POLL_MAX: Duration = Duration::from_secs(2);

/// Everything a release of this reconciliation is made of.
pub(super) struct Plan {
    /// Applies to the release's cluster, as the release's identity.
    pub applier: Arc<Applier>,
    /// `spec.kubeConfig` is set: capabilities are the remote cluster's.
    pub remote: bool,
    /// How waits judge the objects.
    pub readiness: Readiness,
    pub release_name: String,
    pub namespace: String,
    pub chart: Chart,
    pub chart_version: String,
    pub values: Map<String, Value>,
    pub timeout: Duration,
}

/// How an action ended: the revision it stored (when it got that far), the objects it
/// applied, and the error if it failed.
pub(super) struct Ended {
    pub release: Option<Release>,
    pub applied: Vec<ObjectId>,
    pub error: Option<String>,
    /// Applied, and waiting for the objects to be ready: the reconcile ends here and the
    /// next one goes on with this, so a release that is slow (or never) ready does not hold
    /// a worker the others need.
    pub waiting: Option<InFlight>,
}

impl InFlight {
    /// Drops the records (kept: what messages and the next look need).
    pub fn park(&mut self) {
        let revision = std::mem::take(&mut self.revision);
        self.revision = Release {
            name: revision.name,
            namespace: revision.namespace,
            version: revision.version,
            ..Release::default()
        };
        self.previous = None;
    }

    /// Takes the records back from `history` (the records as stored now).
    pub fn unpark(&mut self, history: &[Release]) -> bool {
        let Some(revision) = history.iter().find(|r| r.version == self.revision.version) else {
            return false;
        };
        self.revision = revision.clone();
        self.previous = self
            .previous_version
            .and_then(|v| history.iter().find(|r| r.version == v).cloned());
        true
    }
}

impl Ended {
    pub(super) fn failed_before_storing(error: String) -> Ended {
        Ended {
            release: None,
            applied: Vec::new(),
            error: Some(error),
            waiting: None,
        }
    }
}

/// An install or upgrade whose objects are applied and not ready yet.
pub(super) struct InFlight {
    /// The pending revision, as stored.
    pub revision: Release,
    /// The deployed revision it replaces (superseded once it succeeds).
    pub previous: Option<Release>,
    /// Its version: while parked, the records are not kept in memory (a chart's files make a
    /// record large) but read again from storage.
    pub previous_version: Option<i64>,
    pub upgrading: bool,
    pub hooks_disabled: bool,
    /// Everything applied, and what of it is not ready yet.
    pub applied: Vec<ObjectId>,
    /// What this action created (deleted again by `upgrade.cleanupOnFail` when it fails).
    pub created: Vec<ObjectId>,
    pub cleanup_on_fail: bool,
    pub pending: Vec<ObjectId>,
    /// What the first pending object is waiting for.
    pub waiting_on: String,
    pub deadline: Instant,
    /// The next pause before looking again.
    pub pause: Duration,
    /// Where and how the objects are looked at, so a look needs nothing else.
    pub applier: Arc<Applier>,
    /// `spec.kubeConfig` is set: the shared watches (of this cluster) do not apply.
    pub remote: bool,
    /// The generation each pending object had when last read with a GET.
    pub seen: HashMap<ObjectId, i64>,
    pub readiness: Readiness,
    /// How the wait ended, once it has: `Some(None)` ready, `Some(Some(error))` failed.
    pub settled: Option<Option<String>>,
    /// The values' digest (and OCI digest) the release was made with: recorded in the
    /// history when it completes, whatever the spec says by then.
    pub config_digest: String,
    pub oci_digest: Option<String>,
}

/// How waits judge the objects (`waitStrategy`).
#[derive(Clone)]
pub(super) enum Readiness {
    /// `poller`: kstatus, or the `healthCheckExprs` of the kinds they name.
    Kstatus(Arc<CustomHealthChecks>),
    /// `legacy`: Helm 3's checks, of the kinds Helm 3 knew.
    Helm3,
}

/// What a render of this release is made with, besides the chart and values.
#[derive(Clone, Copy)]
pub(super) struct Renders<'a> {
    pub object: &'a HelmRelease,
    pub plan: &'a Plan,
    /// The HelmRelease's name and namespace, for the origin labels.
    pub owner: &'a (String, String),
    pub revision: i64,
    pub upgrading: bool,
    pub skip_schema: bool,
}

/// One look at objects waited on.
pub(super) enum Round {
    Ready,
    Waiting(String, Vec<ObjectId>),
    Failed(String),
}

pub(super) fn now_text() -> String {
    jiff::Timestamp::now().to_string()
}

impl Reconciler {
    /// Renders the chart and post-renders its objects.
    async fn render_objects(
        &self,
        renders: &Renders<'_>,
        inputs: (Chart, Map<String, Value>),
        capabilities: Capabilities,
    ) -> Result<(RenderedRelease, Vec<Rendered>), String> {
        let mut rendered = self.render(renders, inputs, capabilities).await?;
        let (spec, owner) = (&renders.object.spec, renders.owner);
        let (objects, hooks) = post_render::post_render_release(
            &rendered.manifests,
            &rendered.hooks,
            spec.post_render_strategy.unwrap_or_default(),
            (&owner.0, &owner.1),
            spec.common_metadata.as_ref(),
            &spec.post_renderers,
        )
        .map_err(|error| format!("post-render failed: {error}"))?;
        rendered.hooks = hooks;
        Ok((rendered, objects))
    }

    /// Applies the chart's CRDs and waits until they are established.
    async fn apply_crds(&self, plan: &Plan, crds: &[Rendered], force: bool) -> Result<(), String> {
        let prepared = self.prepare_objects(crds, plan).await?;
        let options = ApplyOptions::new(FIELD_MANAGER, force, &[]);
        plan.applier
            .apply_all(prepared, &options)
            .await
            .map(|_| ())
            .map_err(|failure| format!("failed to install CRDs: {failure}"))
    }

    /// What `.Capabilities` holds for `plan`'s cluster (this one's, discovered a while ago).
    async fn capabilities_for(&self, plan: &Plan) -> Result<Capabilities, String> {
        if plan.remote {
            super::capabilities::discover(plan.applier.client()).await
        } else {
            self.capabilities.get(&self.runtime.client).await
        }
        .map_err(|e| format!("failed to discover the cluster's capabilities: {e}"))
    }

    /// Renders the chart off the async workers (rendering is CPU-bound).
    async fn render(
        &self,
        renders: &Renders<'_>,
        (chart, values): (Chart, Map<String, Value>),
        capabilities: Capabilities,
    ) -> Result<RenderedRelease, String> {
        let plan = renders.plan;
        let options = TemplateOptions {
            release_name: plan.release_name.clone(),
            namespace: plan.namespace.clone(),
            capabilities,
            // Apart from the manifests: applied by the CRD policy, never stored.
            include_crds: true,
            skip_tests: false,
            is_upgrade: renders.upgrading,
            revision: renders.revision,
            skip_schema_validation: renders.skip_schema,
        };
        tokio::task::spawn_blocking(move || render_release(chart, &values, &options))
            .await
            .map_err(|e| format!("render task failed: {e}"))?
            .map_err(|e| e.to_string())
    }

    /// Install (`previous` is `None`) or upgrade over the latest revision.
    pub(super) async fn install_or_upgrade(
        &self,
        object: &HelmRelease,
        plan: &Plan,
        storage: &Storage,
        history: &[Release],
    ) -> Ended {
        let latest = history.last();
        let deployed = history
            .iter()
            .rev()
            .find(|r| r.info.status == status::DEPLOYED);
        let upgrading = latest.is_some_and(|r| r.info.status != status::UNINSTALLED)
            && deployed.is_some()
            || latest.is_some_and(|r| r.info.status == status::FAILED);
        let spec = &object.spec;
        let (skip_schema, force, crds_policy) = if upgrading {
            let upgrade = spec.upgrade.clone().unwrap_or_default();
            let crds = upgrade
                .crds
                .unwrap_or(driftless_api::helm::CrdsPolicy::Skip);
            (upgrade.disable_schema_validation, upgrade.force, crds)
        } else {
            let install = spec.install.clone().unwrap_or_default();
            let crds = match (install.crds, install.skip_crds) {
                (Some(policy), _) => policy,
                (None, true) => driftless_api::helm::CrdsPolicy::Skip,
                (None, false) => driftless_api::helm::CrdsPolicy::Create,
            };
            (install.disable_schema_validation, false, crds)
        };
        let replace = spec.install.as_ref().is_some_and(|i| i.replace);
        if !upgrading && let Err(error) = super::ownership::name_available(history, replace) {
            return Ended::failed_before_storing(error.to_owned());
        }
        let version = latest.map_or(1, |r| r.version + 1);
        let preserve = upgrading && spec.upgrade.as_ref().is_some_and(|u| u.preserve_values);
        let (chart, values) = match latest.filter(|_| preserve) {
            Some(current) => preserved_values(&plan.chart, &plan.values, current),
            None => (plan.chart.clone(), plan.values.clone()),
        };
        let stored_chart = StoredChart::from_chart(&chart, &chart.default_values());
        let owner = (
            object.metadata.name.clone().unwrap_or_default(),
            object.metadata.namespace.clone().unwrap_or_default(),
        );
        let renders = Renders {
            object,
            plan,
            owner: &owner,
            revision: version,
            upgrading,
            skip_schema,
        };
        let inputs = (chart, values.clone());
        let capabilities = match self.capabilities_for(plan).await {
            Ok(capabilities) => capabilities,
            Err(error) => return Ended::failed_before_storing(error),
        };
        let first_render = self
            .render_objects(&renders, inputs.clone(), capabilities.clone())
            .await;
        let (mut rendered, mut objects) = match first_render {
            Ok(made) => made,
            Err(error) => return Ended::failed_before_storing(error),
        };
        let crds = if crds_policy == driftless_api::helm::CrdsPolicy::Skip {
            Vec::new()
        } else {
            match post_render::crd_objects(&rendered.crds, &owner.0, &owner.1) {
                Ok(crds) => crds,
                Err(error) => return Ended::failed_before_storing(format!("invalid CRD: {error}")),
            }
        };
        // As Flux does, the chart's CRDs go first; once they are established, a chart
        // rendered without their kinds in `.Capabilities` is rendered again with them.
        if !crds.is_empty() {
            if let Err(error) = self.apply_crds(plan, &crds, force).await {
                return Ended::failed_before_storing(error);
            }
            if !super::capabilities::serves_all(&capabilities, &crds) {
                self.capabilities.invalidate().await;
                let again = match self.capabilities_for(plan).await {
                    Ok(fresh) => self.render_objects(&renders, inputs, fresh).await,
                    Err(error) => Err(error),
                };
                (rendered, objects) = match again {
                    Ok(made) => made,
                    Err(error) => return Ended::failed_before_storing(error),
                };
            }
        }
        let take_ownership = if upgrading {
            spec.upgrade
                .as_ref()
                .is_none_or(|u| !u.disable_take_ownership)
        } else {
            spec.install
                .as_ref()
                .is_none_or(|i| !i.disable_take_ownership)
        };
        if !take_ownership
            && let Err(error) = self
                .check_ownership(plan, &objects, deployed.filter(|_| upgrading))
                .await
        {
            return Ended::failed_before_storing(error);
        }

        // `install.createNamespace`: applied before the objects, and not part of the release,
        // as in Helm.
        let mut first = Vec::new();
        if !upgrading && spec.install.as_ref().is_some_and(|i| i.create_namespace) {
            first.push(Rendered {
                path: String::new(),
                object: serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": plan.namespace, "labels": {"name": plan.namespace}},
                }),
            });
        }

        // The new revision, pending while it is applied.
        let now = now_text();
        let mut revision = Release {
            name: plan.release_name.clone(),
            namespace: plan.namespace.clone(),
            version,
            chart: Some(stored_chart),
            config: values,
            manifest: post_render::manifest_text(&objects),
            hooks: rendered.hooks.iter().map(Hook::from_rendered).collect(),
            ..Release::default()
        };
        if let Some(chart) = revision.chart.as_mut() {
            chart.metadata["version"] = Value::String(plan.chart_version.clone());
        }
        let method = if upgrading {
            let mode = spec.upgrade.as_ref().and_then(|u| u.server_side_apply);
            ApplyMethod::for_change(mode, latest)
        } else {
            ApplyMethod::for_install(spec.install.as_ref().and_then(|i| i.server_side_apply))
        };
        method.record(&mut revision);
        revision.info.first_deployed = match (upgrading, deployed) {
            (true, Some(deployed)) => deployed.info.first_deployed.clone(),
            _ => now.clone(),
        };
        revision.info.last_deployed = now;
        revision.info.notes = rendered.notes.clone();
        if upgrading {
            revision.info.status = status::PENDING_UPGRADE.into();
            revision.info.description = "Preparing upgrade".into();
            for version in release::revisions_to_prune(history, object.max_history()) {
                if let Err(error) = storage.delete(&plan.release_name, version).await {
                    tracing::warn!(%error, version, "failed to prune release history");
                }
            }
        } else {
            revision.info.status = status::PENDING_INSTALL.into();
            revision.info.description = "Initial install underway".into();
            // `replace` over an uninstalled revision supersedes it (a failed one stays).
            if let Some(last) = latest.filter(|r| r.info.status != status::FAILED) {
                let mut superseded = last.clone();
                superseded.info.status = status::SUPERSEDED.into();
                superseded.info.description = "superseded by new release".into();
                if let Err(error) = storage.update(&superseded).await {
                    return Ended::failed_before_storing(error.to_string());
                }
            }
        }
        if let Err(error) = storage.create(&revision).await {
            return Ended::failed_before_storing(error.to_string());
        }

        let (hooks_disabled, wait, wait_for_jobs) = if upgrading {
            let upgrade = spec.upgrade.clone().unwrap_or_default();
            (
                upgrade.disable_hooks,
                !upgrade.disable_wait,
                !upgrade.disable_wait_for_jobs,
            )
        } else {
            let install = spec.install.clone().unwrap_or_default();
            (
                install.disable_hooks,
                !install.disable_wait,
                !install.disable_wait_for_jobs,
            )
        };
        let pre = if upgrading {
            "pre-upgrade"
        } else {
            "pre-install"
        };
        let mut error = None;
        let mut applied = AppliedObjects::default();
        if !hooks_disabled
            && let Err(failed) = self
                .run_hooks(
                    &plan.applier,
                    &mut revision.hooks,
                    pre,
                    &plan.namespace,
                    plan.timeout,
                )
                .await
        {
            error = Some(failed);
        }
        if error.is_none() {
            let result = self
                .apply_release(
                    &first,
                    &objects,
                    plan,
                    Applying {
                        force,
                        method,
                        previous: deployed.filter(|_| upgrading),
                        install: !upgrading,
                    },
                )
                .await;
            match result {
                Ok(objects) => applied = objects,
                Err((objects, failed)) => {
                    applied = objects;
                    error = Some(failed);
                }
            }
        }
        let mut flight = InFlight {
            revision,
            previous: deployed.cloned(),
            previous_version: deployed.map(|r| r.version),
            upgrading,
            hooks_disabled,
            pending: if wait && error.is_none() {
                applied
                    .all
                    .iter()
                    .filter(|id| wait_for_jobs || !(id.group == "batch" && id.kind == "Job"))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            },
            applied: applied.all,
            created: applied.created,
            cleanup_on_fail: upgrading && spec.upgrade.as_ref().is_some_and(|u| u.cleanup_on_fail),
            waiting_on: String::new(),
            deadline: Instant::now() + plan.timeout,
            pause: WAIT_POLL_FIRST,
            applier: plan.applier.clone(),
            remote: plan.remote,
            seen: HashMap::new(),
            readiness: plan.readiness.clone(),
            settled: None,
            config_digest: String::new(),
            oci_digest: None,
        };
        if error.is_some() {
            return self.complete(plan, storage, flight, error).await;
        }
        self.go_on(plan, storage, std::mem::take(&mut flight.pending), flight)
            .await
    }

    /// Looks at the objects a release waits on once: completes the release when they are
    /// ready (or one failed, or the time is up), or hands it back to wait more.
    pub(super) async fn go_on(
        &self,
        plan: &Plan,
        storage: &Storage,
        pending: Vec<ObjectId>,
        mut flight: InFlight,
    ) -> Ended {
        let mut look = Look {
            applier: &plan.applier,
            live: self.live(plan.remote),
            seen: &mut flight.seen,
        };
        match health_round(&mut look, &plan.readiness, &pending).await {
            Round::Ready => self.complete(plan, storage, flight, None).await,
            Round::Failed(error) => self.complete(plan, storage, flight, Some(error)).await,
            Round::Waiting(_, _) if Instant::now() >= flight.deadline => {
                let error = format!("timed out waiting for the condition: {}", flight.waiting_on);
                let error = if flight.waiting_on.is_empty() {
                    "timed out waiting for the condition".to_owned()
                } else {
                    error
                };
                self.complete(plan, storage, flight, Some(error)).await
            }
            Round::Waiting(waiting_on, still) => {
                flight.waiting_on = waiting_on;
                flight.pending = still;
                Ended {
                    release: Some(flight.revision.clone()),
                    applied: flight.applied.clone(),
                    error: None,
                    waiting: Some(flight),
                }
            }
        }
    }

    /// Post-hooks, then the revision recorded deployed (the one it replaces superseded) or
    /// failed.
    pub(super) async fn complete(
        &self,
        plan: &Plan,
        storage: &Storage,
        flight: InFlight,
        mut error: Option<String>,
    ) -> Ended {
        let InFlight {
            mut revision,
            previous,
            upgrading,
            hooks_disabled,
            applied,
            created,
            cleanup_on_fail,
            ..
        } = flight;
        let post = if upgrading {
            "post-upgrade"
        } else {
            "post-install"
        };
        if error.is_none()
            && !hooks_disabled
            && let Err(failed) = self
                .run_hooks(
                    &plan.applier,
                    &mut revision.hooks,
                    post,
                    &plan.namespace,
                    plan.timeout,
                )
                .await
        {
            error = Some(failed);
        }
        match &error {
            None => {
                revision.info.status = status::DEPLOYED.into();
                revision.info.description = if upgrading {
                    "Upgrade complete"
                } else {
                    "Install complete"
                }
                .into();
                if let Some(previous) = previous {
                    // Only the status changes, as in Helm.
                    let mut superseded = previous;
                    superseded.info.status = status::SUPERSEDED.into();
                    if let Err(error) = storage.update(&superseded).await {
                        tracing::warn!(%error, "failed to mark the previous revision superseded");
                    }
                }
            }
            Some(error) => {
                revision.info.status = status::FAILED.into();
                revision.info.description = if upgrading {
                    format!("Upgrade \"{}\" failed: {error}", plan.release_name)
                } else {
                    format!("Release \"{}\" failed: {error}", plan.release_name)
                };
            }
        }
        let stored = storage.update(&revision).await;
        if let Some(failed) = error.as_mut()
            && cleanup_on_fail
            && !created.is_empty()
        {
            // Helm's `--cleanup-on-fail`: what the failed upgrade created goes again.
            if let Err(cleanup) = plan.applier.prune(created, &[]).await {
                *failed = format!(
                    "an error occurred while cleaning up resources ({cleanup}). original upgrade error: {failed}"
                );
            }
        }
        Ended {
            release: Some(revision),
            applied,
            error: error.or_else(|| stored.err().map(|e| e.to_string())),
            waiting: None,
        }
    }

    /// Applies `first` (the release namespace) then the objects (with Helm's ownership
    /// metadata), then deletes the objects of `previous` this revision no longer has.
    pub(super) async fn apply_release(
        &self,
        first: &[Rendered],
        objects: &[Rendered],
        plan: &Plan,
        how: Applying<'_>,
    ) -> Result<AppliedObjects, (AppliedObjects, String)> {
        let Applying {
            force,
            method,
            previous,
            install,
        } = how;
        let mut options = ApplyOptions::new(FIELD_MANAGER, force, &[]);
        // An install: nothing of the release exists yet, so there is nothing to compare with
        // (Helm creates each object as it comes, too). An upgrade of a failed install looks:
        // what that install created is not what this one creates (`cleanupOnFail`).
        options.write_directly = install;
        let originals = match (method, previous) {
            (ApplyMethod::ClientSide, Some(previous)) => {
                placed_objects(&previous.manifest, &plan.namespace)
            }
            _ => Vec::new(),
        };
        let mut changes = Vec::new();
        for part in [first, objects] {
            if part.is_empty() {
                continue;
            }
            let prepared = match self.prepare_objects(part, plan).await {
                Ok(prepared) => prepared,
                Err(error) => return Err((AppliedObjects::of(&changes), error)),
            };
            if method == ApplyMethod::ClientSide {
                // As Helm 3: one object after the other, in the chart's install order.
                for object in &prepared {
                    // The object as the previous revision had it; none when it is new.
                    let original = object_id(object).and_then(|id| {
                        let found = originals.iter().find(|(was, _)| was.same_object(&id));
                        found.map(|(_, object)| object)
                    });
                    let written = plan
                        .applier
                        .apply_client_side(object, force, |live| {
                            crate::three_way::patch(original, object, live, &Schemas::builtin())
                        })
                        .await;
                    match written {
                        Ok(change) => changes.push(change),
                        Err(error) => {
                            return Err((AppliedObjects::of(&changes), error.to_string()));
                        }
                    }
                }
                continue;
            }
            match plan.applier.apply_all(prepared, &options).await {
                Ok(applied) => changes.extend(applied),
                Err(failure) => {
                    changes.extend(failure.applied.iter().cloned());
                    return Err((AppliedObjects::of(&changes), failure.to_string()));
                }
            }
        }
        let applied = AppliedObjects::of(&changes);
        if let Some(previous) = previous {
            let stale = stale_objects(&previous.manifest, &applied.all, &plan.namespace);
            let owner = Vec::new();
            if let Err(error) = plan.applier.prune(stale, &owner).await {
                return Err((applied, error.to_string()));
            }
        }
        Ok(applied)
    }

    /// The objects as applied: Helm's ownership metadata, and the release namespace on
    /// namespaced objects that name none.
    async fn prepare_objects(
        &self,
        objects: &[Rendered],
        plan: &Plan,
    ) -> Result<Vec<Value>, String> {
        let mut prepared = Vec::with_capacity(objects.len());
        for rendered in objects {
            let mut object =
                post_render::owned(&rendered.object, &plan.release_name, &plan.namespace);
            self.place(&mut object, rendered, plan).await?;
            prepared.push(object);
        }
        Ok(prepared)
    }

    /// Puts a namespaced `object` that names no namespace into the release namespace, and
    /// returns its id.
    pub(super) async fn place(
        &self,
        object: &mut Value,
        rendered: &Rendered,
        plan: &Plan,
    ) -> Result<ObjectId, String> {
        let Some(mut id) = object_id(object) else {
            return Err(format!(
                "{}: object has no apiVersion, kind or name",
                rendered.path
            ));
        };
        if id.namespace.is_empty()
            && plan
                .applier
                .namespaced(&id)
                .await
                .map_err(|e| e.to_string())?
        {
            object["metadata"]["namespace"] = Value::String(plan.namespace.clone());
            id.namespace.clone_from(&plan.namespace);
        }
        Ok(id)
    }

    /// Compares the objects of `latest` with the cluster (`driftDetection`); with `correct`,
    /// applies those that drifted. The drifted objects, described, or none.
    pub(super) async fn detect_drift(
        &self,
        object: &HelmRelease,
        plan: &Plan,
        latest: &Release,
        correct: bool,
    ) -> Result<Vec<String>, String> {
        let rendered = post_render::stored_objects(&latest.manifest);
        let prepared = self.prepare_objects(&rendered, plan).await?;
        let rules = object
            .spec
            .drift_detection
            .as_ref()
            .map(|d| d.ignore.clone())
            .unwrap_or_default();
        let compared = crate::drift::comparable(prepared, &rules)?;
        let changes = plan
            .applier
            .diff(&compared)
            .await
            .map_err(|e| e.to_string())?;
        let drifted = crate::drift::describe(&changes);
        if correct && !drifted.is_empty() {
            let options = ApplyOptions::new(FIELD_MANAGER, false, &[]);
            plan.applier
                .apply_all(compared, &options)
                .await
                .map_err(|failure| failure.to_string())?;
        }
        Ok(drifted)
    }

    /// Waits (holding the worker) until every object is ready, or fails after the timeout:
    /// for rollbacks, which are remediation and rare.
    pub(super) async fn wait_ready(&self, plan: &Plan, ids: &[ObjectId]) -> Result<(), String> {
        let started = Instant::now();
        let mut pending = ids.to_vec();
        let mut pause = WAIT_POLL_FIRST;
        let mut seen = HashMap::new();
        loop {
            let mut look = Look {
                applier: &plan.applier,
                live: self.live(plan.remote),
                seen: &mut seen,
            };
            match health_round(&mut look, &plan.readiness, &pending).await {
                Round::Ready => return Ok(()),
                Round::Failed(error) => return Err(error),
                Round::Waiting(waiting_on, still) => {
                    if started.elapsed() >= plan.timeout {
                        return Err(format!("timed out waiting for the condition: {waiting_on}"));
                    }
                    pending = still;
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(WAIT_POLL_MAX);
        }
    }
}

/// Where a health round reads objects from.
pub(super) struct Look<'a> {
    pub applier: &'a Applier,
    /// The shared watches, for objects in this cluster.
    pub live: Option<&'a LiveObjects>,
    /// The generation each object had when last read with a GET.
    pub seen: &'a mut HashMap<ObjectId, i64>,
}

impl Look<'_> {
    /// The cached object, when the cache has caught up with what a GET saw.
    fn cached(&self, id: &ObjectId) -> Option<Value> {
        let seen = *self.seen.get(id)?;
        fresh(self.live?.get(id), seen)
    }
}

/// A cached copy that may stand for the object: found, at least at the generation a GET saw
/// after the apply. Anything else (not cached, absent, older) is read from the API.
fn fresh(cached: Cached, seen: i64) -> Option<Value> {
    match cached {
        Cached::Found(object) if generation(&object).is_some_and(|g| g >= seen) => Some(object),
        _ => None,
    }
}

fn generation(object: &Value) -> Option<i64> {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
}

/// One look at `ids`: all ready, some still progressing (what the first waits for, and
/// which), or one failed.
///
/// An object is first read with a GET, which records the generation it has since the apply.
/// Later looks take it from `live` (the shared watches of workload kinds, when the objects
/// are in this cluster) once the cached copy has reached that generation, so a cache that
/// still holds the object from before the apply is never read as its state.
pub(super) async fn health_round(
    look: &mut Look<'_>,
    readiness: &Readiness,
    ids: &[ObjectId],
) -> Round {
    let checks = match readiness {
        Readiness::Kstatus(checks) => checks,
        Readiness::Helm3 => return super::legacy::helm3_round(look.applier, ids).await,
    };
    let mut tally = Tally::default();
    for id in ids {
        // Expressions may read any field; the cached copies keep only what kstatus reads.
        let cached = if checks.covers(&id.group, &id.kind) {
            None
        } else {
            look.cached(id)
        };
        let live = match cached {
            Some(object) => Some(object),
            None => match look.applier.get(id).await {
                Ok(live) => {
                    if let Some(generation) = live.as_ref().and_then(generation) {
                        look.seen.insert(id.clone(), generation);
                    }
                    live
                }
                Err(error) => return Round::Failed(error.to_string()),
            },
        };
        let state = match &live {
            None => Health::InProgress("not found".into()),
            Some(live) => checks.health(live).unwrap_or_else(|| health::health(live)),
        };
        if let Some(failed) = tally.add(id, state) {
            return failed;
        }
    }
    tally.round()
}

/// The objects of one round so far: the first one not ready names the wait.
#[derive(Default)]
pub(super) struct Tally {
    waiting_on: Option<String>,
    still: Vec<ObjectId>,
}

impl Tally {
    /// Counts one object's state; a failure is the round's outcome at once.
    pub(super) fn add(&mut self, id: &ObjectId, state: Health) -> Option<Round> {
        match state {
            Health::Current => None,
            Health::Failed(message) => Some(Round::Failed(format!("{}: {message}", id.display()))),
            Health::InProgress(message) | Health::Unknown(message) => {
                self.waiting_on
                    .get_or_insert_with(|| format!("{}: {message}", id.display()));
                self.still.push(id.clone());
                None
            }
        }
    }

    pub(super) fn round(self) -> Round {
        match self.waiting_on {
            None => Round::Ready,
            Some(waiting_on) => Round::Waiting(waiting_on, self.still),
        }
    }
}

/// `upgrade.preserveValues` (Helm's `--reuse-values`): the new values over the current
/// release's, and the chart's defaults replaced by the current release's values coalesced
/// over its chart's (as stored: without subcharts, as Helm reads it back).
pub(super) fn preserved_values(
    chart: &Chart,
    values: &Map<String, Value>,
    current: &Release,
) -> (Chart, Map<String, Value>) {
    let mut merged = values.clone();
    coalesce::coalesce_tables(&mut merged, current.config.clone(), false);
    let stored_defaults = current
        .chart
        .as_ref()
        .and_then(|c| c.values.as_object().cloned())
        .unwrap_or_default();
    let current_chart = Chart {
        processed_values: Some(stored_defaults),
        ..Chart::default()
    };
    let mut chart = chart.clone();
    chart.processed_values = Some(coalesce::coalesce_values(&current_chart, &current.config));
    (chart, merged)
}

/// What an apply left in the cluster.
#[derive(Debug, Default, PartialEq)]
pub(super) struct AppliedObjects {
    pub all: Vec<ObjectId>,
    /// Those that did not exist before, CRDs left out (Helm never deletes those).
    pub created: Vec<ObjectId>,
}

impl AppliedObjects {
    fn of(changes: &[Change]) -> AppliedObjects {
        let mut applied = AppliedObjects::default();
        for change in changes.iter().filter(|c| c.action != Applied::Deleted) {
            if change.action == Applied::Created && change.id.kind != "CustomResourceDefinition" {
                applied.created.push(change.id.clone());
            }
            applied.all.push(change.id.clone());
        }
        applied
    }
}

/// How [`Reconciler::apply_release`] writes a revision.
pub(super) struct Applying<'a> {
    /// Recreate (server-side) or replace (client-side) what cannot be patched.
    pub force: bool,
    pub method: ApplyMethod,
    /// The revision this one follows: its objects this one dropped are deleted, and
    /// client-side apply takes each object's original from it.
    pub previous: Option<&'a Release>,
    /// Nothing of the release exists yet.
    pub install: bool,
}

/// The objects of a stored manifest that are not in `current`, leaving out those kept by
/// `helm.sh/resource-policy: keep`; namespaced objects without a namespace are in
/// `namespace`.
pub(super) fn stale_objects(
    manifest: &str,
    current: &[ObjectId],
    namespace: &str,
) -> Vec<ObjectId> {
    placed_objects(manifest, namespace)
        .into_iter()
        .filter(|(_, object)| !post_render::kept(object))
        .map(|(id, _)| id)
        .filter(|id| !current.iter().any(|c| c.same_object(id)))
        .collect()
}

/// The objects of a stored manifest with their ids; namespaced objects that name no
/// namespace are in `namespace`.
fn placed_objects(manifest: &str, namespace: &str) -> Vec<(ObjectId, Value)> {
    post_render::manifest_objects(manifest)
        .into_iter()
        .filter_map(|object| {
            let mut id = object_id(&object)?;
            if id.namespace.is_empty() && !cluster_scoped(&id.kind) {
                id.namespace = namespace.to_owned();
            }
            Some((id, object))
        })
        .collect()
}

/// Kinds without a namespace, for records that omit it (the applier asks discovery for
/// everything else it deletes).
fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "CustomResourceDefinition"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "PriorityClass"
            | "StorageClass"
            | "PersistentVolume"
            | "IngressClass"
            | "APIService"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "RuntimeClass"
            | "CSIDriver"
            | "Node"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cached_objects_stand_for_the_object_only_once_caught_up() {
        let at = |generation: i64| json!({"metadata": {"name": "web", "generation": generation}});
        assert_eq!(fresh(Cached::Found(at(3)), 3), Some(at(3)));
        assert_eq!(fresh(Cached::Found(at(4)), 3), Some(at(4)));
        // The cache still holds the object from before the apply: read it from the API.
        assert_eq!(fresh(Cached::Found(at(2)), 3), None);
        assert_eq!(fresh(Cached::Absent, 3), None);
        assert_eq!(fresh(Cached::Unknown, 3), None);
        assert_eq!(fresh(Cached::Found(json!({"metadata": {}})), 1), None);
    }

    #[test]
    fn preserved_values_lay_the_new_over_the_current_release() {
        let object = |value: Value| value.as_object().cloned().unwrap_or_default();
        let current = Release {
            config: object(json!({"a": 0, "b": 2, "nested": {"x": 1}})),
            chart: Some(StoredChart {
                values: json!({"c": 3, "b": 9}),
                ..StoredChart::default()
            }),
            ..Release::default()
        };
        let new = json!({"a": 1, "nested": {"y": 2}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let (chart, values) = preserved_values(&Chart::default(), &new, &current);
        assert_eq!(
            Value::Object(values),
            json!({"a": 1, "b": 2, "nested": {"x": 1, "y": 2}})
        );
        assert_eq!(
            Value::Object(chart.default_values()),
            json!({"a": 0, "b": 2, "c": 3, "nested": {"x": 1}})
        );
    }

    #[test]
    fn stale_objects_are_those_the_new_revision_dropped_and_not_kept() {
        let manifest = "---\n# Source: a\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n---\n# Source: b\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: same\n---\n# Source: c\napiVersion: v1\nkind: Secret\nmetadata:\n  name: kept\n  annotations:\n    helm.sh/resource-policy: keep\n---\n# Source: d\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: role\n";
        let current = [ObjectId {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "apps".into(),
            name: "same".into(),
        }];
        let stale = stale_objects(manifest, &current, "apps");
        let names: Vec<_> = stale
            .iter()
            .map(|id| (id.namespace.as_str(), id.name.as_str()))
            .collect();
        assert_eq!(names, [("apps", "old"), ("", "role")]);
    }
}
