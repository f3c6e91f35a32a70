//! The Receiver reconciler: publishes the secret webhook path of each Receiver in
//! `status.webhookPath` (`/hook/<sha256(token + name + namespace)>`, as Flux computes it) once
//! its token Secret can be read.

use driftless_api::conditions::SUCCEEDED;
use driftless_api::notification::{Receiver, ReceiverType};
use driftless_runtime::Context as RuntimeContext;
use driftless_runtime::reconcile::{self, Error, Outcome, RetryAfter, Run};
use driftless_runtime::secrets::secret_data;
use kube::ResourceExt;
use sha2::{Digest, Sha256};

use crate::receiver_cel::ReceiverExpressions;

/// Ready reason when the token cannot be read, as Flux names it.
pub const TOKEN_NOT_FOUND: &str = "TokenNotFound";
/// Stalled reason when an expression of the Receiver does not compile, as Flux names it.
pub const INVALID_CEL_EXPRESSION: &str = "InvalidCELExpression";

/// `/hook/<hex sha256 of token + name + namespace>`.
pub fn webhook_path(token: &str, name: &str, namespace: &str) -> String {
    let digest = Sha256::new()
        .chain_update(token.as_bytes())
        .chain_update(name.as_bytes())
        .chain_update(namespace.as_bytes())
        .finalize();
    format!("/hook/{}", hex::encode(digest))
}

/// What a Receiver's Secret holds: the `token` (which salts the path and keys signatures)
/// and, for gcr, the `email` and `audience` its Pub/Sub push tokens must carry.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub token: String,
    pub email: Option<String>,
    pub audience: Option<String>,
}

/// The credentials of a Receiver; generic-oidc Receivers have none (an empty token).
pub async fn credentials(
    client: &kube::Client,
    receiver: &Receiver,
) -> Result<Credentials, String> {
    if receiver.spec.type_ == ReceiverType::GenericOidc {
        return Ok(Credentials::default());
    }
    let namespace = receiver.namespace().unwrap_or_default();
    let Some(reference) = &receiver.spec.secret_ref else {
        return Err("spec.secretRef is required for this receiver type".into());
    };
    let data = secret_data(client, &namespace, &reference.name)
        .await
        .map_err(|e| {
            format!(
                "unable to read token from secret '{namespace}/{}' error: {e}",
                reference.name
            )
        })?;
    let text = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let token = data
        .get("token")
        // Used as stored, as Flux does: the path and signatures depend on every byte.
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            format!(
                "invalid '{namespace}/{}' secret data: required field 'token'",
                reference.name
            )
        })?;
    Ok(Credentials {
        token,
        email: text("email"),
        audience: text("audience"),
    })
}

/// The Receiver reconciler, on the shared harness: its webhook path once the token can be
/// read.
pub struct ReceiverReconciler {
    client: kube::Client,
}

impl ReceiverReconciler {
    /// Runs the Receiver reconciler until shutdown.
    pub async fn run(ctx: RuntimeContext) {
        let reconciler = Self {
            client: ctx.client.clone(),
        };
        reconcile::run(reconciler, ctx).await;
    }
}

impl reconcile::Reconciler for ReceiverReconciler {
    type Object = Receiver;
    /// A Receiver holds nothing outside itself.
    const FINALIZER: bool = false;

    async fn reconcile(&self, run: &mut Run<Receiver>) -> Result<Outcome, Error> {
        let (receiver, status) = (&run.object, &mut run.status);
        if let Err(error) = ReceiverExpressions::compile(&receiver.spec) {
            // A configuration error no retry fixes: said once, not served.
            status.webhook_path = None;
            return Ok(Outcome::configuration_error(INVALID_CEL_EXPRESSION, error));
        }
        Ok(match credentials(&self.client, receiver).await {
            Ok(credentials) => {
                let namespace = receiver.namespace().unwrap_or_default();
                let path = webhook_path(&credentials.token, &receiver.name_any(), &namespace);
                let message = format!("Receiver initialized for path: {path}");
                status.webhook_path = Some(path);
                Outcome::Ready {
                    reason: SUCCEEDED,
                    message,
                    interval: receiver.interval(),
                }
            }
            Err(message) => {
                // A path from an old token would still answer: take it down.
                status.webhook_path = None;
                Outcome::Retry {
                    reason: TOKEN_NOT_FOUND,
                    message,
                    after: RetryAfter::Fixed(
                        receiver.interval().min(std::time::Duration::from_secs(30)),
                    ),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_paths_hash_token_name_and_namespace() {
        // sha256("tokenreceiverflux-system")
        let path = webhook_path("token", "receiver", "flux-system");
        let expected = hex::encode(Sha256::digest(b"tokenreceiverflux-system"));
        assert_eq!(path, format!("/hook/{expected}"));
        assert_ne!(path, webhook_path("token", "receiver", "other"));
        assert_eq!(path.len(), "/hook/".len() + 64);
    }
}
