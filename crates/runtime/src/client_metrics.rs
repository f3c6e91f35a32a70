//! `rest_client_requests_total{code, host, method}`: the requests a controller makes to the
//! API server, counted as controller-runtime counts them for Flux's controllers, so that
//! dashboards and benchmarks read the same series from either.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Request, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tower::{Layer, Service};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RestLabels {
    pub code: String,
    pub host: String,
    pub method: String,
}

pub type RestRequests = Family<RestLabels, Counter>;

/// The `code` label: the status, or `<error>` when no response came back (as client-go).
pub fn code_label(status: Option<http::StatusCode>) -> String {
    status.map_or_else(|| "<error>".to_owned(), |s| s.as_u16().to_string())
}

/// Counts every request of the client it wraps under the API server's `host` (host:port).
#[derive(Clone, Debug)]
pub struct RequestCountLayer {
    pub requests: RestRequests,
    pub host: String,
}

impl<S> Layer<S> for RequestCountLayer {
    type Service = RequestCountService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestCountService {
            inner,
            requests: self.requests.clone(),
            host: self.host.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RequestCountService<S> {
    inner: S,
    requests: RestRequests,
    host: String,
}

impl<S, B, R> Service<Request<B>> for RequestCountService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method().as_str().to_owned();
        let (requests, host) = (self.requests.clone(), self.host.clone());
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let status = result.as_ref().ok().map(Response::status);
            requests
                .get_or_create(&RestLabels {
                    code: code_label(status),
                    host,
                    method,
                })
                .inc();
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_request_is_counted_by_method_and_status() {
        let requests = RestRequests::default();
        let layer = RequestCountLayer {
            requests: requests.clone(),
            host: "127.0.0.1:6443".to_owned(),
        };
        let mut service = layer.layer(tower::service_fn(|request: Request<()>| async move {
            let status = if request.method() == http::Method::GET {
                404
            } else {
                201
            };
            Ok::<_, std::convert::Infallible>(Response::builder().status(status).body(()).unwrap())
        }));
        for method in [http::Method::GET, http::Method::POST, http::Method::GET] {
            let request = Request::builder().method(method).body(()).unwrap();
            tower::ServiceExt::ready(&mut service)
                .await
                .unwrap()
                .call(request)
                .await
                .unwrap();
        }
        let count = |code: &str, method: &str| {
            requests
                .get_or_create(&RestLabels {
                    code: code.to_owned(),
                    host: "127.0.0.1:6443".to_owned(),
                    method: method.to_owned(),
                })
                .get()
        };
        assert_eq!(count("404", "GET"), 2);
        assert_eq!(count("201", "POST"), 1);
        assert_eq!(count("200", "GET"), 0);
        assert_eq!(code_label(None), "<error>");
    }
}
