//! Request metrics for a controller's own HTTP servers (the event and webhook servers), named
//! as Flux names them: `<prefix>_http_request_duration_seconds`,
//! `<prefix>_http_response_size_bytes` (labels `handler`, `method`, `code`) and
//! `<prefix>_http_requests_inflight` (label `handler`). The handler is the matched route
//! (`/hook/{digest}`), so that unknown paths cannot grow the number of series.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use http_body::Body as _;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub handler: String,
    pub method: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandlerLabels {
    pub handler: String,
}

type HistogramFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

#[derive(Clone)]
struct Recorder {
    duration: HistogramFamily,
    size: HistogramFamily,
    inflight: Family<HandlerLabels, Gauge>,
}

fn duration_histogram() -> Histogram {
    // Prometheus' default buckets, which go-http-metrics uses.
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

fn size_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        100.0, 10.0, 8,
    ))
}

/// Wraps `router` so that its requests are recorded under `prefix` (e.g. `gotk_event`).
pub fn instrument(router: Router, metrics: &Metrics, prefix: &str) -> Router {
    let recorder = Arc::new(Recorder {
        duration: Family::new_with_constructor(duration_histogram),
        size: Family::new_with_constructor(size_histogram),
        inflight: Family::default(),
    });
    metrics.register(
        &format!("{prefix}_http_request_duration_seconds"),
        "The latency of the HTTP requests",
        recorder.duration.clone(),
    );
    metrics.register(
        &format!("{prefix}_http_response_size_bytes"),
        "The size of the HTTP responses",
        recorder.size.clone(),
    );
    metrics.register(
        &format!("{prefix}_http_requests_inflight"),
        "The number of inflight requests being handled at the same time",
        recorder.inflight.clone(),
    );
    router.layer(axum::middleware::from_fn_with_state(recorder, record))
}

struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: Gauge) -> InFlight {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn record(State(recorder): State<Arc<Recorder>>, request: Request, next: Next) -> Response {
    let handler = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    // Any token is a valid method: unknown ones share one label value.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
    .to_owned();
    // A clone shares the series; the family's guard must not be held across the await.
    let inflight = recorder
        .inflight
        .get_or_create(&HandlerLabels {
            handler: handler.clone(),
        })
        .clone();
    // Decremented on drop: a client that goes away drops the handler before it returns.
    let _inflight = InFlight::enter(inflight);
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = RequestLabels {
        handler,
        method,
        code: response.status().as_u16().to_string(),
    };
    recorder
        .duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    // Bodies here are small and fully known; a streamed one counts as its lower bound.
    recorder
        .size
        .get_or_create(&labels)
        .observe(response.body().size_hint().lower() as f64);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn requests_are_counted_by_route_method_and_code() {
        let metrics = Metrics::new();
        let router = instrument(
            Router::new().route(
                "/hook/{digest}",
                axum::routing::post(|| async { (axum::http::StatusCode::UNAUTHORIZED, "no") }),
            ),
            &metrics,
            "gotk_receiver",
        );
        for path in ["/hook/abc", "/hook/def", "/elsewhere"] {
            let request = Request::post(path).body(axum::body::Body::empty()).unwrap();
            router.clone().oneshot(request).await.unwrap();
        }
        for method in ["FOO1", "FOO2"] {
            let request = Request::builder()
                .method(method)
                .uri("/elsewhere")
                .body(axum::body::Body::empty())
                .unwrap();
            router.clone().oneshot(request).await.unwrap();
        }
        let text = metrics.encode();
        assert!(
            text.contains(r#"gotk_receiver_http_request_duration_seconds_count{handler="/hook/{digest}",method="POST",code="401"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gotk_receiver_http_response_size_bytes_sum{handler="/hook/{digest}",method="POST",code="401"} 4.0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gotk_receiver_http_requests_inflight{handler="/hook/{digest}"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"handler="unmatched",method="POST",code="404""#),
            "{text}"
        );
    }
}
