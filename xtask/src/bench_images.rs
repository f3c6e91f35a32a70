//! `cargo xtask bench images`: N ImageRepositories scanning a local `docker-registry` that
//! holds N repositories of T tags each (laid out directly in its storage, not pushed), until
//! every one is Ready; then M ImagePolicies selecting from the stored tags. Time, CPU and
//! peak RSS of image-automation-controller.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use driftless_api::image::{ImagePolicy, ImageRepository};
use driftless_testenv::registry::{Registry, RegistryOptions, write_tags};
use driftless_testenv::{ControlPlane, Options};
use kube::api::{Api, PostParams};

use crate::bench::{
    cpu_seconds, create_all, peak_rss_kib, rss_kib, start_controller, status_kib, wait_all_ready,
};

pub struct ImagesOptions {
    /// Image pushes timed through the whole loop.
    pub rounds: usize,
    /// YAML files in the repository the automation writes to.
    pub files: usize,
    pub repositories: usize,
    pub tags: usize,
    pub policies: usize,
    pub concurrent: u16,
    pub timeout: Duration,
}

/// The targets for the scan: all scanned within 30 s, at most 40 MiB.
const TARGET_SECONDS: f64 = 30.0;
const TARGET_RSS_MIB: f64 = 40.0;

pub async fn run(
    binary: &Path,
    loop_binaries: Option<crate::bench_image_loop::LoopBinaries<'_>>,
    options: ImagesOptions,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fixture = tempfile::tempdir()?;
    let laid_out = Instant::now();
    let tags: Vec<String> = (0..options.tags)
        .map(|i| format!("1.{}.{}", i / 100, i % 100))
        .collect();
    for r in 0..options.repositories {
        write_tags(fixture.path(), &format!("bench/app-{r}"), &tags)?;
    }
    let layout = laid_out.elapsed();
    let registry = Registry::start(RegistryOptions {
        storage: Some(fixture.path().to_owned()),
        ..RegistryOptions::default()
    })?;

    let plane = ControlPlane::start(Options::default())
        .await
        .context("starting the control plane")?;
    plane.install_crds(&driftless_api::crds()).await?;
    let namespace = plane.namespace("bench").await?;
    let client = plane.client().await?;
    let storage = tempfile::tempdir()?;
    let args = vec![
        "--watch-all-namespaces=false".to_owned(),
        format!("--runtime-namespace={namespace}"),
        format!("--storage-path={}", storage.path().display()),
        format!("--concurrent={}", options.concurrent),
        "--log-level=error".to_owned(),
    ];
    let mut controller = start_controller(&plane, "image-automation-controller", binary, &args)?;
    let idle_kib = rss_kib(controller.pid()).unwrap_or(0);

    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), &namespace);
    let objects = (0..options.repositories)
        .map(|r| {
            serde_json::from_value::<ImageRepository>(serde_json::json!({
                "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
                "metadata": { "name": format!("app-{r}") },
                "spec": { "image": registry.image(&format!("bench/app-{r}")), "interval": "1h", "insecure": true },
            }))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    create_all(&repos, &objects, "an ImageRepository").await?;
    let mut anon_peak_kib = 0;
    let outcome = wait_all_ready(
        &repos,
        options.repositories,
        started + options.timeout,
        || {
            anon_peak_kib = anon_peak_kib.max(status_kib(controller.pid(), "RssAnon").unwrap_or(0));
        },
    )
    .await?;
    if let Err(ready) = outcome {
        bail!(
            "only {ready} of {} ImageRepositories Ready after {:?}\n{}",
            options.repositories,
            options.timeout,
            controller.log_tail(20)
        );
    }
    let scanned_after = started.elapsed();
    let scan_cpu = cpu_seconds(controller.pid()).unwrap_or(0.0);
    let scan_peak_kib = peak_rss_kib(controller.pid()).unwrap_or(0);
    // Every scan found every tag.
    let sample = repos.get("app-0").await?;
    let count = sample
        .status
        .and_then(|s| s.last_scan_result)
        .map_or(0, |r| r.tag_count);
    if count != options.tags as i64 {
        bail!("app-0 has {count} tags, expected {}", options.tags);
    }

    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), &namespace);
    let objects = (0..options.policies)
        .map(|p| {
            serde_json::from_value::<ImagePolicy>(serde_json::json!({
                "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
                "metadata": { "name": format!("app-{p}") },
                "spec": {
                    "imageRepositoryRef": { "name": format!("app-{}", p % options.repositories.max(1)) },
                    "policy": { "semver": { "range": "^1.x" } },
                },
            }))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    create_all(&policies, &objects, "an ImagePolicy").await?;
    let outcome = wait_all_ready(
        &policies,
        options.policies,
        started + options.timeout,
        || {
            anon_peak_kib = anon_peak_kib.max(status_kib(controller.pid(), "RssAnon").unwrap_or(0));
        },
    )
    .await?;
    if let Err(ready) = outcome {
        bail!(
            "only {ready} of {} ImagePolicies Ready after {:?}\n{}",
            options.policies,
            options.timeout,
            controller.log_tail(20)
        );
    }
    let selected_after = started.elapsed();

    // (b) One automation over a repository of `files` YAML files whose markers name the
    // policies: every file changes, in one commit.
    let commit = one_commit(
        &client,
        &namespace,
        &controller,
        options.files,
        options.policies,
        &registry.host,
    )
    .await?;
    let peak_kib = peak_rss_kib(controller.pid()).unwrap_or(0);
    let cpu = cpu_seconds(controller.pid()).unwrap_or(0.0);
    controller.terminate(Duration::from_secs(10));
    // (c) The loop, with every controller.
    let loop_times = match &loop_binaries {
        Some(binaries) => {
            Some(crate::bench_image_loop::run(&plane, binaries, options.rounds).await?)
        }
        None => None,
    };
    plane.stop();

    let seconds = scanned_after.as_secs_f64();
    let scan_peak_mib = scan_peak_kib as f64 / 1024.0;
    println!("bench images");
    println!(
        "  registry repositories  {} x {} tags (laid out in {:.1} s)",
        options.repositories,
        options.tags,
        layout.as_secs_f64()
    );
    println!("  --concurrent           {}", options.concurrent);
    println!("  all scanned after      {seconds:.2} s (target <= {TARGET_SECONDS} s)");
    println!(
        "  scan throughput        {:.0} repositories/s, {:.0} tags/s",
        options.repositories as f64 / seconds,
        (options.repositories * options.tags) as f64 / seconds
    );
    println!("  controller CPU (scan)  {scan_cpu:.2} s");
    println!(
        "  RSS idle               {:.1} MiB",
        idle_kib as f64 / 1024.0
    );
    println!("  RSS peak (scan)        {scan_peak_mib:.1} MiB (target <= {TARGET_RSS_MIB} MiB)");
    println!(
        "  ImagePolicies Ready    {} after {:.2} s",
        options.policies,
        selected_after.as_secs_f64()
    );
    println!(
        "  one commit             {} files, {} changed, {} policies: committed and pushed {:.2} s after the automation was created",
        options.files,
        commit.changed,
        options.policies,
        commit.took.as_secs_f64()
    );
    println!("  controller CPU (total) {cpu:.2} s");
    println!(
        "  RSS peak (total)       {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    println!(
        "  anonymous RSS peak     {:.1} MiB (sampled every 100 ms)",
        anon_peak_kib as f64 / 1024.0
    );
    if let Some(times) = &loop_times {
        crate::bench_image_loop::report(times);
    }
    println!(
        "  scan targets           {}",
        if seconds <= TARGET_SECONDS && scan_peak_mib <= TARGET_RSS_MIB {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}

struct OneCommit {
    took: Duration,
    changed: usize,
}

/// A Deployment whose image is set by policy `app-<policy>`.
fn marked_file(host: &str, namespace: &str, index: usize, policy: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{index}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {host}/bench/app-{policy}:1.0.0 # {{\"$imagepolicy\": \"{namespace}:app-{policy}\"}}\n"
    )
}

async fn one_commit(
    client: &kube::Client,
    namespace: &str,
    controller: &driftless_testenv::controller::ControllerProcess,
    files: usize,
    policies: usize,
    host: &str,
) -> anyhow::Result<OneCommit> {
    use driftless_api::image::ImageUpdateAutomation;
    use driftless_api::source::GitRepository;
    use driftless_testenv::git::{GitAuth, GitServer, git};

    let server = GitServer::start_accepting_pushes(GitAuth::default(), "bot", "pushpass")?;
    let repo = server.create_repo("fleet")?;
    let contents: Vec<(String, String)> = (0..files)
        .map(|i| {
            (
                format!("apps/app-{i}/deployment.yaml"),
                marked_file(host, namespace, i, i % policies.max(1)),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = contents
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    repo.commit(&borrowed, "fleet")?;
    repo.push("main")?;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), namespace);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": "git"}, "stringData": {"username": "bot", "password": "pushpass"}
            }))?,
        )
        .await?;
    Api::<GitRepository>::namespaced(client.clone(), namespace)
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "fleet"},
                "spec": {"url": server.url("fleet"), "interval": "1h", "ref": {"branch": "main"}, "secretRef": {"name": "git"}}
            }))?,
        )
        .await?;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), namespace);
    let started = Instant::now();
    automations
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({
                "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
                "metadata": {"name": "fleet"},
                "spec": {"interval": "1h", "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                         "git": {"commit": {"author": {"name": "bench", "email": "bench@example.com"}}},
                         "update": {"strategy": "Setters", "path": "./apps"}}
            }))?,
        )
        .await?;
    loop {
        let status = automations.get("fleet").await?.status.unwrap_or_default();
        if status.last_push_commit.is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("no commit after 120 s\n{}", controller.log_tail(20));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let stat = git(&repo.bare, &["diff", "--shortstat", "main^", "main"])?;
    let changed = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if changed != files {
        bail!("the commit changed {changed} files, expected {files}: {stat}");
    }
    Ok(OneCommit { took, changed })
}
