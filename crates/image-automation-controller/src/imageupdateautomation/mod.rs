//! The ImageUpdateAutomation reconciler: the GitRepository and its credentials ([`inputs`])
//! → what the run does ([`plan`]) → the selected ImagePolicies ([`policies`]) → on the clone
//! kept per source, the setters, a commit with the templated [`message`] and a push, re-applied
//! at once when another writer pushed first ([`job`]) → status, the push event, and a
//! reconcile request to the GitRepository that follows the pushed branch, so the cluster
//! catches up without waiting for an interval or a webhook. [`outcome`] holds the pure
//! decisions.

pub mod inputs;
pub mod job;
pub mod message;
pub mod outcome;
pub mod plan;
pub mod policies;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftless_api::conditions::READY;
use driftless_api::image::ImagePolicy;
pub use driftless_api::image::ImageUpdateAutomation;
use driftless_api::meta::{RECONCILE_REQUEST_ANNOTATION, parse_duration};
use driftless_api::source::GitRepository;
use driftless_git::{GitRef, Person};
use driftless_runtime::Context as RuntimeContext;
use driftless_runtime::conditions::now;
use driftless_runtime::reconcile::{self, Error, Outcome, Run, Watches};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use job::{Job, Ran};
use outcome::{Failure, READY_MESSAGE};

/// Git operations' timeout when the GitRepository sets none, as Flux.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of the ImageUpdateAutomation reconciler.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where clones are kept, one per source.
    pub storage: PathBuf,
    /// Flux's `GitForcePushBranch` feature gate.
    pub force_push_branch: bool,
    /// After a push to the branch a GitRepository follows, ask for its reconcile.
    pub request_source_reconcile: bool,
}

pub struct Reconciler {
    runtime: RuntimeContext,
    settings: Settings,
    sources: Option<Store<GitRepository>>,
    policies: Option<Store<ImagePolicy>>,
    /// One run at a time per kept clone.
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl Reconciler {
    pub fn new(runtime: RuntimeContext, settings: Settings) -> Self {
        Self {
            runtime,
            settings,
            sources: None,
            policies: None,
            locks: Mutex::default(),
        }
    }

    pub async fn run(self) {
        let ctx = self.runtime.clone();
        reconcile::run(self, ctx).await;
    }

    fn lock(&self, dir: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(dir.to_owned()).or_default().clone()
    }

    fn clone_dir(&self, source: &GitRepository) -> PathBuf {
        self.settings
            .storage
            .join("imageupdateautomation")
            .join(source.namespace().unwrap_or_default())
            .join(source.name_any())
    }

    /// Asks the GitRepository following `branch` for a reconcile (what a push webhook would
    /// do), so the pushed commit is fetched now.
    async fn request_source_reconcile(&self, source: &GitRepository, branch: &str) {
        let followed = GitRef::from_spec(source.spec.reference.as_ref());
        if !self.settings.request_source_reconcile || followed != GitRef::Branch(branch.to_owned())
        {
            return;
        }
        let api: Api<GitRepository> = Api::namespaced(
            self.runtime.client.clone(),
            &source.namespace().unwrap_or_default(),
        );
        // Nanoseconds: two pushes within one second must still be two requests.
        let token = k8s_openapi::jiff::Timestamp::now().to_string();
        let patch =
            serde_json::json!({"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: token}}});
        if let Err(error) = api
            .patch(
                &source.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            tracing::warn!(%error, source = %source.name_any(), "could not request the GitRepository's reconcile");
        }
    }
}

impl reconcile::Reconciler for Reconciler {
    type Object = ImageUpdateAutomation;

    fn watches(&mut self, watches: &mut Watches<ImageUpdateAutomation>) {
        let automations = watches.objects();
        let (sources, source_changes) = watches.cached::<GitRepository>(watcher::Config::default());
        let (policies, policy_changes) = watches.cached::<ImagePolicy>(watcher::Config::default());
        self.sources = Some(sources);
        self.policies = Some(policies);
        let by_source = automations.clone();
        watches.trigger(source_changes, move |source: GitRepository| {
            let namespace = source.namespace().unwrap_or_default();
            let name = source.name_any();
            by_source
                .state()
                .iter()
                .filter(|a| {
                    let own = a.namespace().unwrap_or_default();
                    a.spec.source_ref.name == name
                        && a.spec.source_ref.namespace.as_deref().unwrap_or(&own) == namespace
                })
                .map(|a| ObjectRef::from_obj(&**a))
                .collect::<Vec<_>>()
        });
        // Markers name policies freely, so any policy change concerns every automation of
        // its namespace.
        watches.trigger(policy_changes, move |policy: ImagePolicy| {
            let namespace = policy.namespace();
            automations
                .state()
                .iter()
                .filter(|a| a.namespace() == namespace)
                .map(|a| ObjectRef::from_obj(&**a))
                .collect::<Vec<_>>()
        });
    }

    async fn reconcile(&self, run: &mut Run<ImageUpdateAutomation>) -> Result<Outcome, Error> {
        let object = run.object.clone();
        let interval = parse_duration(&object.spec.interval)
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_secs(1));
        run.status.last_automation_run_time = Some(now());
        let source = match inputs::source(
            &object,
            self.sources.as_ref(),
            self.runtime.args.no_cross_namespace_refs,
        ) {
            Ok(source) => source,
            Err(failure) => return Ok(outcome::failed(failure, interval)),
        };
        let plan = match plan::plan(&object, &source, self.settings.force_push_branch) {
            Ok(plan) => plan,
            Err(error) => {
                return Ok(outcome::failed(
                    Failure::InvalidSource(error.to_string()),
                    interval,
                ));
            }
        };
        let cached: Vec<Arc<ImagePolicy>> =
            self.policies.as_ref().map(Store::state).unwrap_or_default();
        let selected = match policies::select(&object, cached.iter().map(|p| &**p)) {
            Ok(selected) => selected,
            Err(error) => {
                return Ok(outcome::failed(
                    Failure::InvalidSelector(format!("invalid policy selector: {error}")),
                    interval,
                ));
            }
        };
        let credentials = match inputs::credentials(&self.runtime.client, &source).await {
            Ok(credentials) => credentials,
            Err(failure) => return Ok(outcome::failed(failure, interval)),
        };
        let signer = match inputs::signer(&self.runtime.client, &object).await {
            Ok(signer) => signer,
            Err(failure) => return Ok(outcome::failed(failure, interval)),
        };
        let git = object.spec.git_spec.clone().unwrap_or_default();
        let template = git.commit.message_template.clone();
        let values = git.commit.message_template_values.clone();
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        // Validate the template before any Git work: a broken one is a spec error.
        if let Err(failure) = message::check(
            template.as_deref(),
            &message::Context {
                namespace: &namespace,
                name: &name,
                values: &values,
            },
        ) {
            return Ok(outcome::failed(failure, interval));
        }
        // Only a run that ended cleanly may be skipped over: one that reported a problem
        // (a stale marker, say) reports it again until the repository changes.
        let last_run_clean = driftless_runtime::conditions::get(&run.status.conditions, READY)
            .is_some_and(|c| c.status == "True");
        let skip_if_at = (last_run_clean && run.status.observed_policies == selected.observed)
            .then(|| run.status.observed_source_revision.clone())
            .flatten();
        let time = now().0.as_second();
        let author = Person {
            name: git.commit.author.name.clone().unwrap_or_default(),
            email: git.commit.author.email.clone(),
            time,
            utc_offset: 0,
        };
        let dir = self.clone_dir(&source);
        let job = Job {
            dir: dir.clone(),
            url: source.spec.url.clone(),
            credentials,
            timeout: source
                .spec
                .timeout
                .as_deref()
                .and_then(|t| parse_duration(t).ok())
                .unwrap_or(DEFAULT_TIMEOUT),
            runtime: tokio::runtime::Handle::current(),
            plan: plan.clone(),
            policies: selected.setters.clone(),
            pending: selected.pending.clone(),
            skip_if_at,
            last_push: run.status.last_push_commit.clone(),
            author,
            signer,
        };
        let lock = self.lock(&dir);
        let _one_run_per_clone = lock.lock().await;
        let ran = tokio::task::spawn_blocking(move || {
            let context = message::Context {
                namespace: &namespace,
                name: &name,
                values: &values,
            };
            job::run(&job, &|changes| {
                message::render(template.as_deref(), &context, changes)
            })
        })
        .await
        .map_err(|e| Error::Unexpected(format!("automation job: {e}")))?;
        let ran = match ran {
            Ok(ran) => ran,
            Err(failure) => return Ok(outcome::failed(failure, interval)),
        };
        run.status.observed_policies = selected.observed;
        let unknown = match ran {
            Ran::Skipped { source_revision } => {
                run.status.observed_source_revision = Some(source_revision);
                Vec::new()
            }
            Ran::UpToDate {
                source_revision,
                unknown_markers,
            } => {
                run.status.observed_source_revision = Some(source_revision);
                unknown_markers
            }
            Ran::Pushed {
                source_revision,
                commit,
                message,
                refspecs,
                retries,
                unknown_markers,
            } => {
                run.status.observed_source_revision = Some(source_revision);
                run.status.last_push_commit = Some(commit.clone());
                run.status.last_push_time = Some(now());
                if retries > 0 {
                    tracing::info!(retries, %commit, "pushed after re-applying on a moved branch");
                }
                let summary =
                    outcome::push_summary(&commit, &plan.push_branch, &refspecs, &message);
                run.notify(outcome::push_event(summary, &commit));
                self.request_source_reconcile(&source, &plan.push_branch)
                    .await;
                unknown_markers
            }
        };
        if !unknown.is_empty() {
            return Ok(outcome::failed(
                Failure::Update(format!(
                    "markers name ImagePolicies that do not exist or are not selected: {}",
                    unknown.join(", ")
                )),
                interval,
            ));
        }
        Ok(Outcome::Ready {
            reason: driftless_api::conditions::SUCCEEDED,
            message: READY_MESSAGE.to_owned(),
            interval,
        })
    }
}
