//! A release waiting for its objects after an install or upgrade: each reconcile looks once
//! at what is still pending and ends Progressing, so waiting never holds a worker.

use driftless_api::conditions::PROGRESSING;
use driftless_api::helm::HelmRelease;
use driftless_runtime::reconcile::{self, Outcome, Run};
use std::time::Instant;

use super::actions::{self, InFlight};
use super::{Reconciler, outcome};
use crate::release_state::Desired;
use crate::storage::Storage;

impl Reconciler {
    /// Looks once at the objects an install or upgrade waits on. While they progress (and
    /// time is left) the reconcile ends here, Progressing; once settled, the release goes on
    /// through the whole reconcile, which completes it.
    pub(super) async fn poll_in_flight(&self, run: &mut Run<HelmRelease>) -> Option<Outcome> {
        let key = reconcile::object_key(&*run.object);
        let mut flight = self.waits.lock().ok()?.remove(&key)?;
        let mut look = actions::Look {
            applier: &flight.applier,
            live: self.live(flight.remote),
            seen: &mut flight.seen,
        };
        let round = actions::health_round(&mut look, &flight.readiness, &flight.pending).await;
        match round {
            actions::Round::Ready => flight.settled = Some(None),
            actions::Round::Failed(error) => flight.settled = Some(Some(error)),
            actions::Round::Waiting(waiting_on, _) if Instant::now() >= flight.deadline => {
                flight.settled = Some(Some(format!(
                    "timed out waiting for the condition: {waiting_on}"
                )));
            }
            actions::Round::Waiting(waiting_on, still) => {
                flight.waiting_on = waiting_on;
                flight.pending = still;
                let outcome = progressing(&flight);
                flight.pause = (flight.pause * 2).min(actions::WAIT_POLL_MAX);
                if let Ok(mut waits) = self.waits.lock() {
                    waits.insert(key, flight);
                }
                return Some(outcome);
            }
        }
        if let Ok(mut waits) = self.waits.lock() {
            waits.insert(key, flight);
        }
        None
    }

    /// Records the pending revision and ends the reconcile as progressing; the next one (soon)
    /// looks at the objects again.
    pub(super) async fn wait_more(
        &self,
        run: &mut Run<HelmRelease>,
        storage: &Storage,
        desired: &Desired<'_>,
        mut flight: InFlight,
    ) -> Outcome {
        let action = if flight.upgrading {
            "upgrade"
        } else {
            "install"
        };
        let stored =
            super::finish::stored_if_needed(storage, &run.status.history, &flight.revision).await;
        let made = outcome::snapshot(
            &flight.revision,
            desired.config_digest,
            desired.oci_digest,
            Some(action),
        );
        outcome::record(&mut run.status.history, made, &stored);
        let outcome = progressing(&flight);
        flight.pause = (flight.pause * 2).min(actions::WAIT_POLL_MAX);
        flight.config_digest = desired.config_digest.to_owned();
        flight.oci_digest = desired.oci_digest.map(str::to_owned);
        flight.park();
        let key = reconcile::object_key(&*run.object);
        if let Ok(mut waits) = self.waits.lock() {
            waits.insert(key, flight);
        }
        outcome
    }
}

/// Progressing while `flight` waits; looked at again after its pause.
fn progressing(flight: &InFlight) -> Outcome {
    let action = if flight.upgrading {
        "upgrade"
    } else {
        "install"
    };
    Outcome::Progressing {
        reason: PROGRESSING,
        message: format!(
            "Running '{action}' action for release {}: waiting for {}",
            outcome::full_name(&flight.revision),
            flight.waiting_on
        ),
        after: flight.pause,
    }
}
