//! `cargo xtask bench kustomizations`: Flux's MTTP shape. N GitRepositories and N
//! Kustomizations, each applying four objects; time until all are Ready, the controllers'
//! peak RSS and CPU, the API requests they cost, and the floors; with `--stack flux|both`,
//! the same on Flux's source- and kustomize-controller, side by side.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftless_api::source::GitRepository;
use driftless_testenv::peer::{FLUX_KUSTOMIZE_CONTROLLER, FLUX_SOURCE_CONTROLLER};
use driftless_testenv::{ControlPlane, Options};
use futures::StreamExt;
use kube::api::{Api, PostParams};

use crate::bench::{
    api_request_counts, api_request_delta, api_server_cpu_seconds, finish_api_server_profile,
    git_fixture, machine_busy_since, machine_ticks, profiling_requested, start_api_server_profile,
    wait_all_ready,
};
use crate::bench_stack::{CostMeter, Measured, Stack, StackChoice, StackController, run_stacks};

/// Flux v2.6's kustomize-controller in its MTTP benchmark: 1000 Kustomizations in 4m16s at
/// 175 MiB (16 cores).
const FLUX_KUSTOMIZATIONS_SECONDS_PER_1000: f64 = 256.0;
const FLUX_KUSTOMIZE_RSS_MIB: f64 = 175.0;

pub struct KustomizationsOptions {
    /// Also time kubectl's server-side apply of the same objects.
    pub floor: bool,
    /// Whose controllers run: Driftless's, Flux's or both, one after the other.
    pub stack: StackChoice,
    pub count: usize,
    pub repositories: usize,
    /// The controllers' `--concurrent`, one run per value.
    pub concurrent: Vec<u16>,
    pub timeout: Duration,
}

/// The four objects each Kustomization applies, as Flux's benchmark has them.
pub(crate) const APP: &[(&str, &str)] = &[
    (
        "app/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: app}\n  template:\n    metadata:\n      labels: {app: app}\n    spec:\n      serviceAccountName: app\n      containers:\n      - name: app\n        image: ghcr.io/stefanprodan/podinfo:6.7.1\n",
    ),
    (
        "app/serviceaccount.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n",
    ),
    (
        "app/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\nspec:\n  selector: {app: app}\n  ports:\n  - port: 80\n",
    ),
    (
        "app/ingress.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: app\nspec:\n  rules:\n  - host: app.example.com\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: app\n            port: {number: 80}\n",
    ),
];

/// source-controller and kustomize-controller, Driftless's binaries or Flux's builds.
pub(crate) fn source_and_kustomize<'a>(
    source_binary: &'a Path,
    kustomize_binary: &'a Path,
) -> [StackController<'a>; 2] {
    [
        StackController {
            name: "source-controller",
            driftless: source_binary,
            flux: &FLUX_SOURCE_CONTROLLER,
        },
        StackController {
            name: "kustomize-controller",
            driftless: kustomize_binary,
            flux: &FLUX_KUSTOMIZE_CONTROLLER,
        },
    ]
}

/// `cargo xtask bench kustomizations`: N GitRepositories and N Kustomizations, each applying
/// a Deployment scaled to zero, a ServiceAccount, a Service and an Ingress; time until all
/// are Ready, both controllers' peak RSS, and `kubectl apply --server-side` of the same
/// objects as the floor.
pub async fn kustomizations(
    source_binary: &Path,
    kustomize_binary: &Path,
    options: KustomizationsOptions,
) -> anyhow::Result<()> {
    let controllers = source_and_kustomize(source_binary, kustomize_binary);
    let mut scaling = Vec::new();
    for &concurrent in &options.concurrent {
        let runs = run_stacks(options.stack, |stack, last| {
            run_stack(stack, &controllers, &options, concurrent, last)
        })
        .await?;
        scaling.push((concurrent, runs));
    }
    if scaling.len() > 1 {
        print_scaling(&scaling);
    }
    Ok(())
}

/// How the time until all are Ready changes with `--concurrent`, per stack.
fn print_scaling(scaling: &[(u16, Vec<Measured>)]) {
    println!("concurrency scaling: all Ready after");
    let stacks: Vec<Stack> = scaling[0].1.iter().map(|m| m.stack).collect();
    let mut header = format!("  {:<14}", "--concurrent");
    for stack in &stacks {
        header.push_str(&format!("{:>14}", stack.label()));
    }
    if stacks.len() == 2 {
        header.push_str(&format!("{:>18}", "Driftless/Flux"));
    }
    println!("{header}");
    for (concurrent, runs) in scaling {
        let mut line = format!("  {concurrent:<14}");
        for run in runs {
            line.push_str(&format!("{:>14}", format!("{:.1} s", run.seconds)));
        }
        if let [flux, ours] = runs.as_slice() {
            line.push_str(&format!(
                "{:>18.3}",
                ours.seconds / flux.seconds.max(f64::EPSILON)
            ));
        }
        println!("{line}");
    }
}

/// One stack's run on a fresh control plane.
async fn run_stack(
    stack: Stack,
    controllers: &[StackController<'_>; 2],
    options: &KustomizationsOptions,
    concurrent: u16,
    measure_floors: bool,
) -> anyhow::Result<Measured> {
    use driftless_api::kustomize::Kustomization;

    let options_of_plane = Options {
        profiling: profiling_requested(),
        ..Options::default()
    };
    let plane = stack
        .control_plane(
            options_of_plane,
            &[&FLUX_SOURCE_CONTROLLER, &FLUX_KUSTOMIZE_CONTROLLER],
        )
        .await?;
    let namespace = plane.namespace("bench").await?;
    let client = plane.client().await?;

    let repositories = options.repositories.clamp(1, options.count.max(1));
    let server = git_fixture(APP, repositories)?;

    let storage = tempfile::tempdir()?;
    let [port] = driftless_testenv::free_ports()?;
    let common = vec![
        format!("--concurrent={concurrent}"),
        "--log-level=error".to_owned(),
    ];
    let mut source_args = common.clone();
    source_args.extend([
        format!("--storage-path={}", storage.path().display()),
        format!("--storage-addr=127.0.0.1:{port}"),
        format!("--storage-adv-addr=127.0.0.1:{port}"),
    ]);
    let [source_controller, kustomize_controller] = controllers;
    let mut source = source_controller.start(&plane, stack, &namespace, &source_args)?;
    let mut kustomize = kustomize_controller.start(&plane, stack, &namespace, &common)?;

    let sources: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
    // RSS sampled every 100 ms while waiting; requests counted from here.
    let mut meter = CostMeter::new(&[
        ("source-controller", &source),
        ("kustomize-controller", &kustomize),
    ]);
    let requests_before = api_request_counts(&client).await.unwrap_or_default();
    let api_cpu_before = api_server_cpu_seconds(&client).await.unwrap_or(0.0);
    let profile = start_api_server_profile(&client);
    let machine_before = machine_ticks();
    let started = Instant::now();
    let creates: Vec<anyhow::Result<()>> = futures::stream::iter(0..options.count)
        .map(|i| {
            let (sources, kustomizations) = (sources.clone(), kustomizations.clone());
            let url = server.url(&format!("repo-{}", i % repositories));
            let namespace = namespace.clone();
            async move {
                let source: GitRepository = serde_json::from_value(serde_json::json!({
                    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                    "metadata": { "name": format!("app-{i}") },
                    "spec": { "url": url, "interval": "1h", "ref": { "branch": "main" } },
                }))?;
                sources.create(&PostParams::default(), &source).await?;
                let kustomization: Kustomization = serde_json::from_value(serde_json::json!({
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": { "name": format!("app-{i}") },
                    "spec": {
                        "interval": "1h", "path": "./app", "prune": true, "namePrefix": format!("app-{i}-"), "targetNamespace": namespace,
                        "sourceRef": { "kind": "GitRepository", "name": format!("app-{i}") },
                    },
                }))?;
                kustomizations.create(&PostParams::default(), &kustomization).await?;
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for result in creates {
        result.context("creating the benchmark objects")?;
    }
    let created = started.elapsed();

    let outcome = wait_all_ready(
        &kustomizations,
        options.count,
        started + options.timeout,
        || meter.sample(),
    )
    .await?;
    if let Err(ready) = outcome {
        bail!(
            "only {ready} of {} Kustomizations Ready after {:?}\n{}",
            options.count,
            options.timeout,
            kustomize.log_tail(20)
        );
    }
    let ready_after = started.elapsed();
    let machine_busy = machine_busy_since(machine_before);
    let requests_after = api_request_counts(&client).await.unwrap_or_default();
    let api_cpu = api_server_cpu_seconds(&client).await.unwrap_or(0.0) - api_cpu_before;
    finish_api_server_profile(profile).await;
    let costs = meter.finish();
    source.terminate(Duration::from_secs(10));
    kustomize.terminate(Duration::from_secs(10));

    // What the API server alone needs for the objects: one server-side apply each, at the
    // controller's concurrency, with nothing else running.
    let direct_floor = if measure_floors {
        direct_apply_floor(&client, &plane, options.count, concurrent).await
    } else {
        Err(anyhow::anyhow!("measured after the last stack"))
    };
    // The floor: the same objects applied by kubectl in one server-side apply.
    let floor = if options.floor && measure_floors {
        kubectl_floor(&plane, options.count).await
    } else {
        Err(anyhow::anyhow!(
            "--no-floor, or measured after the last stack"
        ))
    };
    plane.stop();

    let seconds = ready_after.as_secs_f64();
    let flux_seconds = FLUX_KUSTOMIZATIONS_SECONDS_PER_1000 * options.count as f64 / 1000.0;
    println!("bench kustomizations: {}", stack.label());
    println!(
        "  Kustomizations          {} ({} objects), over {repositories} Git repositories",
        options.count,
        options.count * APP.len()
    );
    println!("  --concurrent            {concurrent}");
    println!("  created in              {:.2} s", created.as_secs_f64());
    println!("  all Ready after         {seconds:.2} s");
    println!(
        "  throughput              {:.0} Ready/s",
        options.count as f64 / seconds
    );
    costs.print_cpu();
    println!("  machine busy            {:.0}%", machine_busy * 100.0);
    let (total, by_kind) = api_request_delta(&requests_before, &requests_after);
    println!(
        "  API requests            {total:.0} ({:.1} per Kustomization, the benchmark's own included)",
        total / options.count.max(1) as f64
    );
    for (what, count) in by_kind.iter().take(40) {
        println!("    {count:>8.0}  {what}");
    }
    costs.print_requests(options.count);
    costs.print_rss();
    match direct_floor {
        Ok(floor) => println!(
            "  floor: one server-side apply per object ({} objects, {} at a time, nothing else running): {:.2} s",
            options.count * APP.len(),
            concurrent,
            floor.as_secs_f64()
        ),
        Err(error) => println!("  floor (direct apply): not measured ({error})"),
    }
    match floor {
        Ok(floor) => println!(
            "  floor: kubectl apply --server-side of the same objects: {:.2} s",
            floor.as_secs_f64()
        ),
        Err(error) => println!("  floor: not measured ({error})"),
    }
    println!("  kube-apiserver CPU      {api_cpu:.2} s");
    if stack == Stack::Driftless {
        println!(
            "  vs Flux v2.6 (scaled)   {:.1}x faster ({flux_seconds:.1} s), {:.1}x less memory ({FLUX_KUSTOMIZE_RSS_MIB} MiB); Flux's published run, 16 cores",
            flux_seconds / seconds,
            FLUX_KUSTOMIZE_RSS_MIB / costs.0[1].rss_mib.max(0.1)
        );
    }
    Ok(Measured {
        stack,
        seconds,
        controllers: costs.measured(options.count),
        requests_per_object: total / options.count.max(1) as f64,
        api_server_cpu: api_cpu,
    })
}

/// `kubectl apply --server-side` of `count` copies of the benchmark's objects into a fresh
/// namespace, timed.
/// Applies the benchmark's objects once each with server-side apply, `concurrency` at a time,
/// into a fresh namespace: the API server's own cost for them, without any controller.
async fn direct_apply_floor(
    client: &kube::Client,
    plane: &ControlPlane,
    count: usize,
    concurrency: u16,
) -> anyhow::Result<Duration> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};

    let namespace = plane.namespace("direct-floor").await?;
    let mut objects = Vec::with_capacity(count * APP.len());
    for i in 0..count {
        for (_, manifest) in APP {
            let manifest = manifest.replacen("name: app\n", &format!("name: app-{i}\n"), 1);
            let value: serde_json::Value = serde_yaml::from_str(&manifest)?;
            let api_version = value["apiVersion"].as_str().unwrap_or_default();
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let gvk =
                GroupVersionKind::gvk(group, version, value["kind"].as_str().unwrap_or_default());
            let name = format!("app-{i}");
            objects.push((ApiResource::from_gvk(&gvk), name, value));
        }
    }
    let params = PatchParams::apply("bench").force();
    let started = Instant::now();
    let results: Vec<kube::Result<DynamicObject>> = futures::stream::iter(objects)
        .map(|(resource, name, value)| {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &namespace, &resource);
            let params = params.clone();
            async move { api.patch(&name, &params, &Patch::Apply(&value)).await }
        })
        .buffer_unordered(usize::from(concurrency.max(1)))
        .collect()
        .await;
    let elapsed = started.elapsed();
    for result in results {
        result.context("server-side apply")?;
    }
    Ok(elapsed)
}

async fn kubectl_floor(plane: &ControlPlane, count: usize) -> anyhow::Result<Duration> {
    let namespace = plane.namespace("floor").await?;
    let mut text = String::new();
    for i in 0..count {
        for (_, manifest) in APP {
            text.push_str("---\n");
            text.push_str(&manifest.replacen("name: app\n", &format!("name: app-{i}\n"), 1));
        }
    }
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), text)?;
    let started = Instant::now();
    let output = tokio::process::Command::new("kubectl")
        .args([
            "apply",
            "--server-side",
            "--field-manager=bench",
            "-n",
            &namespace,
            "-f",
        ])
        .arg(file.path())
        .env("KUBECONFIG", plane.kubeconfig_path())
        .output()
        .await
        .context("running kubectl")?;
    if !output.status.success() {
        bail!(
            "kubectl failed: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(started.elapsed())
}
