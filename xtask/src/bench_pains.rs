//! `cargo xtask bench pains`: the cases where Flux hurts its users, each run on Flux's
//! source- and kustomize-controller and on Driftless's, side by side on fresh control planes
//! with the same workload and flags.
//!
//! - `fan-out`: N Kustomizations on one GitRepository; one push; the time until all have
//!   applied it, and how many times the artifact was downloaded.
//! - `head-of-line`: N healthy Kustomizations beside N/4 whose health check can never pass;
//!   the healthy ones' time until Ready, against a run where those N/4 pass theirs.
//! - `large`: one Kustomization of N ConfigMaps; the time until Ready.
//! - `idle`: N Ready Kustomizations reconciled every minute with nothing changing; the
//!   controllers' CPU-seconds and API requests per minute.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftless_api::kustomize::Kustomization;
use driftless_api::meta::RECONCILE_REQUEST_ANNOTATION;
use driftless_api::source::GitRepository;
use driftless_testenv::controller::ControllerProcess;
use driftless_testenv::git::{GitAuth, GitRepo, GitServer};
use driftless_testenv::peer::{FLUX_KUSTOMIZE_CONTROLLER, FLUX_SOURCE_CONTROLLER};
use driftless_testenv::{ControlPlane, Options};
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::bench::{Until, is_ready};
use crate::bench_stack::{CostMeter, Stack, StackChoice, StackController};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PainCase {
    FanOut,
    HeadOfLine,
    Large,
    Idle,
}

pub struct PainOptions {
    pub case: PainCase,
    pub stack: StackChoice,
    /// Kustomizations (fan-out, head-of-line, idle) or ConfigMaps (large); 0: the case's own.
    pub count: usize,
    pub concurrent: u16,
    pub timeout: Duration,
}

impl PainOptions {
    fn count(&self) -> usize {
        match (self.count, self.case) {
            (0, PainCase::FanOut | PainCase::HeadOfLine) => 200,
            (0, PainCase::Large) => 1500,
            (0, PainCase::Idle) => 1000,
            (count, _) => count,
        }
    }
}

/// One row of a case's result: what, per stack, and the unit.
struct Row {
    what: &'static str,
    value: f64,
    unit: &'static str,
}

fn row(what: &'static str, value: f64, unit: &'static str) -> Row {
    Row { what, value, unit }
}

pub async fn pains(
    source_binary: &std::path::Path,
    kustomize_binary: &std::path::Path,
    options: PainOptions,
) -> anyhow::Result<()> {
    let controllers =
        crate::bench_kustomizations::source_and_kustomize(source_binary, kustomize_binary);
    let mut results: Vec<(Stack, Vec<Row>)> = Vec::new();
    for stack in options.stack.stacks() {
        let rows = match options.case {
            PainCase::FanOut => fan_out(stack, &controllers, &options).await?,
            PainCase::HeadOfLine => head_of_line(stack, &controllers, &options).await?,
            PainCase::Large => large(stack, &controllers, &options).await?,
            PainCase::Idle => idle(stack, &controllers, &options).await?,
        };
        println!("bench pains {:?}: {}", options.case, stack.label());
        for row in &rows {
            println!("  {:<44} {:>10.2}{}", row.what, row.value, row.unit);
        }
        results.push((stack, rows));
    }
    if results.len() == 2 {
        println!(
            "side by side (same machine, same control plane build, same flags), {:?}",
            options.case
        );
        println!(
            "  {:<44} {:>12} {:>12} {:>16}",
            "", "Flux", "Driftless", "Driftless/Flux"
        );
        let (flux, ours) = (&results[0].1, &results[1].1);
        for (f, d) in flux.iter().zip(ours) {
            let ratio = d.value / f.value.max(f64::EPSILON);
            println!(
                "  {:<44} {:>12} {:>12} {:>16.3}",
                f.what,
                format!("{:.2}{}", f.value, f.unit),
                format!("{:.2}{}", d.value, d.unit),
                ratio
            );
        }
    }
    Ok(())
}

/// A control plane, a Git server and one stack's two controllers, confined to one namespace;
/// artifacts are downloaded through a proxy that counts them.
struct Bench {
    plane: ControlPlane,
    namespace: String,
    client: kube::Client,
    git: GitServer,
    source: ControllerProcess,
    kustomize: ControllerProcess,
    downloads: Arc<AtomicUsize>,
    _storage: tempfile::TempDir,
}

impl Bench {
    async fn start(
        stack: Stack,
        controllers: &[StackController<'_>; 2],
        options: &PainOptions,
    ) -> anyhow::Result<Bench> {
        let plane = stack
            .control_plane(
                Options::default(),
                &[&FLUX_SOURCE_CONTROLLER, &FLUX_KUSTOMIZE_CONTROLLER],
            )
            .await?;
        let namespace = plane.namespace("bench").await?;
        let client = plane.client().await?;
        let git = GitServer::start(GitAuth::default())?;
        let storage = tempfile::tempdir()?;
        let [port] = driftless_testenv::free_ports()?;
        let downloads = Arc::new(AtomicUsize::new(0));
        let proxy =
            counting_proxy(SocketAddr::from(([127, 0, 0, 1], port)), downloads.clone()).await?;
        let common = vec![
            format!("--concurrent={}", options.concurrent),
            "--log-level=error".to_owned(),
        ];
        let mut source_args = common.clone();
        source_args.extend([
            format!("--storage-path={}", storage.path().display()),
            format!("--storage-addr=127.0.0.1:{port}"),
            format!("--storage-adv-addr={proxy}"),
        ]);
        let [source_controller, kustomize_controller] = controllers;
        let source = source_controller.start(&plane, stack, &namespace, &source_args)?;
        let kustomize = kustomize_controller.start(&plane, stack, &namespace, &common)?;
        Ok(Bench {
            plane,
            namespace,
            client,
            git,
            source,
            kustomize,
            downloads,
            _storage: storage,
        })
    }

    fn kustomizations(&self) -> Api<Kustomization> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn create_source(&self, name: &str, interval: &str) -> anyhow::Result<()> {
        let source: GitRepository = serde_json::from_value(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": { "name": name },
            "spec": { "url": self.git.url(name), "interval": interval, "ref": { "branch": "main" } },
        }))?;
        Api::<GitRepository>::namespaced(self.client.clone(), &self.namespace)
            .create(&PostParams::default(), &source)
            .await
            .context("creating the GitRepository")?;
        Ok(())
    }

    /// Creates Kustomizations (name, spec fields over the defaults), 32 requests at a time.
    async fn create_kustomizations(
        &self,
        specs: Vec<(String, serde_json::Value)>,
    ) -> anyhow::Result<()> {
        let api = self.kustomizations();
        let namespace = self.namespace.clone();
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(specs)
            .map(|(name, extra)| {
                let (api, namespace) = (api.clone(), namespace.clone());
                async move {
                    let mut spec = serde_json::json!({
                        "interval": "1h", "prune": true, "targetNamespace": namespace,
                        "namePrefix": format!("{name}-"),
                    });
                    merge(&mut spec, extra);
                    let object: Kustomization = serde_json::from_value(serde_json::json!({
                        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                        "metadata": { "name": name }, "spec": spec,
                    }))?;
                    api.create(&PostParams::default(), &object).await?;
                    Ok(())
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for result in results {
            result.context("creating Kustomizations")?;
        }
        Ok(())
    }

    /// Waits until every Kustomization `counted` selects is `done`, sampling the meter.
    async fn wait(
        &self,
        meter: &mut CostMeter<'_>,
        count: usize,
        counted: impl Fn(&str) -> bool,
        done: impl Fn(&Kustomization) -> bool,
        deadline: Instant,
    ) -> anyhow::Result<Duration> {
        let until = Until {
            counted,
            done,
            once: false,
        };
        self.wait_until(meter, count, until, deadline).await
    }

    /// As [`Self::wait`], for what `until` says.
    async fn wait_until(
        &self,
        meter: &mut CostMeter<'_>,
        count: usize,
        until: Until<impl Fn(&str) -> bool, impl Fn(&Kustomization) -> bool>,
        deadline: Instant,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let outcome =
            crate::bench::wait_until(&self.kustomizations(), count, until, deadline, || {
                meter.sample()
            })
            .await?;
        if let Err(done) = outcome {
            bail!(
                "only {done} of {count} Kustomizations done in time\n{}",
                self.kustomize.log_tail(20)
            );
        }
        Ok(started.elapsed())
    }

    fn meter(&self) -> CostMeter<'_> {
        CostMeter::new(&[
            ("source-controller", &self.source),
            ("kustomize-controller", &self.kustomize),
        ])
    }

    fn stop(mut self) {
        self.source.terminate(Duration::from_secs(10));
        self.kustomize.terminate(Duration::from_secs(10));
        self.plane.stop();
    }
}

/// Sets every field of `extra` over `spec`.
fn merge(spec: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(spec), serde_json::Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
}

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// A repository `name` on `git` holding `files`, pushed to `main`.
fn repository(git: &GitServer, name: &str, files: &[(String, String)]) -> anyhow::Result<GitRepo> {
    let repo = git.create_repo(name)?;
    commit_and_push(&repo, files, "bench fixture")?;
    Ok(repo)
}

/// Commits `files` (path, contents) to `repo` and pushes `main`; the commit.
fn commit_and_push(
    repo: &GitRepo,
    files: &[(String, String)],
    message: &str,
) -> anyhow::Result<String> {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let commit = repo.commit(&files, message)?;
    repo.push("main")?;
    Ok(commit)
}

/// (a) One GitRepository, N Kustomizations on paths of it; one push changing all of them.
async fn fan_out(
    stack: Stack,
    controllers: &[StackController<'_>; 2],
    options: &PainOptions,
) -> anyhow::Result<Vec<Row>> {
    let count = options.count();
    let bench = Bench::start(stack, controllers, options).await?;
    let files = |value: &str| -> Vec<(String, String)> {
        (0..count)
            .map(|i| {
                (
                    format!("apps/app-{i}/configmap.yaml"),
                    config_map("settings", value),
                )
            })
            .collect()
    };
    let repo = repository(&bench.git, "mono", &files("1"))?;
    bench.create_source("mono", "1h").await?;
    let specs = (0..count)
        .map(|i| {
            let spec = serde_json::json!({
                "path": format!("./apps/app-{i}"),
                "sourceRef": { "kind": "GitRepository", "name": "mono" },
            });
            (format!("app-{i}"), spec)
        })
        .collect();
    let deadline = Instant::now() + options.timeout;
    let mut meter = bench.meter();
    let first = Instant::now();
    bench.create_kustomizations(specs).await?;
    bench
        .wait(&mut meter, count, |_| true, is_ready, deadline)
        .await?;
    let first = first.elapsed();

    // One push; the source is asked to look at once, as a push webhook would.
    let commit = commit_and_push(&repo, &files("2"), "change every app")?;
    bench.downloads.store(0, Ordering::SeqCst);
    let pushed = Instant::now();
    let requested = serde_json::json!({"metadata": {"annotations": {
        RECONCILE_REQUEST_ANNOTATION: format!("{:?}", std::time::SystemTime::now()),
    }}});
    Api::<GitRepository>::namespaced(bench.client.clone(), &bench.namespace)
        .patch("mono", &PatchParams::default(), &Patch::Merge(&requested))
        .await?;
    let at_commit = |object: &Kustomization| {
        is_ready(object)
            && object
                .status
                .as_ref()
                .and_then(|s| s.last_applied_revision.as_deref())
                .is_some_and(|revision| revision.ends_with(commit.trim()))
    };
    bench
        .wait(&mut meter, count, |_| true, at_commit, deadline)
        .await?;
    let applied = pushed.elapsed();
    let downloads = bench.downloads.load(Ordering::SeqCst);
    let costs = meter.finish();
    bench.stop();
    Ok(vec![
        row("first apply, all Ready after", first.as_secs_f64(), " s"),
        row("push to all applied", applied.as_secs_f64(), " s"),
        row("artifact downloads for the push", downloads as f64, ""),
        row(
            "peak RSS, summed",
            costs.0.iter().map(|c| c.rss_mib).sum(),
            " MiB",
        ),
        row(
            "CPU, summed",
            costs.0.iter().map(|c| c.cpu_seconds).sum(),
            " s",
        ),
    ])
}

/// (b) N healthy Kustomizations, and N/4 more whose Deployment can never become available
/// (no node runs it), all waiting for health with a 30 s timeout, created interleaved; the
/// healthy ones' time until Ready, against the same run where the N/4 Deployments are scaled
/// to zero and so pass their health check (the same objects and requests, nothing stuck).
async fn head_of_line(
    stack: Stack,
    controllers: &[StackController<'_>; 2],
    options: &PainOptions,
) -> anyhow::Result<Vec<Row>> {
    let healthy = options.count();
    let others = healthy / 4;
    let alone = healthy_time(stack, controllers, options, healthy, others, false).await?;
    let beside = healthy_time(stack, controllers, options, healthy, others, true).await?;
    Ok(vec![
        row("healthy ones Ready, none stuck", alone.as_secs_f64(), " s"),
        row(
            "healthy ones Ready, beside the stuck ones",
            beside.as_secs_f64(),
            " s",
        ),
        row(
            "ratio (beside / none stuck)",
            beside.as_secs_f64() / alone.as_secs_f64().max(f64::EPSILON),
            "",
        ),
    ])
}

async fn healthy_time(
    stack: Stack,
    controllers: &[StackController<'_>; 2],
    options: &PainOptions,
    healthy: usize,
    others: usize,
    stuck: bool,
) -> anyhow::Result<Duration> {
    let bench = Bench::start(stack, controllers, options).await?;
    let deployment = |replicas: u8| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: app}}\n  template:\n    metadata:\n      labels: {{app: app}}\n    spec:\n      containers:\n      - name: app\n        image: ghcr.io/stefanprodan/podinfo:6.7.1\n"
        )
    };
    let files = vec![
        (
            "healthy/configmap.yaml".to_owned(),
            config_map("settings", "1"),
        ),
        ("stuck/deployment.yaml".to_owned(), deployment(1)),
        ("scaled-to-zero/deployment.yaml".to_owned(), deployment(0)),
    ];
    repository(&bench.git, "apps", &files)?;
    bench.create_source("apps", "1h").await?;
    // Every fifth is one of the others, until there are `others` of them.
    let other_path = if stuck { "./stuck" } else { "./scaled-to-zero" };
    let mut specs = Vec::new();
    let (mut made_healthy, mut made_others) = (0, 0);
    while made_healthy < healthy || made_others < others {
        let other_turn = made_others < others && (specs.len() % 5 == 4 || made_healthy == healthy);
        let (name, path) = if other_turn {
            made_others += 1;
            (format!("other-{made_others}"), other_path)
        } else {
            made_healthy += 1;
            (format!("healthy-{made_healthy}"), "./healthy")
        };
        let spec = serde_json::json!({
            "path": path, "wait": true, "timeout": "30s",
            "sourceRef": { "kind": "GitRepository", "name": "apps" },
        });
        specs.push((name, spec));
    }
    let mut meter = bench.meter();
    let started = Instant::now();
    bench.create_kustomizations(specs).await?;
    bench
        .wait(
            &mut meter,
            healthy,
            |name| name.starts_with("healthy-"),
            is_ready,
            started + options.timeout,
        )
        .await?;
    let elapsed = started.elapsed();
    bench.stop();
    Ok(elapsed)
}

/// (c) One Kustomization of N ConfigMaps.
async fn large(
    stack: Stack,
    controllers: &[StackController<'_>; 2],
    options: &PainOptions,
) -> anyhow::Result<Vec<Row>> {
    let count = options.count();
    let bench = Bench::start(stack, controllers, options).await?;
    let mut manifest = String::new();
    for i in 0..count {
        manifest.push_str("---\n");
        manifest.push_str(&config_map(&format!("settings-{i}"), "1"));
    }
    let files = vec![("big/configmaps.yaml".to_owned(), manifest)];
    repository(&bench.git, "big", &files)?;
    bench.create_source("big", "1h").await?;
    // The source is Ready first, so that only the apply is timed.
    let sources: Api<GitRepository> = Api::namespaced(bench.client.clone(), &bench.namespace);
    let deadline = Instant::now() + options.timeout;
    while sources
        .get("big")
        .await?
        .status
        .is_none_or(|s| s.artifact.is_none())
    {
        if Instant::now() > deadline {
            bail!("the GitRepository got no artifact in time");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let spec = serde_json::json!({
        "path": "./big", "sourceRef": { "kind": "GitRepository", "name": "big" },
    });
    let mut meter = bench.meter();
    let started = Instant::now();
    bench
        .create_kustomizations(vec![("big".to_owned(), spec)])
        .await?;
    bench
        .wait(&mut meter, 1, |_| true, is_ready, deadline)
        .await?;
    let elapsed = started.elapsed();
    let costs = meter.finish();
    bench.stop();
    Ok(vec![
        row("created to Ready", elapsed.as_secs_f64(), " s"),
        row("peak RSS kustomize-controller", costs.0[1].rss_mib, " MiB"),
        row("CPU kustomize-controller", costs.0[1].cpu_seconds, " s"),
    ])
}

/// (d) N Kustomizations of the MTTP shape on `interval: 1m`, Ready; then two minutes with
/// nothing changing.
async fn idle(
    stack: Stack,
    controllers: &[StackController<'_>; 2],
    options: &PainOptions,
) -> anyhow::Result<Vec<Row>> {
    const WATCHED: Duration = Duration::from_secs(120);
    let count = options.count();
    let repositories = count.clamp(1, 100);
    let bench = Bench::start(stack, controllers, options).await?;
    let files: Vec<(String, String)> = crate::bench_kustomizations::APP
        .iter()
        .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect();
    let template = repository(&bench.git, "template", &files)?;
    for i in 0..repositories {
        crate::bench::copy_dir(
            &template.bare,
            &template.bare.with_file_name(format!("repo-{i}.git")),
        )?;
    }
    for i in 0..repositories {
        bench.create_source(&format!("repo-{i}"), "1h").await?;
    }
    let specs = (0..count)
        .map(|i| {
            let spec = serde_json::json!({
                "interval": "1m", "path": "./app",
                "sourceRef": { "kind": "GitRepository", "name": format!("repo-{}", i % repositories) },
            });
            (format!("app-{i}"), spec)
        })
        .collect();
    let mut meter = bench.meter();
    let started = Instant::now();
    bench.create_kustomizations(specs).await?;
    bench
        .wait_until(
            &mut meter,
            count,
            Until {
                counted: |_: &str| true,
                done: is_ready,
                once: true,
            },
            started + options.timeout,
        )
        .await?;
    let ready_after = started.elapsed();
    drop(meter);
    let mut meter = bench.meter();
    let api_before = crate::bench::api_request_counts(&bench.client)
        .await
        .unwrap_or_default();
    let watching = Instant::now();
    while watching.elapsed() < WATCHED {
        meter.sample();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let minutes = watching.elapsed().as_secs_f64() / 60.0;
    let api_after = crate::bench::api_request_counts(&bench.client)
        .await
        .unwrap_or_default();
    let (api_requests, _) = crate::bench::api_request_delta(&api_before, &api_after);
    let costs = meter.finish();
    bench.stop();
    Ok(vec![
        row(
            "all Ready (each at least once) after",
            ready_after.as_secs_f64(),
            " s",
        ),
        row(
            "idle CPU per minute, summed",
            costs.0.iter().map(|c| c.cpu_seconds).sum::<f64>() / minutes,
            " s",
        ),
        row(
            "idle API requests per minute (all)",
            api_requests / minutes,
            "",
        ),
        row(
            "idle requests per minute by the controllers",
            costs.0.iter().map(|c| c.requests).sum::<f64>() / minutes,
            "",
        ),
        row(
            "peak RSS, summed",
            costs.0.iter().map(|c| c.rss_mib).sum(),
            " MiB",
        ),
    ])
}

/// Serves `upstream` (the artifact storage) on a loopback port, counting the downloads of
/// archives that pass through; returns where it listens.
async fn counting_proxy(
    upstream: SocketAddr,
    downloads: Arc<AtomicUsize>,
) -> anyhow::Result<SocketAddr> {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::response::Response;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: Request| {
        let (client, downloads) = (client.clone(), downloads.clone());
        async move {
            let path = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            if request.method() == http::Method::GET && path.contains(".tar.gz") {
                downloads.fetch_add(1, Ordering::SeqCst);
            }
            let forwarded = client
                .request(request.method().clone(), format!("http://{upstream}{path}"))
                .send()
                .await;
            let mut response = Response::builder();
            match forwarded {
                Ok(forwarded) => {
                    response = response.status(forwarded.status());
                    for (name, value) in forwarded.headers() {
                        response = response.header(name, value);
                    }
                    let body = forwarded.bytes().await.unwrap_or_default();
                    response.body(Body::from(body))
                }
                Err(error) => response.status(502).body(Body::from(error.to_string())),
            }
            .unwrap_or_else(|_| Response::new(Body::empty()))
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}
