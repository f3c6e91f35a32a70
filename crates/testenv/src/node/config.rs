//! The node's configuration files, as pure functions of its paths and addresses.
//!
//! The machine mounts cgroup v1 hierarchies (plus a v2 `unified` mount), so the kubelet runs
//! with `failCgroupV1: false` and the `cgroupfs` driver: Debian's containerd 1.6 does not
//! answer the CRI `RuntimeConfig` call, and Kubernetes 1.36 still falls back to the
//! kubelet's own driver then. Each node's cgroups live under a parent of its own
//! (`cgroupRoot`), so nodes of parallel tests never share one.

use std::net::Ipv4Addr;
use std::path::Path;

/// The Pod subnet of every node; nodes live in separate network namespaces.
pub(crate) const POD_SUBNET: &str = "10.244.0.0/24";

/// containerd 1.6's configuration: state under `dir`, the CRI plugin with runc (cgroupfs),
/// CNI from Debian's `containernetworking-plugins`, registries described in `certs.d`.
pub(crate) fn containerd(dir: &Path, socket: &Path, sandbox_image: &str) -> String {
    let d = dir.display();
    format!(
        r#"version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  # The machine withholds CAP_SYS_RESOURCE: no process may lower its OOM score, and runc
  # fails to start a container the kubelet asks for -998 (a sandbox) or -997.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{d}/certs.d"
"#,
        socket = socket.display(),
    )
}

/// The Pod network: a bridge with host-local addresses, masquerading what leaves it (so Pods
/// reach the host through the node's veth), and host ports.
pub(crate) fn cni(dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "driftless",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": dir.join("cni-ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
        ],
    })
    .to_string()
}

/// `hosts.toml` letting containerd pull from a plain-HTTP registry at `host` (`ip:port`).
pub(crate) fn plain_http_registry(host: &str) -> String {
    format!(
        "server = \"http://{host}\"\n\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    )
}

pub(crate) struct Kubelet<'a> {
    pub dir: &'a Path,
    pub socket: &'a Path,
    pub node_ip: Ipv4Addr,
    pub cgroup_root: &'a str,
    pub client_ca: &'a Path,
    pub cluster_dns: Ipv4Addr,
}

/// The kubelet's configuration. Eviction thresholds are nearly off (absolute, not a share of
/// the disk): the tests share one disk whose free space they do not control, and disk
/// pressure would taint the node and fail them for nothing (seen with 1% of 252 GB left).
pub(crate) fn kubelet(k: &Kubelet<'_>) -> String {
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /{cgroup_root}
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://{socket}
address: {node_ip}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {client_ca}
authorization:
  mode: Webhook
failSwapOn: false
evictionHard:
  memory.available: 1Mi
  nodefs.available: 100Mi
  nodefs.inodesFree: 1%
  imagefs.available: 100Mi
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
clusterDNS:
- {cluster_dns}
podLogsDir: {dir}/pod-logs
syncFrequency: 10s
fileCheckFrequency: 10s
shutdownGracePeriod: 0s
"#,
        cgroup_root = k.cgroup_root,
        socket = k.socket.display(),
        node_ip = k.node_ip,
        client_ca = k.client_ca.display(),
        cluster_dns = k.cluster_dns,
        dir = k.dir.display(),
    )
}

/// kube-proxy in iptables mode. Conntrack sysctls are left alone (they are the host's), and
/// Service traffic is masqueraded so replies between Pods on the one bridge come back
/// through the node without `br_netfilter`.
pub(crate) fn kube_proxy(name: &str, kubeconfig: &Path) -> String {
    format!(
        r#"apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: {name}
clusterCIDR: {POD_SUBNET}
clientConnection:
  kubeconfig: {kubeconfig}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  masqueradeAll: true
  localhostNodePorts: false
"#,
        kubeconfig = kubeconfig.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_keeps_all_state_and_network_namespaces_under_the_node_dir() {
        let config = containerd(
            Path::new("/t/node"),
            Path::new("/t/node/containerd.sock"),
            "localhost/driftless/pause:test",
        );
        let parsed: toml::Value = toml::from_str(&config).unwrap();
        assert_eq!(parsed["root"].as_str(), Some("/t/node/containerd/root"));
        let cri = &parsed["plugins"]["io.containerd.grpc.v1.cri"];
        assert_eq!(cri["netns_mounts_under_state_dir"].as_bool(), Some(true));
        assert_eq!(cri["restrict_oom_score_adj"].as_bool(), Some(true));
        assert_eq!(
            cri["sandbox_image"].as_str(),
            Some("localhost/driftless/pause:test")
        );
        assert_eq!(
            cri["registry"]["config_path"].as_str(),
            Some("/t/node/certs.d")
        );
        let runc = &cri["containerd"]["runtimes"]["runc"]["options"];
        assert_eq!(runc["SystemdCgroup"].as_bool(), Some(false));
    }

    #[test]
    fn kubelet_runs_on_cgroup_v1_under_its_own_parent() {
        let config = kubelet(&Kubelet {
            dir: Path::new("/t/node"),
            socket: Path::new("/t/node/containerd.sock"),
            node_ip: Ipv4Addr::new(10, 213, 0, 2),
            cgroup_root: "driftless-node-1-0",
            client_ca: Path::new("/t/client-ca.crt"),
            cluster_dns: Ipv4Addr::new(10, 96, 0, 10),
        });
        let parsed: serde_yaml::Value = serde_yaml::from_str(&config).unwrap();
        assert_eq!(parsed["failCgroupV1"], serde_yaml::Value::Bool(false));
        assert_eq!(parsed["cgroupDriver"].as_str(), Some("cgroupfs"));
        assert_eq!(parsed["cgroupRoot"].as_str(), Some("/driftless-node-1-0"));
        assert_eq!(parsed["address"].as_str(), Some("10.213.0.2"));
        assert_eq!(parsed["clusterDNS"][0].as_str(), Some("10.96.0.10"));
        assert_eq!(
            parsed["containerRuntimeEndpoint"].as_str(),
            Some("unix:///t/node/containerd.sock")
        );
    }

    #[test]
    fn pods_get_bridge_addresses_and_masquerade_to_reach_the_host() {
        let conf: serde_json::Value = serde_json::from_str(&cni(Path::new("/t/node"))).unwrap();
        let bridge = &conf["plugins"][0];
        assert_eq!(bridge["type"], "bridge");
        assert_eq!(bridge["ipMasq"], true);
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], POD_SUBNET);
        assert_eq!(bridge["ipam"]["dataDir"], "/t/node/cni-ipam");
    }

    #[test]
    fn plain_http_registries_are_pulled_over_http() {
        let hosts: toml::Value = toml::from_str(&plain_http_registry("10.213.0.1:5000")).unwrap();
        assert_eq!(hosts["server"].as_str(), Some("http://10.213.0.1:5000"));
        assert!(hosts["host"]["http://10.213.0.1:5000"]["capabilities"].is_array());
    }
}
