//! `cargo xtask bench notifications`: events posted to notification-controller's event server
//! as the other controllers post them, fanned out by N Alerts to a local HTTP sink. Measures
//! intake, delivery throughput and latency (post to arrival), CPU and peak RSS.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftless_testenv::{ControlPlane, Options};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, PostParams};

use crate::bench::{cpu_seconds, peak_rss_kib, rss_kib, start_controller};

pub struct NotificationsOptions {
    pub events: usize,
    pub alerts: usize,
    pub timeout: Duration,
}

/// Arrival times at the sink, by event number.
type Arrivals = Arc<Mutex<HashMap<usize, Vec<Instant>>>>;

async fn start_sink() -> anyhow::Result<(String, Arrivals)> {
    let arrivals: Arrivals = Arc::default();
    let record = arrivals.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = format!("http://{}", listener.local_addr()?);
    let router = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let record = record.clone();
        async move {
            let now = Instant::now();
            let number = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|event| {
                    event["message"]
                        .as_str()
                        .and_then(|m| m.strip_prefix("bench event "))
                        .and_then(|n| n.parse::<usize>().ok())
                });
            if let Some(number) = number {
                record
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(number)
                    .or_default()
                    .push(now);
            }
            "ok"
        }
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((address, arrivals))
}

fn event(namespace: &str, number: usize) -> serde_json::Value {
    serde_json::json!({
        "involvedObject": {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "name": format!("app-{}", number % 100), "namespace": namespace,
        },
        "severity": "info", "timestamp": "2026-11-30T10:00:00Z",
        "message": format!("bench event {number}"),
        "reason": "Progressing", "reportingController": "kustomize-controller",
        "metadata": { "kustomize.toolkit.fluxcd.io/revision": "main@sha1:3b9a1f7c" },
    })
}

async fn create(
    client: &kube::Client,
    namespace: &str,
    object: serde_json::Value,
) -> anyhow::Result<()> {
    let object: DynamicObject = serde_json::from_value(object)?;
    let types = object.types.clone().context("object without a type")?;
    let (group, version) = types
        .api_version
        .rsplit_once('/')
        .context("apiVersion without a group")?;
    let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
    let plural = format!("{}s", types.kind.to_lowercase());
    let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, &plural);
    Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
        .create(&PostParams::default(), &object)
        .await?;
    Ok(())
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub async fn run(binary: &Path, options: NotificationsOptions) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let plane = ControlPlane::start(Options::default())
        .await
        .context("starting the control plane")?;
    plane.install_crds(&driftless_api::crds()).await?;
    let namespace = plane.namespace("bench").await?;
    let client = plane.client().await?;
    let (sink, arrivals) = start_sink().await?;
    let [events_port, receiver_port] = driftless_testenv::free_ports()?;
    let args = vec![
        "--watch-all-namespaces=false".to_owned(),
        format!("--runtime-namespace={namespace}"),
        format!("--events-addr=127.0.0.1:{events_port}"),
        format!("--receiver-addr=127.0.0.1:{receiver_port}"),
        "--log-level=error".to_owned(),
    ];
    let mut controller = start_controller(&plane, "notification-controller", binary, &args)?;
    let idle_kib = rss_kib(controller.pid()).unwrap_or(0);

    create(
        &client,
        &namespace,
        serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": { "name": "sink" },
            "spec": { "type": "generic", "address": format!("{sink}/events") },
        }),
    )
    .await?;
    for i in 0..options.alerts {
        create(
            &client,
            &namespace,
            serde_json::json!({
                "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
                "metadata": { "name": format!("alert-{i}") },
                "spec": {
                    "providerRef": { "name": "sink" },
                    "eventSources": [{ "kind": "Kustomization", "name": "*" }],
                    "exclusionList": ["^never$"],
                },
            }),
        )
        .await?;
    }
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{events_port}/");
    // Until every Alert is in the controller's cache, probe with numbers past the bench's.
    let started = Instant::now();
    let mut probe = options.events;
    loop {
        let delivered = arrivals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&probe)
            .map_or(0, Vec::len);
        if delivered >= options.alerts {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "the controller never saw all Alerts\n{}",
                controller.log_tail(20)
            );
        }
        probe += 1;
        http.post(&url)
            .json(&event(&namespace, probe))
            .send()
            .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let cpu_before = cpu_seconds(controller.pid()).unwrap_or(0.0);
    let bodies: Vec<serde_json::Value> =
        (0..options.events).map(|n| event(&namespace, n)).collect();
    let posted: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let started = Instant::now();
    let statuses: Vec<anyhow::Result<u16>> = futures::stream::iter(bodies.iter().enumerate())
        .map(|(number, body)| {
            let (http, url, posted) = (http.clone(), url.clone(), posted.clone());
            async move {
                posted
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(number, Instant::now());
                Ok(http.post(&url).json(body).send().await?.status().as_u16())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let intake = started.elapsed();
    for status in statuses {
        let status = status?;
        if status != 202 {
            bail!("the event server answered {status}");
        }
    }
    let expected = options.events * options.alerts;
    let delivered = || {
        arrivals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(n, _)| **n < options.events)
            .map(|(_, times)| times.len())
            .sum::<usize>()
    };
    while delivered() < expected {
        if started.elapsed() > options.timeout {
            bail!(
                "{} of {expected} deliveries after {:?}\n{}",
                delivered(),
                options.timeout,
                controller.log_tail(20)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_delivered = started.elapsed();
    let cpu = cpu_seconds(controller.pid()).unwrap_or(0.0) - cpu_before;
    let peak_kib = peak_rss_kib(controller.pid()).unwrap_or(0);
    let posted = posted
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut latencies: Vec<Duration> = arrivals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter_map(|(n, times)| Some((posted.get(n)?, times)))
        .flat_map(|(sent, times)| times.iter().map(move |t| t.duration_since(*sent)))
        .collect();
    latencies.sort();
    controller.terminate(Duration::from_secs(10));
    plane.stop();

    println!("bench notifications");
    println!("  events                 {}", options.events);
    println!("  Alerts (one provider)  {}", options.alerts);
    println!("  deliveries             {expected}");
    println!(
        "  intake                 {:.2} s ({:.0} events/s accepted, 32 in flight)",
        intake.as_secs_f64(),
        options.events as f64 / intake.as_secs_f64()
    );
    println!(
        "  all delivered after    {:.2} s ({:.0} deliveries/s)",
        all_delivered.as_secs_f64(),
        expected as f64 / all_delivered.as_secs_f64()
    );
    println!(
        "  post to arrival        p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        percentile(&latencies, 1.0).as_secs_f64() * 1000.0
    );
    println!("  controller CPU         {cpu:.2} s");
    println!(
        "  RSS idle               {:.1} MiB",
        idle_kib as f64 / 1024.0
    );
    println!(
        "  RSS peak               {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    Ok(())
}
