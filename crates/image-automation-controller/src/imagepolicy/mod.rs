//! The ImagePolicy reconciler: the referenced ImageRepository (cross-namespace only where its
//! `accessFrom` allows) → its stored tags → `filterTags` and the ordering policy → the digest
//! when the reflection policy asks → `status.latestRef`. A failure keeps the last good
//! `latestRef`, so automations keep writing what was selected before.
//!
//! [`outcome`] holds the pure decisions; [`access_from`] the cross-namespace check.

pub mod access_from;
pub mod outcome;

use std::time::Duration;

use driftless_api::conditions::{ACCESS_DENIED, DEPENDENCY_NOT_READY, SUCCEEDED};
use driftless_api::image::{ImagePolicy, ImageRef, ImageRepository, ReflectionPolicy};
use driftless_policy::{Policy, PolicyError};
use driftless_runtime::Context as RuntimeContext;
use driftless_runtime::reconcile::{self, Error, Outcome, RetryAfter, Run, Watches};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::registry::{Registries, access, reference::ImageName};
use crate::tags::TagStore;

/// Resync of a policy that has nothing timed to do (no `digestReflectionPolicy: Always`):
/// new tags arrive through the ImageRepository watch, not through this.
const RESYNC: Duration = Duration::from_secs(3600);
/// How soon a policy whose repository has no tags yet looks again (the watch usually wakes
/// it first).
const WAIT_FOR_TAGS: Duration = Duration::from_secs(30);

pub struct Reconciler {
    runtime: RuntimeContext,
    registries: Registries,
    tags: TagStore,
    repositories: Option<Store<ImageRepository>>,
}

impl Reconciler {
    pub fn new(runtime: RuntimeContext, registries: Registries, tags: TagStore) -> Self {
        Self {
            runtime,
            registries,
            tags,
            repositories: None,
        }
    }

    pub async fn run(self) {
        let ctx = self.runtime.clone();
        reconcile::run(self, ctx).await;
    }

    async fn repository(&self, policy: &ImagePolicy) -> Result<ImageRepository, Outcome> {
        let own = policy.namespace().unwrap_or_default();
        let reference = &policy.spec.image_repository_ref;
        let namespace = reference.namespace.clone().unwrap_or_else(|| own.clone());
        let retry = |reason, message: String| Outcome::Retry {
            reason,
            message: format!("failed to get the referred ImageRepository: {message}"),
            after: RetryAfter::Backoff {
                at_most: WAIT_FOR_TAGS,
            },
        };
        if namespace != own && self.runtime.args.no_cross_namespace_refs {
            return Err(retry(
                ACCESS_DENIED,
                format!(
                    "cannot access 'ImageRepository/{namespace}/{}', cross-namespace references have been blocked",
                    reference.name
                ),
            ));
        }
        let cached = self
            .repositories
            .as_ref()
            .and_then(|s| s.get(&ObjectRef::new(&reference.name).within(&namespace)));
        let Some(repository) = cached else {
            return Err(Outcome::Waiting {
                reason: DEPENDENCY_NOT_READY,
                message: format!(
                    "failed to get the referred ImageRepository: referenced ImageRepository '{namespace}/{}' does not exist",
                    reference.name
                ),
                after: WAIT_FOR_TAGS,
            });
        };
        if namespace != own
            && let Err(message) = access_from::check(&self.runtime.client, &repository, &own).await
        {
            return Err(retry(ACCESS_DENIED, format!("access denied: {message}")));
        }
        Ok((*repository).clone())
    }
}

impl reconcile::Reconciler for Reconciler {
    type Object = ImagePolicy;

    fn watches(&mut self, watches: &mut Watches<ImagePolicy>) {
        let policies = watches.objects();
        let (repositories, changes) = watches.cached::<ImageRepository>(watcher::Config::default());
        self.repositories = Some(repositories);
        watches.trigger(changes, move |repository: ImageRepository| {
            let namespace = repository.namespace().unwrap_or_default();
            let name = repository.name_any();
            policies
                .state()
                .iter()
                .filter(|policy| {
                    let own = policy.namespace().unwrap_or_default();
                    let reference = &policy.spec.image_repository_ref;
                    reference.name == name
                        && reference.namespace.as_deref().unwrap_or(&own) == namespace
                })
                .map(|policy| ObjectRef::from_obj(&**policy))
                .collect::<Vec<_>>()
        });
    }

    async fn reconcile(&self, run: &mut Run<ImagePolicy>) -> Result<Outcome, Error> {
        let object = run.object.clone();
        let reflection = object.digest_reflection_policy();
        if reflection == ReflectionPolicy::Always && object.spec.interval.is_none() {
            return Ok(Outcome::Stalled {
                reason: outcome::INTERVAL_NOT_CONFIGURED,
                message:
                    "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'"
                        .into(),
            });
        }
        let policy = match Policy::from_spec(&object.spec.policy, object.spec.filter_tags.as_ref())
        {
            Ok(policy) => policy,
            Err(error) => {
                let prefix = match error {
                    PolicyError::InvalidPattern { .. } | PolicyError::UnknownGroup { .. } => {
                        "failed to filter tags"
                    }
                    _ => "invalid policy",
                };
                return Ok(Outcome::Stalled {
                    reason: outcome::INVALID_POLICY,
                    message: format!("{prefix}: {error}"),
                });
            }
        };
        let repository = match self.repository(&object).await {
            Ok(repository) => repository,
            Err(outcome) => return Ok(outcome),
        };
        let image = match ImageName::parse(&repository.spec.image) {
            Ok(image) => image,
            Err(error) => {
                return Ok(Outcome::Stalled {
                    reason: driftless_api::image::IMAGE_URL_INVALID_REASON,
                    message: error.to_string(),
                });
            }
        };
        let tags = self
            .tags
            .get(
                &repository.namespace().unwrap_or_default(),
                &repository.name_any(),
            )
            .await
            .ok()
            .flatten()
            .filter(|list| !list.is_empty());
        let Some(tags) = tags else {
            // Not scanned yet: the repository's watch brings the policy back.
            return Ok(Outcome::Waiting {
                reason: DEPENDENCY_NOT_READY,
                message: PolicyError::NoTags.to_string(),
                after: WAIT_FOR_TAGS,
            });
        };
        let interval = object.interval().unwrap_or(RESYNC);
        let selected = match policy.latest(tags.iter()) {
            Ok(selected) => selected,
            Err(error) => {
                return Ok(Outcome::Retry {
                    reason: outcome::FAILURE,
                    message: error.to_string(),
                    after: RetryAfter::Backoff { at_most: interval },
                });
            }
        };
        let name = repository.spec.image.clone();
        let mut latest = ImageRef {
            name: name.clone(),
            tag: selected.tag.clone(),
            digest: None,
        };
        let current = run.status.latest_ref.clone();
        if outcome::needs_digest(reflection, current.as_ref(), &name, &selected.tag) {
            let digest = match access::resolve(
                &self.runtime.client,
                &repository.namespace().unwrap_or_default(),
                &crate::imagerepository::access_spec(&repository),
                &image,
            )
            .await
            {
                Ok(access) => self
                    .registries
                    .digest(&image, &selected.tag, &access, repository.timeout())
                    .await
                    .map_err(|e| e.to_string()),
                Err(error) => Err(format!(
                    "failed to configure authentication options: {error}"
                )),
            };
            match digest {
                Ok(digest) => latest.digest = Some(digest),
                Err(error) => {
                    return Ok(Outcome::Retry {
                        reason: outcome::FAILURE,
                        message: format!("failed fetching digest of {latest}: {error}"),
                        after: RetryAfter::Backoff { at_most: interval },
                    });
                }
            }
        } else if reflection == ReflectionPolicy::IfNotPresent {
            latest.digest = current.and_then(|c| c.digest);
        }
        outcome::record(&mut run.status, latest.clone());
        let message = outcome::ready_message(&run.status);
        let previous = object
            .status
            .as_ref()
            .map_or(&[][..], |s| s.conditions.as_slice());
        if let Some(event) = outcome::ready_event(previous, &message, &latest) {
            run.notify(event);
        }
        Ok(Outcome::Ready {
            reason: SUCCEEDED,
            message,
            interval,
        })
    }
}
