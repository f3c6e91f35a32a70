//! Whether a webhook request is genuine and wanted, the way each sender signs and labels its
//! deliveries, as Flux's notification-controller checks them. Signatures are checked on the
//! raw body, in constant time. Pure: no I/O.

use axum::http::{HeaderMap, StatusCode};
use driftless_api::notification::ReceiverType;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Genuine and wanted: reconcile the Receiver's resources.
    Accept,
    /// Genuine, but an event the Receiver does not act on: answer 200, trigger nothing.
    Ignore(String),
    /// Refused with this status.
    Reject(StatusCode, String),
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn unauthorized(message: impl Into<String>) -> Verdict {
    Verdict::Reject(StatusCode::UNAUTHORIZED, message.into())
}

fn equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Checks `<hex>` (of `algorithm`) as the HMAC of `body` keyed with `token`.
fn hmac_matches(algorithm: &str, hex_signature: &str, token: &[u8], body: &[u8]) -> bool {
    let Ok(signature) = hex::decode(hex_signature.trim()) else {
        return false;
    };
    macro_rules! check {
        ($digest:ty) => {
            match Hmac::<$digest>::new_from_slice(token) {
                Ok(mut mac) => {
                    mac.update(body);
                    mac.verify_slice(&signature).is_ok()
                }
                Err(_) => false,
            }
        };
    }
    match algorithm {
        "sha1" => check!(sha1::Sha1),
        "sha256" => check!(sha2::Sha256),
        "sha512" => check!(sha2::Sha512),
        _ => false,
    }
}

/// `<algorithm>=<hex>` as GitHub, Bitbucket Server and generic-hmac senders write it.
fn prefixed_hmac_matches(value: &str, token: &[u8], body: &[u8]) -> bool {
    value
        .split_once('=')
        .is_some_and(|(algorithm, hex)| hmac_matches(algorithm, hex, token, body))
}

/// Whether `event` passes the Receiver's `events` filter (everything when it is empty).
fn wanted(events: &[String], event: &str) -> bool {
    events.is_empty() || events.iter().any(|e| e.eq_ignore_ascii_case(event))
}

fn json_body(body: &[u8]) -> Result<serde_json::Value, Verdict> {
    serde_json::from_slice(body).map_err(|e| {
        Verdict::Reject(
            StatusCode::BAD_REQUEST,
            format!("cannot decode the payload: {e}"),
        )
    })
}

/// The verdict on a request to a Receiver of `kind` with `token` and `events`.
pub fn verify(
    kind: ReceiverType,
    events: &[String],
    token: &[u8],
    headers: &HeaderMap,
    body: &[u8],
) -> Verdict {
    let filtered = |event: &str| {
        if wanted(events, event) {
            Verdict::Accept
        } else {
            Verdict::Ignore(format!("event '{event}' is not in spec.events"))
        }
    };
    match kind {
        // The secret path is the only credential.
        ReceiverType::Generic => Verdict::Accept,
        ReceiverType::GenericHmac => match header(headers, "X-Signature") {
            Some(signature) if prefixed_hmac_matches(signature, token, body) => Verdict::Accept,
            Some(_) => unauthorized("the X-Signature header does not match the payload"),
            None => unauthorized("the X-Signature header is missing"),
        },
        ReceiverType::GitHub => {
            let signature = header(headers, "X-Hub-Signature-256")
                .or_else(|| header(headers, "X-Hub-Signature"));
            match signature {
                Some(signature) if prefixed_hmac_matches(signature, token, body) => {}
                Some(_) => return unauthorized("the signature does not match the payload"),
                None => return unauthorized("the X-Hub-Signature-256 header is missing"),
            }
            match header(headers, "X-GitHub-Event") {
                // GitHub checks a new hook with a ping: acknowledged, nothing to reconcile.
                Some("ping") => Verdict::Ignore("ping".into()),
                Some(event) => filtered(event),
                None => Verdict::Reject(
                    StatusCode::BAD_REQUEST,
                    "the X-GitHub-Event header is missing".into(),
                ),
            }
        }
        ReceiverType::GitLab => {
            match header(headers, "X-Gitlab-Token") {
                Some(sent) if equal(sent.as_bytes(), token) => {}
                Some(_) => return unauthorized("the X-Gitlab-Token header does not match"),
                None => return unauthorized("the X-Gitlab-Token header is missing"),
            }
            filtered(header(headers, "X-Gitlab-Event").unwrap_or_default())
        }
        ReceiverType::Bitbucket => {
            match header(headers, "X-Hub-Signature") {
                Some(signature) if prefixed_hmac_matches(signature, token, body) => {}
                Some(_) => return unauthorized("the X-Hub-Signature header does not match"),
                None => return unauthorized("the X-Hub-Signature header is missing"),
            }
            filtered(header(headers, "X-Event-Key").unwrap_or_default())
        }
        ReceiverType::Harbor => match header(headers, "Authorization") {
            Some(sent) if equal(sent.as_bytes(), token) => Verdict::Accept,
            Some(_) => unauthorized("the Authorization header does not match"),
            None => unauthorized("the Authorization header is missing"),
        },
        ReceiverType::Nexus => {
            match header(headers, "X-Nexus-Webhook-Signature") {
                Some(signature) if hmac_matches("sha1", signature, token, body) => {}
                Some(_) => return unauthorized("the X-Nexus-Webhook-Signature does not match"),
                None => return unauthorized("the X-Nexus-Webhook-Signature header is missing"),
            }
            match json_body(body) {
                Ok(_) => filtered(header(headers, "X-Nexus-Webhook-Id").unwrap_or_default()),
                Err(verdict) => verdict,
            }
        }
        // Only the secret path protects these; the body must be the sender's JSON.
        ReceiverType::DockerHub | ReceiverType::Quay => match json_body(body) {
            Ok(_) => Verdict::Accept,
            Err(verdict) => verdict,
        },
        ReceiverType::Acr => match json_body(body) {
            Ok(payload) => match payload.get("action").and_then(|a| a.as_str()) {
                Some(action) => filtered(action),
                None => {
                    Verdict::Reject(StatusCode::BAD_REQUEST, "the payload has no action".into())
                }
            },
            Err(verdict) => verdict,
        },
        ReceiverType::CdEvents => {
            let Some(event) = header(headers, "Ce-Type") else {
                return Verdict::Reject(
                    StatusCode::BAD_REQUEST,
                    "the Ce-Type header is missing".into(),
                );
            };
            match json_body(body) {
                Ok(_) => filtered(event),
                Err(verdict) => verdict,
            }
        }
        // Authenticated by OIDC ID tokens, which need the issuer's keys: the webhook server
        // verifies them (and then the payload, with `gcr_notification`).
        ReceiverType::Gcr | ReceiverType::GenericOidc => {
            unauthorized("this receiver type is authenticated by an ID token")
        }
    }
}

/// The Artifact Registry (or GCR) notification inside a Pub/Sub push message:
/// `{"message": {"data": base64({"action", "digest", "tag"})}}`, decoded.
pub fn gcr_notification(body: &[u8]) -> Result<serde_json::Value, Verdict> {
    use base64::Engine as _;
    let undecodable = || {
        Verdict::Reject(
            StatusCode::BAD_REQUEST,
            "cannot decode GCR webhook body".into(),
        )
    };
    let push = json_body(body)?;
    let data = push
        .pointer("/message/data")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(undecodable)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| undecodable())?;
    let notification: serde_json::Value =
        serde_json::from_slice(&decoded).map_err(|_| undecodable())?;
    if !notification.is_object() {
        return Err(undecodable());
    }
    Ok(notification)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn sign(algorithm: &str, token: &[u8], body: &[u8]) -> String {
        macro_rules! mac {
            ($digest:ty) => {{
                let mut mac = Hmac::<$digest>::new_from_slice(token).unwrap();
                mac.update(body);
                hex::encode(mac.finalize().into_bytes())
            }};
        }
        match algorithm {
            "sha1" => mac!(sha1::Sha1),
            "sha256" => mac!(sha2::Sha256),
            _ => mac!(sha2::Sha512),
        }
    }

    #[test]
    fn github_signatures_events_and_ping() {
        let (token, body) = (
            b"s3cret".as_slice(),
            br#"{"ref":"refs/heads/main"}"#.as_slice(),
        );
        let good = format!("sha256={}", sign("sha256", token, body));
        let push = headers(&[("X-Hub-Signature-256", &good), ("X-GitHub-Event", "push")]);
        assert_eq!(
            verify(ReceiverType::GitHub, &[], token, &push, body),
            Verdict::Accept
        );
        // The legacy SHA-1 header alone is accepted too.
        let legacy = format!("sha1={}", sign("sha1", token, body));
        let old = headers(&[("X-Hub-Signature", &legacy), ("X-GitHub-Event", "push")]);
        assert_eq!(
            verify(ReceiverType::GitHub, &[], token, &old, body),
            Verdict::Accept
        );
        let filtered = verify(
            ReceiverType::GitHub,
            &["release".into()],
            token,
            &push,
            body,
        );
        assert!(matches!(filtered, Verdict::Ignore(_)));
        let ping = headers(&[("X-Hub-Signature-256", &good), ("X-GitHub-Event", "ping")]);
        assert!(matches!(
            verify(ReceiverType::GitHub, &[], token, &ping, body),
            Verdict::Ignore(_)
        ));
        // One changed byte, a wrong key or no signature: 401.
        for (token, body, headers) in [
            (token, &br#"{"ref":"refs/heads/main "}"#[..], push.clone()),
            (&b"other"[..], body, push.clone()),
            (token, body, headers(&[("X-GitHub-Event", "push")])),
        ] {
            assert!(matches!(
                verify(ReceiverType::GitHub, &[], token, &headers, body),
                Verdict::Reject(StatusCode::UNAUTHORIZED, _)
            ));
        }
    }

    #[test]
    fn static_tokens_and_other_senders() {
        let token = b"t0k3n".as_slice();
        let gitlab = headers(&[("X-Gitlab-Token", "t0k3n"), ("X-Gitlab-Event", "Push Hook")]);
        assert_eq!(
            verify(
                ReceiverType::GitLab,
                &["Push Hook".into()],
                token,
                &gitlab,
                b"{}"
            ),
            Verdict::Accept
        );
        assert!(matches!(
            verify(
                ReceiverType::GitLab,
                &["Tag Push Hook".into()],
                token,
                &gitlab,
                b"{}"
            ),
            Verdict::Ignore(_)
        ));
        let wrong = headers(&[("X-Gitlab-Token", "t0k3m"), ("X-Gitlab-Event", "Push Hook")]);
        assert!(matches!(
            verify(ReceiverType::GitLab, &[], token, &wrong, b"{}"),
            Verdict::Reject(StatusCode::UNAUTHORIZED, _)
        ));
        let harbor = headers(&[("Authorization", "t0k3n")]);
        assert_eq!(
            verify(ReceiverType::Harbor, &[], token, &harbor, b"{}"),
            Verdict::Accept
        );
        let nexus = headers(&[
            ("X-Nexus-Webhook-Signature", &sign("sha1", token, b"{}")),
            ("X-Nexus-Webhook-Id", "rm:repository:asset"),
        ]);
        assert_eq!(
            verify(ReceiverType::Nexus, &[], token, &nexus, b"{}"),
            Verdict::Accept
        );
        let hmac = headers(&[(
            "X-Signature",
            &format!("sha512={}", sign("sha512", token, b"x")),
        )]);
        assert_eq!(
            verify(ReceiverType::GenericHmac, &[], token, &hmac, b"x"),
            Verdict::Accept
        );
        assert!(matches!(
            verify(ReceiverType::GenericHmac, &[], token, &hmac, b"y"),
            Verdict::Reject(StatusCode::UNAUTHORIZED, _)
        ));
        // Senders without signatures still have to send their JSON.
        assert_eq!(
            verify(
                ReceiverType::DockerHub,
                &[],
                token,
                &HeaderMap::new(),
                b"{}"
            ),
            Verdict::Accept
        );
        assert!(matches!(
            verify(
                ReceiverType::Quay,
                &[],
                token,
                &HeaderMap::new(),
                b"not json"
            ),
            Verdict::Reject(StatusCode::BAD_REQUEST, _)
        ));
        assert_eq!(
            verify(
                ReceiverType::Acr,
                &["push".into()],
                token,
                &HeaderMap::new(),
                br#"{"action":"push"}"#
            ),
            Verdict::Accept
        );
        assert!(matches!(
            verify(
                ReceiverType::Acr,
                &["push".into()],
                token,
                &HeaderMap::new(),
                br#"{"action":"delete"}"#
            ),
            Verdict::Ignore(_)
        ));
    }
}
