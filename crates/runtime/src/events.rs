//! Events: a Kubernetes Event for `kubectl describe`, and the same event forwarded in Flux's
//! payload shape to notification-controller. Forwarding runs in the background and never
//! delays or fails a reconcile.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::event::{EVENT_ANNOTATION_PREFIX, Event, Severity};
use k8s_openapi::jiff::{Timestamp, Unit};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};

/// notification-controller rejects longer messages.
const MAX_MESSAGE_BYTES: usize = 39_000;
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
const FORWARD_ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct EventRecorder {
    recorder: Recorder,
    forward: Option<Forwarder>,
    controller: String,
    instance: String,
}

#[derive(Clone)]
struct Forwarder {
    http: reqwest::Client,
    url: String,
}

impl EventRecorder {
    /// `events_addr` is the notification-controller URL; empty disables forwarding.
    pub fn new(client: Client, controller: &str, instance: &str, events_addr: &str) -> Self {
        let reporter = Reporter {
            controller: controller.to_owned(),
            instance: Some(instance.to_owned()),
        };
        let forward = (!events_addr.is_empty()).then(|| Forwarder {
            http: reqwest::Client::builder()
                .timeout(FORWARD_TIMEOUT)
                .build()
                .unwrap_or_default(),
            url: events_addr.to_owned(),
        });
        Self {
            recorder: Recorder::new(client, reporter),
            forward,
            controller: controller.to_owned(),
            instance: instance.to_owned(),
        }
    }

    /// Records an event about `object`. `metadata` keys are full keys such as
    /// `source.toolkit.fluxcd.io/revision`; the object's `event.toolkit.fluxcd.io/*`
    /// annotations are added with lower precedence.
    pub async fn publish<K>(
        &self,
        object: &K,
        severity: Severity,
        reason: &str,
        message: &str,
        metadata: BTreeMap<String, String>,
    ) where
        K: Resource<DynamicType = ()>,
    {
        let message = truncate(message, MAX_MESSAGE_BYTES);
        let reference = object.object_ref(&());
        let event = KubeEvent {
            type_: if severity == Severity::Error {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(message.to_owned()),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(%error, reason, "recording Kubernetes event failed");
        }
        if severity == Severity::Trace {
            return;
        }
        let Some(forward) = self.forward.clone() else {
            return;
        };
        let payload = self.payload(object, severity, reason, message, metadata);
        tokio::spawn(async move { forward.send(&payload).await });
    }

    fn payload<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        severity: Severity,
        reason: &str,
        message: &str,
        metadata: BTreeMap<String, String>,
    ) -> Event {
        let mut all: BTreeMap<String, String> = object
            .annotations()
            .iter()
            .filter(|(key, _)| key.starts_with(EVENT_ANNOTATION_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.extend(metadata);
        // Flux's reference carries the resourceVersion; kube's object_ref does not.
        let mut involved_object = object.object_ref(&());
        involved_object.resource_version = object.meta().resource_version.clone();
        Event {
            involved_object,
            severity,
            timestamp: Timestamp::now()
                .round(Unit::Second)
                .unwrap_or(Timestamp::UNIX_EPOCH)
                .to_string(),
            message: message.to_owned(),
            reason: reason.to_owned(),
            metadata: all,
            reporting_controller: self.controller.clone(),
            reporting_instance: self.instance.clone(),
        }
    }
}

impl Forwarder {
    async fn send(&self, event: &Event) {
        for attempt in 1..=FORWARD_ATTEMPTS {
            match self.http.post(&self.url).json(event).send().await {
                Ok(response) if response.status().is_success() => return,
                // Rate-limited duplicates are dropped by design; retrying would not help.
                Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    return;
                }
                Ok(response) if response.status().is_client_error() => {
                    tracing::warn!(status = %response.status(), reason = %event.reason, "notification-controller rejected event");
                    return;
                }
                Ok(response) => {
                    tracing::debug!(status = %response.status(), attempt, "forwarding event failed");
                }
                Err(error) => tracing::debug!(%error, attempt, "forwarding event failed"),
            }
            tokio::time::sleep(Duration::from_millis(200) * attempt).await;
        }
        tracing::warn!(url = %self.url, reason = %event.reason, "dropping event after {FORWARD_ATTEMPTS} attempts");
    }
}

fn truncate(message: &str, max: usize) -> &str {
    if message.len() <= max {
        return message;
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("aé", 2), "a");
    }
}
