//! OIDC ID tokens on webhook requests (`Authorization: Bearer <JWT>`), for gcr Receivers
//! (Google-signed Pub/Sub push tokens) and generic-oidc Receivers (any issuer). The issuer's
//! signing keys come from its discovery document (`/.well-known/openid-configuration`, whose
//! `issuer` must be the issuer asked for) and are cached; a token signed with a key not yet
//! seen fetches them again, at most once a minute, so key rotation is followed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

/// How long fetched keys are used before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches for the same issuer (unknown `kid`s cannot force more).
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

struct IssuerKeys {
    fetched: Instant,
    keys: JwkSet,
}

pub struct Verifier {
    http: reqwest::Client,
    cache: quick_cache::sync::Cache<String, Arc<IssuerKeys>>,
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
    pub fn new(http: reqwest::Client) -> Verifier {
        Verifier {
            http,
            cache: quick_cache::sync::Cache::new(64),
        }
    }

    async fn fetch_keys(&self, issuer: &str) -> Result<Arc<IssuerKeys>, String> {
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
                "the discovery document of '{issuer}' names another issuer: {}",
                discovery["issuer"]
            ));
        }
        let jwks_uri = discovery["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("the discovery document of '{issuer}' has no jwks_uri"))?;
        let keys: JwkSet = serde_json::from_value(get(jwks_uri).await?)
            .map_err(|e| format!("decoding the keys of '{issuer}': {e}"))?;
        let keys = Arc::new(IssuerKeys {
            fetched: Instant::now(),
            keys,
        });
        self.cache.insert(issuer.to_owned(), keys.clone());
        Ok(keys)
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
        let cached = self
            .cache
            .get(issuer)
            .filter(|k| k.fetched.elapsed() < KEYS_TTL);
        let mut keys = match cached {
            Some(keys) => keys,
            None => self.fetch_keys(issuer).await?,
        };
        let find = |keys: &IssuerKeys| match &header.kid {
            Some(kid) => keys.keys.find(kid).cloned(),
            None if keys.keys.keys.len() == 1 => keys.keys.keys.first().cloned(),
            None => None,
        };
        let mut jwk = find(&keys);
        if jwk.is_none() && keys.fetched.elapsed() >= REFETCH_INTERVAL {
            keys = self.fetch_keys(issuer).await?;
            jwk = find(&keys);
        }
        let jwk = jwk.ok_or("invalid ID token: not signed by a key of the issuer")?;
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|e| format!("invalid key of the issuer: {e}"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(accepted_issuers);
        validation.set_required_spec_claims(&["exp", "iss"]);
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| format!("invalid ID token: {e}"))
    }
}
