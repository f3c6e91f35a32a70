//! What the node-backed tests share: the control plane with its node and a registry the node
//! pulls from, agnhost pushed there, and the controllers' images made from this run's debug
//! builds.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use driftless_e2e::controller_binary;
use driftless_oci_image::{Blob, Entry, base_layer, image_with, index, layer, push};
use driftless_testenv::registry::{Registry, RegistryOptions, push_layout};
use driftless_testenv::{ControlPlane, NodeBinaries, Options};

pub const CONTROLLERS: [&str; 5] = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "image-automation-controller",
    "notification-controller",
];

/// Runs this build's `driftless` CLI against `plane`: whether it succeeded, and its output.
pub fn driftless(plane: &ControlPlane, args: &[String]) -> (bool, String) {
    let output = Command::new(driftless_e2e::repo_root().join("target/debug/driftless"))
        .env("KUBECONFIG", plane.kubeconfig_path())
        .args(args)
        .output()
        .expect("running driftless (cargo build --bins)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// `driftless install`/`bootstrap` flags for the images [`push_controller_images`] pushed
/// to `registry` as `tag`, pinned by `digests`.
pub fn image_flags(registry: &str, tag: &str, digests: &BTreeMap<String, String>) -> Vec<String> {
    let mut flags = vec![
        format!("--registry={registry}/driftless/"),
        format!("--image-tag={tag}"),
    ];
    for (name, digest) in digests {
        flags.push(format!("--set=controllers.{name}.digest={digest}"));
    }
    flags
}

/// A control plane with a node (its CRDs installed unless the test installs them, as a
/// user would), and a registry on the node's link that its containerd pulls from.
pub async fn node_plane(install_crds: bool) -> (ControlPlane, kube::Client, Registry) {
    let plane = ControlPlane::start(Options {
        node: true,
        install_crds,
        ..Options::default()
    })
    .await
    .expect("control plane with a node");
    let node = plane.node().expect("the node");
    let registry = Registry::start(RegistryOptions {
        listen_on: Some(node.host_ip),
        ..RegistryOptions::default()
    })
    .expect("registry");
    node.allow_plain_http(&registry.host).expect("hosts.toml");
    let client = plane.client().await.expect("client");
    (plane, client, registry)
}

/// Kubernetes' e2e image agnhost, pushed to `registry`: its reference by digest.
pub async fn agnhost(registry: &Registry) -> String {
    let archive = NodeBinaries::locate()
        .expect("node binaries")
        .agnhost_archive;
    let digest = push_layout(&registry.host, &archive, "e2e/agnhost", "test")
        .await
        .expect("push agnhost");
    format!("{}/e2e/agnhost@{digest}", registry.host)
}

/// Images of the controllers as this test run built them (debug builds, linked against the
/// machine's glibc, so the libraries they load ride in a layer of their own), made and
/// pushed with the code of `cargo xtask images`. Returns each controller's index digest.
pub async fn push_controller_images(registry: &str, tag: &str) -> BTreeMap<String, String> {
    let base = base_layer(&std::fs::read("/etc/ssl/certs/ca-certificates.crt").expect("CA bundle"))
        .expect("base layer");
    let binaries: Vec<_> = CONTROLLERS.iter().map(|n| controller_binary(n)).collect();
    let libraries = shared_libraries(&binaries);
    let labels = BTreeMap::from([(
        "org.opencontainers.image.version".to_owned(),
        tag.to_owned(),
    )]);
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut digests = BTreeMap::new();
    for (name, binary) in CONTROLLERS.iter().zip(&binaries) {
        // Line tables are of no use in an image and triple its size.
        let stripped = scratch.path().join(name);
        let status = Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(&stripped)
            .arg(binary)
            .status()
            .expect("strip (binutils)");
        assert!(status.success());
        let bytes = std::fs::read(&stripped).expect("stripped binary");
        let made = image_with(
            name,
            "amd64",
            &bytes,
            &[base.clone(), libraries.clone()],
            &labels,
        )
        .expect("image");
        let index = index(&[("amd64", &made)]).expect("index");
        let digest = push(
            registry,
            &format!("driftless/{name}"),
            tag,
            &[&made],
            &index,
            true,
        )
        .await
        .expect("push");
        digests.insert(name.to_string(), digest);
    }
    digests
}

/// A layer with the shared libraries (and the loader) `binaries` need, at the paths `ldd`
/// resolves them to.
fn shared_libraries(binaries: &[std::path::PathBuf]) -> (Blob, String) {
    let mut paths = BTreeSet::new();
    for binary in binaries {
        let output = Command::new("ldd").arg(binary).output().expect("ldd");
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let path = match line.split_once("=>") {
                Some((_, resolved)) => resolved.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(path) = path.filter(|p| p.starts_with('/')) {
                paths.insert(path.to_owned());
            }
        }
    }
    let files: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).expect("library");
            (path.trim_start_matches('/').to_owned(), bytes)
        })
        .collect();
    let entries: Vec<Entry<'_>> = files
        .iter()
        .map(|(path, data)| Entry {
            path,
            mode: 0o755,
            data,
        })
        .collect();
    layer(&entries).expect("libraries layer")
}
