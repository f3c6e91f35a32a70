//! Events: a core/v1 Event, as client-go's recorder writes it (what `kubectl describe` and
//! `flux events` read), and the same event forwarded in Flux's payload shape to
//! notification-controller. Forwarding runs in the background and never delays or fails a
//! reconcile.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_api::event::{EVENT_ANNOTATION_PREFIX, Event, Severity};
use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSource, ObjectReference};
use k8s_openapi::jiff::{Timestamp, Unit};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};

/// notification-controller rejects longer messages.
const MAX_MESSAGE_BYTES: usize = 39_000;
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
const FORWARD_ATTEMPTS: u32 = 3;
/// Identical events within this window increment one Event's count, as client-go does.
const AGGREGATION_WINDOW: Duration = Duration::from_secs(600);
const AGGREGATION_CACHE_LIMIT: usize = 4096;

#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    recent: Arc<Mutex<HashMap<u64, RecentEvent>>>,
    forward: Option<Forwarder>,
    controller: String,
    instance: String,
}

struct RecentEvent {
    name: String,
    count: i32,
    last: Instant,
}

#[derive(Clone)]
struct Forwarder {
    http: reqwest::Client,
    url: String,
}

impl EventRecorder {
    /// `events_addr` is the notification-controller URL; empty disables forwarding.
    pub fn new(client: Client, controller: &str, instance: &str, events_addr: &str) -> Self {
        let forward = (!events_addr.is_empty()).then(|| Forwarder {
            http: reqwest::Client::builder()
                .timeout(FORWARD_TIMEOUT)
                .build()
                .unwrap_or_default(),
            url: events_addr.to_owned(),
        });
        Self {
            client,
            recent: Arc::default(),
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
        let event_type = if severity == Severity::Error {
            "Warning"
        } else {
            "Normal"
        };
        if let Err(error) = self
            .record(reference(object), event_type, reason, message)
            .await
        {
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
        Event {
            involved_object: reference(object),
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

impl EventRecorder {
    /// Creates a core/v1 Event, or bumps the count of an identical recent one.
    async fn record(
        &self,
        involved: ObjectReference,
        event_type: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), kube::Error> {
        let namespace = involved
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let events: Api<CoreEvent> = Api::namespaced(self.client.clone(), &namespace);
        let mut hasher = DefaultHasher::new();
        (
            &namespace,
            &involved.uid,
            &involved.name,
            event_type,
            reason,
            message,
        )
            .hash(&mut hasher);
        let key = hasher.finish();
        let now = crate::conditions::now();

        let repeat = self.recent.lock().ok().and_then(|recent| {
            recent
                .get(&key)
                .filter(|r| r.last.elapsed() < AGGREGATION_WINDOW)
                .map(|r| (r.name.clone(), r.count + 1))
        });
        if let Some((name, count)) = repeat {
            let patch = serde_json::json!({ "count": count, "lastTimestamp": now });
            match events
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.remember(key, name, count);
                    return Ok(());
                }
                // Expired or deleted: record it afresh below.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error),
            }
        }

        let nanos = Timestamp::now().as_nanosecond();
        let name = format!(
            "{}.{:x}",
            involved.name.as_deref().unwrap_or("object"),
            nanos
        );
        let event = CoreEvent {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace),
                ..Default::default()
            },
            involved_object: involved,
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            type_: Some(event_type.to_owned()),
            source: Some(EventSource {
                component: Some(self.controller.clone()),
                host: None,
            }),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            reporting_component: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..Default::default()
        };
        events.create(&PostParams::default(), &event).await?;
        self.remember(key, name, 1);
        Ok(())
    }

    fn remember(&self, key: u64, name: String, count: i32) {
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        if recent.len() >= AGGREGATION_CACHE_LIMIT {
            recent.retain(|_, r| r.last.elapsed() < AGGREGATION_WINDOW);
            if recent.len() >= AGGREGATION_CACHE_LIMIT {
                recent.clear();
            }
        }
        recent.insert(
            key,
            RecentEvent {
                name,
                count,
                last: Instant::now(),
            },
        );
    }
}

/// Reference to `object` as Flux's events carry it, resourceVersion included (kube's
/// `object_ref` leaves it out).
fn reference<K: Resource<DynamicType = ()>>(object: &K) -> ObjectReference {
    let mut reference = object.object_ref(&());
    reference.resource_version = object.meta().resource_version.clone();
    reference
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
