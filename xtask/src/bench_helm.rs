//! `cargo xtask bench helm`: `driftless helm template` against the real `helm template` on
//! the largest charts of the Helm conformance corpus, with and without process start-up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::bench_kustomize::{InProcess, in_process_run, stdout_of};

pub struct HelmOptions {
    /// Case folders of the corpus to render (each must be an "ok" case).
    pub cases: Vec<String>,
    /// Process runs per measurement (the median is reported).
    pub runs: usize,
}

/// The corpus' heaviest templating: argo-cd (HA, autoscaling, 2 MB of templates), bitnami's
/// keycloak and redis on their common library chart, redis-ha, the prometheus chart with
/// four subcharts, and traefik (large CRDs). Charts that generate RSA keys (linkerd's) are
/// left out: their time is the random prime search, in either tool.
pub const DEFAULT_CASES: [&str; 6] = [
    "argo-cd-ci-ha-autoscaling",
    "bitnami-keycloak-default",
    "bitnami-redis-sentinel",
    "redis-ha-default",
    "prometheus-default",
    "traefik-default",
];

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/helm")
}

/// One case as `helm template` arguments after `template`.
struct Case {
    chart: PathBuf,
    release: String,
    /// Every flag after the release and chart.
    flags: Vec<String>,
}

fn read_case(corpus: &Path, name: &str) -> anyhow::Result<Case> {
    let dir = corpus.join("cases").join(name);
    let text = std::fs::read_to_string(dir.join("case.json"))
        .with_context(|| format!("reading {}/case.json", dir.display()))?;
    let case: serde_json::Value = serde_json::from_str(&text)?;
    let field = |key: &str| case[key].as_str().unwrap_or_default().to_owned();
    if field("expect") != "ok" {
        bail!("case {name} is an error case; only rendering cases are benchmarked");
    }
    if case["set"].as_array().is_some_and(|set| !set.is_empty()) {
        bail!("case {name} uses --set, which the in-process bench does not take");
    }
    let flags = driftless_testenv::charts::corpus_case_args(&dir, &case);
    Ok(Case {
        chart: corpus.join(field("chart")),
        release: field("release"),
        flags,
    })
}

/// `helm template` or `driftless helm template` as a command line for one case.
fn template_command(program: &[String], case: &Case) -> Vec<String> {
    let mut command = program.to_vec();
    command.push("template".into());
    command.push(case.release.clone());
    command.push(case.chart.display().to_string());
    command.extend(case.flags.iter().cloned());
    command
}

/// `command` as a process, with helm's directories kept empty and private (the real helm
/// reads its config and cache directories).
fn process(command: &[String], home: &Path) -> Command {
    let mut process = Command::new(&command[0]);
    process
        .args(&command[1..])
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"));
    process
}

fn run(command: &[String], home: &Path) -> anyhow::Result<Vec<u8>> {
    stdout_of(process(command, home))
}

/// One timed run of `command` with its manifests written to `out`, as a user's
/// `helm template … > out.yaml` does (the output was compared once, before timing; reading
/// it back through a pipe would time this harness too).
fn run_to_file(command: &[String], home: &Path, out: &Path) -> anyhow::Result<()> {
    let status = process(command, home)
        .stdout(std::fs::File::create(out)?)
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {}", command.join(" ")))?;
    if !status.success() {
        bail!("{} failed ({status})", command.join(" "));
    }
    Ok(())
}

/// Median wall times of `runs` runs of each command, each command run in its own block
/// after one warm-up run, as hyperfine does. (Alternating the two was tried: a run right
/// after a `helm` run is ~3 ms slower whichever tool it is, as the machine recovers from
/// helm's larger process, which would charge helm's cost to the other tool.)
fn time_processes(
    first: &[String],
    second: &[String],
    home: &Path,
    runs: usize,
) -> anyhow::Result<(f64, f64)> {
    let out = home.with_file_name("rendered.yaml");
    let mut medians = Vec::with_capacity(2);
    for command in [first, second] {
        run_to_file(command, home, &out)?;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            run_to_file(command, home, &out)?;
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        medians.push(times[times.len() / 2]);
    }
    Ok((medians[0], medians[1]))
}

fn in_process(bench: &Path, case: &Case, iterations: usize) -> anyhow::Result<InProcess> {
    let mut command = Command::new(bench);
    command
        .arg(&case.chart)
        .arg(iterations.to_string())
        .arg("--name")
        .arg(&case.release)
        .args(&case.flags);
    in_process_run(command)
}

/// A chart of one ConfigMap: what start-up alone costs each tool.
fn write_trivial_chart(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("templates"))?;
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: trivial\nversion: 0.1.0\n",
    )?;
    std::fs::write(
        dir.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
    )?;
    Ok(())
}

pub fn run_bench(driftless: &Path, bench: &Path, options: &HelmOptions) -> anyhow::Result<()> {
    let corpus = corpus_dir();
    if !corpus.join("cases").is_dir() {
        bail!(
            "{} not found: the Helm corpus lives in ../shared beside the checkout",
            corpus.display()
        );
    }
    let helm = driftless_testenv::HELM
        .path()
        .context("locating the real helm")?;
    let helm_version = Command::new(&helm)
        .args(["version", "--short"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let work = tempfile::tempdir()?;
    let home = work.path().join("helm-home");
    let helm_program = vec![helm.display().to_string()];
    let ours_program = vec![driftless.display().to_string(), "helm".into()];

    let trivial = Case {
        chart: work.path().join("trivial"),
        release: "trivial".into(),
        flags: Vec::new(),
    };
    write_trivial_chart(&trivial.chart)?;
    let runs = options.runs.max(1);
    let (helm_startup, ours_startup) = time_processes(
        &template_command(&helm_program, &trivial),
        &template_command(&ours_program, &trivial),
        &home,
        runs,
    )?;

    let ms = |s: f64| s * 1000.0;
    println!("bench helm (real helm {helm_version}; median of {runs} runs)");
    println!(
        "  start-up, one-ConfigMap chart   helm {:.1} ms   driftless {:.1} ms",
        ms(helm_startup),
        ms(ours_startup)
    );
    let (mut helm_total, mut ours_total, mut helm_work_total, mut ours_work_total) =
        (0.0, 0.0, 0.0, 0.0);
    for name in &options.cases {
        let case = read_case(&corpus, name)?;
        let helm_command = template_command(&helm_program, &case);
        let ours_command = template_command(&ours_program, &case);
        let expected = run(&helm_command, &home)?;
        if run(&ours_command, &home)? != expected {
            bail!(
                "driftless and helm print different output for {name}; the comparison would mean nothing"
            );
        }
        let (helm_time, ours_time) = time_processes(&helm_command, &ours_command, &home, runs)?;
        let ours_in = in_process(bench, &case, 10)?;
        let helm_work = (helm_time - helm_startup).max(0.0);
        helm_total += helm_time;
        ours_total += ours_time;
        helm_work_total += helm_work;
        ours_work_total += ours_in.seconds;
        println!(
            "  {name} ({:.0} KiB out)\n    as processes                  helm {:.1} ms   driftless {:.1} ms   {:.1}x\n    without start-up              helm {:.1} ms   driftless {:.1} ms in process   {:.1}x ({} allocations, {:.1} MiB allocated)",
            expected.len() as f64 / 1024.0,
            ms(helm_time),
            ms(ours_time),
            helm_time / ours_time,
            ms(helm_work),
            ms(ours_in.seconds),
            helm_work / ours_in.seconds,
            ours_in.allocations,
            ours_in.allocated_bytes as f64 / 1048576.0,
        );
    }
    println!(
        "  all {} cases, end to end        helm {:.1} ms   driftless {:.1} ms   {:.1}x (target >= 5x)",
        options.cases.len(),
        ms(helm_total),
        ms(ours_total),
        helm_total / ours_total
    );
    println!(
        "  all {} cases, without start-up  helm {:.1} ms   driftless {:.1} ms   {:.1}x",
        options.cases.len(),
        ms(helm_work_total),
        ms(ours_work_total),
        helm_work_total / ours_work_total
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cases_are_rendering_cases_without_set() {
        let corpus = corpus_dir();
        for name in DEFAULT_CASES {
            let case = read_case(&corpus, name).unwrap();
            assert!(case.chart.join("Chart.yaml").is_file(), "{name}");
            assert!(case.flags.contains(&"--kube-version".to_owned()), "{name}");
        }
    }
}
