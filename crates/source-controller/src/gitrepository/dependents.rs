//! GitRepositories that include another are reconciled as soon as it has a new artifact.

use driftless_api::source::GitRepository;
use kube::ResourceExt;
use kube::runtime::reflector::{self, ObjectRef};

/// Reconciles objects whose `spec.include` names an object that just got a new artifact.
pub(super) struct Dependents {
    pub store: reflector::Store<GitRepository>,
    pub notify: tokio::sync::mpsc::Sender<ObjectRef<GitRepository>>,
}

impl Dependents {
    pub fn notify_includers_of(&self, object: &GitRepository) {
        let namespace = object.namespace();
        let name = object.name_any();
        for candidate in self.store.state() {
            let includes = candidate.namespace() == namespace
                && candidate
                    .spec
                    .include
                    .iter()
                    .any(|include| include.repository.name == name);
            // A full queue only delays: includers also see the change on their interval.
            if includes
                && self
                    .notify
                    .try_send(ObjectRef::from_obj(&*candidate))
                    .is_err()
            {
                tracing::debug!(includer = %candidate.name_any(), "include notification dropped");
            }
        }
    }
}
