//! The Receiver reconciler: publishes the secret webhook path of each Receiver in
//! `status.webhookPath` (`/hook/<sha256(token + name + namespace)>`, as Flux computes it) once
//! its token Secret can be read.

use std::sync::Arc;

use driftless_api::conditions::SUCCEEDED;
use driftless_api::event::Severity;
use driftless_api::notification::{Receiver, ReceiverStatus, ReceiverType};
use driftless_runtime::conditions as cond;
use driftless_runtime::metrics::{ObjectLabels, ReconcileOutcome};
use driftless_runtime::reconcile::{FirstList, reconcile_trigger, run_until_shutdown};
use driftless_runtime::{Context as RuntimeContext, status::apply_status};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{PredicateConfig, WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
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
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret = secrets.get(&reference.name).await.map_err(|e| {
        format!(
            "unable to read token from secret '{namespace}/{}' error: {e}",
            reference.name
        )
    })?;
    let data = secret.data.unwrap_or_default();
    let text = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let token = data
        .get("token")
        // Used as stored, as Flux does: the path and signatures depend on every byte.
        .map(|t| String::from_utf8_lossy(&t.0).into_owned())
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

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to update status: {0}")]
    Status(kube::Error),
}

pub struct ReceiverReconciler {
    runtime: RuntimeContext,
}

impl ReceiverReconciler {
    pub fn new(runtime: RuntimeContext) -> Self {
        Self { runtime }
    }

    pub async fn run(self, concurrency: u16) {
        let runtime = self.runtime.clone();
        let api: Api<Receiver> = runtime
            .args
            .watched_api(runtime.client.clone(), &runtime.runtime_namespace);
        let (store, writer) = reflector::store();
        let first_list = FirstList::default();
        let stream = watcher(api, runtime.args.watcher_config())
            .backoff(driftless_runtime::watch_backoff::WatchBackoff::default())
            .reflect(writer)
            .inspect(first_list.observe())
            .applied_objects()
            .predicate_filter(reconcile_trigger, PredicateConfig::default());
        let stopping = runtime.shutdown.clone();
        let controller = Controller::for_stream(stream, store)
            // The watches retry on their own quick backoff; kube's default here would pause
            // every trigger for up to a minute after an API server restart.
            .trigger_backoff(driftless_runtime::watch_backoff::WatchBackoff::default())
            .with_config(
                kube::runtime::controller::Config::default().concurrency(concurrency.max(1)),
            )
            .graceful_shutdown_on(async move { stopping.cancelled().await })
            .run(
                |object, ctx: Arc<ReceiverReconciler>| async move { ctx.reconcile(object).await },
                |object, error, ctx| {
                    driftless_runtime::reconcile::log_reconcile_error(object.as_ref(), error);
                    Action::requeue(ctx.runtime.backoff.next_delay(&backoff_key(&object)))
                },
                Arc::new(self),
            )
            .for_each(|_| futures::future::ready(()));
        run_until_shutdown(controller, runtime.shutdown.clone(), first_list).await;
    }

    /// One reconcile, timed into Flux's `gotk_reconcile_duration_seconds`.
    async fn reconcile(&self, receiver: Arc<Receiver>) -> Result<Action, Error> {
        let started = std::time::Instant::now();
        let labels = ObjectLabels::of(receiver.as_ref());
        if receiver.meta().deletion_timestamp.is_some() {
            self.runtime.metrics.forget_object(&labels);
        }
        let result = self.reconcile_receiver(receiver).await;
        let outcome = match &result {
            Ok((_, outcome)) => *outcome,
            Err(_) => ReconcileOutcome::Error,
        };
        self.runtime
            .metrics
            .observe_reconcile("receiver", labels, started.elapsed(), outcome);
        result.map(|(action, _)| action)
    }

    async fn reconcile_receiver(
        &self,
        receiver: Arc<Receiver>,
    ) -> Result<(Action, ReconcileOutcome), Error> {
        let namespace = receiver.namespace().unwrap_or_default();
        let api: Api<Receiver> = Api::namespaced(self.runtime.client.clone(), &namespace);
        let generation = receiver.meta().generation;
        let mut status: ReceiverStatus = receiver.status.clone().unwrap_or_default();
        status.last_handled_reconcile_at =
            driftless_runtime::reconcile::handled_reconcile_at(&*receiver);
        if receiver.spec.suspend {
            return Ok((Action::await_change(), ReconcileOutcome::Success));
        }
        if let Err(error) = ReceiverExpressions::compile(&receiver.spec) {
            // A configuration error no retry fixes: said once, not served.
            let message =
                format!("Reconciliation failed terminally due to configuration error: {error}");
            cond::mark_stalled(
                &mut status.conditions,
                INVALID_CEL_EXPRESSION,
                &message,
                generation,
            );
            status.webhook_path = None;
            status.observed_generation = generation;
            apply_status(&api, &*receiver, self.runtime.controller, &status)
                .await
                .map_err(Error::Status)?;
            self.runtime
                .events
                .publish(
                    &*receiver,
                    Severity::Error,
                    INVALID_CEL_EXPRESSION,
                    &message,
                    Default::default(),
                )
                .await;
            tracing::error!(receiver = %backoff_key(&receiver), reason = INVALID_CEL_EXPRESSION, error = %message, "reconciliation stalled");
            return Ok((Action::await_change(), ReconcileOutcome::Error));
        }
        let (action, outcome) = match credentials(&self.runtime.client, &receiver).await {
            Ok(credentials) => {
                let path = webhook_path(&credentials.token, &receiver.name_any(), &namespace);
                cond::mark_ready(
                    &mut status.conditions,
                    SUCCEEDED,
                    format!("Receiver initialized for path: {path}"),
                    generation,
                );
                status.webhook_path = Some(path);
                self.runtime.backoff.reset(&backoff_key(&receiver));
                (
                    Action::requeue(receiver.interval()),
                    ReconcileOutcome::Success,
                )
            }
            Err(message) => {
                driftless_runtime::reconcile::log_failed_reconcile(
                    &*receiver,
                    TOKEN_NOT_FOUND,
                    &message,
                );
                cond::mark_failed_with_retry(
                    &mut status.conditions,
                    TOKEN_NOT_FOUND,
                    message,
                    generation,
                );
                // A path from an old token would still answer: take it down.
                status.webhook_path = None;
                (
                    Action::requeue(receiver.interval().min(std::time::Duration::from_secs(30))),
                    ReconcileOutcome::Error,
                )
            }
        };
        status.observed_generation = generation;
        apply_status(&api, &*receiver, self.runtime.controller, &status)
            .await
            .map_err(Error::Status)?;
        Ok((action, outcome))
    }
}

/// Failures back off per object: two Receivers of one name in different namespaces are
/// different objects.
fn backoff_key(receiver: &Receiver) -> String {
    format!(
        "{}/{}",
        receiver.namespace().unwrap_or_default(),
        receiver.name_any()
    )
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
