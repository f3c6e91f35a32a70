//! Prometheus metrics with Flux's `gotk_*` names where Flux has them, plus the
//! controller-runtime names dashboards built for Flux expect.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

impl ObjectLabels {
    /// The labels of `object`'s reconcile duration series.
    pub fn of<K: kube::Resource<DynamicType = ()>>(object: &K) -> Self {
        ObjectLabels {
            kind: K::kind(&()).into_owned(),
            name: kube::ResourceExt::name_any(object),
            namespace: kube::ResourceExt::namespace(object).unwrap_or_default(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub controller: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabels {
    pub name: String,
}

/// Flux's `ExponentialBucketsRange(0.01, 1800, 10)`.
fn reconcile_duration_buckets() -> impl Iterator<Item = f64> {
    const MIN: f64 = 0.01;
    const MAX: f64 = 1800.0;
    const COUNT: i32 = 10;
    let factor = (MAX / MIN).powf(1.0 / f64::from(COUNT - 1));
    (0..COUNT).map(move |i| MIN * factor.powi(i))
}

fn new_duration_histogram() -> Histogram {
    Histogram::new(reconcile_duration_buckets())
}

pub struct Metrics {
    /// Behind a lock so a controller can add its own metrics after the shared ones.
    registry: std::sync::Mutex<Registry>,
    pub reconcile_duration: Family<ObjectLabels, Histogram, fn() -> Histogram>,
    pub reconcile_total: Family<ResultLabels, Counter>,
    pub reconcile_errors: Family<ControllerLabels, Counter>,
    pub max_concurrent_reconciles: Family<ControllerLabels, Gauge>,
    pub leader: Family<NameLabels, Gauge>,
    /// The controller's own requests to the API server.
    pub rest_requests: crate::client_metrics::RestRequests,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconcile_duration: Family<ObjectLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(new_duration_histogram);
        registry.register(
            "gotk_reconcile_duration_seconds",
            "The duration in seconds of a GitOps Toolkit resource reconciliation",
            reconcile_duration.clone(),
        );
        let reconcile_total = Family::<ResultLabels, Counter>::default();
        // prometheus-client appends `_total` to counters.
        registry.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            reconcile_total.clone(),
        );
        let reconcile_errors = Family::<ControllerLabels, Counter>::default();
        registry.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            reconcile_errors.clone(),
        );
        let max_concurrent_reconciles = Family::<ControllerLabels, Gauge>::default();
        registry.register(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            max_concurrent_reconciles.clone(),
        );
        let leader = Family::<NameLabels, Gauge>::default();
        registry.register(
            "leader_election_master_status",
            "1 while this replica holds the named leader-election Lease, 0 otherwise",
            leader.clone(),
        );
        let rest_requests = crate::client_metrics::RestRequests::default();
        registry.register(
            "rest_client_requests",
            "Number of HTTP requests, partitioned by status code, method, and host.",
            rest_requests.clone(),
        );
        Self {
            registry: std::sync::Mutex::new(registry),
            rest_requests,
            reconcile_duration,
            reconcile_total,
            reconcile_errors,
            max_concurrent_reconciles,
            leader,
        }
    }

    /// Records one reconcile of an object by `controller`.
    pub fn observe_reconcile(
        &self,
        controller: &str,
        object: ObjectLabels,
        elapsed: Duration,
        outcome: ReconcileOutcome,
    ) {
        self.reconcile_duration
            .get_or_create(&object)
            .observe(elapsed.as_secs_f64());
        let result = match outcome {
            ReconcileOutcome::Success => "success",
            ReconcileOutcome::Requeue => "requeue",
            ReconcileOutcome::Error => "error",
        };
        self.reconcile_total
            .get_or_create(&ResultLabels {
                controller: controller.to_owned(),
                result: result.to_owned(),
            })
            .inc();
        if outcome == ReconcileOutcome::Error {
            self.reconcile_errors
                .get_or_create(&ControllerLabels {
                    controller: controller.to_owned(),
                })
                .inc();
        }
    }

    /// Drops the duration series of a deleted object, as Flux does.
    pub fn forget_object(&self, object: &ObjectLabels) {
        self.reconcile_duration.remove(object);
    }

    pub fn set_max_concurrent_reconciles(&self, controller: &str, concurrency: u16) {
        self.max_concurrent_reconciles
            .get_or_create(&ControllerLabels {
                controller: controller.to_owned(),
            })
            .set(i64::from(concurrency));
    }

    pub fn set_leader(&self, lease: &str, leading: bool) {
        self.leader
            .get_or_create(&NameLabels {
                name: lease.to_owned(),
            })
            .set(i64::from(leading));
    }

    /// Adds a controller's own metric to the exposition.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .register(name, help, metric);
    }

    /// Text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconcileOutcome {
    Success,
    Requeue,
    Error,
}

pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_flux_exponential_range() {
        let buckets: Vec<f64> = reconcile_duration_buckets().collect();
        assert_eq!(buckets.len(), 10);
        assert!((buckets[0] - 0.01).abs() < 1e-12);
        assert!((buckets[9] - 1800.0).abs() < 1e-6);
        assert!(buckets.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn exposes_flux_metric_names() {
        let metrics = Metrics::new();
        let object = ObjectLabels {
            kind: "GitRepository".into(),
            name: "podinfo".into(),
            namespace: "flux-system".into(),
        };
        metrics.observe_reconcile(
            "gitrepository",
            object.clone(),
            Duration::from_millis(30),
            ReconcileOutcome::Error,
        );
        metrics.set_leader("source-controller-leader-election", true);
        let text = metrics.encode();
        assert!(text.contains(r#"gotk_reconcile_duration_seconds_count{kind="GitRepository",name="podinfo",namespace="flux-system"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"controller_runtime_reconcile_total{controller="gitrepository",result="error"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"controller_runtime_reconcile_errors_total{controller="gitrepository"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"leader_election_master_status{name="source-controller-leader-election"} 1"#
            ),
            "{text}"
        );
        metrics.forget_object(&object);
        assert!(!metrics.encode().contains(r#"name="podinfo""#));
    }
}
