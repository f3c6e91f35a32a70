//! The ImageRepository reconciler: `spec.image` → registry access → (when due) every tag
//! listed → exclusions dropped → tags stored per object → `status.lastScanResult`. Policies
//! read the stored tags; a failed scan keeps the last good list and result.
//!
//! [`outcome`] holds the pure decisions (when to scan, how failures read, which event).

pub mod outcome;

use std::sync::Arc;
use std::time::Duration;

use driftless_api::conditions::{PROGRESSING, READ_OPERATION_FAILED, SUCCEEDED};
use driftless_api::image::{ImageProvider, ImageRepository, ScanResult};
use driftless_runtime::Context as RuntimeContext;
use driftless_runtime::conditions::now;
use driftless_runtime::reconcile::{self, Error, Outcome, RetryAfter, Run};
use kube::ResourceExt;
use regex::Regex;

use crate::registry::{Registries, access, reference::ImageName};
use crate::tags::TagStore;
use outcome::{Observed, Schedule};

/// How many of the newest tags the status lists, as Flux.
const LATEST_TAGS: usize = 10;
/// A scan running longer than this shows as in progress while it runs.
const SLOW_SCAN: Duration = Duration::from_secs(5);

pub struct Reconciler {
    runtime: RuntimeContext,
    registries: Registries,
    tags: TagStore,
}

impl Reconciler {
    pub fn new(runtime: RuntimeContext, registries: Registries, tags: TagStore) -> Self {
        Self {
            runtime,
            registries,
            tags,
        }
    }

    pub async fn run(self) {
        let ctx = self.runtime.clone();
        reconcile::run(self, ctx).await;
    }
}

impl reconcile::Reconciler for Reconciler {
    type Object = ImageRepository;

    async fn reconcile(&self, run: &mut Run<ImageRepository>) -> Result<Outcome, Error> {
        let object = run.object.clone();
        let interval = object.interval().unwrap_or(Duration::from_secs(300));
        let image = match ImageName::parse(&object.spec.image) {
            Ok(image) => image,
            Err(error) => return Ok(outcome::invalid_image(&error)),
        };
        let exclusions = object.exclusion_list();
        let patterns = match compile(&exclusions) {
            Ok(patterns) => patterns,
            Err((pattern, error)) => return Ok(outcome::invalid_exclusion(&pattern, &error)),
        };
        let access = match access::resolve(
            &self.runtime.client,
            &object.namespace().unwrap_or_default(),
            &access_spec(&object),
            &image,
        )
        .await
        {
            Ok(access) => access,
            Err(error) => return Ok(outcome::access_failed(&error, interval)),
        };
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        let stored = self.tags.get(&namespace, &name).await.ok().flatten();
        let canonical = image.to_string();
        let since_last_scan = run
            .status
            .last_scan_result
            .as_ref()
            .and_then(|r| r.scan_time.as_ref())
            .map(|t| {
                let elapsed = now().0.duration_since(t.0);
                Duration::try_from(elapsed).unwrap_or(Duration::ZERO)
            });
        let schedule = outcome::schedule(
            &Observed {
                status: &run.status,
                since_last_scan,
                stored: stored.is_some(),
            },
            &canonical,
            &exclusions,
            reconcile::pending_reconcile_request(&*object).is_some(),
            interval,
        );
        let next = match schedule {
            Schedule::After(left) => left,
            Schedule::Now(reason) => {
                let scan = self.registries.list_tags(&image, &access, object.timeout());
                tokio::pin!(scan);
                let listed = tokio::select! {
                    listed = &mut scan => listed,
                    () = tokio::time::sleep(SLOW_SCAN) => {
                        let message = format!("scanning: {}", reason.message());
                        if let Err(error) = run.progress(PROGRESSING, message).await {
                            tracing::debug!(%error, "could not mark a slow scan as in progress");
                        }
                        scan.await
                    }
                };
                let tags = match listed {
                    Ok(tags) => tags,
                    Err(error) => return Ok(outcome::scan_failed(&error, interval)),
                };
                let kept: Vec<String> = tags
                    .into_iter()
                    .filter(|tag| !patterns.iter().any(|p| p.is_match(tag)))
                    .collect();
                let list = match self.tags.put(&namespace, &name, kept).await {
                    Ok(list) => list,
                    Err(error) => {
                        return Ok(Outcome::Retry {
                            reason: READ_OPERATION_FAILED,
                            message: format!("failed to set tags for '{canonical}': {error}"),
                            after: RetryAfter::Backoff { at_most: interval },
                        });
                    }
                };
                run.status.last_scan_result = Some(ScanResult {
                    revision: Some(list.revision()),
                    tag_count: i64::try_from(list.len()).unwrap_or(i64::MAX),
                    scan_time: Some(now()),
                    latest_tags: list.latest(LATEST_TAGS),
                });
                interval
            }
        };
        run.status.canonical_image_name = Some(canonical);
        run.status.observed_exclusion_list = exclusions;
        let result = run.status.last_scan_result.clone().unwrap_or_default();
        let message = outcome::ready_message(
            result.tag_count,
            result.revision.as_deref().unwrap_or_default(),
        );
        if let Some(event) = outcome::ready_event(
            object
                .status
                .as_ref()
                .map_or(&[][..], |s| s.conditions.as_slice()),
            &message,
        ) {
            run.notify(event);
        }
        Ok(Outcome::Ready {
            reason: SUCCEEDED,
            message,
            interval: next,
        })
    }

    async fn cleanup(&self, object: &Arc<ImageRepository>) -> Result<(), Error> {
        self.tags
            .remove(&object.namespace().unwrap_or_default(), &object.name_any())
            .await
            .map_err(|e| Error::Cleanup(format!("removing stored tags: {e}")))
    }
}

/// Compiles the exclusion list; the first pattern that does not compile is returned with
/// its error.
fn compile(patterns: &[String]) -> Result<Vec<Regex>, (String, regex::Error)> {
    patterns
        .iter()
        .map(|p| Regex::new(p).map_err(|e| (p.clone(), e)))
        .collect()
}

/// The registry fields of `repository`'s spec.
pub(crate) fn access_spec(repository: &ImageRepository) -> access::AccessSpec<'_> {
    let spec = &repository.spec;
    access::AccessSpec {
        provider: match repository.provider() {
            ImageProvider::Generic => "generic",
            ImageProvider::Aws => "aws",
            ImageProvider::Azure => "azure",
            ImageProvider::Gcp => "gcp",
        },
        secret_ref: spec.secret_ref.as_ref().map(|r| r.name.as_str()),
        service_account_name: spec.service_account_name.as_deref(),
        cert_secret_ref: spec.cert_secret_ref.as_ref().map(|r| r.name.as_str()),
        proxy_secret_ref: spec.proxy_secret_ref.as_ref().map(|r| r.name.as_str()),
        insecure: spec.insecure,
    }
}
