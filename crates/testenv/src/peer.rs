//! Flux's own controllers as the peer the benchmarks compare with: built from their Go modules
//! by `cargo xtask peer build` into `<cache>/peer/<name>-<version>/`, beside the CRDs of
//! the same release. Nothing of Flux is in the repository but these pins.

use std::path::PathBuf;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;

use crate::{Error, Result};

/// One of Flux's controllers, pinned.
pub struct FluxController {
    /// `source-controller`, `kustomize-controller`, `helm-controller`.
    pub name: &'static str,
    pub version: &'static str,
    /// Module versions the proxy here refuses, replaced by ones it serves (`module`,
    /// `replacement@version`).
    pub replaces: &'static [(&'static str, &'static str)],
}

pub const FLUX_SOURCE_CONTROLLER: FluxController = FluxController {
    name: "source-controller",
    version: "v1.9.6",
    replaces: &[(
        "github.com/fluxcd/pkg/artifact",
        "github.com/fluxcd/pkg/artifact@v0.18.0",
    )],
};

pub const FLUX_KUSTOMIZE_CONTROLLER: FluxController = FluxController {
    name: "kustomize-controller",
    version: "v1.9.6",
    replaces: &[],
};

pub const FLUX_HELM_CONTROLLER: FluxController = FluxController {
    name: "helm-controller",
    version: "v1.6.0",
    replaces: &[(
        "github.com/fluxcd/pkg/chartutil",
        "github.com/fluxcd/pkg/chartutil@v1.28.0",
    )],
};

/// Every pinned controller, in the order they are built.
pub const FLUX_CONTROLLERS: [&FluxController; 3] = [
    &FLUX_SOURCE_CONTROLLER,
    &FLUX_KUSTOMIZE_CONTROLLER,
    &FLUX_HELM_CONTROLLER,
];

impl FluxController {
    /// The Go module, e.g. `github.com/fluxcd/source-controller`.
    pub fn module(&self) -> String {
        format!("github.com/fluxcd/{}", self.name)
    }

    pub fn dir(&self) -> PathBuf {
        crate::binaries::cache_root()
            .join("peer")
            .join(format!("{}-{}", self.name, self.version))
    }

    /// The built executable; an error naming the build command if missing.
    pub fn path(&self) -> Result<PathBuf> {
        crate::binaries::file_in(&self.dir(), self.name)
            .ok_or_else(|| Error::PeerMissing(self.dir()))
    }

    /// Where the build keeps the release's CRDs (`config/crd/bases`).
    pub fn crds_dir(&self) -> PathBuf {
        self.dir().join("crds")
    }

    /// The CRDs of this release.
    pub fn crds(&self) -> Result<Vec<CustomResourceDefinition>> {
        let dir = self.crds_dir();
        let io = |e| Error::Io(dir.display().to_string(), e);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io)?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        let mut crds = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Io(path.display().to_string(), e))?;
            for document in serde_yaml::Deserializer::from_str(&text) {
                let value = serde_yaml::Value::deserialize(document)
                    .map_err(|e| Error::Io(path.display().to_string(), std::io::Error::other(e)))?;
                if value.is_null() {
                    continue;
                }
                let crd = serde_yaml::from_value(value)
                    .map_err(|e| Error::Io(path.display().to_string(), std::io::Error::other(e)))?;
                crds.push(crd);
            }
        }
        Ok(crds)
    }
}
