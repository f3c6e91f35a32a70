//! Chart hooks, run as Helm runs them: the hooks of one event in weight order (then name),
//! each created after its `before-hook-creation` predecessor is gone, Jobs and Pods waited
//! on until they finish, and deleted as their delete policies say. Test hooks are the
//! `test` event.

use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use driftless_api::helm::{HelmRelease, TestHookStatus};
use driftless_api::meta::Time;
use driftless_helm::release::{Hook, HookExecution, Release};
use driftless_runtime::apply::{Applier, ApplyOptions, object_id};
use driftless_runtime::inventory::ObjectId;
use serde_json::Value;

use super::Reconciler;
use super::actions::now_text;
use crate::FIELD_MANAGER;

pub const BEFORE_HOOK_CREATION: &str = "before-hook-creation";
pub const HOOK_SUCCEEDED: &str = "hook-succeeded";
pub const HOOK_FAILED: &str = "hook-failed";

/// The first and the longest pause between looks at a hook object.
const POLL_FIRST: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(1);

/// How a finished hook object reads: Jobs by their conditions, Pods by their phase; other
/// kinds are done once created.
pub fn finished(object: &Value) -> Option<Result<(), String>> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "Job" => {
            let conditions = object
                .pointer("/status/conditions")
                .and_then(Value::as_array);
            let with = |type_: &str| {
                conditions.and_then(|all| {
                    all.iter().find(|c| {
                        c.get("type").and_then(Value::as_str) == Some(type_)
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
            };
            if let Some(failed) = with("Failed") {
                let reason = failed
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("Failed");
                return Some(Err(format!("job failed: {reason}")));
            }
            with("Complete").map(|_| Ok(()))
        }
        "Pod" => match object.pointer("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Some(Ok(())),
            Some("Failed") => Some(Err("pod failed".into())),
            _ => None,
        },
        _ => Some(Ok(())),
    }
}

/// The hooks of `event`, in the order Helm runs them (weight, then name).
pub fn ordered(hooks: &[Hook], event: &str) -> Vec<usize> {
    let mut selected: Vec<usize> = (0..hooks.len())
        .filter(|&i| hooks[i].events.iter().any(|e| e == event))
        .collect();
    selected.sort_by(|&a, &b| {
        (hooks[a].weight, &hooks[a].name).cmp(&(hooks[b].weight, &hooks[b].name))
    });
    selected
}

impl Reconciler {
    /// Runs every hook of `event` among `hooks` (recording each run in it), in `namespace`;
    /// the first failure stops the run.
    pub(super) async fn run_hooks(
        &self,
        applier: &Applier,
        hooks: &mut [Hook],
        event: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<usize, String> {
        self.run_hooks_where(applier, hooks, event, namespace, timeout, &|_| true)
            .await
    }

    /// [`Self::run_hooks`] for the hooks `only` selects (tests, by `test.filters`).
    async fn run_hooks_where(
        &self,
        applier: &Applier,
        hooks: &mut [Hook],
        event: &str,
        namespace: &str,
        timeout: Duration,
        only: &(dyn Fn(&Hook) -> bool + Sync),
    ) -> Result<usize, String> {
        let mut ran = 0;
        for index in ordered(hooks, event) {
            let hook = &mut hooks[index];
            if !only(hook) {
                continue;
            }
            if hook.delete_policies.is_empty() {
                hook.delete_policies.push(BEFORE_HOOK_CREATION.into());
            }
            let result = run_hook(applier, hook, namespace, timeout).await;
            ran += 1;
            if let Err(error) = result {
                return Err(format!("failed {event}: {error}"));
            }
        }
        Ok(ran)
    }
}

async fn run_hook(
    applier: &Applier,
    hook: &mut Hook,
    namespace: &str,
    timeout: Duration,
) -> Result<(), String> {
    let node = driftless_yaml::parse_one(&hook.manifest)
        .map_err(|e| format!("hook {}: {e}", hook.path))?;
    let mut object = driftless_helm::values::yaml11_json(&node);
    let mut id = object_id(&object)
        .ok_or_else(|| format!("hook {}: object has no apiVersion, kind or name", hook.path))?;
    if id.namespace.is_empty() && applier.namespaced(&id).await.map_err(|e| e.to_string())? {
        id.namespace = namespace.to_owned();
        object["metadata"]["namespace"] = Value::String(namespace.to_owned());
    }
    if hook
        .delete_policies
        .iter()
        .any(|p| p == BEFORE_HOOK_CREATION)
    {
        delete_and_wait(applier, &id, timeout).await?;
    }
    hook.last_run = HookExecution {
        started_at: now_text(),
        completed_at: String::new(),
        phase: "Running".into(),
    };
    let options = ApplyOptions::new(FIELD_MANAGER, false, &[]);
    if let Err(failure) = applier.apply_all(vec![object], &options).await {
        hook.last_run.phase = "Failed".into();
        hook.last_run.completed_at = now_text();
        return Err(failure.to_string());
    }
    let outcome = wait_finished(applier, &id, timeout).await;
    hook.last_run.completed_at = now_text();
    hook.last_run.phase = if outcome.is_ok() {
        "Succeeded"
    } else {
        "Failed"
    }
    .into();
    let policy = if outcome.is_ok() {
        HOOK_SUCCEEDED
    } else {
        HOOK_FAILED
    };
    if hook.delete_policies.iter().any(|p| p == policy) {
        delete_and_wait(applier, &id, timeout).await?;
    }
    outcome.map_err(|error| format!("{}: {error}", id.display()))
}

async fn wait_finished(applier: &Applier, id: &ObjectId, timeout: Duration) -> Result<(), String> {
    let started = Instant::now();
    let mut pause = POLL_FIRST;
    loop {
        let live = applier.get(id).await.map_err(|e| e.to_string())?;
        if let Some(result) = live.as_ref().and_then(finished) {
            return result;
        }
        if started.elapsed() >= timeout {
            return Err("timed out waiting for the hook to complete".into());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}

/// Deletes the object (if there) and waits until it is gone.
async fn delete_and_wait(
    applier: &Applier,
    id: &ObjectId,
    timeout: Duration,
) -> Result<(), String> {
    applier
        .prune(vec![id.clone()], &[])
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut pause = POLL_FIRST;
    while applier.get(id).await.map_err(|e| e.to_string())?.is_some() {
        if started.elapsed() >= timeout {
            return Err(format!(
                "timed out waiting for {} to be deleted",
                id.display()
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(POLL_MAX);
    }
    Ok(())
}

/// Whether `hook` is selected by `spec.test.filters`: named by an including filter when
/// there is one, and not named by an excluding one.
pub fn selected_by_filters(object: &HelmRelease, hook: &Hook) -> bool {
    let filters = object
        .spec
        .test
        .as_ref()
        .and_then(|t| t.filters.clone())
        .unwrap_or_default();
    let includes: Vec<&str> = filters
        .iter()
        .filter(|f| !f.exclude)
        .map(|f| f.name.as_str())
        .collect();
    let excluded = filters.iter().any(|f| f.exclude && f.name == hook.name);
    !excluded && (includes.is_empty() || includes.contains(&hook.name.as_str()))
}

/// The test hooks' last runs, by name, as a snapshot records them.
pub fn test_results(release: &Release) -> BTreeMap<String, TestHookStatus> {
    let time = |text: &str| text.parse::<jiff::Timestamp>().ok().map(Time);
    release
        .hooks
        .iter()
        .filter(|hook| hook.is_test() && !hook.last_run.phase.is_empty())
        .map(|hook| {
            let status = TestHookStatus {
                last_started: time(&hook.last_run.started_at),
                last_completed: time(&hook.last_run.completed_at),
                phase: Some(hook.last_run.phase.clone()),
            };
            (hook.name.clone(), status)
        })
        .collect()
}

impl Reconciler {
    /// `helm test`: the release's test hooks (as filtered), recorded in the release.
    pub(super) async fn run_tests(
        &self,
        applier: &Applier,
        object: &HelmRelease,
        release: &mut Release,
    ) -> Result<usize, String> {
        let timeout = object
            .spec
            .test
            .as_ref()
            .and_then(|t| t.timeout.as_deref())
            .and_then(|t| driftless_api::meta::parse_duration(t).ok())
            .unwrap_or_else(|| object.timeout());
        let namespace = release.namespace.clone();
        let only = |hook: &Hook| selected_by_filters(object, hook);
        self.run_hooks_where(
            applier,
            &mut release.hooks,
            "test",
            &namespace,
            timeout,
            &only,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(name: &str, weight: i64, events: &[&str]) -> Hook {
        Hook {
            name: name.into(),
            weight,
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            ..Hook::default()
        }
    }

    #[test]
    fn hooks_run_by_weight_then_name() {
        let hooks = [
            hook("b", 0, &["pre-install"]),
            hook("a", 0, &["pre-install", "pre-upgrade"]),
            hook("z", -5, &["pre-install"]),
            hook("t", 0, &["test"]),
        ];
        assert_eq!(ordered(&hooks, "pre-install"), [2, 1, 0]);
        assert_eq!(ordered(&hooks, "pre-upgrade"), [1]);
        assert_eq!(ordered(&hooks, "test"), [3]);
    }

    #[test]
    fn test_filters_include_and_exclude_by_name() {
        let mut object = HelmRelease::new("web", Default::default());
        let named = |name: &str| hook(name, 0, &["test"]);
        assert!(selected_by_filters(&object, &named("any")));
        object.spec.test = Some(driftless_api::helm::Test {
            enable: true,
            filters: Some(vec![
                driftless_api::helm::TestFilter {
                    name: "a".into(),
                    exclude: false,
                },
                driftless_api::helm::TestFilter {
                    name: "b".into(),
                    exclude: true,
                },
            ]),
            ..Default::default()
        });
        assert!(selected_by_filters(&object, &named("a")));
        assert!(!selected_by_filters(&object, &named("b")));
        assert!(!selected_by_filters(&object, &named("c")));
    }

    #[test]
    fn jobs_and_pods_finish_other_kinds_are_done_once_created() {
        let job = |type_: &str| json!({"kind": "Job", "status": {"conditions": [{"type": type_, "status": "True", "reason": "BackoffLimitExceeded"}]}});
        assert_eq!(finished(&job("Complete")), Some(Ok(())));
        assert_eq!(
            finished(&job("Failed")),
            Some(Err("job failed: BackoffLimitExceeded".into()))
        );
        assert_eq!(finished(&json!({"kind": "Job", "status": {}})), None);
        assert_eq!(
            finished(&json!({"kind": "Pod", "status": {"phase": "Running"}})),
            None
        );
        assert_eq!(
            finished(&json!({"kind": "Pod", "status": {"phase": "Succeeded"}})),
            Some(Ok(()))
        );
        assert_eq!(finished(&json!({"kind": "ConfigMap"})), Some(Ok(())));
    }
}
