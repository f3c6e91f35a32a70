//! The webhook server: `POST /hook/<digest>` finds the Receiver publishing that path, checks
//! the request the way its sender signs it, and asks every matching resource to reconcile now
//! by setting `reconcile.fluxcd.io/requestedAt`. Bodies are size-limited (413), requests per
//! Receiver rate-limited (429), unknown paths 404, bad signatures 401; none of those trigger
//! anything.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use driftless_api::meta::RECONCILE_REQUEST_ANNOTATION;
use driftless_api::notification::{CrossNamespaceObjectReference, ObjectKind, Receiver};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use kube::ResourceExt;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::runtime::reflector::Store;

use crate::receiver;
use crate::verify::{Verdict, verify};

/// Settings of the webhook server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Requests per second per Receiver, with bursts of twice as many.
    pub per_receiver_per_second: NonZeroU32,
    /// `--no-cross-namespace-refs`: resources only in the Receiver's namespace.
    pub no_cross_namespace_refs: bool,
}

struct Shared {
    client: kube::Client,
    receivers: Store<Receiver>,
    limiter: DefaultKeyedRateLimiter<String>,
    limits: Limits,
}

pub fn router(client: kube::Client, receivers: Store<Receiver>, limits: Limits) -> Router {
    let per_second = limits.per_receiver_per_second;
    let burst = per_second.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
    let shared = Arc::new(Shared {
        client,
        receivers,
        limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        limits,
    });
    Router::new()
        .route("/hook/{digest}", post(handle))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path = format!("/hook/{digest}");
    let Some(found) =
        shared.receivers.state().into_iter().find(|r| {
            r.status.as_ref().and_then(|s| s.webhook_path.as_deref()) == Some(path.as_str())
        })
    else {
        return (StatusCode::NOT_FOUND, "no receiver at this path\n".into());
    };
    let key = format!(
        "{}/{}",
        found.namespace().unwrap_or_default(),
        found.name_any()
    );
    if found.spec.suspend {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "receiver is suspended\n".into(),
        );
    }
    if shared.limiter.check_key(&key).is_err() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "rate limit exceeded\n".into(),
        );
    }
    let token = match receiver::token(&shared.client, &found).await {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(receiver = %key, %error, "reading the receiver token");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "receiver token unavailable\n".into(),
            );
        }
    };
    match verify(
        found.spec.type_,
        &found.spec.events,
        token.as_bytes(),
        &headers,
        &body,
    ) {
        Verdict::Accept => {}
        Verdict::Ignore(reason) => {
            tracing::info!(receiver = %key, %reason, "webhook ignored");
            return (StatusCode::OK, format!("ignored: {reason}\n"));
        }
        Verdict::Reject(status, reason) => {
            tracing::warn!(receiver = %key, %reason, %status, "webhook rejected");
            return (status, format!("{reason}\n"));
        }
    }
    let namespace = found.namespace().unwrap_or_default();
    let requested_at = k8s_openapi::jiff::Timestamp::now().to_string();
    let mut annotated = 0;
    let mut failures = Vec::new();
    for resource in &found.spec.resources {
        match request_reconcile(&shared, &namespace, &resource.reference, &requested_at).await {
            Ok(count) => annotated += count,
            Err(error) => failures.push(error),
        }
    }
    if !failures.is_empty() {
        tracing::error!(receiver = %key, errors = ?failures, "requesting reconciles");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}\n", failures.join("; ")),
        );
    }
    tracing::info!(receiver = %key, resources = annotated, "reconcile requested");
    (
        StatusCode::OK,
        format!("requested the reconcile of {annotated} objects\n"),
    )
}

/// The API resource of a kind a Receiver may name, at the version given or the one served.
fn api_resource(kind: ObjectKind, api_version: Option<&str>) -> ApiResource {
    let (group, version, plural) = match kind {
        ObjectKind::GitRepository => ("source.toolkit.fluxcd.io", "v1", "gitrepositories"),
        ObjectKind::OciRepository => ("source.toolkit.fluxcd.io", "v1", "ocirepositories"),
        ObjectKind::Bucket => ("source.toolkit.fluxcd.io", "v1", "buckets"),
        ObjectKind::HelmRepository => ("source.toolkit.fluxcd.io", "v1", "helmrepositories"),
        ObjectKind::HelmChart => ("source.toolkit.fluxcd.io", "v1", "helmcharts"),
        ObjectKind::ExternalArtifact => ("source.toolkit.fluxcd.io", "v1", "externalartifacts"),
        ObjectKind::Kustomization => ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
        ObjectKind::HelmRelease => ("helm.toolkit.fluxcd.io", "v2", "helmreleases"),
        ObjectKind::ImageRepository => ("image.toolkit.fluxcd.io", "v1", "imagerepositories"),
        ObjectKind::ImagePolicy => ("image.toolkit.fluxcd.io", "v1", "imagepolicies"),
        ObjectKind::ImageUpdateAutomation => {
            ("image.toolkit.fluxcd.io", "v1", "imageupdateautomations")
        }
        ObjectKind::ArtifactGenerator => (
            "source.extensions.fluxcd.io",
            "v1beta1",
            "artifactgenerators",
        ),
    };
    let (group, version) = match api_version.and_then(|v| v.rsplit_once('/')) {
        Some((group, version)) => (group, version),
        None => (group, version),
    };
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, kind.as_str()),
        plural,
    )
}

/// Sets `reconcile.fluxcd.io/requestedAt` on the object(s) `reference` names; returns how
/// many.
async fn request_reconcile(
    shared: &Shared,
    receiver_namespace: &str,
    reference: &CrossNamespaceObjectReference,
    requested_at: &str,
) -> Result<usize, String> {
    let namespace = reference
        .namespace
        .clone()
        .unwrap_or_else(|| receiver_namespace.to_owned());
    let what = format!("{}/{namespace}/{}", reference.kind.as_str(), reference.name);
    if shared.limits.no_cross_namespace_refs && namespace != receiver_namespace {
        return Err(format!(
            "{what}: cross-namespace references are not allowed"
        ));
    }
    let resource = api_resource(reference.kind, reference.api_version.as_deref());
    let api: Api<DynamicObject> =
        Api::namespaced_with(shared.client.clone(), &namespace, &resource);
    if reference.name == "*" && reference.match_labels.is_empty() {
        // As in Flux: a wildcard must be narrowed by labels.
        return Err(format!(
            "{what}: matchLabels field not set when using wildcard '*' as name"
        ));
    }
    let names: Vec<String> = if reference.name == "*" {
        let selector = reference
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        api.list_metadata(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| format!("{what}: listing: {e}"))?
            .items
            .into_iter()
            .map(|o| o.name_any())
            .collect()
    } else {
        vec![reference.name.clone()]
    };
    let patch = serde_json::json!({
        "metadata": { "annotations": { RECONCILE_REQUEST_ANNOTATION: requested_at } }
    });
    for name in &names {
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| format!("{}/{namespace}/{name}: {e}", reference.kind.as_str()))?;
    }
    Ok(names.len())
}
