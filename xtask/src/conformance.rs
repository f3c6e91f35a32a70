//! `cargo xtask conformance`: kustomize's own test cases (in `../shared/conformance/kustomize`)
//! scored against `driftless kustomize build`, and `cargo xtask fuzz`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The shared conformance corpus next to the checkout.
pub fn cases_runner() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/kustomize/run.py")
}

/// Runs the scorer with `driftless` and fails below `min_pass_rate`; prints its tally.
pub fn run(driftless: &Path, min_pass_rate: f64) -> anyhow::Result<()> {
    let runner = cases_runner();
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
        .arg(&runner)
        .arg("--cmd")
        .arg(format!("{} kustomize build {{dir}}", driftless.display()))
        .arg("--min-pass-rate")
        .arg(min_pass_rate.to_string())
        .status()
        .context("running python3 (the scorer needs Python 3.9+ and PyYAML)")?;
    if !status.success() {
        bail!("kustomize conformance below {:.0}%", min_pass_rate * 100.0);
    }
    Ok(())
}

/// Runs both fuzz targets for `seconds` each (`cargo +nightly fuzz`, cargo-fuzz installed).
pub fn fuzz(seconds: u64) -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/kustomize");
    for target in ["strategic_merge", "kustomization"] {
        eprintln!("fuzzing {target} for {seconds} s");
        let status = Command::new("cargo")
            .current_dir(&dir)
            .args([
                "+nightly",
                "fuzz",
                "run",
                target,
                "--",
                &format!("-max_total_time={seconds}"),
            ])
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .status()
            .context("running cargo +nightly fuzz (needs the nightly toolchain and cargo-fuzz)")?;
        if !status.success() {
            bail!("fuzz target {target} found a failure (see crates/kustomize/fuzz/artifacts)");
        }
    }
    Ok(())
}
