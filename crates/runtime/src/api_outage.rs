//! API server outages, logged once: while the API server restarts, every request of every
//! reconcile and watch fails, and the Kubernetes client would log each failure at error
//! level. A layer on the controller's client instead notes when requests start failing to
//! reach the API server (one warning) and when they reach it again (one line with how long it
//! was away); the client's per-request failure lines are filtered out in [`crate::telemetry`].

use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use tower::{Layer, Service};

/// Whether the API server is away, and since when.
#[derive(Debug, Default)]
pub struct OutageState {
    down_since: Option<Instant>,
    failures: u64,
}

/// What one request's result means for the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Transition {
    /// The first failure after a good request: the outage starts.
    Down,
    /// The first good request after failures: the outage ended after this long, with this many
    /// failed requests.
    Up { after: Duration, failures: u64 },
    /// Nothing to report.
    Same,
}

impl OutageState {
    /// Records one request's result.
    pub fn record(&mut self, reached: bool, now: Instant) -> Transition {
        match (self.down_since, reached) {
            (None, true) => Transition::Same,
            (None, false) => {
                self.down_since = Some(now);
                self.failures = 1;
                Transition::Down
            }
            (Some(_), false) => {
                self.failures += 1;
                Transition::Same
            }
            (Some(since), true) => {
                self.down_since = None;
                let failures = std::mem::take(&mut self.failures);
                Transition::Up {
                    after: now.saturating_duration_since(since),
                    failures,
                }
            }
        }
    }

    pub fn is_down(&self) -> bool {
        self.down_since.is_some()
    }
}

static STATE: Mutex<OutageState> = Mutex::new(OutageState {
    down_since: None,
    failures: 0,
});

/// Whether the controller's requests are failing to reach the API server right now: errors
/// that follow from it are expected and need no line of their own.
pub fn api_server_unreachable() -> bool {
    STATE.lock().map(|s| s.is_down()).unwrap_or(false)
}

/// Statuses with which a proxy or the API server itself says it is not serving.
fn unavailable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

fn record(reached: bool, detail: impl FnOnce() -> String) {
    let Ok(mut state) = STATE.lock() else {
        return;
    };
    match state.record(reached, Instant::now()) {
        Transition::Down => {
            tracing::warn!(error = %detail(), "Kubernetes API server unreachable; retrying quietly until it is back")
        }
        Transition::Up { after, failures } => tracing::info!(
            after_seconds = after.as_secs_f64(),
            failed_requests = failures,
            "Kubernetes API server reachable again"
        ),
        Transition::Same => {}
    }
}

/// The layer added to the controller's Kubernetes client.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutageLayer;

impl<S> Layer<S> for OutageLayer {
    type Service = OutageService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OutageService { inner }
    }
}

#[derive(Clone, Debug)]
pub struct OutageService<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for OutageService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            match &result {
                Ok(response) if unavailable(response.status()) => {
                    let status = response.status();
                    record(false, || status.to_string());
                }
                Ok(_) => record(true, String::new),
                Err(error) => record(false, || error.to_string()),
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_when_it_starts_and_when_it_ends() {
        let mut state = OutageState::default();
        let start = Instant::now();
        assert_eq!(state.record(true, start), Transition::Same);
        assert_eq!(state.record(false, start), Transition::Down);
        assert!(state.is_down());
        for _ in 0..516 {
            assert_eq!(state.record(false, start), Transition::Same);
        }
        assert_eq!(
            state.record(true, start + Duration::from_secs(5)),
            Transition::Up {
                after: Duration::from_secs(5),
                failures: 517
            }
        );
        assert!(!state.is_down());
        assert_eq!(state.record(true, start), Transition::Same);
        // A second outage is reported again.
        assert_eq!(state.record(false, start), Transition::Down);
    }

    #[test]
    fn only_gateway_and_unavailable_statuses_count_as_away() {
        assert!(unavailable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(unavailable(StatusCode::BAD_GATEWAY));
        assert!(!unavailable(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!unavailable(StatusCode::NOT_FOUND));
    }
}
