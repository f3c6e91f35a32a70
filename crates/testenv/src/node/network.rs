//! The node's network namespace, joined to the host by a veth pair. Everything Pod networking
//! changes (the CNI bridge, Pod routes, kube-proxy's and the bridge plugin's iptables rules)
//! stays inside it; the host only gains the veth end and its /30.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Error, Result};

/// Names of this machine's node namespaces start with this, then `<pid>-<n>` of the test
/// process that made them, so leftovers of killed runs can be found and removed.
pub(crate) const PREFIX: &str = "driftless-node-";

pub(crate) struct NodeNetwork {
    /// Namespace name, node name and cgroup parent alike.
    pub name: String,
    /// The host's end: the API server, registries and Git servers the node uses listen here.
    pub host_ip: Ipv4Addr,
    /// The node's InternalIP.
    pub node_ip: Ipv4Addr,
}

impl NodeNetwork {
    pub fn create() -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (slot, host_ip, node_ip) = free_slot()?;
        // Interface names are limited to 15 bytes; the slot is unique among live nodes.
        let (host_if, node_if) = (format!("dlh{slot:x}"), format!("dln{slot:x}"));
        let network = Self {
            name,
            host_ip,
            node_ip,
        };
        ip(&["netns", "add", &network.name])?;
        // From here on a failure removes the namespace (and with it both veth ends).
        let configured = (|| {
            ip(&[
                "link", "add", &host_if, "type", "veth", "peer", "name", &node_if,
            ])?;
            ip(&["link", "set", &node_if, "netns", &network.name])?;
            ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if])?;
            ip(&["link", "set", &host_if, "up"])?;
            let ns = network.name.as_str();
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{node_ip}/30"),
                "dev",
                &node_if,
            ])?;
            ip(&["-n", ns, "link", "set", &node_if, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                ns,
                "route",
                "add",
                "default",
                "via",
                &host_ip.to_string(),
            ])?;
            // Pods reach the host (API server, registry, Git) through the node: forward there.
            network.exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"])
        })();
        if let Err(e) = configured {
            remove(&network.name);
            return Err(e);
        }
        Ok(network)
    }

    /// `program args…` run inside the namespace, to completion.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<()> {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A command that runs `program` in the namespace's network, and in the host's mount
    /// namespace: `ip netns exec` would give each program a mount namespace of its own, and
    /// the kubelet's volume mounts must be the ones containerd binds into containers.
    pub fn command(&self, program: &Path) -> Result<Command> {
        let path = Path::new("/run/netns").join(&self.name);
        let netns = std::fs::File::open(&path)
            .map_err(|e| Error::Io(format!("opening {}", path.display()), e))?;
        let mut command = Command::new(program);
        // containerd finds runc, and kube-proxy iptables, on the PATH; both are in sbin.
        let path = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{path}:/usr/local/sbin:/usr/sbin:/sbin"));
        // SAFETY: setns(2) is async-signal-safe; the file stays open in the parent (and is
        // moved into the closure), and is close-on-exec in the child.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(command)
    }
}

/// Deletes namespace `name`; its veth end goes with it, and so does the host's.
pub(crate) fn remove(name: &str) {
    let _ = ip(&["netns", "delete", name]);
}

/// The names of the node namespaces on this machine.
pub(crate) fn existing() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().into_string().ok())
                .filter(|name| name.starts_with(PREFIX))
                .collect()
        })
        .unwrap_or_default()
}

/// A /30 in 10.213.0.0/16 that no interface of the host uses: (slot, host end, node end).
fn free_slot() -> Result<(u16, Ipv4Addr, Ipv4Addr)> {
    let output = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .map_err(|e| Error::Io("running `ip addr` (iproute2)".into(), e))?;
    let used = String::from_utf8_lossy(&output.stdout).into_owned();
    for _ in 0..200 {
        let slot: u16 = rand::random_range(0..16_384);
        let base = u32::from(Ipv4Addr::new(10, 213, 0, 0)) + u32::from(slot) * 4;
        let (host_ip, node_ip) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
        if !used.contains(&format!(" {host_ip}/")) {
            return Ok((slot, host_ip, node_ip));
        }
    }
    Err(Error::Io(
        "choosing the node's subnet".into(),
        std::io::Error::other("no free /30 in 10.213.0.0/16"),
    ))
}

fn ip(args: &[&str]) -> Result<()> {
    super::run(Command::new("ip"), "`ip` (iproute2)", args)
}
