//! A real Kubernetes control plane for tests: etcd, kube-apiserver (RBAC on) and
//! kube-controller-manager, built from Go modules by `cargo xtask testenv build` and
//! started here on free loopback ports.
//!
//! Tests in one test binary share one control plane ([`shared`]) and isolate themselves by
//! namespace ([`ControlPlane::namespace`]). Each test builds its own clients, because a
//! `kube::Client` is bound to the tokio runtime it was created on. The processes are stopped
//! when the test binary exits, and killed by the kernel if it dies (`PR_SET_PDEATHSIG`).

mod binaries;
mod certs;
pub mod charts;
pub mod conditions;
mod control_plane;
pub mod controller;
pub mod cosign;
pub mod git;
mod http;
pub mod json;
pub mod lifecycle;
pub mod node;
pub mod not_implemented;
pub mod objects;
pub mod peer;
mod process;
pub mod registry;
mod registry_token;
pub mod s3;
pub mod sops;
pub mod ssh;
pub mod tls;
pub mod wait;

pub use binaries::{
    AGE_KEYGEN, AGNHOST_IMAGE, Binaries, COREDNS, COREDNS_IMAGE, COSIGN, FLUX, HELM,
    KubernetesPins, NodeBinaries, PAUSE_IMAGE, SOPS, Tool, VERSITYGW,
};
pub use control_plane::{ControlPlane, Options, free_ports, shared};
pub use node::Node;

/// Errors starting or talking to the test control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("test control plane binaries not found at {0}: run `cargo xtask testenv build`")]
    BinariesMissing(std::path::PathBuf),
    #[error("reading the Go module pins in {path}: {source}")]
    Pins {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("generating certificates: {0}")]
    Certs(#[from] rcgen::Error),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{component} did not become ready within {seconds}s; last log lines:\n{log}")]
    NotReady {
        component: &'static str,
        seconds: u64,
        log: String,
    },
    #[error("{component} exited early ({status}); last log lines:\n{log}")]
    Exited {
        component: &'static str,
        status: String,
        log: String,
    },
    #[error("Flux's controller not built at {0}: run `cargo xtask peer build`")]
    PeerMissing(std::path::PathBuf),
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Makes ring rustls' process-wide provider, as the controllers do at start-up: with more than
/// one provider compiled in (source-controller's cosign verification brings aws-lc-rs), rustls
/// cannot pick one by itself.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
