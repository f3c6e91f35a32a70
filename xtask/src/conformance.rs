//! `cargo xtask conformance`: kustomize's own test cases (in `../shared/conformance/kustomize`)
//! scored against `driftless kustomize build`, and `cargo xtask fuzz`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The shared conformance corpus next to the checkout.
pub fn cases_runner() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/kustomize/run.py")
}

/// Runs the kustomize scorer with `driftless` and fails below `min_pass_rate`; prints its tally.
pub fn run(driftless: &Path, min_pass_rate: f64) -> anyhow::Result<()> {
    score(
        "kustomize",
        &cases_runner(),
        "{driftless} kustomize build {dir}",
        driftless,
        min_pass_rate,
    )
}

/// Scores `driftless helm template` against the real `helm template` outputs in
/// `../shared/conformance/helm` and fails below `min_pass_rate`; prints its tally.
pub fn run_helm(driftless: &Path, min_pass_rate: f64) -> anyhow::Result<()> {
    score(
        "helm",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/helm/run.py"),
        "{driftless} helm template {release} {chart} --namespace {namespace} {values} {set} \
         --kube-version {kube_version} {api_versions} {include_crds} {skip_tests}",
        driftless,
        min_pass_rate,
    )
}

/// One corpus' `run.py` with `command` (`{driftless}` replaced by the binary's path).
fn score(
    corpus: &str,
    runner: &Path,
    command: &str,
    driftless: &Path,
    min_pass_rate: f64,
) -> anyhow::Result<()> {
    if !runner.is_file() {
        bail!(
            "{} not found: the conformance cases live in ../shared beside the checkout",
            runner.display()
        );
    }
    let driftless = driftless
        .canonicalize()
        .context("locating the driftless binary")?;
    let status = Command::new("python3")
        .arg(runner)
        .arg("--cmd")
        .arg(command.replace("{driftless}", &driftless.display().to_string()))
        .arg("--min-pass-rate")
        .arg(min_pass_rate.to_string())
        .status()
        .context("running python3 (the scorer needs Python 3.9+ and PyYAML)")?;
    if !status.success() {
        bail!("{corpus} conformance below {:.0}%", min_pass_rate * 100.0);
    }
    Ok(())
}

/// The crates with a cargo-fuzz `fuzz/` directory.
const FUZZED_CRATES: [&str; 6] = [
    "crates/yaml",
    "crates/kustomize",
    "crates/setters",
    "crates/policy",
    "crates/gotemplate",
    "crates/helm",
];

/// Runs every fuzz target of every fuzzed crate for `seconds` each (`cargo +nightly fuzz`,
/// cargo-fuzz installed).
pub fn fuzz(seconds: u64) -> anyhow::Result<()> {
    for krate in FUZZED_CRATES {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate);
        for target in fuzz_targets(&dir)? {
            eprintln!("fuzzing {krate} {target} for {seconds} s");
            let status = cargo_fuzz(&dir)
                .args(["run", &target, "--target-dir"])
                .arg(fuzz_target_dir())
                .args(["--", &format!("-max_total_time={seconds}")])
                .status()
                .context(
                    "running cargo +nightly fuzz (needs the nightly toolchain and cargo-fuzz)",
                )?;
            if !status.success() {
                bail!("fuzz target {target} found a failure (see {krate}/fuzz/artifacts)");
            }
        }
    }
    Ok(())
}

/// One build directory for every fuzzed crate: they share most dependencies and the same
/// sanitizer flags, so each dependency is built (and stored) once instead of once per crate.
pub fn fuzz_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("fuzz")
}

/// The targets `cargo fuzz list` names in `dir`, so a new target is fuzzed without a change here.
fn fuzz_targets(dir: &Path) -> anyhow::Result<Vec<String>> {
    let output = cargo_fuzz(dir)
        .arg("list")
        .output()
        .context("running cargo +nightly fuzz list (needs the nightly toolchain and cargo-fuzz)")?;
    if !output.status.success() {
        bail!(
            "cargo fuzz list in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let targets: Vec<String> = String::from_utf8(output.stdout)
        .context("cargo fuzz list printed non-UTF-8")?
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        bail!("no fuzz targets in {}", dir.display());
    }
    Ok(targets)
}

/// `cargo +nightly fuzz` in `dir`, free of the stable toolchain xtask itself runs under.
fn cargo_fuzz(dir: &Path) -> Command {
    let mut command = Command::new("cargo");
    command
        .current_dir(dir)
        .args(["+nightly", "fuzz"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO");
    command
}
