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
use driftless_api::notification::{
    CrossNamespaceObjectReference, ObjectKind, Receiver, ReceiverType,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use kube::ResourceExt;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch, PatchParams,
};
use kube::runtime::reflector::Store;

use crate::receiver_cel::ReceiverExpressions;
use crate::verify::{self, Verdict, verify};
use crate::{oidc, receiver};

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

/// Where Google's ID tokens come from, which gcr Receivers (Pub/Sub push) accept.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

struct Shared {
    client: kube::Client,
    receivers: Store<Receiver>,
    limiter: DefaultKeyedRateLimiter<String>,
    limits: Limits,
    oidc: oidc::Verifier,
    google_issuer: String,
    /// Compiled expressions per Receiver generation.
    expressions: quick_cache::sync::Cache<(String, i64), Arc<ReceiverExpressions>>,
}

/// The webhook server. `google_issuer` is the OIDC issuer of gcr push tokens
/// ([`GOOGLE_ISSUER`] but in tests).
pub fn router(
    client: kube::Client,
    receivers: Store<Receiver>,
    limits: Limits,
    google_issuer: String,
) -> Result<Router, String> {
    let oidc = oidc::Verifier::new()?;
    let per_second = limits.per_receiver_per_second;
    let burst = per_second.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
    let shared = Arc::new(Shared {
        client,
        receivers,
        limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        limits,
        oidc,
        google_issuer,
        expressions: quick_cache::sync::Cache::new(1024),
    });
    Ok(Router::new()
        .route("/hook/{digest}", post(handle))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(shared))
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
    let credentials = match receiver::credentials(&shared.client, &found).await {
        Ok(credentials) => credentials,
        Err(error) => {
            tracing::error!(receiver = %key, %error, "reading the receiver token");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "receiver token unavailable\n".into(),
            );
        }
    };
    let expressions = match compiled(&shared, &found) {
        Ok(expressions) => expressions,
        Err(error) => {
            tracing::warn!(receiver = %key, %error, "receiver has invalid expressions");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "receiver is not ready\n".into(),
            );
        }
    };
    let mut claims = None;
    let verdict = match found.spec.type_ {
        ReceiverType::Gcr => match gcr_token(&shared, &credentials, &headers).await {
            Ok(()) => match verify::gcr_notification(&body) {
                Ok(_) => Verdict::Accept,
                Err(verdict) => verdict,
            },
            Err(verdict) => verdict,
        },
        ReceiverType::GenericOidc => {
            match oidc_token(&shared, &found, &expressions, &headers).await {
                Ok(verified) => {
                    claims = Some(verified);
                    Verdict::Accept
                }
                Err(verdict) => verdict,
            }
        }
        type_ => verify(
            type_,
            &found.spec.events,
            credentials.token.as_bytes(),
            &headers,
            &body,
        ),
    };
    match verdict {
        Verdict::Accept => {}
        Verdict::Ignore(reason) => {
            tracing::info!(receiver = %key, %reason, "webhook ignored");
            return (StatusCode::OK, format!("ignored: {reason}\n"));
        }
        Verdict::Reject(status, reason) => {
            tracing::warn!(receiver = %key, %reason, %status, "webhook rejected");
            // ID-token checks can name what the Receiver expects (its service account, its
            // rules): that goes to the log, not to whoever sent the request.
            let authenticated_by_token = matches!(
                found.spec.type_,
                ReceiverType::Gcr | ReceiverType::GenericOidc
            );
            if authenticated_by_token && status == StatusCode::UNAUTHORIZED {
                return (status, "cannot authenticate the request\n".into());
            }
            return (status, format!("{reason}\n"));
        }
    }
    // What filters see as `req`: the JSON body (for gcr, the notification inside the push).
    let request = if found.spec.type_ == ReceiverType::Gcr {
        verify::gcr_notification(&body).unwrap_or_default()
    } else if is_json(&headers) {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    "failed to parse request body as JSON\n".into(),
                );
            }
        }
    } else {
        serde_json::Value::Object(Default::default())
    };
    let context = FilterContext {
        expressions: &expressions,
        request: &request,
        claims: claims.as_ref(),
    };
    let namespace = found.namespace().unwrap_or_default();
    let requested_at = k8s_openapi::jiff::Timestamp::now().to_string();
    let mut annotated = 0;
    let mut failures = Vec::new();
    for (index, resource) in found.spec.resources.iter().enumerate() {
        match request_reconcile(
            &shared,
            &namespace,
            &resource.reference,
            &requested_at,
            index,
            &context,
        )
        .await
        {
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

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// The Receiver's expressions, compiled once per generation.
fn compiled(shared: &Shared, receiver: &Receiver) -> Result<Arc<ReceiverExpressions>, String> {
    let key = (
        receiver.metadata.uid.clone().unwrap_or_default(),
        receiver.metadata.generation.unwrap_or_default(),
    );
    if let Some(found) = shared.expressions.get(&key) {
        return Ok(found);
    }
    let compiled = Arc::new(ReceiverExpressions::compile(&receiver.spec)?);
    shared.expressions.insert(key, compiled.clone());
    Ok(compiled)
}

/// A gcr push request carries a Google ID token for the subscription's `audience`, issued to
/// its service account `email` (both from the Secret, each checked when set), verified.
async fn gcr_token(
    shared: &Shared,
    credentials: &receiver::Credentials,
    headers: &HeaderMap,
) -> Result<(), Verdict> {
    let refuse = |reason: String| {
        Verdict::Reject(
            StatusCode::UNAUTHORIZED,
            format!("cannot authenticate GCR request: {reason}"),
        )
    };
    let token = oidc::bearer(headers).map_err(refuse)?;
    let issuer = shared.google_issuer.as_str();
    // Google writes its issuer with and without the scheme.
    let bare = issuer.strip_prefix("https://").unwrap_or(issuer);
    let claims = shared
        .oidc
        .verify(
            token,
            issuer,
            &[issuer, bare],
            credentials.audience.as_deref(),
        )
        .await
        .map_err(refuse)?;
    let email = claims
        .get("email")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if let Some(expected) = &credentials.email
        && email != expected
    {
        return Err(refuse(format!(
            "token email is '{email}', want '{expected}'"
        )));
    }
    if claims.get("email_verified") != Some(&serde_json::Value::Bool(true)) {
        return Err(refuse(format!("token email '{email}' is not verified")));
    }
    Ok(())
}

/// A generic-oidc request carries an ID token of one of the Receiver's `oidcProviders` (the
/// one whose `issuerURL` is the token's `iss`), for its audience, meeting its validations.
async fn oidc_token(
    shared: &Shared,
    found: &Receiver,
    expressions: &ReceiverExpressions,
    headers: &HeaderMap,
) -> Result<serde_json::Value, Verdict> {
    let refuse = |reason: String| Verdict::Reject(StatusCode::UNAUTHORIZED, reason);
    let token = oidc::bearer(headers).map_err(refuse)?;
    let issuer = oidc::unverified_issuer(token).map_err(refuse)?;
    let index = found
        .spec
        .oidc_providers
        .iter()
        .position(|p| p.issuer_url == issuer)
        .ok_or_else(|| {
            refuse(format!(
                "no oidcProvider configured for issuer \"{issuer}\""
            ))
        })?;
    let provider = &found.spec.oidc_providers[index];
    let claims = shared
        .oidc
        .verify(
            token,
            &issuer,
            &[issuer.as_str()],
            Some(provider.audience()),
        )
        .await
        .map_err(refuse)?;
    let claims = serde_json::Value::Object(claims);
    if let Some(checks) = expressions.oidc.get(index) {
        checks.validate(&claims).map_err(refuse)?;
    }
    Ok(claims)
}

/// What the filters of a request see.
struct FilterContext<'a> {
    expressions: &'a ReceiverExpressions,
    request: &'a serde_json::Value,
    claims: Option<&'a serde_json::Value>,
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
    index: usize,
    filters: &FilterContext<'_>,
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
    let filtered = filters.expressions.filters(index);
    let objects: Vec<ObjectMeta> = if reference.name == "*" {
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
            .map(|o| o.metadata)
            .collect()
    } else if filtered {
        vec![
            api.get_metadata(&reference.name)
                .await
                .map_err(|e| format!("{what}: {e}"))?
                .metadata,
        ]
    } else {
        // Without a filter the object's metadata is not needed: the patch names it.
        vec![ObjectMeta {
            name: Some(reference.name.clone()),
            ..ObjectMeta::default()
        }]
    };
    let names: Vec<String> = objects
        .iter()
        .map(|o| o.name.clone().unwrap_or_default())
        .collect();
    let mut failures = Vec::new();
    let admitted: Vec<&String> = if filtered {
        let resources: Vec<serde_json::Value> = objects
            .iter()
            .map(|object| {
                serde_json::json!({
                    "apiVersion": resource.api_version,
                    "kind": resource.kind,
                    "metadata": object,
                })
            })
            .collect();
        let verdicts =
            filters
                .expressions
                .admit_all(index, &resources, filters.request, filters.claims);
        names
            .iter()
            .zip(verdicts)
            .filter_map(|(name, verdict)| match verdict {
                Ok(true) => Some(name),
                Ok(false) => {
                    tracing::debug!(kind = reference.kind.as_str(), %namespace, %name, "not annotated: the filter returned false");
                    None
                }
                // One object's error does not keep the others from their reconcile.
                Err(error) => {
                    failures.push(format!("{}/{namespace}/{name}: {error}", reference.kind.as_str()));
                    None
                }
            })
            .collect()
    } else {
        names.iter().collect()
    };
    let patch = serde_json::json!({
        "metadata": { "annotations": { RECONCILE_REQUEST_ANNOTATION: requested_at } }
    });
    let mut patched = 0;
    for name in admitted {
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => patched += 1,
            Err(e) => failures.push(format!(
                "{}/{namespace}/{name}: {e}",
                reference.kind.as_str()
            )),
        }
    }
    if failures.is_empty() {
        Ok(patched)
    } else {
        Err(failures.join("; "))
    }
}
