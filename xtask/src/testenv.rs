//! Builds kube-apiserver, kube-controller-manager and etcd, and for the test node
//! kube-scheduler, kubelet, kube-proxy and the pause container, from the Go module in
//! `e2e/testenv` into a cache outside the clone, keyed by the module's pins.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use driftless_testenv::{Binaries, KubernetesPins, NodeBinaries};

/// Go packages to build: (binary name, package, whether it takes Kubernetes version ldflags).
const TARGETS: [(&str, &str, bool); 8] = [
    (
        "kube-apiserver",
        "k8s.io/kubernetes/cmd/kube-apiserver",
        true,
    ),
    (
        "kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        true,
    ),
    ("etcd", "go.etcd.io/etcd/server/v3", false),
    (
        "kube-scheduler",
        "k8s.io/kubernetes/cmd/kube-scheduler",
        true,
    ),
    ("kubelet", "k8s.io/kubernetes/cmd/kubelet", true),
    ("kube-proxy", "k8s.io/kubernetes/cmd/kube-proxy", true),
    ("pause", "driftless.dev/testenv/pause", false),
    ("agnhost", "k8s.io/kubernetes/test/images/agnhost", false),
];

/// Builds the control plane and installs the reference tools, each unless already cached.
pub fn build() -> anyhow::Result<std::path::PathBuf> {
    install_tools()?;
    build_control_plane()
}

/// Installs the reference CLIs the tests drive (helm, sops, age-keygen, flux, cosign), the S3
/// server (versitygw) and the test node's cluster DNS (coredns, packed as an image) unless
/// cached;
/// `cargo xtask up` does not need them.
pub fn install_tools() -> anyhow::Result<()> {
    let flux = &driftless_testenv::FLUX;
    if flux.path().is_err() {
        crate::progress::step(
            &format!("building {} {} from its module", flux.name, flux.version),
            || build_flux(flux),
        )?;
    }
    for tool in [
        &driftless_testenv::HELM,
        &driftless_testenv::SOPS,
        &driftless_testenv::AGE_KEYGEN,
        &driftless_testenv::VERSITYGW,
        &driftless_testenv::COSIGN,
        &driftless_testenv::COREDNS,
    ] {
        if tool.path().is_err() {
            crate::progress::step(
                &format!("installing {} {} (go install)", tool.name, tool.version),
                || install_tool(tool),
            )?;
        }
    }
    let coredns = &driftless_testenv::COREDNS;
    let archive = coredns.dir().join(NodeBinaries::COREDNS_ARCHIVE);
    if !archive.is_file() {
        crate::progress::step("packing coredns as an OCI image", || {
            node_image(
                &coredns.dir(),
                "coredns",
                driftless_testenv::COREDNS_IMAGE,
                NodeBinaries::COREDNS_ARCHIVE,
            )
        })?;
    }
    Ok(())
}

fn install_tool(tool: &driftless_testenv::Tool) -> anyhow::Result<()> {
    let staging = staging_dir(&tool.dir())?;
    let status = Command::new("go")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .env("GOBIN", &staging)
        // `go install pkg@version` refuses -mod flags; keep GOFLAGS to -trimpath only.
        .env("GOFLAGS", "-trimpath")
        .args(["install", "-ldflags", "-s -w"])
        .arg(format!("{}@{}", tool.module, tool.version))
        .status()
        .context("running `go install` (is Go installed?)")?;
    if !status.success() {
        bail!(
            "go install {}@{} failed ({status})",
            tool.module,
            tool.version
        );
    }
    let _ = std::fs::remove_dir_all(tool.dir());
    std::fs::rename(&staging, tool.dir())?;
    Ok(())
}

/// Builds the flux CLI from its downloaded module: `go install module@version` refuses
/// modules with `replace` lines, and `cmd/flux` embeds `manifests/*.yaml`, which the release
/// process generates. A placeholder stands in for those: the tests never run `flux install`.
fn build_flux(tool: &driftless_testenv::Tool) -> anyhow::Result<()> {
    let module_dir = download_module(&format!("{}@{}", tool.module, tool.version))?;
    let staging = staging_dir(&tool.dir())?;
    let source = staging.join("src");
    writable_copy(&module_dir, &source)?;
    let manifests = source.join("cmd/flux/manifests");
    std::fs::create_dir_all(&manifests)?;
    std::fs::write(
        manifests.join("placeholder.yaml"),
        "# Not a release build: `flux install` has no manifests.\n",
    )?;
    let version = tool.version.trim_start_matches('v');
    go(
        &[
            "build",
            "-trimpath",
            "-ldflags",
            &format!("-s -w -X main.VERSION={version}"),
            "-o",
            "../flux",
            "./cmd/flux",
        ],
        Some(&source),
    )?;
    std::fs::remove_dir_all(&source)?;
    let _ = std::fs::remove_dir_all(tool.dir());
    std::fs::rename(&staging, tool.dir())?;
    Ok(())
}

/// Runs `go` (this machine's toolchain, no cgo, modules updated as needed) in `dir`; its
/// standard output.
pub(crate) fn go(args: &[&str], dir: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let mut command = Command::new("go");
    command
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", "-mod=mod")
        .args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running go (is Go installed?)")?;
    if !output.status.success() {
        bail!("go {} failed ({})", args.join(" "), output.status);
    }
    Ok(output.stdout)
}

/// `go mod download` of `module@version`: its directory in the (read-only) module cache.
pub(crate) fn download_module(module: &str) -> anyhow::Result<std::path::PathBuf> {
    let downloaded: serde_json::Value =
        serde_json::from_slice(&go(&["mod", "download", "-json", module], None)?)
            .context("reading `go mod download -json`")?;
    match downloaded["Dir"].as_str() {
        Some(dir) => Ok(dir.into()),
        None => bail!("`go mod download` named no directory for {module}"),
    }
}

/// An empty directory beside `dir` to build into, renamed to `dir` once complete, so an
/// interrupted build never leaves a cache entry that looks whole.
pub(crate) fn staging_dir(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let staging = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    Ok(staging)
}

/// Copies a module out of the read-only module cache, writable, to build in.
pub(crate) fn writable_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    let status = Command::new("cp").arg("-r").arg(from).arg(to).status()?;
    if !status.success() {
        bail!("copying {} failed ({status})", from.display());
    }
    Command::new("chmod").args(["-R", "u+w"]).arg(to).status()?;
    Ok(())
}

/// Builds the control-plane binaries unless the cache already has them; returns the `bin`
/// directory.
pub fn build_control_plane() -> anyhow::Result<std::path::PathBuf> {
    let pins = KubernetesPins::load()?;
    let out = pins.cache_dir();
    let bin = out.join("bin");
    if Binaries::in_dir(&bin).is_ok()
        && NodeBinaries::in_dir(&bin).is_ok()
        && apiserver_version(&bin).as_deref() == Some(&pins.kubernetes_version)
    {
        eprintln!(
            "testenv binaries for {} are cached in {}",
            pins.kubernetes_version,
            bin.display()
        );
        return Ok(bin);
    }
    let staging = staging_dir(&out)?;
    std::fs::create_dir_all(staging.join("bin"))?;
    let started = Instant::now();
    eprintln!(
        "building the test control plane and node {} once (about 15 minutes on 2 cores; cached in {})",
        pins.kubernetes_version,
        out.display()
    );
    for (name, package, versioned) in TARGETS {
        let ldflags = if versioned {
            format!("-s -w {}", version_ldflags(&pins.kubernetes_version)?)
        } else {
            "-s -w".to_owned()
        };
        crate::progress::step(&format!("building {name} ({package})"), || {
            let status = Command::new("go")
                .current_dir(&pins.module_dir)
                .env("GOTOOLCHAIN", "local")
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", "-trimpath")
                .args(["build", "-ldflags", &ldflags, "-o"])
                .arg(staging.join("bin").join(name))
                .arg(package)
                .status()
                .context("running `go` (is Go installed?)")?;
            if !status.success() {
                bail!("go build {package} failed ({status})");
            }
            Ok(())
        })?;
    }
    crate::progress::step("packing pause and agnhost as OCI images", || {
        let bin = staging.join("bin");
        node_image(
            &bin,
            "pause",
            driftless_testenv::PAUSE_IMAGE,
            NodeBinaries::PAUSE_ARCHIVE,
        )?;
        node_image(
            &bin,
            "agnhost",
            driftless_testenv::AGNHOST_IMAGE,
            NodeBinaries::AGNHOST_ARCHIVE,
        )
    })?;
    // Rename last, so an interrupted build never looks like a cached one.
    let _ = std::fs::remove_dir_all(&out);
    std::fs::rename(&staging, &out)
        .with_context(|| format!("moving binaries to {}", out.display()))?;
    eprintln!(
        "testenv binaries for {} built in {:.0}s into {}",
        pins.kubernetes_version,
        started.elapsed().as_secs_f64(),
        bin.display()
    );
    Ok(bin)
}

/// An image of binary `name` for the test node, as an OCI layout tar `archive` beside the
/// binaries, its index named `reference`: the sandbox image every node imports, and the
/// workload image tests push to their registry.
fn node_image(bin: &Path, name: &str, reference: &str, archive: &str) -> anyhow::Result<()> {
    let binary = std::fs::read(bin.join(name)).with_context(|| format!("reading {name}"))?;
    let base = driftless_oci_image::base_layer(b"")?;
    let image = driftless_oci_image::image(
        name,
        "amd64",
        &binary,
        &base,
        &std::collections::BTreeMap::new(),
    )?;
    let index = driftless_oci_image::index(&[("amd64", &image)])?;
    let (repository, tag) = reference
        .rsplit_once(':')
        .with_context(|| format!("{reference} has no tag"))?;
    let mut blobs = image.layers.clone();
    blobs.extend([image.config.clone(), image.manifest.clone()]);
    let layout = tempfile::tempdir()?;
    driftless_oci_image::write_layout(
        layout.path(),
        tag,
        &[(repository.to_owned(), blobs, index)],
    )?;
    // Written beside, then renamed: an interrupted run never leaves a partial archive.
    let partial = bin.join(format!("{archive}.partial"));
    let mut tar = tar::Builder::new(std::fs::File::create(&partial)?);
    tar.append_dir_all(".", layout.path())?;
    tar.finish()?;
    std::fs::rename(&partial, bin.join(archive))?;
    Ok(())
}

fn version_ldflags(version: &str) -> anyhow::Result<String> {
    let mut parts = version.trim_start_matches('v').split('.');
    let (Some(major), Some(minor)) = (parts.next(), parts.next()) else {
        bail!("unexpected Kubernetes version {version}");
    };
    // Without these, /version reports v0.0.0 and version-checking clients (flux check) refuse.
    let mut flags = Vec::new();
    for package in [
        "k8s.io/component-base/version",
        "k8s.io/client-go/pkg/version",
    ] {
        flags.push(format!("-X {package}.gitVersion={version}"));
        flags.push(format!("-X {package}.gitMajor={major}"));
        flags.push(format!("-X {package}.gitMinor={minor}"));
    }
    flags.push("-X k8s.io/component-base/version.gitTreeState=clean".into());
    flags.push("-X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z".into());
    Ok(flags.join(" "))
}

fn apiserver_version(bin: &Path) -> Option<String> {
    let output = Command::new(bin.join("kube-apiserver"))
        .arg("--version")
        .output()
        .ok()?;
    String::from_utf8(output.stdout)
        .ok()?
        .trim()
        .strip_prefix("Kubernetes ")
        .map(str::to_owned)
}
