//! Pure decisions of the ImagePolicy reconciler: the new `latestRef` under the digest
//! reflection policy, the Ready message Flux words, and the event a changed selection is
//! worth (the one Alerts announce).

use std::collections::BTreeMap;

use driftless_api::conditions::{READY, SUCCEEDED};
use driftless_api::event::Severity;
use driftless_api::image::{ImagePolicyStatus, ImageRef, ReflectionPolicy};
use driftless_api::meta::Condition;
use driftless_runtime::conditions as cond;
use driftless_runtime::reconcile::outcome::Notice;

pub use driftless_api::image::{
    INTERVAL_NOT_CONFIGURED_REASON as INTERVAL_NOT_CONFIGURED,
    INVALID_POLICY_REASON as INVALID_POLICY,
};

/// Ready=False reason of a policy that selects nothing (Flux: `metav1.StatusFailure`).
pub const FAILURE: &str = "Failure";

/// Whether the digest of `tag` must be looked up, or the recorded one kept.
pub fn needs_digest(
    policy: ReflectionPolicy,
    current: Option<&ImageRef>,
    name: &str,
    tag: &str,
) -> bool {
    match policy {
        ReflectionPolicy::Never => false,
        ReflectionPolicy::Always => true,
        ReflectionPolicy::IfNotPresent => !current.is_some_and(|c| {
            c.name == name && c.tag == tag && c.digest.as_deref().is_some_and(|d| !d.is_empty())
        }),
    }
}

/// Records `latest`; the previous selection moves to `observedPreviousRef` only when the
/// selection changed, as Flux does.
pub fn record(status: &mut ImagePolicyStatus, latest: ImageRef) {
    if status.latest_ref.as_ref() != Some(&latest) {
        status.observed_previous_ref = status.latest_ref.replace(latest);
    }
}

/// `Latest image tag for <name> resolved to <tag>[ with digest <d>][ (previously <ref>)]`.
pub fn ready_message(status: &ImagePolicyStatus) -> String {
    let Some(latest) = &status.latest_ref else {
        return String::new();
    };
    let mut message = format!(
        "Latest image tag for {} resolved to {}",
        latest.name, latest.tag
    );
    if let Some(digest) = latest.digest.as_deref().filter(|d| !d.is_empty()) {
        message.push_str(&format!(" with digest {digest}"));
    }
    if let Some(previous) = status
        .observed_previous_ref
        .as_ref()
        .filter(|p| *p != latest)
    {
        message.push_str(&format!(" (previously {previous})"));
    }
    message
}

/// A Normal event when the Ready message changed (a new image) or the policy recovered.
pub fn ready_event(previous: &[Condition], message: &str, image: &ImageRef) -> Option<Notice> {
    let unchanged =
        cond::get(previous, READY).is_some_and(|c| c.status == "True" && c.message == message);
    (!unchanged).then(|| Notice {
        severity: Severity::Info,
        reason: SUCCEEDED.to_owned(),
        message: message.to_owned(),
        metadata: BTreeMap::from([("revision".to_owned(), image.to_string())]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(tag: &str, digest: Option<&str>) -> ImageRef {
        ImageRef {
            name: "localhost:5000/app".into(),
            tag: tag.into(),
            digest: digest.map(str::to_owned),
        }
    }

    #[test]
    fn digests_are_looked_up_as_the_reflection_policy_says() {
        let pinned = image("1.0.0", Some("sha256:aa"));
        let name = "localhost:5000/app";
        assert!(!needs_digest(ReflectionPolicy::Never, None, name, "1.0.0"));
        assert!(needs_digest(
            ReflectionPolicy::Always,
            Some(&pinned),
            name,
            "1.0.0"
        ));
        assert!(!needs_digest(
            ReflectionPolicy::IfNotPresent,
            Some(&pinned),
            name,
            "1.0.0"
        ));
        assert!(needs_digest(
            ReflectionPolicy::IfNotPresent,
            Some(&pinned),
            name,
            "1.1.0"
        ));
        assert!(needs_digest(
            ReflectionPolicy::IfNotPresent,
            Some(&image("1.0.0", None)),
            name,
            "1.0.0"
        ));
    }

    #[test]
    fn a_new_selection_remembers_the_previous_one_and_says_so() {
        let mut status = ImagePolicyStatus::default();
        record(&mut status, image("1.0.0", None));
        assert_eq!(status.observed_previous_ref, None);
        assert_eq!(
            ready_message(&status),
            "Latest image tag for localhost:5000/app resolved to 1.0.0"
        );
        record(&mut status, image("1.0.0", None));
        assert_eq!(status.observed_previous_ref, None, "same selection");
        record(&mut status, image("1.1.0", Some("sha256:bb")));
        assert_eq!(status.observed_previous_ref, Some(image("1.0.0", None)));
        assert_eq!(
            ready_message(&status),
            "Latest image tag for localhost:5000/app resolved to 1.1.0 with digest sha256:bb \
             (previously localhost:5000/app:1.0.0)"
        );
    }

    #[test]
    fn only_a_changed_selection_is_announced() {
        let latest = image("1.1.0", None);
        let message = "Latest image tag for localhost:5000/app resolved to 1.1.0";
        let mut conditions = Vec::new();
        assert!(ready_event(&conditions, message, &latest).is_some());
        cond::mark_ready(&mut conditions, SUCCEEDED, message, Some(1));
        assert_eq!(ready_event(&conditions, message, &latest), None);
        let event = ready_event(&conditions, "resolved to 1.2.0", &latest).unwrap();
        assert_eq!(event.metadata["revision"], "localhost:5000/app:1.1.0");
    }
}
