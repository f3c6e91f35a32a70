//! A Docker token server for the test registry (distribution's `auth.token`): the registry
//! answers 401 with a Bearer challenge naming this server, clients log in here with basic
//! auth and get a JWT (ES256, the signing certificate in `x5c`) granting the scopes they
//! asked for, which the registry verifies against the certificate bundle it was given.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::{Error, Result};

pub const SERVICE: &str = "driftless-test-registry";
pub const ISSUER: &str = "driftless-test-token-issuer";

/// The signing material: the certificate the registry trusts, and the key signing tokens.
pub struct Signer {
    pub cert_pem: String,
    cert_der: Vec<u8>,
    key_pkcs8: Vec<u8>,
}

impl Signer {
    pub fn generate() -> Result<Self> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(vec!["token-issuer".to_owned()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "driftless test token issuer");
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pkcs8: key.serialize_der(),
        })
    }

    /// A token for `subject` granting `scopes` (`repository:<name>:<actions>`).
    fn token(&self, subject: &str, scopes: &[String]) -> Option<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                Some(serde_json::json!({
                    "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()
                }))
            })
            .collect();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.cert_der)]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("{now}-{}", rand::random::<u64>()), "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.key_pkcs8, &rng)
            .ok()?;
        let signature = key.sign(&rng, signing_input.as_bytes()).ok()?;
        Some(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

struct TokenState {
    signer: Signer,
    user: String,
    password: String,
}

async fn issue(
    State(state): State<std::sync::Arc<TokenState>>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", state.user, state.password))
    );
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
    }
    let scopes: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned))
        .collect();
    let params: HashMap<&str, &str> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if params.get("service") != Some(&SERVICE) {
        return (StatusCode::BAD_REQUEST, "unknown service").into_response();
    }
    match state.signer.token(&state.user, &scopes) {
        Some(token) => axum::Json(serde_json::json!({
            "token": token, "access_token": token, "expires_in": 300
        }))
        .into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "signing failed").into_response(),
    }
}

/// Serves `/token` on a free loopback port on its own thread; returns its address and a
/// guard that stops it.
pub(crate) fn serve(
    signer: Signer,
    user: &str,
    password: &str,
) -> Result<(String, tokio::sync::oneshot::Sender<()>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Io("binding the token server".into(), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::Io("configuring the token server".into(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Io("token server address".into(), e))?;
    let state = std::sync::Arc::new(TokenState {
        signer,
        user: user.to_owned(),
        password: password.to_owned(),
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("registry-token".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let app = axum::Router::new()
                    .route("/token", axum::routing::get(issue))
                    .with_state(state);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        })
        .map_err(|e| Error::Io("starting the token server".into(), e))?;
    Ok((format!("http://{addr}/token"), stop))
}
