//! The real cosign CLI for the signature verification tests: key pairs and offline
//! signatures (no transparency log) of artifacts in a plain-HTTP registry.

use std::path::Path;
use std::process::Command;

use crate::{COSIGN, Error, Result};

fn run(dir: &Path, args: &[&str]) -> Result<()> {
    let output = Command::new(COSIGN.path()?)
        .args(args)
        .env("COSIGN_PASSWORD", "")
        .current_dir(dir)
        .output()
        .map_err(|e| Error::Io("running cosign".into(), e))?;
    if !output.status.success() {
        return Err(Error::Io(
            format!("cosign {}", args.join(" ")),
            std::io::Error::other(String::from_utf8_lossy(&output.stderr).into_owned()),
        ));
    }
    Ok(())
}

/// `cosign generate-key-pair` in `dir` (empty password); returns the public key (PEM).
pub fn key_pair(dir: &Path) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io("creating the key directory".into(), e))?;
    run(dir, &["generate-key-pair"])?;
    std::fs::read_to_string(dir.join("cosign.pub"))
        .map_err(|e| Error::Io("reading cosign.pub".into(), e))
}

/// `cosign sign` of `reference` with the key pair in `dir`, offline.
pub fn sign(dir: &Path, reference: &str) -> Result<()> {
    run(
        dir,
        &[
            "sign",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--allow-insecure-registry",
            "--allow-http-registry",
            "--yes",
            reference,
        ],
    )
}
