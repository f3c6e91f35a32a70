//! The stand-in controller for unimplemented kinds, against the real API server: objects end
//! Stalled with reason `NotImplemented`, one Warning event per generation, no finalizer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use driftless_api::conditions::{READY, RECONCILING, STALLED};
use driftless_api::image::ImagePolicy;
use driftless_api::meta::{Condition, Reconcilable};
use driftless_api::source::HelmRepository;
use driftless_runtime::conditions;
use driftless_runtime::events::EventRecorder;
use driftless_runtime::metrics::Metrics;
use driftless_runtime::not_implemented::{self, NOT_IMPLEMENTED};
use driftless_runtime::{CommonArgs, Context};
use driftless_testenv::not_implemented::podinfo;
use k8s_openapi::api::core::v1::Event as KubeEvent;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

/// A controller context watching only `namespace`, as `--watch-all-namespaces=false` does.
fn context(client: kube::Client, namespace: &str, shutdown: CancellationToken) -> Context {
    let args = Cli::parse_from(["test", "--watch-all-namespaces=false"]).common;
    Context {
        events: EventRecorder::new(client.clone(), "source-controller", "test", ""),
        client,
        args,
        controller: "source-controller",
        metrics: Arc::new(Metrics::new()),
        shutdown,
        runtime_namespace: namespace.to_owned(),
    }
}

async fn wait_for<K, T>(api: &Api<K>, name: &str, check: impl Fn(&K) -> Option<T>) -> T
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(object) = api.get_opt(name).await.unwrap()
            && let Some(value) = check(&object)
        {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {name}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The object's conditions once it is marked not implemented at its current generation.
fn marked<K: Resource + Reconcilable>(object: &K) -> Option<Vec<Condition>> {
    let generation = object.meta().generation;
    (object.observed_generation() == generation
        && conditions::get(object.conditions(), STALLED)
            .is_some_and(|c| c.observed_generation == generation))
    .then(|| object.conditions().to_vec())
}

/// Sum of the counts of the `NotImplemented` Warning events about the `kind` named `name`.
async fn warnings(client: &kube::Client, namespace: &str, kind: &str, name: &str) -> i32 {
    let events: Api<KubeEvent> = Api::namespaced(client.clone(), namespace);
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(name)
                && e.involved_object.kind.as_deref() == Some(kind)
                && e.reason.as_deref() == Some(NOT_IMPLEMENTED)
                && e.type_.as_deref() == Some("Warning")
        })
        .map(|e| e.count.unwrap_or(1))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unimplemented_kinds_end_stalled_with_one_warning_per_generation() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let plane = driftless_testenv::shared().await.unwrap();
    let namespace = plane.namespace("not-implemented").await.unwrap();
    let client = plane.client().await.unwrap();
    let shutdown = CancellationToken::new();
    let ctx = context(client.clone(), &namespace, shutdown.clone());
    let controllers = tokio::spawn(async move {
        tokio::join!(
            not_implemented::run::<HelmRepository>(ctx.clone()),
            not_implemented::run::<ImagePolicy>(ctx),
        );
    });

    let repos: Api<HelmRepository> = Api::namespaced(client.clone(), &namespace);
    let repo = podinfo::helm_repository();
    repos.create(&PostParams::default(), &repo).await.unwrap();
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), &namespace);
    let policy = podinfo::image_policy();
    policies
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();

    let conditions = wait_for(&repos, "podinfo", marked).await;
    for (type_, status) in [(STALLED, "True"), (READY, "False")] {
        let condition = conditions::get(&conditions, type_).unwrap();
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            (status, NOT_IMPLEMENTED),
            "{type_}"
        );
        assert!(
            condition
                .message
                .contains("Driftless does not implement HelmRepository yet"),
            "{}",
            condition.message
        );
    }
    assert!(conditions::get(&conditions, RECONCILING).is_none());
    conditions::check_final_status(&conditions, Some(1), Some(1)).unwrap();
    let stored = repos.get("podinfo").await.unwrap();
    assert!(stored.finalizers().is_empty(), "no finalizer is added");

    let policy_conditions = wait_for(&policies, "podinfo", marked).await;
    assert_eq!(
        conditions::get(&policy_conditions, STALLED).map(|c| c.reason.as_str()),
        Some(NOT_IMPLEMENTED)
    );

    // One Warning event for the generation; a reconcile request is acknowledged (so
    // `flux reconcile` returns) without another one.
    wait_for_count(&client, &namespace, "HelmRepository", 1).await;
    wait_for_count(&client, &namespace, "ImagePolicy", 1).await;
    repos
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": "now"
            }}})),
        )
        .await
        .unwrap();
    wait_for(&repos, "podinfo", |r: &HelmRepository| {
        (r.last_handled_reconcile_at() == Some("now")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        warnings(&client, &namespace, "HelmRepository", "podinfo").await,
        1
    );

    // A new generation is marked and announced again.
    repos
        .patch(
            "podinfo",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"interval": "10m"}})),
        )
        .await
        .unwrap();
    let conditions = wait_for(&repos, "podinfo", |r: &HelmRepository| {
        (r.meta().generation == Some(2))
            .then(|| marked(r))
            .flatten()
    })
    .await;
    conditions::check_final_status(&conditions, Some(2), Some(2)).unwrap();
    wait_for_count(&client, &namespace, "HelmRepository", 2).await;

    // Deleting never waits on the controller.
    repos.delete("podinfo", &Default::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while repos.get_opt("podinfo").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "HelmRepository was not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), controllers)
        .await
        .expect("controllers stop on shutdown")
        .unwrap();
}

/// Waits until the `NotImplemented` warnings about the `kind` named `podinfo` add up to
/// `count`, and checks they never exceed it.
async fn wait_for_count(client: &kube::Client, namespace: &str, kind: &str, count: i32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = warnings(client, namespace, kind, "podinfo").await;
        assert!(
            seen <= count,
            "{seen} NotImplemented warnings, expected {count}"
        );
        if seen == count {
            return;
        }
        assert!(Instant::now() < deadline, "{seen} of {count} warnings");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
