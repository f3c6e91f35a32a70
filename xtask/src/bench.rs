//! Benchmarks against the real local stack: control plane, Git server and release builds of
//! the controllers. Results are printed as numbers and as ratios to Flux's published figures.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftless_api::meta::Reconcilable;
use driftless_api::source::{Bucket, GitRepository, HelmChart, HelmRepository, OCIRepository};
use driftless_testenv::controller::ControllerProcess;
use driftless_testenv::git::{GitAuth, GitServer};
use driftless_testenv::registry::{self, Registry, RegistryOptions};
use driftless_testenv::{ControlPlane, Options};
use futures::StreamExt;
use kube::Resource;
use kube::api::{Api, PostParams};
use kube::runtime::WatchStreamExt;

/// Flux's source-controller: 1000 OCIRepositories Ready in 1m25s at 67 MiB (16 cores), the
/// figure GitRepositories are compared with.
const FLUX_SECONDS_PER_1000: f64 = 85.0;
const FLUX_RSS_MIB: f64 = 67.0;
/// flux-benchmark with Flux v2.9.0 (16 cores): 1000 OCIRepositories in 4m17s at 128 MiB.
const FLUX_OCI_SECONDS_PER_1000: f64 = 257.0;
const FLUX_OCI_RSS_MIB: f64 = 128.0;
/// flux-benchmark with Flux v2.9.0 (16 cores): 1000 HelmCharts in 5m10s at 189 MiB.
const FLUX_HELMCHART_SECONDS_PER_1000: f64 = 310.0;
const FLUX_HELMCHART_RSS_MIB: f64 = 189.0;

/// The source kind `bench sources` creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    Git,
    Oci,
    Bucket,
    Helmchart,
}

impl SourceKind {
    fn name(self) -> &'static str {
        match self {
            Self::Git => "git",
            Self::Oci => "oci",
            Self::Bucket => "bucket",
            Self::Helmchart => "helmchart",
        }
    }
}

pub struct SourcesOptions {
    pub kind: SourceKind,
    pub count: usize,
    /// Distinct Git repositories (or registry repositories) the objects are spread over.
    pub repositories: usize,
    pub concurrent: u16,
    pub timeout: Duration,
    /// Whose source-controller: Driftless's, Flux's or both, side by side.
    pub stack: crate::bench_stack::StackChoice,
}

pub(crate) fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Peak resident set size (VmHWM) of a process, in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU seconds (user + system) a process has used.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks / 100.0)
}

/// Busy and total CPU ticks of the whole machine, from /proc/stat.
pub(crate) fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let values: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle + iowait
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// CPU seconds of this process's finished children: the Git server's `git` processes.
fn children_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(13)?.parse::<f64>().ok()? + fields.get(14)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A `/proc/<pid>/status` field in KiB, such as `VmRSS` or `RssAnon`.
pub(crate) fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Current resident set size (VmRSS) of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// Ready=True for the object's current generation.
pub(crate) fn is_ready<K: Resource + Reconcilable>(object: &K) -> bool {
    object.observed_generation() == object.meta().generation
        && object
            .conditions()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Follows `api` with a watch until `count` objects are Ready, calling `sample` every 100 ms
/// meanwhile. Returns `Err(ready)` at `deadline`. A watch, because listing a thousand objects
/// several times a second would load the API server more than the controllers under test.
pub(crate) async fn wait_all_ready<K>(
    api: &Api<K>,
    count: usize,
    deadline: Instant,
    sample: impl FnMut(),
) -> anyhow::Result<Result<(), usize>>
where
    K: Resource<DynamicType = ()> + Reconcilable + Clone + std::fmt::Debug + Send + 'static,
    K: serde::de::DeserializeOwned,
{
    let until = Until {
        counted: |_: &str| true,
        done: is_ready::<K>,
        once: false,
    };
    wait_until(api, count, until, deadline, sample).await
}

/// What [`wait_until`] waits for: `count` of the objects `counted` selects by name to be
/// `done`; with `once`, an object counts from the first time it is done (Flux marks Ready
/// Unknown during every reconcile, so with short intervals and many objects some are always
/// mid-reconcile).
pub(crate) struct Until<C, D> {
    pub counted: C,
    pub done: D,
    pub once: bool,
}

/// As [`wait_all_ready`], for what `until` says.
pub(crate) async fn wait_until<K>(
    api: &Api<K>,
    count: usize,
    until: Until<impl Fn(&str) -> bool, impl Fn(&K) -> bool>,
    deadline: Instant,
    mut sample: impl FnMut(),
) -> anyhow::Result<Result<(), usize>>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + 'static,
    K: serde::de::DeserializeOwned,
{
    let mut finished = std::collections::HashSet::new();
    let mut events = std::pin::pin!(
        kube::runtime::watcher(api.clone(), kube::runtime::watcher::Config::default())
            .applied_objects()
    );
    let mut sampler = tokio::time::interval(Duration::from_millis(100));
    let timeout = tokio::time::sleep_until(deadline.into());
    tokio::pin!(timeout);
    while finished.len() < count {
        tokio::select! {
            event = events.next() => {
                let object = event.context("watching")?.context("watch ended")?;
                let name = object.meta().name.clone().unwrap_or_default();
                if !(until.counted)(&name) {
                    continue;
                }
                if (until.done)(&object) {
                    finished.insert(name);
                } else if !until.once {
                    finished.remove(&name);
                }
            }
            _ = sampler.tick() => sample(),
            () = &mut timeout => return Ok(Err(finished.len())),
        }
    }
    Ok(Ok(()))
}

/// Creates `objects` as a client applying a directory would: many requests in flight.
pub(crate) async fn create_all<K>(api: &Api<K>, objects: &[K], what: &str) -> anyhow::Result<()>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let results: Vec<kube::Result<K>> = futures::stream::iter(objects)
        .map(|object| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), object).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for result in results {
        result.with_context(|| format!("creating {what}"))?;
    }
    Ok(())
}

/// A Git server with `repositories` copies (`repo-0`, `repo-1`, ...) of one repository
/// holding `files` on `main`.
pub(crate) fn git_fixture(
    files: &[(&str, &str)],
    repositories: usize,
) -> anyhow::Result<GitServer> {
    let server = GitServer::start(GitAuth::default())?;
    let template = server.create_repo("template")?;
    template.commit(files, "bench fixture")?;
    template.push("main")?;
    for i in 0..repositories {
        copy_dir(
            &template.bare,
            &template.bare.with_file_name(format!("repo-{i}.git")),
        )?;
    }
    Ok(server)
}

pub(crate) fn start_controller(
    plane: &ControlPlane,
    name: &'static str,
    binary: &Path,
    args: &[String],
) -> anyhow::Result<ControllerProcess> {
    let mut controller =
        ControllerProcess::spawn(name, binary, &plane.kubeconfig_path(), plane.dir(), args)?;
    tokio::task::block_in_place(|| controller.wait_ready(Duration::from_secs(30)))?;
    Ok(controller)
}

/// The share of the machine's CPU time that was busy since `before` (from [`machine_ticks`]).
pub(crate) fn machine_busy_since(before: Option<(u64, u64)>) -> f64 {
    match (before, machine_ticks()) {
        (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
            (busy1 - busy0) as f64 / (total1 - total0) as f64
        }
        _ => 0.0,
    }
}

/// What the sources benchmark measured while `count` objects became Ready.
struct Measured {
    created: Duration,
    ready_after: Duration,
    peak_kib: u64,
    anon_peak_kib: u64,
    cpu: f64,
    /// CPU of the processes this one started meanwhile (the Git server's git processes).
    children_cpu: f64,
    machine_busy: f64,
    /// API requests the controller made.
    requests: f64,
    /// kube-apiserver's CPU seconds meanwhile.
    api_server_cpu: f64,
}

/// Creates `objects` and waits until all are Ready, sampling the controller meanwhile.
async fn measure<K>(
    api: &Api<K>,
    objects: &[K],
    controller: &ControllerProcess,
    timeout: Duration,
) -> anyhow::Result<Measured>
where
    K: Resource<DynamicType = ()> + Reconcilable + Clone + std::fmt::Debug + Send + 'static,
    K: serde::Serialize + serde::de::DeserializeOwned,
{
    // Created as a client applying a directory would: many requests in flight.
    let machine_before = machine_ticks();
    let children_before = children_cpu_seconds().unwrap_or(0.0);
    let requests_before = crate::bench_stack::requests_made(controller);
    let client = api.clone().into_client();
    let api_cpu_before = api_server_cpu_seconds(&client).await.unwrap_or(0.0);
    let started = Instant::now();
    create_all(api, objects, K::kind(&()).as_ref()).await?;
    let created = started.elapsed();
    // The kernel keeps the peak of the whole RSS (VmHWM) but not of its anonymous part (heap
    // and stacks, without the binary's mapped code): sample that while waiting.
    let mut anon_peak_kib = 0;
    let outcome = wait_all_ready(api, objects.len(), started + timeout, || {
        anon_peak_kib = anon_peak_kib.max(status_kib(controller.pid(), "RssAnon").unwrap_or(0));
    })
    .await?;
    if let Err(ready) = outcome {
        bail!(
            "only {ready} of {} {} Ready after {timeout:?}\n{}",
            objects.len(),
            K::kind(&()),
            controller.log_tail(20)
        );
    }
    Ok(Measured {
        created,
        ready_after: started.elapsed(),
        peak_kib: peak_rss_kib(controller.pid()).unwrap_or(0),
        anon_peak_kib,
        cpu: cpu_seconds(controller.pid()).unwrap_or(0.0),
        children_cpu: children_cpu_seconds().unwrap_or(0.0) - children_before,
        machine_busy: machine_busy_since(machine_before),
        requests: crate::bench_stack::requests_made(controller) - requests_before,
        api_server_cpu: api_server_cpu_seconds(&client).await.unwrap_or(0.0) - api_cpu_before,
    })
}

/// `cargo xtask bench sources`: N sources of one kind (GitRepositories against the local Git
/// server, OCIRepositories against the local registry); time until all are Ready and
/// source-controller's peak RSS.
pub async fn sources(binary: &Path, options: SourcesOptions) -> anyhow::Result<()> {
    use driftless_testenv::peer::FLUX_SOURCE_CONTROLLER;
    let source = crate::bench_stack::StackController {
        name: "source-controller",
        driftless: binary,
        flux: &FLUX_SOURCE_CONTROLLER,
    };
    crate::bench_stack::run_stacks(options.stack, |stack, _| {
        sources_on(stack, &source, &options)
    })
    .await?;
    Ok(())
}

/// One stack's run of `bench sources` on a fresh control plane.
async fn sources_on(
    stack: crate::bench_stack::Stack,
    source: &crate::bench_stack::StackController<'_>,
    options: &SourcesOptions,
) -> anyhow::Result<crate::bench_stack::Measured> {
    let plane = stack
        .control_plane(
            Options::default(),
            &[&driftless_testenv::peer::FLUX_SOURCE_CONTROLLER],
        )
        .await?;
    let namespace = plane.namespace("bench").await?;
    let client = plane.client().await?;
    let repositories = options.repositories.clamp(1, options.count.max(1));

    let storage = tempfile::tempdir()?;
    let [port] = driftless_testenv::free_ports()?;
    let args = vec![
        format!("--storage-path={}", storage.path().display()),
        format!("--storage-addr=127.0.0.1:{port}"),
        format!("--storage-adv-addr=127.0.0.1:{port}"),
        format!("--concurrent={}", options.concurrent),
        "--log-level=error".to_owned(),
    ];
    let (measured, served, flux) = match options.kind {
        SourceKind::Git => {
            let server = git_fixture(crate::fixtures::PODINFO, repositories)?;
            let mut controller = source.start(&plane, stack, &namespace, &args)?;
            let idle_kib = rss_kib(controller.pid()).unwrap_or(0);
            let objects = (0..options.count)
                .map(|i| {
                    serde_json::from_value::<GitRepository>(serde_json::json!({
                        "apiVersion": "source.toolkit.fluxcd.io/v1",
                        "kind": "GitRepository",
                        "metadata": { "name": format!("bench-{i}") },
                        "spec": {
                            "url": server.url(&format!("repo-{}", i % repositories)),
                            "interval": "1h",
                            "ref": { "branch": "main" },
                        },
                    }))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let api: Api<GitRepository> = Api::namespaced(client.clone(), &namespace);
            let measured = measure(&api, &objects, &controller, options.timeout).await?;
            controller.terminate(Duration::from_secs(10));
            let requests = server.requests();
            // Pack downloads: GitRepositories that found their commit already packed by
            // another object of the same repository reuse that artifact instead.
            let fetches = requests
                .iter()
                .filter(|r| r.command.as_deref() == Some("fetch"))
                .count();
            let served = vec![
                format!("Git repositories       {repositories}"),
                format!(
                    "Git HTTP requests      {} ({fetches} pack fetches)",
                    requests.len()
                ),
                format!(
                    "Git server CPU         {:.2} s (git http-backend, upload-pack)",
                    measured.children_cpu
                ),
                format!("RSS idle               {:.1} MiB", idle_kib as f64 / 1024.0),
            ];
            (
                measured,
                served,
                Some((FLUX_SECONDS_PER_1000, FLUX_RSS_MIB)),
            )
        }
        SourceKind::Oci => {
            let registry = oci_fixture(repositories).await?;
            let mut controller = source.start(&plane, stack, &namespace, &args)?;
            let idle_kib = rss_kib(controller.pid()).unwrap_or(0);
            let objects = (0..options.count)
                .map(|i| {
                    serde_json::from_value::<OCIRepository>(serde_json::json!({
                        "apiVersion": "source.toolkit.fluxcd.io/v1",
                        "kind": "OCIRepository",
                        "metadata": { "name": format!("bench-{i}") },
                        "spec": {
                            "url": format!("oci://{}/repo-{}", registry.host, i % repositories),
                            "insecure": true,
                            "interval": "1h",
                            "ref": { "tag": "latest" },
                        },
                    }))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let api: Api<OCIRepository> = Api::namespaced(client.clone(), &namespace);
            let measured = measure(&api, &objects, &controller, options.timeout).await?;
            controller.terminate(Duration::from_secs(10));
            let served = vec![
                format!("OCI repositories       {repositories} (one Flux artifact each)"),
                format!("RSS idle               {:.1} MiB", idle_kib as f64 / 1024.0),
            ];
            (
                measured,
                served,
                Some((FLUX_OCI_SECONDS_PER_1000, FLUX_OCI_RSS_MIB)),
            )
        }
        SourceKind::Bucket => {
            let server = bucket_fixture(repositories).await?;
            let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(
                serde_json::json!({
                    "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "s3" },
                    "stringData": { "accesskey": server.access_key, "secretkey": server.secret_key },
                }),
            )?;
            Api::namespaced(client.clone(), &namespace)
                .create(&PostParams::default(), &secret)
                .await?;
            let mut controller = source.start(&plane, stack, &namespace, &args)?;
            let idle_kib = rss_kib(controller.pid()).unwrap_or(0);
            let objects = (0..options.count)
                .map(|i| {
                    serde_json::from_value::<Bucket>(serde_json::json!({
                        "apiVersion": "source.toolkit.fluxcd.io/v1",
                        "kind": "Bucket",
                        "metadata": { "name": format!("bench-{i}") },
                        "spec": {
                            "bucketName": format!("bucket-{}", i % repositories),
                            "endpoint": server.endpoint,
                            "insecure": true,
                            "interval": "1h",
                            "secretRef": { "name": "s3" },
                        },
                    }))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let api: Api<Bucket> = Api::namespaced(client.clone(), &namespace);
            let measured = measure(&api, &objects, &controller, options.timeout).await?;
            controller.terminate(Duration::from_secs(10));
            let served = vec![
                format!(
                    "buckets                {repositories} (podinfo manifests, versitygw on loopback)"
                ),
                format!("RSS idle               {:.1} MiB", idle_kib as f64 / 1024.0),
            ];
            // flux-benchmark publishes no Bucket figure.
            (measured, served, None)
        }
        SourceKind::Helmchart => {
            let charts = driftless_testenv::charts::ChartRepository::start(None)?;
            let chart = charts.write_chart("podinfo", crate::fixtures::PODINFO_CHART)?;
            charts.publish(&chart)?;
            let mut controller = source.start(&plane, stack, &namespace, &args)?;
            let idle_kib = rss_kib(controller.pid()).unwrap_or(0);
            let repository: HelmRepository = serde_json::from_value(serde_json::json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "HelmRepository",
                "metadata": { "name": "charts" },
                "spec": { "url": charts.url(), "interval": "1h" },
            }))?;
            Api::namespaced(client.clone(), &namespace)
                .create(&PostParams::default(), &repository)
                .await?;
            let objects = (0..options.count)
                .map(|i| {
                    serde_json::from_value::<HelmChart>(serde_json::json!({
                        "apiVersion": "source.toolkit.fluxcd.io/v1",
                        "kind": "HelmChart",
                        "metadata": { "name": format!("bench-{i}") },
                        "spec": {
                            "chart": "podinfo",
                            "version": "6.x",
                            "interval": "1h",
                            "sourceRef": { "kind": "HelmRepository", "name": "charts" },
                        },
                    }))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let api: Api<HelmChart> = Api::namespaced(client.clone(), &namespace);
            let measured = measure(&api, &objects, &controller, options.timeout).await?;
            controller.terminate(Duration::from_secs(10));
            let downloads = charts
                .requests()
                .iter()
                .filter(|path| path.ends_with(".tgz"))
                .count();
            let served = vec![
                "chart repository       1 HelmRepository, podinfo 6.7.1 packed by helm".to_owned(),
                format!("chart downloads        {downloads}"),
                format!("RSS idle               {:.1} MiB", idle_kib as f64 / 1024.0),
            ];
            (
                measured,
                served,
                Some((FLUX_HELMCHART_SECONDS_PER_1000, FLUX_HELMCHART_RSS_MIB)),
            )
        }
    };
    plane.stop();

    let seconds = measured.ready_after.as_secs_f64();
    let peak_mib = measured.peak_kib as f64 / 1024.0;
    println!(
        "bench sources --kind {}: {}",
        options.kind.name(),
        stack.label()
    );
    println!("  objects                {}", options.count);
    println!("  --concurrent           {}", options.concurrent);
    println!(
        "  created in             {:.2} s",
        measured.created.as_secs_f64()
    );
    println!("  all Ready after        {seconds:.2} s");
    println!(
        "  throughput             {:.0} Ready/s",
        options.count as f64 / seconds
    );
    for line in served {
        println!("  {line}");
    }
    println!("  controller CPU         {:.2} s", measured.cpu);
    println!(
        "  machine busy           {:.0}% of {} cores",
        measured.machine_busy * 100.0,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("  RSS peak               {peak_mib:.1} MiB (VmHWM: heap, stacks and mapped code)");
    println!(
        "  anonymous RSS peak     {:.1} MiB (sampled every 100 ms)",
        measured.anon_peak_kib as f64 / 1024.0
    );
    println!(
        "  API requests made      {:.0} ({:.1} per object)",
        measured.requests,
        measured.requests / options.count.max(1) as f64
    );
    match flux.filter(|_| stack == crate::bench_stack::Stack::Driftless) {
        Some((flux_per_1000, flux_mib)) => {
            let flux_seconds = flux_per_1000 * options.count as f64 / 1000.0;
            println!(
                "  vs Flux (scaled)       {:.1}x faster ({flux_seconds:.1} s), {:.1}x less memory ({flux_mib} MiB)",
                flux_seconds / seconds,
                flux_mib / peak_mib.max(0.1)
            );
        }
        None if stack == crate::bench_stack::Stack::Flux => {}
        None => println!("  vs Flux                no published figure for this kind"),
    }
    let per_object = measured.requests / options.count.max(1) as f64;
    Ok(crate::bench_stack::Measured {
        stack,
        seconds,
        controllers: vec![("source-controller", peak_mib, measured.cpu, per_object)],
        requests_per_object: per_object,
        api_server_cpu: measured.api_server_cpu,
    })
}

/// A local S3 server holding `buckets` buckets (`bucket-0`, ...), each the podinfo manifests.
async fn bucket_fixture(buckets: usize) -> anyhow::Result<driftless_testenv::s3::S3Server> {
    let server = driftless_testenv::s3::S3Server::start()?;
    let files: Vec<(&str, &[u8])> = crate::fixtures::PODINFO
        .iter()
        .map(|(path, data)| (*path, data.as_bytes()))
        .collect();
    for i in 0..buckets {
        let name = format!("bucket-{i}");
        server.create_bucket(&name)?;
        server.put(&name, &files).await?;
    }
    Ok(server)
}

/// A local registry holding `repositories` Flux artifacts (`repo-0:latest`, ...), each the
/// podinfo manifests as `flux push artifact` would push them.
async fn oci_fixture(repositories: usize) -> anyhow::Result<Registry> {
    let registry = Registry::start(RegistryOptions::default())?;
    let entries =
        crate::fixtures::PODINFO
            .iter()
            .map(|(path, data)| driftless_artifact::FileEntry {
                path: (*path).to_owned(),
                executable: false,
                data: data.as_bytes().to_vec(),
            });
    let layer = driftless_artifact::pack(entries, Vec::new())?;
    futures::stream::iter(0..repositories)
        .map(|i| {
            let (host, layer) = (registry.host.clone(), layer.clone());
            async move {
                let artifact = registry::Artifact {
                    config_media_type: registry::FLUX_CONFIG_MEDIA_TYPE.to_owned(),
                    layers: vec![registry::Layer {
                        media_type: registry::FLUX_CONTENT_MEDIA_TYPE.to_owned(),
                        data: layer,
                    }],
                    annotations: Default::default(),
                };
                let auth = registry::RegistryAuth::Anonymous;
                registry::push_artifact(
                    &host,
                    None,
                    &auth,
                    &format!("repo-{i}"),
                    "latest",
                    artifact,
                )
                .await
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    Ok(registry)
}

/// The API server's request counters (`apiserver_request_total`) by verb and resource, so a
/// benchmark can say which requests its run cost.
pub(crate) async fn api_request_counts(
    client: &kube::Client,
) -> anyhow::Result<std::collections::BTreeMap<String, f64>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut counts = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        let (subresource, dry_run) = (label("subresource"), label("dry_run"));
        let mut key = format!("{} {}", label("verb"), label("resource"));
        if !subresource.is_empty() {
            key.push('/');
            key.push_str(&subresource);
        }
        if !dry_run.is_empty() {
            key.push_str(" (dry run)");
        }
        *counts.entry(key).or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
    }
    Ok(counts)
}

/// kube-apiserver's own CPU time so far (`process_cpu_seconds_total`), to say how much of a
/// run the API server spent.
pub(crate) async fn api_server_cpu_seconds(client: &kube::Client) -> anyhow::Result<f64> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    text.lines()
        .find_map(|line| line.strip_prefix("process_cpu_seconds_total "))
        .and_then(|value| value.trim().parse().ok())
        .context("kube-apiserver reports no process_cpu_seconds_total")
}

/// The requests between two [`api_request_counts`], most frequent first.
pub(crate) fn api_request_delta(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> (f64, Vec<(String, f64)>) {
    let mut delta: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    delta.sort_by(|a, b| b.1.total_cmp(&a.1));
    (delta.iter().map(|(_, v)| v).sum(), delta)
}

/// Whether DRIFTLESS_BENCH_APISERVER_PROFILE asks for an API server profile.
pub(crate) fn profiling_requested() -> bool {
    std::env::var_os("DRIFTLESS_BENCH_APISERVER_PROFILE").is_some()
}

/// With DRIFTLESS_BENCH_APISERVER_PROFILE=<file> (and the control plane started with
/// `profiling`): the API server's CPU profile of the next 20 s, for `go tool pprof`.
pub(crate) fn start_api_server_profile(
    client: &kube::Client,
) -> Option<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let file = std::env::var_os("DRIFTLESS_BENCH_APISERVER_PROFILE")?;
    let client = client.clone();
    Some(tokio::spawn(async move {
        let request = http::Request::get("/debug/pprof/profile?seconds=20").body(Vec::new())?;
        let reader = client.request_stream(request).await?;
        let mut body = Vec::new();
        futures::pin_mut!(reader);
        futures::AsyncReadExt::read_to_end(&mut reader, &mut body).await?;
        std::fs::write(&file, body)?;
        anyhow::Ok(())
    }))
}

/// Waits for the profile `start_api_server_profile` started, reporting a failure.
pub(crate) async fn finish_api_server_profile(
    profile: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
) {
    let Some(profile) = profile else { return };
    match profile.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("API server profile: {error}"),
        Err(error) => eprintln!("API server profile: {error}"),
    }
}
