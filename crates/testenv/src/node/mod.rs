//! A real node for the test control plane ([`crate::Options::node`]): containerd (Debian's)
//! with runc and the CNI bridge, the kubelet and kube-proxy built from the same Go module as
//! the API server. They run in a network namespace of the node's own (see [`network`]), so
//! Pods get real addresses, Services real rules, and nothing of it touches the host's network.

mod config;
mod dns;
mod network;
mod teardown;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node as NodeObject;
use kube::Api;

pub(crate) use network::NodeNetwork;
pub(crate) use teardown::{sweep_stale, teardown};

use crate::binaries::{COREDNS_IMAGE, NodeBinaries, PAUSE_IMAGE};
use crate::process::Process;
use crate::{Error, Result};

/// Where Debian's `containerd` package installs it.
const CONTAINERD: &str = "/usr/bin/containerd";
const CTR: &str = "/usr/bin/ctr";
/// How long a node may take to register and report Ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The running node of a [`crate::ControlPlane`].
pub struct Node {
    /// The Node object's name (also its network namespace and cgroup parent).
    pub name: String,
    /// The host's end of the node's link: servers the node (its containerd, its Pods) must
    /// reach listen here, e.g. a registry started with `RegistryOptions::listen_on`.
    pub host_ip: Ipv4Addr,
    /// The node's InternalIP.
    pub node_ip: Ipv4Addr,
    dir: PathBuf,
    socket: PathBuf,
}

impl Node {
    /// Lets the node's containerd pull from the plain-HTTP registry at `host` (`ip:port`).
    pub fn allow_plain_http(&self, host: &str) -> Result<()> {
        let dir = self.dir.join("certs.d").join(host);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Io(format!("creating {}", dir.display()), e))?;
        write(&dir.join("hosts.toml"), &config::plain_http_registry(host))
    }

    /// containerd's socket, for `ctr --address`.
    pub fn containerd_socket(&self) -> &Path {
        &self.socket
    }
}

/// What the node needs from its control plane.
pub(crate) struct Plane<'a> {
    pub dir: &'a Path,
    pub client_ca: &'a Path,
    /// Kubeconfig YAML for `user` in `groups`, addressing the API server at the host end.
    pub kubeconfig: &'a dyn Fn(&str, &[&str]) -> Result<String>,
    pub client: kube::Client,
}

/// Starts containerd, the kubelet and kube-proxy in `network` and waits until the Node is
/// Ready. Each started process is handed to `add` at once, so the plane stops it on failure;
/// `alive` fails once one of them has exited.
pub(crate) async fn start(
    plane: Plane<'_>,
    network: NodeNetwork,
    binaries: &NodeBinaries,
    add: &dyn Fn(Process),
    alive: &dyn Fn() -> Result<()>,
) -> Result<Node> {
    let dir = plane.dir.join("node");
    for sub in ["cni", "certs.d", "pod-logs", "kubelet"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::Io(format!("creating {}", path.display()), e))?;
    }
    let node = Node {
        name: network.name.clone(),
        host_ip: network.host_ip,
        node_ip: network.node_ip,
        socket: dir.join("containerd.sock"),
        dir: dir.clone(),
    };

    let containerd_config = dir.join("containerd.toml");
    write(
        &containerd_config,
        &config::containerd(&dir, &node.socket, PAUSE_IMAGE),
    )?;
    write(&dir.join("cni/10-driftless.conflist"), &config::cni(&dir))?;
    let mut containerd = network.command(Path::new(CONTAINERD))?;
    containerd.arg("--config").arg(&containerd_config);
    add(Process::spawn(
        "containerd",
        containerd,
        &dir.join("containerd.log"),
    )?);
    wait_for("containerd", Duration::from_secs(30), alive, || {
        std::future::ready(ctr(&node.socket, &["version"]).is_ok())
    })
    .await?;
    // The sandbox and DNS images: the machine cannot pull them from their registries.
    for archive in [&binaries.pause_archive, &binaries.coredns_archive] {
        let archive = archive.display().to_string();
        ctr(
            &node.socket,
            &["-n", "k8s.io", "images", "import", &archive],
        )?;
    }

    let kubelet_kubeconfig = dir.join("kubelet.kubeconfig");
    write(
        &kubelet_kubeconfig,
        &(plane.kubeconfig)(&format!("system:node:{}", node.name), &["system:nodes"])?,
    )?;
    // The kubelet wants its cgroup parent to exist in every hierarchy already.
    teardown::create_cgroups(&node.name)?;
    let kubelet_config = dir.join("kubelet.yaml");
    write(
        &kubelet_config,
        &config::kubelet(&config::Kubelet {
            dir: &dir,
            socket: &node.socket,
            node_ip: node.node_ip,
            cgroup_root: &node.name,
            client_ca: plane.client_ca,
            cluster_dns: dns::DNS_SERVICE_IP,
        }),
    )?;
    let mut kubelet = network.command(&binaries.kubelet)?;
    kubelet
        .arg(format!("--config={}", kubelet_config.display()))
        .arg(format!("--kubeconfig={}", kubelet_kubeconfig.display()))
        .arg(format!("--root-dir={}", dir.join("kubelet").display()))
        .arg(format!("--hostname-override={}", node.name))
        .arg(format!("--node-ip={}", node.node_ip));
    add(Process::spawn(
        "kubelet",
        kubelet,
        &dir.join("kubelet.log"),
    )?);

    let proxy_kubeconfig = dir.join("kube-proxy.kubeconfig");
    write(
        &proxy_kubeconfig,
        &(plane.kubeconfig)("system:kube-proxy", &[])?,
    )?;
    let proxy_config = dir.join("kube-proxy.yaml");
    write(
        &proxy_config,
        &config::kube_proxy(&node.name, &proxy_kubeconfig),
    )?;
    let mut proxy = network.command(&binaries.kube_proxy)?;
    proxy.arg(format!("--config={}", proxy_config.display()));
    add(Process::spawn(
        "kube-proxy",
        proxy,
        &dir.join("kube-proxy.log"),
    )?);

    let nodes = Api::<NodeObject>::all(plane.client.clone());
    let name = node.name.clone();
    wait_for("the node", READY_TIMEOUT, alive, || {
        let nodes = nodes.clone();
        let name = name.clone();
        async move {
            nodes
                .get_opt(&name)
                .await
                .ok()
                .flatten()
                .is_some_and(|node| {
                    node.status
                        .and_then(|status| status.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                })
        }
    })
    .await
    .map_err(|e| match e {
        Error::NotReady {
            component, seconds, ..
        } => Error::NotReady {
            component,
            seconds,
            log: crate::process::log_tail(&dir.join("kubelet.log"), 40),
        },
        other => other,
    })?;

    dns::install(&plane.client, COREDNS_IMAGE).await?;
    let deployments = Api::<Deployment>::namespaced(plane.client, "kube-system");
    wait_for("cluster DNS", READY_TIMEOUT, alive, || {
        let deployments = deployments.clone();
        async move {
            deployments
                .get_opt("coredns")
                .await
                .ok()
                .flatten()
                .and_then(|d| d.status?.ready_replicas)
                .is_some_and(|ready| ready >= 1)
        }
    })
    .await?;
    Ok(node)
}

/// `ctr --address <socket> args…`.
fn ctr(socket: &Path, args: &[&str]) -> Result<()> {
    let mut command = Command::new(CTR);
    command.arg("--address").arg(socket);
    run(command, "ctr (Debian's containerd)", args)
}

/// Runs `program` (named `what` if it cannot start) with `args` to completion; a failure
/// carries the command line and what it wrote to stderr.
pub(crate) fn run(mut program: Command, what: &str, args: &[&str]) -> Result<()> {
    let name = program.get_program().to_string_lossy().into_owned();
    let output = program
        .args(args)
        .output()
        .map_err(|e| Error::Io(format!("running {what}"), e))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Io(
        format!("{name} {}", args.join(" ")),
        std::io::Error::other(String::from_utf8_lossy(&output.stderr).trim().to_owned()),
    ))
}

async fn wait_for<F, Fut>(
    component: &'static str,
    timeout: Duration,
    alive: &dyn Fn() -> Result<()>,
    ready: F,
) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + timeout;
    while !ready().await {
        alive()?;
        if std::time::Instant::now() > deadline {
            return Err(Error::NotReady {
                component,
                seconds: timeout.as_secs(),
                log: String::new(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| Error::Io(format!("writing {}", path.display()), e))
}
