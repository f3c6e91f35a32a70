//! `cargo xtask peer build`: Flux's controllers, built from their Go modules at the pinned
//! versions (`driftless_testenv::peer`), so benchmarks can run them side by side with ours.
//! Each is built once into the cache outside the clone, with its release's CRDs beside it.

use anyhow::Context;
use driftless_testenv::peer::{FLUX_CONTROLLERS, FluxController};

use crate::testenv::{download_module, go, staging_dir, writable_copy};

/// Builds every pinned controller that is not cached yet.
pub fn build() -> anyhow::Result<()> {
    for controller in FLUX_CONTROLLERS {
        if controller.path().is_ok() && controller.crds_dir().is_dir() {
            eprintln!(
                "Flux {} {} is cached in {}",
                controller.name,
                controller.version,
                controller.dir().display()
            );
            continue;
        }
        crate::progress::step(
            &format!(
                "building Flux {} {} from its module",
                controller.name, controller.version
            ),
            || build_one(controller),
        )?;
    }
    Ok(())
}

/// The module's zip leaves out its nested `api` module, which `go.mod` replaces with `./api`:
/// that one is downloaded at the same version and put there.
fn build_one(controller: &FluxController) -> anyhow::Result<()> {
    let module = controller.module();
    let version = controller.version;
    let module_dir = download_module(&format!("{module}@{version}"))?;
    let api_dir = download_module(&format!("{module}/api@{version}"))?;
    let staging = staging_dir(&controller.dir())?;
    let source = staging.join("src");
    writable_copy(&module_dir, &source)?;
    let _ = std::fs::remove_dir_all(source.join("api"));
    writable_copy(&api_dir, &source.join("api"))?;
    for (replaced, replacement) in controller.replaces {
        go(
            &["mod", "edit", &format!("-replace={replaced}={replacement}")],
            Some(&source),
        )?;
    }
    let binary = format!("../{}", controller.name);
    go(
        &[
            "build",
            "-trimpath",
            "-ldflags",
            "-s -w",
            "-o",
            &binary,
            ".",
        ],
        Some(&source),
    )?;
    std::fs::create_dir_all(staging.join("crds"))?;
    let bases = source.join("config/crd/bases");
    for entry in std::fs::read_dir(&bases).with_context(|| format!("{}", bases.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path.file_name().context("CRD file name")?;
            std::fs::copy(&path, staging.join("crds").join(name))?;
        }
    }
    std::fs::remove_dir_all(&source)?;
    let _ = std::fs::remove_dir_all(controller.dir());
    std::fs::rename(&staging, controller.dir())?;
    Ok(())
}
