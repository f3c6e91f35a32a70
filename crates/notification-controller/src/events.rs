//! The event server: controllers POST Flux events to `/`; each valid event goes to the
//! Providers of the Alerts it matches. Intake never waits on a provider: deliveries run on
//! their own tasks, with retries, and failures are logged and counted as Kubernetes events
//! on the Alert. The same event within `dedupe` is sent once.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use driftless_api::event::{Event, Severity};
use driftless_api::notification::{Alert, Provider};
use driftless_runtime::events::EventRecorder;
use driftless_runtime::metrics::Metrics;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{ObjectRef, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::providers::{self, ProviderSecret};
use crate::{alerts, commit_status};

/// Reason of the Warning event recorded on an Alert whose delivery failed, as in Flux.
pub const NOTIFICATION_DISPATCH_FAILED: &str = "NotificationDispatchFailed";

fn event_object(event: &Event) -> String {
    let object = &event.involved_object;
    format!(
        "{}/{}/{}",
        object.kind.as_deref().unwrap_or_default(),
        object.namespace.as_deref().unwrap_or_default(),
        object.name.as_deref().unwrap_or_default()
    )
}

/// Flux's bound on an event message.
const MAX_MESSAGE_CHARS: usize = 39_000;

#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub max_body_bytes: usize,
    /// The same event for the same Alert within this window is sent once.
    pub dedupe: Duration,
    pub no_cross_namespace_refs: bool,
}

/// Labels of the delivery counter: the Alert and how its delivery ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub namespace: String,
    pub alert: String,
    pub provider_type: String,
    /// `success` or `failure` (after the retries).
    pub result: String,
}

struct Shared {
    client: kube::Client,
    deliveries: Family<DeliveryLabels, Counter>,
    /// Records failed deliveries as Warning events on the Alert.
    recorder: EventRecorder,
    http: reqwest::Client,
    alerts: Store<Alert>,
    providers: Store<Provider>,
    settings: Settings,
    recently_sent: quick_cache::sync::Cache<u64, Instant>,
}

pub fn router(
    client: kube::Client,
    metrics: &Metrics,
    recorder: EventRecorder,
    alerts: Store<Alert>,
    providers: Store<Provider>,
    settings: Settings,
) -> Router {
    let deliveries = Family::<DeliveryLabels, Counter>::default();
    metrics.register(
        "driftless_alert_deliveries",
        "Events sent to providers per Alert, by outcome after retries",
        deliveries.clone(),
    );
    let shared = Arc::new(Shared {
        client,
        deliveries,
        recorder,
        http: providers::http_client(None, None, None).unwrap_or_default(),
        alerts,
        providers,
        settings,
        recently_sent: quick_cache::sync::Cache::new(10_000),
    });
    Router::new()
        .route("/", post(intake))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .with_state(shared)
}

/// Why an event is refused, or `None` when it is complete.
fn invalid(event: &Event) -> Option<String> {
    let object = &event.involved_object;
    if object.kind.as_deref().unwrap_or_default().is_empty()
        || object.name.as_deref().unwrap_or_default().is_empty()
    {
        return Some("involvedObject needs a kind and a name".into());
    }
    if event.message.is_empty() || event.reason.is_empty() || event.reporting_controller.is_empty()
    {
        return Some("message, reason and reportingController are required".into());
    }
    if event.message.chars().count() > MAX_MESSAGE_CHARS {
        return Some(format!(
            "message longer than {MAX_MESSAGE_CHARS} characters"
        ));
    }
    None
}

async fn intake(State(shared): State<Arc<Shared>>, body: Bytes) -> (StatusCode, String) {
    let event: Event = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("invalid event: {error}\n")),
    };
    if let Some(reason) = invalid(&event) {
        return (
            StatusCode::BAD_REQUEST,
            format!("invalid event: {reason}\n"),
        );
    }
    tokio::spawn(dispatch(shared, event));
    (StatusCode::ACCEPTED, String::new())
}

async fn labels_of(client: &kube::Client, event: &Event) -> Option<BTreeMap<String, String>> {
    let object = &event.involved_object;
    let api_version = object.api_version.as_deref()?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = object.kind.as_deref()?;
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await.ok()?;
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        object.namespace.as_deref().unwrap_or_default(),
        &resource,
    );
    let found = api.get_metadata(object.name.as_deref()?).await.ok()?;
    Some(found.labels().clone())
}

fn fingerprint(alert: &Alert, event: &Event) -> u64 {
    let mut hasher = DefaultHasher::new();
    alert.namespace().hash(&mut hasher);
    alert.name_any().hash(&mut hasher);
    event.involved_object.kind.hash(&mut hasher);
    event.involved_object.namespace.hash(&mut hasher);
    event.involved_object.name.hash(&mut hasher);
    event.severity.as_str().hash(&mut hasher);
    event.reason.hash(&mut hasher);
    event.message.hash(&mut hasher);
    event.metadata.hash(&mut hasher);
    hasher.finish()
}

/// How long an event arriving while the Alert cache is still being listed waits for it.
const CACHE_READY_WAIT: Duration = Duration::from_secs(30);

/// The Provider `namespace/name`: from the cache, or, when the cache has not seen it yet (it
/// was created a moment ago), from the API server.
async fn provider_named(shared: &Shared, namespace: &str, name: &str) -> Option<Arc<Provider>> {
    if let Some(found) = shared
        .providers
        .get(&ObjectRef::new(name).within(namespace))
    {
        return Some(found);
    }
    Api::<Provider>::namespaced(shared.client.clone(), namespace)
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .map(Arc::new)
}

async fn dispatch(shared: Arc<Shared>, event: Event) {
    // Events that arrive during start-up are matched against every Alert, not the part
    // of the list read so far.
    if tokio::time::timeout(CACHE_READY_WAIT, shared.alerts.wait_until_ready())
        .await
        .is_err()
    {
        tracing::warn!("Alert cache not ready; matching the event against what it holds");
    }
    let mut labels = None;
    for alert in shared.alerts.state() {
        if labels.is_none() && alerts::needs_labels(&alert) {
            labels = Some(labels_of(&shared.client, &event).await.unwrap_or_default());
        }
        match alerts::matches(
            &alert,
            &event,
            labels.as_ref(),
            shared.settings.no_cross_namespace_refs,
        ) {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(alert = %alert.name_any(), "event not selected");
                continue;
            }
            Err(error) => {
                tracing::error!(alert = %alert.name_any(), %error, "invalid regular expression in the Alert");
                continue;
            }
        }
        let event = alerts::for_alert(&event, Some(&alert));
        let key = fingerprint(&alert, &event);
        let now = Instant::now();
        if let Some(sent) = shared.recently_sent.get(&key)
            && now.duration_since(sent) < shared.settings.dedupe
        {
            tracing::debug!(alert = %alert.name_any(), "duplicate event not sent again");
            continue;
        }
        shared.recently_sent.insert(key, now);
        let shared = shared.clone();
        tokio::spawn(async move {
            let namespace = alert.namespace().unwrap_or_default();
            let provider_name = &alert.spec.provider_ref.name;
            let provider = provider_named(&shared, &namespace, provider_name).await;
            let outcome = match &provider {
                Some(provider) => send(&shared, &alert, provider, &event).await,
                None => Err(format!("provider '{namespace}/{provider_name}' not found")),
            };
            if matches!(outcome, Ok(Sent::Skipped)) {
                return;
            }
            let labels = DeliveryLabels {
                namespace,
                alert: alert.name_any(),
                provider_type: provider
                    .map(|p| providers::type_name(p.spec.type_))
                    .unwrap_or_default(),
                result: if outcome.is_ok() {
                    "success"
                } else {
                    "failure"
                }
                .to_owned(),
            };
            shared.deliveries.get_or_create(&labels).inc();
            if let Err(error) = outcome {
                // Not sent: the same event coming again may try again.
                shared.recently_sent.remove(&key);
                tracing::error!(alert = %alert.name_any(), namespace = alert.namespace().unwrap_or_default(), %error, "failed to send the event");
                shared
                    .recorder
                    .publish(
                        &*alert,
                        Severity::Error,
                        NOTIFICATION_DISPATCH_FAILED,
                        &format!(
                            "failed to send notification for {}: {error}",
                            event_object(&event)
                        ),
                        BTreeMap::new(),
                    )
                    .await;
            }
        });
    }
}

/// What became of an event for one Alert.
#[derive(Debug, PartialEq)]
enum Sent {
    Delivered,
    /// Not for this provider (suspended, or an event it does not take).
    Skipped,
}

/// Whether an event is the final result controllers mark for commit statuses.
fn is_commit_status_update(event: &Event) -> bool {
    event
        .metadata
        .get(driftless_api::event::META_COMMIT_STATUS_KEY)
        .map(String::as_str)
        == Some(driftless_api::event::META_COMMIT_STATUS_UPDATE_VALUE)
}

async fn send(
    shared: &Shared,
    alert: &Alert,
    provider: &Provider,
    event: &Event,
) -> Result<Sent, String> {
    let namespace = alert.namespace().unwrap_or_default();
    if provider.spec.suspend {
        return Ok(Sent::Skipped);
    }
    let type_ = provider.spec.type_;
    let sets_commit_status = commit_status::supported(type_);
    if sets_commit_status {
        // A commit status follows a reconciliation's final result (marked
        // `commit_status: update`) and events naming their `commit`, as in Flux 2.8; and,
        // as Flux did up to 2.7, failures, which no controller marks: without them a commit
        // that fails to apply would keep its last status. Progress events do not touch it.
        let wanted = is_commit_status_update(event)
            || event.metadata.contains_key("commit")
            || event.severity == Severity::Error;
        if !wanted || !commit_status::names_commit(event) {
            return Ok(Sent::Skipped);
        }
    } else if is_commit_status_update(event) {
        // The marked duplicate of a result is for commit statuses only.
        return Ok(Sent::Skipped);
    }
    if !sets_commit_status && !providers::supported(type_) {
        return Err(format!(
            "provider type '{}' is not supported",
            providers::type_name(type_)
        ));
    }
    let secret = match &provider.spec.secret_ref {
        Some(reference) => ProviderSecret::from_data(
            &secret_data(&shared.client, &namespace, &reference.name).await?,
        )?,
        None => ProviderSecret::default(),
    };
    let timeout = provider.timeout();
    let http = provider_client(shared, provider, &namespace).await?;
    if sets_commit_status {
        let id = commit_status::status_id(provider, alert, event)
            .map_err(|e| format!("failed to create commit status: {e}"))?;
        return match commit_status::build(provider, &id, &secret, event)? {
            Some(status) => commit_status::deliver(&http, &status, timeout)
                .await
                .map(|()| Sent::Delivered),
            None => Ok(Sent::Skipped),
        };
    }
    let outgoing = providers::request(provider, &secret, event)?;
    providers::deliver(&http, &outgoing, timeout)
        .await
        .map(|()| Sent::Delivered)
}

/// The data of the Secret `namespace/name`.
async fn secret_data(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .map_err(|e| format!("reading secret '{namespace}/{name}': {e}"))?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// The HTTP client for `provider`: the shared one, or one with the CA and client certificate of
/// `certSecretRef` and the proxy of `proxySecretRef` (or the deprecated `spec.proxy`).
async fn provider_client(
    shared: &Shared,
    provider: &Provider,
    namespace: &str,
) -> Result<reqwest::Client, String> {
    let spec = &provider.spec;
    if spec.cert_secret_ref.is_none() && spec.proxy_secret_ref.is_none() && spec.proxy.is_none() {
        return Ok(shared.http.clone());
    }
    let read = async |name: &str| secret_data(&shared.client, namespace, name).await;
    let certs = match &spec.cert_secret_ref {
        Some(reference) => Some(read(&reference.name).await?),
        None => None,
    };
    let proxy = match (&spec.proxy_secret_ref, &spec.proxy) {
        (Some(reference), _) => {
            let data = read(&reference.name).await?;
            let text = |k: &str| {
                data.get(k)
                    .map(|v| String::from_utf8_lossy(v).trim().to_owned())
            };
            let address = text("address").ok_or("the proxy secret has no 'address'")?;
            let mut proxy =
                reqwest::Proxy::all(&address).map_err(|_| "invalid proxy address".to_owned())?;
            if let (Some(user), Some(password)) = (text("username"), text("password")) {
                proxy = proxy.basic_auth(&user, &password);
            }
            Some(proxy)
        }
        (None, Some(address)) => {
            Some(reqwest::Proxy::all(address).map_err(|_| "invalid spec.proxy".to_owned())?)
        }
        (None, None) => None,
    };
    let ca = certs
        .as_ref()
        .and_then(|c| c.get("ca.crt"))
        .map(Vec::as_slice);
    let client_cert = certs
        .as_ref()
        .and_then(|c| Some((c.get("tls.crt")?.as_slice(), c.get("tls.key")?.as_slice())));
    providers::http_client(ca, client_cert, proxy)
}
