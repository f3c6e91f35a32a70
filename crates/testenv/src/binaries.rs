//! Where the control-plane binaries live: a cache outside the clone, keyed by the Kubernetes
//! version and a digest of the Go module pins, so CI reuses them and a pin change rebuilds.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The Go module in `e2e/testenv` that pins `k8s.io/kubernetes` and etcd.
#[derive(Debug, Clone)]
pub struct KubernetesPins {
    /// Directory of the Go module.
    pub module_dir: PathBuf,
    /// `k8s.io/kubernetes` version, e.g. `v1.36.4`.
    pub kubernetes_version: String,
    /// First 12 hex digits of sha256(go.mod ‖ go.sum).
    pub digest: String,
}

impl KubernetesPins {
    /// Reads the pins of the repository's `e2e/testenv` module.
    pub fn load() -> Result<Self> {
        Self::load_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e/testenv"))
    }

    pub fn load_from(module_dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            let path = module_dir.join(name);
            std::fs::read(&path).map_err(|source| Error::Pins { path, source })
        };
        let go_mod = read("go.mod")?;
        let go_sum = read("go.sum")?;
        let kubernetes_version = String::from_utf8_lossy(&go_mod)
            .lines()
            .filter_map(|line| line.trim().strip_prefix("k8s.io/kubernetes "))
            .filter_map(|rest| rest.split_whitespace().next())
            .next()
            .map(str::to_owned)
            .ok_or_else(|| Error::Pins {
                path: module_dir.join("go.mod"),
                source: std::io::Error::other("no `k8s.io/kubernetes vX.Y.Z` requirement"),
            })?;
        let mut hasher = Sha256::new();
        hasher.update(&go_mod);
        hasher.update(&go_sum);
        let digest = hex(&hasher.finalize())[..12].to_owned();
        Ok(Self {
            module_dir: module_dir.canonicalize().unwrap_or(module_dir.to_owned()),
            kubernetes_version,
            digest,
        })
    }

    /// Cache directory for binaries built from these pins:
    /// `$DRIFTLESS_CACHE_DIR` or `$XDG_CACHE_HOME/driftless` or `~/.cache/driftless`,
    /// then `testenv/<version>-<digest>`.
    pub fn cache_dir(&self) -> PathBuf {
        cache_root()
            .join("testenv")
            .join(format!("{}-{}", self.kubernetes_version, self.digest))
    }
}

/// Reference CLIs used by tests, installed with `go install <module>@<version>` by
/// `cargo xtask testenv build` into `<cache>/tools/<name>-<version>/`.
pub struct Tool {
    pub name: &'static str,
    pub module: &'static str,
    pub version: &'static str,
}

pub const HELM: Tool = Tool {
    name: "helm",
    module: "helm.sh/helm/v3/cmd/helm",
    version: "v3.21.4",
};

/// Encrypts the SOPS fixtures the kustomize-controller decryption tests decrypt.
pub const SOPS: Tool = Tool {
    name: "sops",
    module: "github.com/getsops/sops/v3/cmd/sops",
    version: "v3.13.3",
};

/// Makes the age identities those fixtures are encrypted to.
pub const AGE_KEYGEN: Tool = Tool {
    name: "age-keygen",
    module: "filippo.io/age/cmd/age-keygen",
    version: "v1.3.2",
};

/// The S3-compatible server the Bucket tests list and download from (its POSIX backend).
pub const VERSITYGW: Tool = Tool {
    name: "versitygw",
    module: "github.com/versity/versitygw/cmd/versitygw",
    version: "v1.8.0",
};

/// Signs the artifacts the OCIRepository verification tests verify.
pub const COSIGN: Tool = Tool {
    name: "cosign",
    module: "github.com/sigstore/cosign/v2/cmd/cosign",
    version: "v2.6.5",
};

/// Pushes OCI artifacts for the OCIRepository tests as Flux users do (`flux push artifact`).
/// Not `go install`-able (its module has a `replace` line and embeds generated manifests):
/// `cargo xtask testenv build` builds it from the downloaded module instead.
pub const FLUX: Tool = Tool {
    name: "flux",
    module: "github.com/fluxcd/flux2/v2",
    version: "v2.9.5",
};

impl Tool {
    pub fn dir(&self) -> PathBuf {
        cache_root()
            .join("tools")
            .join(format!("{}-{}", self.name, self.version))
    }

    /// Path of the installed executable; an error naming the build command if missing.
    pub fn path(&self) -> Result<PathBuf> {
        file_in(&self.dir(), self.name).ok_or_else(|| Error::BinariesMissing(self.dir()))
    }
}

/// `dir/name`, if that file exists.
pub(crate) fn file_in(dir: &Path, name: &str) -> Option<PathBuf> {
    let path = dir.join(name);
    path.is_file().then_some(path)
}

pub(crate) fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("DRIFTLESS_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("driftless")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `$DRIFTLESS_TESTENV_BIN` if set, else the `bin` directory of the current pins' cache.
fn bin_dir() -> Result<PathBuf> {
    Ok(match std::env::var_os("DRIFTLESS_TESTENV_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => KubernetesPins::load()?.cache_dir().join("bin"),
    })
}

/// Paths of the three control-plane executables.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
}

impl Binaries {
    pub const NAMES: [&'static str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];

    /// In `$DRIFTLESS_TESTENV_BIN` if set, else in the cache directory of the current pins.
    pub fn locate() -> Result<Self> {
        Self::in_dir(&bin_dir()?)
    }

    pub fn in_dir(dir: &Path) -> Result<Self> {
        let binaries = Self {
            etcd: dir.join("etcd"),
            kube_apiserver: dir.join("kube-apiserver"),
            kube_controller_manager: dir.join("kube-controller-manager"),
        };
        for path in [
            &binaries.etcd,
            &binaries.kube_apiserver,
            &binaries.kube_controller_manager,
        ] {
            if !path.is_file() {
                return Err(Error::BinariesMissing(dir.to_owned()));
            }
        }
        Ok(binaries)
    }
}

/// The sandbox image every test node imports (built from `e2e/testenv/pause`): the machine
/// cannot pull `registry.k8s.io/pause`.
pub const PAUSE_IMAGE: &str = "localhost/driftless/pause:test";

/// Kubernetes' e2e test image (`netexec` serves `/healthz` and `/readyz`, and more), built
/// from the same module as the API server: what tests run as Pods.
pub const AGNHOST_IMAGE: &str = "localhost/driftless/agnhost:test";

/// The test node's cluster DNS, deployed by every node (built from [`COREDNS`]).
pub const COREDNS_IMAGE: &str = "localhost/driftless/coredns:test";

/// The test node's cluster DNS server.
pub const COREDNS: Tool = Tool {
    name: "coredns",
    module: "github.com/coredns/coredns",
    version: "v1.14.7",
};

/// Paths of the test node's executables and images, built beside [`Binaries`] (CoreDNS
/// with the tools).
#[derive(Debug, Clone)]
pub struct NodeBinaries {
    pub kube_scheduler: PathBuf,
    pub kubelet: PathBuf,
    pub kube_proxy: PathBuf,
    /// OCI layout tar of [`PAUSE_IMAGE`].
    pub pause_archive: PathBuf,
    /// OCI layout tar of [`AGNHOST_IMAGE`].
    pub agnhost_archive: PathBuf,
    /// OCI layout tar of [`COREDNS_IMAGE`].
    pub coredns_archive: PathBuf,
}

impl NodeBinaries {
    pub const PAUSE_ARCHIVE: &'static str = "pause.oci.tar";
    pub const AGNHOST_ARCHIVE: &'static str = "agnhost.oci.tar";
    pub const COREDNS_ARCHIVE: &'static str = "coredns.oci.tar";

    /// Beside [`Binaries::locate`]'s.
    pub fn locate() -> Result<Self> {
        Self::in_dir(&bin_dir()?)
    }

    pub fn in_dir(dir: &Path) -> Result<Self> {
        let binaries = Self {
            kube_scheduler: dir.join("kube-scheduler"),
            kubelet: dir.join("kubelet"),
            kube_proxy: dir.join("kube-proxy"),
            pause_archive: dir.join(Self::PAUSE_ARCHIVE),
            agnhost_archive: dir.join(Self::AGNHOST_ARCHIVE),
            coredns_archive: COREDNS.dir().join(Self::COREDNS_ARCHIVE),
        };
        for path in [
            &binaries.kube_scheduler,
            &binaries.kubelet,
            &binaries.kube_proxy,
            &binaries.pause_archive,
            &binaries.agnhost_archive,
            &binaries.coredns_archive,
        ] {
            if !path.is_file() {
                return Err(Error::BinariesMissing(path.to_owned()));
            }
        }
        Ok(binaries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_name_the_kubernetes_release_and_change_with_go_sum() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("go.mod"),
            "module x\n\nrequire (\n\tk8s.io/kubernetes v1.36.4 // indirect\n)\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("go.sum"), "a v1 h1:x\n").unwrap();
        let first = KubernetesPins::load_from(dir.path()).unwrap();
        assert_eq!(first.kubernetes_version, "v1.36.4");
        std::fs::write(dir.path().join("go.sum"), "a v1 h1:y\n").unwrap();
        let second = KubernetesPins::load_from(dir.path()).unwrap();
        assert_ne!(first.digest, second.digest);
        assert!(
            second
                .cache_dir()
                .ends_with(format!("testenv/v1.36.4-{}", second.digest))
        );
    }

    #[test]
    fn repository_pins_load() {
        let pins = KubernetesPins::load().unwrap();
        assert!(pins.kubernetes_version.starts_with("v1."));
    }
}
