use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use driftless_testenv::controller::ControllerProcess;
use driftless_testenv::{ControlPlane, Options};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Driftless development tasks")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Write crds/*.yaml from the API types (`--check`: fail if they are out of date).
    Crds {
        #[arg(long)]
        check: bool,
    },
    /// Write the Kubernetes schema subset the kustomize library embeds (`--check`: fail if
    /// it is out of date). Needs Go to fetch the Kubernetes module.
    Openapi {
        #[arg(long)]
        check: bool,
    },
    /// The test control plane (etcd, kube-apiserver, kube-controller-manager).
    Testenv {
        #[command(subcommand)]
        command: TestenvTask,
    },
    /// Flux's own controllers, built from their Go modules, for side-by-side benchmarks.
    Peer {
        #[command(subcommand)]
        command: PeerTask,
    },
    /// One OCI image per controller from static (musl) release binaries, without Docker:
    /// written as an OCI layout and, with `--registry`, pushed.
    Images {
        /// The OCI layout directory.
        #[arg(long, default_value = "target/images")]
        out: PathBuf,
        #[arg(long, default_value = "dev")]
        tag: String,
        /// `host[:port]/prefix` to push `<prefix><controller>:<tag>` to.
        #[arg(long)]
        registry: Option<String>,
        /// Push over plain HTTP (a registry on loopback).
        #[arg(long)]
        insecure: bool,
        /// Write a values file for `charts/driftless` pinning the images by digest.
        #[arg(long)]
        values: Option<PathBuf>,
        /// Platforms to build, each an image under one index per controller. arm64 is
        /// cross-compiled (Debian's gcc-aarch64-linux-gnu and musl-dev:arm64).
        #[arg(long = "arch", value_enum, default_values = ["amd64", "arm64"])]
        arches: Vec<xtask::images::Arch>,
    },
    /// Install (as root, with apt-get) or name the system packages the tests need, install the
    /// reference tools (helm, sops, age-keygen) and build the test control plane.
    Prerequisites,
    /// Run every test: the prerequisites first, then `cargo test --workspace` and the
    /// kustomize and helm conformance corpora.
    Test {
        /// Extra arguments passed to `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Score `driftless kustomize build` (release build) against kustomize's own test cases
    /// in ../shared/conformance/kustomize (fails below `--min-pass-rate`), then
    /// `driftless helm template` against ../shared/conformance/helm.
    Conformance {
        #[arg(long, default_value_t = 0.95)]
        min_pass_rate: f64,
    },
    /// Run every fuzz target (YAML, kustomize, image setters, policies, Go templates and Helm charts) for a bounded time (nightly toolchain and cargo-fuzz).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Start a local control plane with the CRDs and the five controllers, print the
    /// kubeconfig, and run until Ctrl-C.
    Up {
        /// Build the controllers in release mode.
        #[arg(long)]
        release: bool,
        /// Exit once everything is ready instead of waiting for Ctrl-C (for smoke tests).
        #[arg(long)]
        exit_when_ready: bool,
        /// Run the controllers as Pods on a node (kubelet, containerd), from their images
        /// (static release builds, as `cargo xtask images` makes them), installed by the real
        /// `helm` from `charts/driftless`. Slower to start; the example's Pods really run.
        #[arg(long, conflicts_with_all = ["release", "controller_args"])]
        node: bool,
        /// An extra flag for one controller, as `<controller>=<flag>`, e.g.
        /// `kustomize-controller=--no-cross-namespace-refs` or
        /// `kustomize-controller=--feature-gates=StrictPostBuildSubstitutions=true`. Repeatable.
        #[arg(long = "controller-arg", value_name = "CONTROLLER=FLAG", value_parser = controller_arg)]
        controller_args: Vec<(String, String)>,
    },
    /// Benchmarks against the local stack with release builds; prints numbers and ratios.
    Bench {
        #[command(subcommand)]
        command: BenchTask,
    },
    /// Push `stefanprodan/podinfo:<TAG>` to the registry a running `cargo xtask up` started,
    /// to watch the image loop carry it into the cluster.
    PushImage { tag: String },
}

#[derive(Subcommand)]
enum BenchTask {
    /// `driftless kustomize build` against Go's kustomize on a base of 200 resources and
    /// three overlays: time with and without start-up, and allocations.
    Kustomize {
        /// Applications in the base (4 resources each).
        #[arg(long, default_value_t = 50)]
        apps: usize,
        /// Process runs per measurement; the median is reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Write the generated trees here and keep them (for profiling).
        #[arg(long)]
        tree_dir: Option<PathBuf>,
        /// Measure only driftless, in process.
        #[arg(long)]
        ours_only: bool,
    },
    /// `driftless helm template` against the real `helm template` on the largest charts of
    /// the Helm conformance corpus: time with and without start-up, and allocations.
    Helm {
        /// Case folders of `../shared/conformance/helm/cases` to render.
        #[arg(long, value_delimiter = ',', default_values_t = xtask::bench_helm::DEFAULT_CASES.map(String::from))]
        cases: Vec<String>,
        /// Process runs per measurement; the median is reported.
        #[arg(long, default_value_t = 11)]
        runs: usize,
    },
    /// N GitRepositories and N Kustomizations (a Deployment, ServiceAccount, Service and
    /// Ingress each): time until all are Ready, both controllers' peak RSS, and kubectl's
    /// server-side apply of the same objects as the floor.
    Kustomizations {
        #[arg(long, default_value_t = 100)]
        count: usize,
        #[arg(long, default_value_t = 100)]
        repositories: usize,
        /// Both controllers' --concurrent; several (`4,16,64`) run one after the other, with
        /// a summary of how time scales.
        #[arg(long, value_delimiter = ',', default_values_t = [16])]
        concurrent: Vec<u16>,
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// Skip timing kubectl (its client-side throttling makes it slow on many objects).
        #[arg(long)]
        no_floor: bool,
        /// Whose controllers: Driftless's, Flux's (`cargo xtask peer build`) or both, side by
        /// side.
        #[arg(long, value_enum, default_value = "driftless")]
        stack: xtask::bench_stack::StackChoice,
    },
    /// Where Flux hurts its users, side by side: one push fanning out to N Kustomizations
    /// (`fan-out`), healthy Kustomizations beside stuck ones (`head-of-line`), one
    /// Kustomization of N objects (`large`), and N Ready Kustomizations left alone (`idle`).
    Pains {
        #[arg(long, value_enum)]
        case: xtask::bench_pains::PainCase,
        /// Kustomizations (ConfigMaps for `large`); 0: the case's default (200, 200, 1500,
        /// 1000).
        #[arg(long, default_value_t = 0)]
        count: usize,
        /// Both controllers' --concurrent.
        #[arg(long, default_value_t = 16)]
        concurrent: u16,
        #[arg(long, default_value_t = 900)]
        timeout: u64,
        #[arg(long, value_enum, default_value = "both")]
        stack: xtask::bench_stack::StackChoice,
    },
    /// N events posted to notification-controller, each sent by every one of M Alerts to a
    /// local sink: intake, delivery throughput, post-to-arrival latency, CPU and peak RSS.
    Notifications {
        #[arg(long, default_value_t = 5000)]
        events: usize,
        #[arg(long, default_value_t = 10)]
        alerts: usize,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// N ImageRepositories scanning a local docker-registry of N repositories x T tags: time
    /// until all are scanned and peak RSS; then M ImagePolicies selecting from the stored tags.
    Images {
        #[arg(long, default_value_t = 1000)]
        repositories: usize,
        /// YAML files in the repository the one automation writes to.
        #[arg(long, default_value_t = 1000)]
        files: usize,
        /// Image pushes timed through the whole loop (0: skip the loop).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[arg(long, default_value_t = 500)]
        tags: usize,
        #[arg(long, default_value_t = 100)]
        policies: usize,
        #[arg(long, default_value_t = 16)]
        concurrent: u16,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// N HelmReleases of the podinfo chart, each with its own HelmChart: time until all are
    /// Ready and the controllers' peak RSS, beside Flux's published helm-controller figures.
    Helmreleases {
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// helm-controller's and source-controller's --concurrent.
        #[arg(long, default_value_t = 10)]
        concurrent: u16,
        /// Set `install.disableWait`: Ready once applied, without waiting for the Deployments
        /// to be rolled out by kube-controller-manager.
        #[arg(long)]
        no_wait: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
        /// Whose controllers: Driftless's, Flux's (`cargo xtask peer build`) or both, side by
        /// side.
        #[arg(long, value_enum, default_value = "driftless")]
        stack: xtask::bench_stack::StackChoice,
        /// kube-controller-manager's --kube-api-qps (Kubernetes' default 20 limits how fast
        /// it rolls Deployments out, which bounds any controller that waits for them).
        #[arg(long)]
        kcm_qps: Option<u32>,
    },
    /// N sources of one kind (GitRepositories, OCIRepositories, Buckets or HelmCharts) against
    /// local servers: time until all are Ready and source-controller's peak RSS.
    Sources {
        /// Which source kind to create.
        #[arg(long, value_enum, default_value = "git")]
        kind: xtask::bench::SourceKind,
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Distinct Git repositories, registry repositories or buckets the objects are spread
        /// over (HelmCharts share one chart repository).
        #[arg(long, default_value_t = 100)]
        repositories: usize,
        /// source-controller's --concurrent.
        #[arg(long, default_value_t = 16)]
        concurrent: u16,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Whose source-controller: Driftless's, Flux's (`cargo xtask peer build`) or both,
        /// side by side.
        #[arg(long, value_enum, default_value = "driftless")]
        stack: xtask::bench_stack::StackChoice,
    },
}

#[derive(Subcommand)]
enum TestenvTask {
    /// Build the binaries from e2e/testenv (skipped when the cache is current).
    Build,
    /// Print the directory holding the cached binaries.
    Path,
}

#[derive(Subcommand)]
enum PeerTask {
    /// Build Flux's source-, kustomize- and helm-controller at their pinned versions into
    /// the cache (skipped for those already there).
    Build,
}

const CONTROLLERS: [&str; 5] = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "image-automation-controller",
    "notification-controller",
];

/// Release builds of the `driftless` CLI and one in-process bench example of `package`;
/// returns the release directory.
fn build_driftless_and_example(package: &str, example: &str) -> anyhow::Result<PathBuf> {
    let status = nested_cargo()
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "driftless-cli",
            "-p",
            package,
            "--bin",
            "driftless",
            "--example",
            example,
        ])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building driftless failed");
    }
    Ok(target_dir().join("release"))
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Task::Crds { check } => {
            for dir in xtask::crds::crds_dirs() {
                if check {
                    xtask::crds::check(&dir)?;
                    eprintln!("{} is up to date", dir.display());
                } else {
                    xtask::crds::write(&dir)?;
                    eprintln!("wrote {}", dir.display());
                }
            }
        }
        Task::Openapi { check } => xtask::openapi::write(check)?,
        Task::Testenv {
            command: TestenvTask::Build,
        } => {
            xtask::testenv::build()?;
        }
        Task::Testenv {
            command: TestenvTask::Path,
        } => {
            let pins = driftless_testenv::KubernetesPins::load()?;
            println!("{}", pins.cache_dir().join("bin").display());
        }
        Task::Peer {
            command: PeerTask::Build,
        } => xtask::peer::build()?,
        Task::Prerequisites => xtask::prerequisites::ensure()?,
        Task::Images {
            out,
            tag,
            registry,
            insecure,
            values,
            mut arches,
        } => {
            arches.sort();
            arches.dedup();
            let binaries = build_static_controllers(&arches)?;
            let options = xtask::images::ImagesOptions {
                out,
                tag,
                registry,
                insecure,
                values,
            };
            tokio::runtime::Runtime::new()?.block_on(xtask::images::run(
                &binaries,
                &options,
                &mut std::io::stdout(),
            ))?;
        }
        Task::Test { args } => {
            xtask::prerequisites::ensure()?;
            let status = nested_cargo()
                .args(["test", "--workspace", "--no-fail-fast"])
                .args(&args)
                .status()
                .context("running cargo test")?;
            if !status.success() {
                bail!("tests failed");
            }
            let driftless = build_binary("driftless", true)?;
            eprintln!("\nkustomize conformance (kustomize's own test cases)");
            xtask::conformance::run(&driftless, 0.95)?;
            eprintln!("\nhelm conformance (real helm template outputs)");
            xtask::conformance::run_helm(&driftless, HELM_MIN_PASS_RATE)?;
        }
        Task::Conformance { min_pass_rate } => {
            let driftless = build_binary("driftless", true)?;
            xtask::conformance::run(&driftless, min_pass_rate)?;
            xtask::conformance::run_helm(&driftless, HELM_MIN_PASS_RATE)?;
        }
        Task::Fuzz { seconds } => xtask::conformance::fuzz(seconds)?,
        Task::Bench {
            command:
                BenchTask::Kustomizations {
                    count,
                    repositories,
                    concurrent,
                    timeout,
                    no_floor,
                    stack,
                },
        } => {
            xtask::testenv::build_control_plane()?;
            let source = build_binary("source-controller", true)?;
            let kustomize = build_binary("kustomize-controller", true)?;
            tokio::runtime::Runtime::new()?.block_on(
                xtask::bench_kustomizations::kustomizations(
                    &source,
                    &kustomize,
                    xtask::bench_kustomizations::KustomizationsOptions {
                        floor: !no_floor,
                        stack,
                        count,
                        repositories,
                        concurrent,
                        timeout: Duration::from_secs(timeout),
                    },
                ),
            )?;
        }
        Task::Bench {
            command:
                BenchTask::Pains {
                    case,
                    count,
                    concurrent,
                    timeout,
                    stack,
                },
        } => {
            xtask::testenv::build_control_plane()?;
            let source = build_binary("source-controller", true)?;
            let kustomize = build_binary("kustomize-controller", true)?;
            tokio::runtime::Runtime::new()?.block_on(xtask::bench_pains::pains(
                &source,
                &kustomize,
                xtask::bench_pains::PainOptions {
                    case,
                    stack,
                    count,
                    concurrent,
                    timeout: Duration::from_secs(timeout),
                },
            ))?;
        }
        Task::Bench {
            command:
                BenchTask::Notifications {
                    events,
                    alerts,
                    timeout,
                },
        } => {
            xtask::testenv::build_control_plane()?;
            let binary = build_binary("notification-controller", true)?;
            tokio::runtime::Runtime::new()?.block_on(xtask::bench_notifications::run(
                &binary,
                xtask::bench_notifications::NotificationsOptions {
                    events,
                    alerts,
                    timeout: Duration::from_secs(timeout),
                },
            ))?;
        }
        Task::Bench {
            command:
                BenchTask::Images {
                    repositories,
                    files,
                    rounds,
                    tags,
                    policies,
                    concurrent,
                    timeout,
                },
        } => {
            xtask::testenv::build_control_plane()?;
            let binaries = build_controllers(true)?;
            let [source, kustomize, images, notification] = binaries.as_slice() else {
                bail!("expected four controller binaries");
            };
            let loop_binaries = (rounds > 0).then_some(xtask::bench_image_loop::LoopBinaries {
                source,
                kustomize,
                images,
                notification,
            });
            tokio::runtime::Runtime::new()?.block_on(xtask::bench_images::run(
                images,
                loop_binaries,
                xtask::bench_images::ImagesOptions {
                    rounds,
                    files,
                    repositories,
                    tags,
                    policies,
                    concurrent,
                    timeout: Duration::from_secs(timeout),
                },
            ))?;
        }
        Task::Bench {
            command:
                BenchTask::Helmreleases {
                    count,
                    concurrent,
                    no_wait,
                    timeout,
                    stack,
                    kcm_qps,
                },
        } => {
            xtask::testenv::build_control_plane()?;
            if stack != xtask::bench_stack::StackChoice::Driftless {
                xtask::peer::build()?;
            }
            let source = build_binary("source-controller", true)?;
            let helm = build_binary("helm-controller", true)?;
            tokio::runtime::Runtime::new()?.block_on(xtask::bench_helmreleases::run(
                &source,
                &helm,
                xtask::bench_helmreleases::HelmReleasesOptions {
                    count,
                    no_wait,
                    concurrent,
                    timeout: Duration::from_secs(timeout),
                    stack,
                    kcm_qps,
                },
            ))?;
        }
        Task::Bench {
            command:
                BenchTask::Sources {
                    kind,
                    count,
                    repositories,
                    concurrent,
                    timeout,
                    stack,
                },
        } => {
            xtask::testenv::build_control_plane()?;
            let binary = build_binary("source-controller", true)?;
            tokio::runtime::Runtime::new()?.block_on(xtask::bench::sources(
                &binary,
                xtask::bench::SourcesOptions {
                    kind,
                    count,
                    repositories,
                    concurrent,
                    timeout: Duration::from_secs(timeout),
                    stack,
                },
            ))?;
        }
        Task::Bench {
            command:
                BenchTask::Kustomize {
                    apps,
                    runs,
                    tree_dir,
                    ours_only,
                },
        } => {
            let release = build_driftless_and_example("driftless-kustomize", "build_bench")?;
            xtask::bench_kustomize::run(
                &release.join("driftless"),
                &release.join("examples/build_bench"),
                &xtask::bench_kustomize::KustomizeOptions {
                    apps,
                    runs,
                    tree_dir,
                    ours_only,
                },
            )?;
        }
        Task::Bench {
            command: BenchTask::Helm { cases, runs },
        } => {
            let release = build_driftless_and_example("driftless-helm", "render_bench")?;
            xtask::bench_helm::run_bench(
                &release.join("driftless"),
                &release.join("examples/render_bench"),
                &xtask::bench_helm::HelmOptions { cases, runs },
            )?;
        }
        Task::PushImage { tag } => {
            tokio::runtime::Runtime::new()?
                .block_on(xtask::example_images::push(&up_state_dir(), &tag))?;
        }
        Task::Up {
            node: true,
            exit_when_ready,
            ..
        } => {
            let since = Instant::now();
            // The node's kubelet and CoreDNS, and helm, come with the test tools.
            xtask::testenv::build()?;
            // The node runs on this machine.
            let controllers = build_static_controllers(&[xtask::images::Arch::Amd64])?;
            tokio::runtime::Runtime::new()?.block_on(xtask::up_node::run(
                xtask::up_node::UpOnNode {
                    controllers: &controllers,
                    exit_when_ready,
                    state_dir: &up_state_dir(),
                    since,
                },
            ))?;
        }
        Task::Up {
            release,
            exit_when_ready,
            controller_args,
            node: false,
        } => {
            tokio::runtime::Runtime::new()?.block_on(up(
                release,
                exit_when_ready,
                &controller_args,
            ))?;
        }
    }
    Ok(())
}

/// Parses `--controller-arg <controller>=<flag>`.
fn controller_arg(value: &str) -> Result<(String, String), String> {
    let (name, flag) = value
        .split_once('=')
        .ok_or_else(|| format!("expected <controller>=<flag>, got {value:?}"))?;
    if !CONTROLLERS.contains(&name) {
        return Err(format!(
            "unknown controller {name:?}; one of: {}",
            CONTROLLERS.join(", ")
        ));
    }
    if !flag.starts_with('-') {
        return Err(format!(
            "expected a flag such as --concurrent=8, got {flag:?}"
        ));
    }
    Ok((name.to_owned(), flag.to_owned()))
}

async fn up(
    release: bool,
    exit_when_ready: bool,
    controller_args: &[(String, String)],
) -> anyhow::Result<()> {
    let total = Instant::now();
    // Only the control plane: the reference tools (helm, sops, age) are for the tests.
    xtask::testenv::build_control_plane()?;
    let binaries = build_controllers(release)?;
    // Kept after exit (the control plane's own directory is removed), replaced by the next run.
    let logs = up_state_dir().join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let logs = logs.canonicalize().unwrap_or(logs);

    let started = Instant::now();
    eprintln!("==> starting etcd, kube-apiserver and kube-controller-manager ...");
    let plane = ControlPlane::start(Options::default())
        .await
        .context("starting the control plane")?;
    eprintln!(
        "control plane ready in {:.1}s at {}",
        plane.started_in().as_secs_f64(),
        plane.server()
    );
    let namespace = "flux-system";
    create_namespace(&plane, namespace).await?;

    let mut running = Vec::new();
    let [storage_port, receiver_port, events_port] = driftless_testenv::free_ports()?;
    for (name, binary) in CONTROLLERS.iter().zip(&binaries) {
        let mut args = vec![format!("--runtime-namespace={namespace}")];
        if *name == "source-controller" {
            args.push(format!(
                "--storage-path={}",
                plane.dir().join("storage").display()
            ));
            args.push(format!("--storage-addr=127.0.0.1:{storage_port}"));
        }
        if *name == "image-automation-controller" {
            args.push(format!(
                "--storage-path={}",
                plane.dir().join("image-storage").display()
            ));
        }
        if *name == "notification-controller" {
            args.push(format!("--receiver-addr=127.0.0.1:{receiver_port}"));
            args.push(format!("--events-addr=127.0.0.1:{events_port}"));
        } else {
            // notification-controller starts last; events sent before it listens are retried.
            args.push(format!("--events-addr=http://127.0.0.1:{events_port}/"));
        }
        // Last, so they override the defaults above (the controllers let a flag repeat).
        let extra: Vec<String> = controller_args
            .iter()
            .filter(|(controller, _)| controller == name)
            .map(|(_, flag)| flag.clone())
            .collect();
        args.extend(extra.iter().cloned());
        let log = logs.join(format!("{name}.log"));
        let mut controller = ControllerProcess::spawn_logging_to(
            name,
            binary,
            &plane.kubeconfig_path(),
            &log,
            &args,
        )?;
        tokio::task::block_in_place(|| controller.wait_ready(Duration::from_secs(30)))
            .with_context(|| format!("{name} did not become ready (log: {})", log.display()))?;
        eprintln!(
            "{name:<28} ready  metrics http://{}/metrics  health http://{}/readyz",
            controller.metrics_addr, controller.health_addr
        );
        if !extra.is_empty() {
            eprintln!("{:<28}        with {}", "", extra.join(" "));
        }
        if *name == "notification-controller" {
            eprintln!(
                "{:<28}        webhooks http://127.0.0.1:{receiver_port}/hook/…",
                ""
            );
        }
        running.push(controller);
    }
    let placement = xtask::example::Placement {
        receiver_url: format!("http://127.0.0.1:{receiver_port}"),
        node: None,
        runnable: None,
    };
    let git = xtask::example::start(&plane, namespace, &placement, &up_state_dir()).await?;
    eprintln!(
        "\nDriftless is up in {:.1}s ({:.0}s with builds). Controller logs (kept after exit): {}\n",
        started.elapsed().as_secs_f64(),
        total.elapsed().as_secs_f64(),
        logs.display()
    );
    println!("export KUBECONFIG={}", plane.kubeconfig_path().display());
    if !exit_when_ready {
        eprintln!("\nPress Ctrl-C to stop.");
        tokio::signal::ctrl_c().await?;
    }
    for controller in &mut running {
        controller.terminate(Duration::from_secs(10));
    }
    drop(git);
    plane.stop();
    eprintln!("stopped; controller logs are in {}", logs.display());
    Ok(())
}

async fn create_namespace(plane: &ControlPlane, name: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Api, Patch, PatchParams};
    let namespace = serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name }
    });
    Api::<Namespace>::all(plane.client().await?)
        .patch(
            name,
            &PatchParams::apply("driftless-xtask"),
            &Patch::Apply(&namespace),
        )
        .await?;
    Ok(())
}

/// Builds one binary of the workspace and returns its path.
/// What `cargo xtask up` leaves for later commands: controller logs, the registry address.
fn up_state_dir() -> PathBuf {
    target_dir().join("driftless-up")
}

fn build_binary(name: &str, release: bool) -> anyhow::Result<PathBuf> {
    let mut command = nested_cargo();
    command.args(["build", "--bin", name]);
    if release {
        command.arg("--release");
    }
    let profile = if release { "release" } else { "debug" };
    // cargo shows its own progress; the step lines frame it with the elapsed time.
    xtask::progress::framed(&format!("building {name} ({profile})"), || {
        if !command.status().context("running cargo build")?.success() {
            bail!("building {name} failed");
        }
        Ok(())
    })?;
    Ok(target_dir().join(profile).join(name))
}

/// Builds the controller binaries and returns their paths, in [`CONTROLLERS`] order.
fn build_controllers(release: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut command = nested_cargo();
    command.arg("build");
    if release {
        command.arg("--release");
    }
    for name in CONTROLLERS {
        command.args(["--bin", name]);
    }
    let profile = if release { "release" } else { "debug" };
    xtask::progress::framed(
        &format!("building the five controllers ({profile})"),
        || {
            if !command.status().context("running cargo build")?.success() {
                bail!("building the controllers failed");
            }
            Ok(())
        },
    )?;
    let target = target_dir().join(profile);
    Ok(CONTROLLERS.iter().map(|name| target.join(name)).collect())
}

/// The static (musl) release binaries of the five controllers for each of `arches`, for
/// images. The C parts (aws-lc, ring) are compiled with Debian's musl-gcc wrappers.
fn build_static_controllers(
    arches: &[xtask::images::Arch],
) -> anyhow::Result<Vec<xtask::images::ControllerBinaries>> {
    let mut controllers: Vec<_> = CONTROLLERS
        .iter()
        .map(|name| xtask::images::ControllerBinaries {
            name: name.to_string(),
            binaries: Vec::new(),
        })
        .collect();
    for &arch in arches {
        xtask::prerequisites::ensure_cross_toolchain(arch)?;
        let target = arch.target();
        let mut command = nested_cargo();
        command
            .args(["build", "--release", "--target", target])
            .envs(arch.cargo_env());
        for name in CONTROLLERS {
            command.args(["--bin", name]);
        }
        xtask::progress::framed(
            &format!("building the five controllers (release, static, {target})"),
            || {
                if !command.status().context("running cargo build")?.success() {
                    bail!("building the static controllers for {target} failed");
                }
                Ok(())
            },
        )?;
        let dir = target_dir().join(target).join("release");
        for controller in &mut controllers {
            controller.binaries.push((arch, dir.join(&controller.name)));
        }
    }
    Ok(controllers)
}

/// A cargo command without the package variables `cargo run` set for xtask. Build scripts
/// (ring's, via cc) declare `rerun-if-env-changed` on them, so passing them on would make the
/// nested cargo and the outer one invalidate each other's builds on every run.
fn nested_cargo() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_by_cargo_run = name.starts_with("CARGO_PKG_")
            || matches!(
                name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "OUT_DIR"
            );
        if set_by_cargo_run {
            command.env_remove(name);
        }
    }
    command
}

/// The Helm corpus as shipped here lacks the vendored subcharts of two charts
/// (kube-prometheus-stack, loki), so four of its cases fail for the real helm as well.
const HELM_MIN_PASS_RATE: f64 = 0.95;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}
