//! OIDC ID tokens on webhook requests (`Authorization: Bearer <JWT>`), for gcr Receivers
//! (Google-signed Pub/Sub push tokens) and generic-oidc Receivers (any issuer). The issuer's
//! signing keys come from its discovery document (`/.well-known/openid-configuration`, whose
//! `issuer` must be the issuer asked for) and are cached for an hour; a token signed with a
//! key not yet seen fetches them again, and so does an expired cache, but at most one fetch
//! per issuer runs at a time and at most one a minute is tried, failed or not, so key
//! rotation is followed and unknown keys cannot make the controller hammer an issuer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// How long fetched keys are used before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches for the same issuer (unknown `kid`s cannot force more).
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// What is known of one issuer's keys.
#[derive(Default)]
struct IssuerState {
    /// The last keys fetched, and when.
    keys: Option<(Instant, Arc<JwkSet>)>,
    /// When the last fetch was tried (successful or not) and why it failed.
    attempted: Option<Instant>,
    last_error: Option<String>,
}

pub struct Verifier {
    http: reqwest::Client,
    /// One state per issuer, each behind its own lock so that concurrent requests wait for one
    /// fetch instead of each fetching.
    issuers:
        std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<IssuerState>>>>,
}

/// The bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Result<&str, String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the Authorization header is missing or malformed".to_owned())
}

/// The `iss` claim of a token, read without verifying it (to pick the issuer to verify with).
pub fn unverified_issuer(token: &str) -> Result<String, String> {
    use base64::Engine as _;
    let payload = token
        .split('.')
        .nth(1)
        .filter(|_| token.split('.').count() == 3)
        .ok_or("the token is not a JWT")?;
    let claims: serde_json::Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or("the token's claims cannot be decoded")?;
    claims["iss"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "the token has no issuer".to_owned())
}

impl Verifier {
    /// A verifier whose client trusts the system roots and follows no redirects: keys come
    /// from where the issuer's document says they are.
    pub fn new() -> Result<Verifier, String> {
        let tls = driftless_runtime::tls::client_config(None, None)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("building the OIDC client: {e}"))?;
        Ok(Verifier {
            http,
            issuers: std::sync::Mutex::default(),
        })
    }

    async fn fetch_keys(&self, issuer: &str) -> Result<JwkSet, String> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let get = async |url: &str| -> Result<serde_json::Value, String> {
            let response = self
                .http
                .get(url)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map_err(|e| format!("fetching {url}: {}", e.without_url()))?;
            if !response.status().is_success() {
                return Err(format!("fetching {url}: {}", response.status()));
            }
            response
                .json()
                .await
                .map_err(|e| format!("decoding {url}: {}", e.without_url()))
        };
        let discovery = get(&discovery_url).await?;
        if discovery["issuer"].as_str() != Some(issuer) {
            return Err(format!(
                "the discovery document of '{issuer}' names another issuer"
            ));
        }
        let jwks_uri = discovery["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("the discovery document of '{issuer}' has no jwks_uri"))?;
        serde_json::from_value(get(jwks_uri).await?)
            .map_err(|e| format!("decoding the keys of '{issuer}': {e}"))
    }

    /// The issuer's keys: cached ones while fresh (and `kid`, when given, is among them),
    /// else fetched, at most once a minute. When a fetch fails, keys fetched before keep
    /// serving.
    async fn keys(&self, issuer: &str, kid: Option<&str>) -> Result<Arc<JwkSet>, String> {
        let state = {
            let mut issuers = self
                .issuers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            issuers.entry(issuer.to_owned()).or_default().clone()
        };
        let mut state = state.lock().await;
        let knows = |keys: &JwkSet| kid.is_none_or(|kid| keys.find(kid).is_some());
        if let Some((fetched, keys)) = &state.keys
            && fetched.elapsed() < KEYS_TTL
            && knows(keys)
        {
            return Ok(keys.clone());
        }
        if state
            .attempted
            .is_some_and(|attempted| attempted.elapsed() < REFETCH_INTERVAL)
        {
            return match (&state.keys, &state.last_error) {
                (Some((_, keys)), _) => Ok(keys.clone()),
                (None, Some(error)) => Err(error.clone()),
                (None, None) => Err(format!("no keys of '{issuer}' yet")),
            };
        }
        state.attempted = Some(Instant::now());
        match self.fetch_keys(issuer).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                state.keys = Some((Instant::now(), keys.clone()));
                state.last_error = None;
                Ok(keys)
            }
            Err(error) => {
                tracing::warn!(%issuer, %error, "fetching the issuer's signing keys");
                state.last_error = Some(error.clone());
                match &state.keys {
                    Some((_, keys)) => Ok(keys.clone()),
                    None => Err(error),
                }
            }
        }
    }

    /// Verifies `token` as issued by `issuer` (its `iss` one of `accepted_issuers`) for
    /// `audience` (any when `None`), unexpired, signed by one of the issuer's keys; returns
    /// its claims.
    pub async fn verify(
        &self,
        token: &str,
        issuer: &str,
        accepted_issuers: &[&str],
        audience: Option<&str>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("invalid ID token: {e}"))?;
        // Only the issuer's public keys may sign; shared-secret algorithms are refused.
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err("invalid ID token: symmetric signatures are not accepted".into());
        }
        let keys = self.keys(issuer, header.kid.as_deref()).await?;
        let jwk = match &header.kid {
            Some(kid) => keys.find(kid),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        }
        .ok_or("invalid ID token: not signed by a key of the issuer")?;
        let key =
            DecodingKey::from_jwk(jwk).map_err(|e| format!("invalid key of the issuer: {e}"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(accepted_issuers);
        match audience {
            Some(audience) => {
                // Listed, or a token without `aud` would pass the audience check.
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                validation.set_audience(&[audience]);
            }
            None => {
                validation.set_required_spec_claims(&["exp", "iss"]);
                validation.validate_aud = false;
            }
        }
        jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| format!("invalid ID token: {e}"))
    }
}
