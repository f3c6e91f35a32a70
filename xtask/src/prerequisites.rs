//! What the tests need besides Rust: Go for the control plane and the reference tools, the
//! system packages the tests run (installed with apt-get when running as root, otherwise
//! named), the reference tools (helm, sops, age-keygen) and the control plane itself.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The oldest Go that builds the pinned Kubernetes.
const GO_MINOR: u32 = 26;

/// A Debian package and how to tell it is installed.
struct Package {
    name: &'static str,
    installed: fn() -> bool,
}

const PACKAGES: [Package; 15] = [
    Package {
        name: "git",
        installed: || on_path("git"),
    },
    Package {
        name: "curl",
        installed: || on_path("curl"),
    },
    Package {
        name: "pkg-config",
        installed: || on_path("pkg-config"),
    },
    Package {
        name: "build-essential",
        installed: || on_path("cc"),
    },
    // Keys and clients for the SSH Git server tests.
    Package {
        name: "openssh-client",
        installed: || on_path("ssh") && on_path("ssh-keygen"),
    },
    // The SSH Git server the source-controller tests start.
    Package {
        name: "openssh-server",
        installed: || Path::new("/usr/sbin/sshd").is_file(),
    },
    // Signs the commits the verification tests check.
    Package {
        name: "gnupg",
        installed: || on_path("gpg"),
    },
    // The container registry the image automation tests scan and push to.
    Package {
        name: "docker-registry",
        installed: || Path::new("/usr/bin/docker-registry").is_file(),
    },
    // musl-gcc, for the C parts of the static binaries `cargo xtask images` packs.
    Package {
        name: "musl-tools",
        installed: || on_path("musl-gcc"),
    },
    // The test node (`Options::node`): containerd with runc, the CNI plugins, kube-proxy's
    // iptables, and iproute2 for the node's network namespace.
    Package {
        name: "containerd",
        installed: || Path::new("/usr/bin/containerd").is_file() && on_path("ctr"),
    },
    Package {
        name: "runc",
        installed: || on_path("runc") || Path::new("/usr/sbin/runc").is_file(),
    },
    Package {
        name: "containernetworking-plugins",
        installed: || Path::new("/usr/lib/cni/bridge").is_file(),
    },
    Package {
        name: "iptables",
        installed: || on_path("iptables") || Path::new("/usr/sbin/iptables").is_file(),
    },
    Package {
        name: "iproute2",
        installed: || on_path("ip"),
    },
    // Scores the kustomize conformance cases (../shared/conformance/kustomize/run.py).
    Package {
        name: "python3-yaml",
        installed: || {
            Command::new("python3")
                .args(["-c", "import yaml"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        },
    },
];

/// Checks Go, installs or names missing system packages, installs the reference tools and
/// builds the control plane (each unless cached).
pub fn ensure() -> anyhow::Result<()> {
    check_go()?;
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|p| !(p.installed)())
        .map(|p| p.name)
        .collect();
    if !missing.is_empty() {
        if !is_root() || !on_path("apt-get") {
            bail!(
                "the tests need these system packages, which are missing: {}\n\
                 install them (`sudo apt-get install {}` on Debian or Ubuntu), or run this \
                 command as root to have it install them with apt-get",
                missing.join(", "),
                missing.join(" ")
            );
        }
        crate::progress::step(
            &format!("installing {} (apt-get)", missing.join(" ")),
            || apt_get_install(&missing),
        )?;
    }
    crate::testenv::build()?;
    Ok(())
}

/// What cross-compiling the static controllers for `arch` needs, installed when missing
/// (as root, with rustup and apt-get) or named: the Rust target, and for arm64 Debian's
/// cross gcc with musl's arm64 headers and libraries (a foreign architecture for dpkg).
pub fn ensure_cross_toolchain(arch: crate::images::Arch) -> anyhow::Result<()> {
    let target = arch.target();
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == target)
    {
        let status = Command::new("rustup")
            .args(["target", "add", target])
            .status()
            .context("running rustup")?;
        if !status.success() {
            bail!("`rustup target add {target}` failed ({status})");
        }
    }
    let (compiler, packages): (&str, &[&str]) = match arch {
        crate::images::Arch::Amd64 => ("musl-gcc", &["musl-tools"]),
        crate::images::Arch::Arm64 => (
            "aarch64-linux-musl-gcc",
            &["gcc-aarch64-linux-gnu", "musl-dev:arm64"],
        ),
    };
    if on_path(compiler) {
        return Ok(());
    }
    if !is_root() || !on_path("apt-get") {
        bail!(
            "{compiler} is missing; install {} (for arm64 first `dpkg --add-architecture arm64` \
             and `apt-get update`), or build fewer platforms with `--arch`",
            packages.join(" ")
        );
    }
    if arch == crate::images::Arch::Arm64 {
        let status = Command::new("dpkg")
            .args(["--add-architecture", "arm64"])
            .status()
            .context("running dpkg")?;
        if !status.success() {
            bail!("dpkg --add-architecture arm64 failed ({status})");
        }
    }
    crate::progress::step(
        &format!("installing {} (apt-get)", packages.join(" ")),
        || apt_get_install(packages),
    )
}

fn apt_get_install(packages: &[&str]) -> anyhow::Result<()> {
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(args)
            .status()
            .context("running apt-get")?;
        if !status.success() {
            bail!("apt-get {} failed ({status})", args.join(" "));
        }
        Ok(())
    };
    run(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq"];
    install.extend_from_slice(packages);
    run(&install)
}

/// Go 1.26 or newer builds the control plane and installs the reference tools.
fn check_go() -> anyhow::Result<()> {
    let output = Command::new("go")
        .args(["env", "GOVERSION"])
        .output()
        .with_context(|| format!("running `go` (Go 1.{GO_MINOR} or newer is needed)"))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let minor = version
        .strip_prefix("go1.")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|m| m.parse::<u32>().ok());
    match minor {
        Some(minor) if minor >= GO_MINOR => Ok(()),
        _ => bail!(
            "Go 1.{GO_MINOR} or newer is needed to build the test control plane (found {version:?})"
        ),
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
