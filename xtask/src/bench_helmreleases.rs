//! `cargo xtask bench helmreleases`: N HelmReleases of the podinfo chart (from a local chart
//! repository the real `helm` filled), each with its own HelmChart as in Flux's MTTP
//! benchmark, scaled to zero replicas; time until all are Ready and the controllers' peak
//! memory; with `--stack flux|both`, the same with Flux's source- and helm-controller.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftless_api::helm::HelmRelease;
use driftless_api::source::HelmRepository;
use driftless_testenv::charts::ChartRepository;
use driftless_testenv::{ControlPlane, Options};
use kube::api::{Api, PostParams};

use crate::bench::{
    api_request_counts, api_request_delta, api_server_cpu_seconds, create_all, wait_all_ready,
};
use crate::bench_stack::{CostMeter, Measured, Stack, StackChoice, StackController, run_stacks};
use driftless_testenv::peer::{FLUX_HELM_CONTROLLER, FLUX_SOURCE_CONTROLLER};

/// Flux's published MTTP results for helm-controller (Flux v2.6, a 16-core runner): objects,
/// seconds until all Ready, peak memory in MiB.
const FLUX_HELMRELEASES: [(usize, f64, f64); 3] = [
    (100, 28.0, 190.0),
    (500, 164.0, 240.0),
    (1000, 481.0, 400.0),
];

pub struct HelmReleasesOptions {
    pub count: usize,
    /// `install.disableWait`: Ready once applied, without waiting for kube-controller-manager
    /// to roll the Deployments out (the controller's own throughput).
    pub no_wait: bool,
    pub concurrent: u16,
    pub timeout: Duration,
    pub stack: StackChoice,
    /// kube-controller-manager's API rate (`None`: Kubernetes' default, 20/s).
    pub kcm_qps: Option<u32>,
}

/// The podinfo chart of the shared Helm corpus.
fn podinfo_chart() -> anyhow::Result<std::path::PathBuf> {
    let chart = crate::bench_helm::corpus_dir().join("charts/podinfo");
    if !chart.join("Chart.yaml").is_file() {
        bail!(
            "{} not found: the Helm corpus lives in ../shared beside the checkout",
            chart.display()
        );
    }
    Ok(chart)
}

pub async fn run(
    source_binary: &Path,
    helm_binary: &Path,
    options: HelmReleasesOptions,
) -> anyhow::Result<()> {
    let repository = ChartRepository::start(None)?;
    repository.publish(&podinfo_chart()?)?;
    let controllers = [
        StackController {
            name: "source-controller",
            driftless: source_binary,
            flux: &FLUX_SOURCE_CONTROLLER,
        },
        StackController {
            name: "helm-controller",
            driftless: helm_binary,
            flux: &FLUX_HELM_CONTROLLER,
        },
    ];
    println!("bench helmreleases");
    println!(
        "  HelmReleases            {} of the podinfo chart, one HelmChart each",
        options.count
    );
    println!("  --concurrent            {}", options.concurrent);
    println!(
        "  kube-controller-manager --kube-api-qps {}",
        options
            .kcm_qps
            .map_or("20 (default)".to_owned(), |q| q.to_string())
    );
    println!(
        "  waits for rollouts      {}",
        if options.no_wait {
            "no (install.disableWait)"
        } else {
            "yes (as Flux's default)"
        }
    );
    let runs = run_stacks(options.stack, |stack, last| {
        run_stack(stack, &controllers, &repository, &options, last)
    })
    .await?;
    if let Some(ours) = runs.iter().find(|m| m.stack == Stack::Driftless) {
        // The published row nearest in size, scaled to this count.
        let (rows, flux_seconds, flux_mib) = FLUX_HELMRELEASES
            .iter()
            .min_by_key(|(n, _, _)| n.abs_diff(options.count))
            .copied()
            .unwrap_or((100, 28.0, 190.0));
        let flux_seconds = flux_seconds * options.count as f64 / rows as f64;
        let helm_mib = ours.controllers.get(1).map_or(0.1, |c| c.1);
        println!(
            "  vs Flux's published     {:.1}x faster ({flux_seconds:.0} s, scaled from {rows}), {:.1}x less memory ({flux_mib} MiB); Flux measured on 16 cores, this on {}",
            flux_seconds / ours.seconds,
            flux_mib / helm_mib.max(0.1),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    Ok(())
}

/// One stack's run on a fresh control plane: the HelmRepository and N HelmReleases created
/// at once, then watched until all are Ready.
async fn run_stack(
    stack: Stack,
    controllers: &[StackController<'_>; 2],
    repository: &ChartRepository,
    options: &HelmReleasesOptions,
    measure_floor: bool,
) -> anyhow::Result<Measured> {
    let options_of_plane = Options {
        controller_manager_qps: options.kcm_qps,
        profiling: crate::bench::profiling_requested(),
        ..Options::default()
    };
    let plane = stack
        .control_plane(
            options_of_plane,
            &[&FLUX_SOURCE_CONTROLLER, &FLUX_HELM_CONTROLLER],
        )
        .await?;
    let namespace = plane.namespace("bench").await?;
    let client = plane.client().await?;
    let storage = tempfile::tempdir()?;
    let [port] = driftless_testenv::free_ports()?;
    let common = vec![
        format!("--concurrent={}", options.concurrent),
        format!(
            "--log-level={}",
            std::env::var("DRIFTLESS_BENCH_LOG_LEVEL").unwrap_or_else(|_| "error".into())
        ),
    ];
    let mut source_args = common.clone();
    source_args.extend([
        format!("--storage-path={}", storage.path().display()),
        format!("--storage-addr=127.0.0.1:{port}"),
        format!("--storage-adv-addr=127.0.0.1:{port}"),
    ]);
    let [source_controller, helm_controller] = controllers;
    let mut source = source_controller.start(&plane, stack, &namespace, &source_args)?;
    let mut helm = helm_controller.start(&plane, stack, &namespace, &common)?;

    let helm_repository: HelmRepository = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "podinfo"},
        "spec": {"url": repository.url(), "interval": "1h"},
    }))?;
    Api::<HelmRepository>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &helm_repository)
        .await
        .context("creating the HelmRepository")?;
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &namespace);
    let objects: Vec<HelmRelease> = (0..options.count)
        .map(|i| {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": format!("podinfo-{i}")},
                "spec": {
                    "interval": "1h",
                    "chart": {"spec": {
                        "chart": "podinfo", "version": "*",
                        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
                        "interval": "1h"
                    }},
                    "values": {"replicaCount": 0},
                    "install": {"disableWait": options.no_wait},
                },
            }))
        })
        .collect::<Result<_, _>>()?;
    let mut meter = CostMeter::new(&[("source-controller", &source), ("helm-controller", &helm)]);
    let requests_before = api_request_counts(&client).await?;
    let api_cpu_before = api_server_cpu_seconds(&client).await?;
    let profile = crate::bench::start_api_server_profile(&client);
    let started = Instant::now();
    create_all(&releases, &objects, "HelmReleases").await?;
    let created = started.elapsed();
    let outcome = wait_all_ready(&releases, options.count, started + options.timeout, || {
        meter.sample()
    })
    .await
    .with_context(|| {
        format!(
            "waiting for the HelmReleases\nsource-controller:\n{}\nhelm-controller:\n{}",
            source.log_tail(20),
            helm.log_tail(40)
        )
    })?;
    if let Err(ready) = outcome {
        bail!(
            "{}: only {ready} of {} HelmReleases Ready after {:?}\n{}",
            stack.label(),
            options.count,
            options.timeout,
            helm.log_tail(20)
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let requests_after = api_request_counts(&client).await?;
    let api_cpu = api_server_cpu_seconds(&client).await? - api_cpu_before;
    let (requests, by_kind) = api_request_delta(&requests_before, &requests_after);
    crate::bench::finish_api_server_profile(profile).await;
    let costs = meter.finish();
    source.terminate(Duration::from_secs(10));
    helm.terminate(Duration::from_secs(10));
    // The floor with waits: kube-controller-manager rolling out N Deployments scaled to zero,
    // created at once with nothing else running (its API client is limited to 20 requests/s).
    let rollout_floor = if options.no_wait || !measure_floor {
        None
    } else {
        Some(rollout_floor(&client, &plane, options.count).await)
    };
    // With DRIFTLESS_BENCH_KEEP_LOGS=<dir>: the control plane's and controllers' logs, kept.
    if let Some(dir) = std::env::var_os("DRIFTLESS_BENCH_KEEP_LOGS") {
        let dir = std::path::PathBuf::from(dir).join(stack.label().to_lowercase());
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(plane.dir())?.flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
            }
        }
    }
    plane.stop();

    println!("{}", stack.label());
    println!("  created in              {:.2} s", created.as_secs_f64());
    println!("  all Ready after         {seconds:.2} s");
    println!(
        "  throughput              {:.1} Ready/s",
        options.count as f64 / seconds
    );
    costs.print_cpu();
    costs.print_rss();
    costs.print_requests(options.count);
    let per_object = requests / options.count as f64;
    println!("  API requests            {requests:.0} ({per_object:.1} per HelmRelease)");
    println!("  kube-apiserver CPU      {api_cpu:.2} s");
    let per = |n: f64| n / options.count as f64;
    let listed: Vec<String> = by_kind
        .iter()
        .filter(|(_, n)| per(*n) >= 0.5)
        .map(|(kind, n)| format!("{kind} {:.1}", per(*n)))
        .collect();
    println!("    per HelmRelease       {}", listed.join(", "));
    match rollout_floor {
        Some(Ok(floor)) => println!(
            "  floor: kube-controller-manager rolling out {} Deployments alone: {:.2} s",
            options.count,
            floor.as_secs_f64()
        ),
        Some(Err(error)) => println!("  floor: not measured ({error})"),
        None => {}
    }
    Ok(Measured {
        stack,
        seconds,
        controllers: costs.measured(options.count),
        requests_per_object: per_object,
        api_server_cpu: api_cpu,
    })
}

/// Creates `count` Deployments scaled to zero at once and times until kube-controller-manager
/// reports each rolled out (its status caught up): what any controller that waits for them
/// cannot beat on this control plane.
async fn rollout_floor(
    client: &kube::Client,
    plane: &ControlPlane,
    count: usize,
) -> anyhow::Result<Duration> {
    use k8s_openapi::api::apps::v1::Deployment;
    let namespace = plane.namespace("rollout-floor").await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let objects: Vec<Deployment> = (0..count)
        .map(|i| {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("app-{i}")},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": format!("app-{i}")}},
                    "template": {
                        "metadata": {"labels": {"app": format!("app-{i}")}},
                        "spec": {"containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.1"}]},
                    },
                },
            }))
        })
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    create_all(&deployments, &objects, "Deployments").await?;
    let deadline = started + Duration::from_secs(900);
    loop {
        let list = deployments.list(&Default::default()).await?;
        let rolled = list
            .items
            .iter()
            .filter(|d| {
                let status = d.status.as_ref();
                status.and_then(|s| s.observed_generation) == d.metadata.generation
            })
            .count();
        if rolled == count {
            return Ok(started.elapsed());
        }
        if Instant::now() > deadline {
            bail!("only {rolled} of {count} Deployments rolled out");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
