//! Steps every source kind that stores one artifact shares at the end of a reconcile: the
//! status URL link to the current artifact, the new artifact's event metadata, the failure
//! outcome, and the object's storage directory.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::conditions::{DIRECTORY_CREATION_FAILED, SYMLINK_UPDATE_FAILED};
use driftless_api::event::Severity;
use driftless_api::meta::Artifact;
use driftless_api::source::{Bucket, HelmChart, HelmRepository, OCIRepository};
use driftless_runtime::reconcile::{Outcome, Run, StatusOf, ToolkitObject};
use kube::ResourceExt;

use crate::failure::Failure;
use crate::storage::Storage;

/// Source kinds whose status has `artifact` and `url`.
pub trait StoredSource: ToolkitObject {
    const KIND: &'static str;
    fn has_artifact(status: &StatusOf<Self>) -> bool;
    fn set_url(status: &mut StatusOf<Self>, url: Option<String>);
}

macro_rules! stored_source {
    ($($kind:ident),*) => {$(
        impl StoredSource for $kind {
            const KIND: &'static str = stringify!($kind);
            fn has_artifact(status: &StatusOf<Self>) -> bool {
                status.artifact.is_some()
            }
            fn set_url(status: &mut StatusOf<Self>, url: Option<String>) {
                status.url = url;
            }
        }
    )*};
}

stored_source!(OCIRepository, Bucket, HelmRepository, HelmChart);

/// Points `link` (`latest.tar.gz`, or HelmRepository's `index.yaml`) at `artifact` and sets
/// `status.url` to it; a link that cannot be made is a Trace event, not a failure.
pub fn link_url<K: StoredSource>(
    run: &mut Run<K>,
    storage: &Storage,
    artifact: &Artifact,
    link: &str,
) {
    let Some((dir, file)) = artifact.path.rsplit_once('/') else {
        return;
    };
    match storage.link_as(dir, file, link) {
        Ok(path) => K::set_url(&mut run.status, Some(storage.url(&path))),
        Err(error) => run.event(
            Severity::Trace,
            SYMLINK_UPDATE_FAILED,
            format!("failed to update status URL symlink: {error}"),
            BTreeMap::new(),
        ),
    }
}

/// The metadata of a NewArtifact (or chart) event, as Flux annotates it: the artifact's
/// revision and digest. For every source kind, GitRepository included.
pub fn artifact_event_metadata(artifact: &Artifact) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "source.toolkit.fluxcd.io/revision".to_owned(),
            artifact.revision.clone(),
        ),
        (
            "source.toolkit.fluxcd.io/digest".to_owned(),
            artifact.digest.clone(),
        ),
    ])
}

/// The outcome of a failed step (see [`crate::failure::failed`]).
pub fn failed<K: StoredSource>(
    run: &mut Run<K>,
    steps: &[&str],
    interval: Duration,
    failure: Failure,
) -> Outcome {
    let has_artifact = K::has_artifact(&run.status);
    let generation = run.generation();
    crate::failure::failed(
        K::shared_fields(&mut run.status).conditions,
        steps,
        has_artifact,
        generation,
        interval,
        failure,
    )
}

/// The object's directory in storage, `<kind>/<namespace>/<name>`.
pub fn storage_dir<K: StoredSource>(storage: &Storage, object: &K) -> Result<String, Failure> {
    storage
        .object_dir(
            K::KIND,
            &object.namespace().unwrap_or_default(),
            &object.name_any(),
        )
        .map_err(|e| Failure::storage(DIRECTORY_CREATION_FAILED, e.to_string()))
}
