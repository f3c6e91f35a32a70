use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::OnceCell;

use crate::binaries::{Binaries, NodeBinaries};
use crate::certs::Pki;
use crate::node::{Node, NodeNetwork};
use crate::process::Process;
use crate::{Error, Result};

const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The first address of `--service-cluster-ip-range`: the `kubernetes` Service's.
const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);

/// What to start besides etcd and kube-apiserver.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run kube-controller-manager with the namespace, garbage-collector, clusterrole-aggregation,
    /// serviceaccount, deployment and replicaset controllers.
    pub controller_manager: bool,
    /// Install the Toolkit CRDs and wait until they are Established.
    pub install_crds: bool,
    /// Serve `/debug/pprof` (benchmarks profile the API server with it).
    pub profiling: bool,
    /// kube-controller-manager's `--kube-api-qps` (its burst is twice that); `None` keeps
    /// Kubernetes' default of 20, which bounds how fast it rolls Deployments out.
    pub controller_manager_qps: Option<u32>,
    /// Add a node that runs Pods (kube-scheduler, and containerd, kubelet and kube-proxy in a
    /// network namespace of the node's own; see [`crate::node`]). Needs root and
    /// `controller_manager`. Off by default: it adds a few seconds to the start.
    pub node: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            controller_manager: true,
            install_crds: true,
            profiling: false,
            controller_manager_qps: None,
            node: false,
        }
    }
}

/// A running etcd + kube-apiserver (+ kube-controller-manager) on loopback.
pub struct ControlPlane {
    dir: PathBuf,
    server: String,
    pki: Pki,
    processes: Mutex<Vec<Process>>,
    started_in: Duration,
    /// kube-apiserver's program and arguments, to start it again after a simulated outage.
    apiserver_command: (PathBuf, Vec<std::ffi::OsString>),
    /// The node's network namespace, from the moment it exists (it is torn down on stop).
    node_network: Option<String>,
    node: Option<Node>,
}

static SHARED: OnceCell<ControlPlane> = OnceCell::const_new();

/// The control plane shared by all tests of this test binary, started on first use with
/// default [`Options`] and stopped when the binary exits.
pub async fn shared() -> Result<&'static ControlPlane> {
    SHARED
        .get_or_try_init(|| async {
            let plane = ControlPlane::start(Options::default()).await?;
            extern "C" fn stop_shared() {
                if let Some(plane) = SHARED.get() {
                    plane.stop();
                }
            }
            // SAFETY: registering a plain extern "C" fn; it runs once at normal process exit.
            unsafe { libc::atexit(stop_shared) };
            Ok(plane)
        })
        .await
}

impl ControlPlane {
    /// Starts a new control plane; it stops when dropped.
    pub async fn start(options: Options) -> Result<Self> {
        crate::install_crypto_provider();
        let started = Instant::now();
        let binaries = Binaries::locate()?;
        let node_binaries = match options.node {
            // Without kube-controller-manager the node keeps its not-ready taint and no Pod
            // is ever scheduled.
            true if !options.controller_manager => {
                return Err(Error::Io(
                    "starting a node".into(),
                    std::io::Error::other("a node needs kube-controller-manager"),
                ));
            }
            true => Some(NodeBinaries::locate()?),
            false => None,
        };
        let [etcd_client, etcd_peer, api_port, kcm_port] = free_ports()?;
        let server = format!("https://127.0.0.1:{api_port}");
        // From here on the plane owns the run directory: any failure removes it on drop.
        let dir = new_run_dir()?;
        let mut plane = Self {
            dir: dir.clone(),
            server: server.clone(),
            pki: Pki::generate()?,
            processes: Mutex::new(Vec::new()),
            started_in: Duration::ZERO,
            apiserver_command: (binaries.kube_apiserver.clone(), Vec::new()),
            node_network: None,
            node: None,
        };
        let network = match options.node {
            true => {
                let network = NodeNetwork::create()?;
                plane.node_network = Some(network.name.clone());
                // Pods reach the API server at the host end of the node's link, through the
                // `kubernetes` Service's first address or its name.
                plane.pki = Pki::generate_for(
                    &[
                        IpAddr::V4(network.host_ip),
                        IpAddr::V4(KUBERNETES_SERVICE_IP),
                    ],
                    &[
                        "kubernetes",
                        "kubernetes.default",
                        "kubernetes.default.svc",
                        "kubernetes.default.svc.cluster.local",
                    ],
                )?;
                Some(network)
            }
            false => None,
        };
        let write = |name: &str, contents: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, contents)
                .map_err(|e| Error::Io(format!("writing {}", path.display()), e))?;
            Ok(path)
        };
        let serving_cert = write("apiserver.crt", &plane.pki.serving.cert_pem)?;
        let serving_key = write("apiserver.key", &plane.pki.serving.key_pem)?;
        let client_ca = write("client-ca.crt", &plane.pki.client_ca_pem())?;
        let sa_key = write("sa.key", &plane.pki.service_account_key_pem)?;
        let sa_pub = write("sa.pub", &plane.pki.service_account_public_pem)?;

        let mut etcd = Command::new(&binaries.etcd);
        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        etcd.arg("--name=default")
            .arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=default={peer_url}"))
            .arg("--unsafe-no-fsync=true")
            .arg("--log-level=warn");
        plane.add(Process::spawn("etcd", etcd, &dir.join("etcd.log"))?);
        plane
            .wait_until("etcd", || http_get_ok(etcd_client, "/health"))
            .await?;

        let mut apiserver = Command::new(&binaries.kube_apiserver);
        apiserver.arg(format!("--etcd-servers={etcd_url}"));
        match &network {
            // The node's processes and Pods connect from its namespace, through its link.
            Some(network) => {
                let kubelet_client = plane
                    .pki
                    .client_cert("kube-apiserver-kubelet-client", &["system:masters"])?;
                let cert = write("kubelet-client.crt", &kubelet_client.cert_pem)?;
                let key = write("kubelet-client.key", &kubelet_client.key_pem)?;
                apiserver
                    .arg("--bind-address=0.0.0.0")
                    .arg(format!("--advertise-address={}", network.host_ip))
                    .arg("--authorization-mode=Node,RBAC")
                    .arg("--enable-admission-plugins=NodeRestriction")
                    .arg(format!("--kubelet-client-certificate={}", cert.display()))
                    .arg(format!("--kubelet-client-key={}", key.display()))
                    .arg("--kubelet-preferred-address-types=InternalIP");
            }
            None => {
                apiserver
                    .arg("--bind-address=127.0.0.1")
                    .arg("--advertise-address=127.0.0.1")
                    .arg("--authorization-mode=RBAC");
            }
        }
        apiserver
            .arg(format!("--secure-port={api_port}"))
            .arg(format!("--cert-dir={}", dir.display()))
            .arg(format!("--tls-cert-file={}", serving_cert.display()))
            .arg(format!("--tls-private-key-file={}", serving_key.display()))
            .arg(format!("--client-ca-file={}", client_ca.display()))
            .arg("--service-cluster-ip-range=10.96.0.0/16")
            .arg("--allow-privileged=true")
            .arg(format!("--service-account-issuer={server}/"))
            .arg(format!("--service-account-key-file={}", sa_pub.display()))
            .arg(format!(
                "--service-account-signing-key-file={}",
                sa_key.display()
            ))
            .arg(format!("--profiling={}", options.profiling));
        if !options.controller_manager {
            // Without the serviceaccount controller no `default` ServiceAccount ever exists.
            apiserver.arg("--disable-admission-plugins=ServiceAccount");
        }
        plane.apiserver_command.1 = apiserver.get_args().map(ToOwned::to_owned).collect();
        plane.add(Process::spawn(
            "kube-apiserver",
            apiserver,
            &dir.join("kube-apiserver.log"),
        )?);
        let admin_kubeconfig =
            plane.write_kubeconfig("admin.kubeconfig", "admin", &["system:masters"])?;
        let client = plane.client().await?;
        plane
            .wait_until_async("kube-apiserver", || {
                let client = client.clone();
                async move {
                    let ready = client
                        .request_text(
                            http::Request::get("/readyz")
                                .body(Vec::new())
                                .unwrap_or_default(),
                        )
                        .await
                        .is_ok_and(|body| body.trim() == "ok");
                    ready
                        && Api::<Namespace>::all(client)
                            .get_opt("default")
                            .await
                            .is_ok_and(|ns| ns.is_some())
                }
            })
            .await?;

        if options.controller_manager {
            let mut kcm = Command::new(&binaries.kube_controller_manager);
            kcm.arg(format!("--kubeconfig={}", admin_kubeconfig.display()))
                .arg(format!(
                    "--authentication-kubeconfig={}",
                    admin_kubeconfig.display()
                ))
                .arg(format!(
                    "--authorization-kubeconfig={}",
                    admin_kubeconfig.display()
                ))
                .arg("--leader-elect=false")
                .arg(format!(
                    "--controllers={}{}",
                    concat!(
                        "namespace-controller,garbage-collector-controller,",
                        "clusterrole-aggregation-controller,serviceaccount-controller,",
                        "deployment-controller,replicaset-controller"
                    ),
                    match options.node {
                        // What Pods on a node need: Services' endpoints, the API server's CA
                        // in every namespace (service-account volumes mount it), workloads.
                        // The node-lifecycle controller lifts the not-ready taint the
                        // kubelet registers the node with.
                        true => concat!(
                            ",node-lifecycle-controller,",
                            "endpointslice-controller,root-ca-certificate-publisher-controller,",
                            "daemonset-controller,statefulset-controller,job-controller,",
                            "pod-garbage-collector-controller"
                        ),
                        false => "",
                    }
                ))
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--secure-port={kcm_port}"))
                .arg(format!("--cert-dir={}", dir.join("kcm").display()));
            if options.node {
                let serving_ca = write("serving-ca.crt", &plane.pki.serving_ca_pem)?;
                kcm.arg(format!("--root-ca-file={}", serving_ca.display()));
            }
            if let Some(qps) = options.controller_manager_qps {
                kcm.arg(format!("--kube-api-qps={qps}"))
                    .arg(format!("--kube-api-burst={}", qps * 2));
            }
            plane.add(Process::spawn(
                "kube-controller-manager",
                kcm,
                &dir.join("kube-controller-manager.log"),
            )?);
        }

        if options.install_crds {
            plane.install_crds(&driftless_api::crds()).await?;
        }
        if let (Some(network), Some(node_binaries)) = (network, node_binaries) {
            plane.start_scheduler(&node_binaries)?;
            let node_server = format!("https://{}:{api_port}", network.host_ip);
            let kubeconfig = |user: &str, groups: &[&str]| {
                plane.kubeconfig_yaml_for(&node_server, user, groups, None)
            };
            let node = crate::node::start(
                crate::node::Plane {
                    dir: &dir,
                    client_ca: &client_ca,
                    kubeconfig: &kubeconfig,
                    client: plane.client().await?,
                },
                network,
                &node_binaries,
                &|process| plane.add(process),
                &|| plane.ensure_running(),
            )
            .await?;
            plane.node = Some(node);
        }
        plane.started_in = started.elapsed();
        tracing::info!(server = %plane.server, dir = %dir.display(), seconds = plane.started_in.as_secs_f64(), "test control plane ready");
        Ok(plane)
    }

    /// kube-scheduler, as `system:kube-scheduler`, without a serving port.
    fn start_scheduler(&self, binaries: &NodeBinaries) -> Result<()> {
        let kubeconfig =
            self.write_kubeconfig("kube-scheduler.kubeconfig", "system:kube-scheduler", &[])?;
        let mut scheduler = Command::new(&binaries.kube_scheduler);
        scheduler
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg("--leader-elect=false")
            .arg("--secure-port=0");
        self.add(Process::spawn(
            "kube-scheduler",
            scheduler,
            &self.dir.join("kube-scheduler.log"),
        )?);
        Ok(())
    }

    /// Fails with its log if a component has exited.
    fn ensure_running(&self) -> Result<()> {
        if let Ok(mut processes) = self.processes.lock() {
            for process in processes.iter_mut() {
                process.ensure_running()?;
            }
        }
        Ok(())
    }

    /// The node, when started with [`Options::node`].
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    fn add(&self, process: Process) {
        if let Ok(mut processes) = self.processes.lock() {
            processes.push(process);
        }
    }

    /// Stops all components (last started first) and removes the working directory.
    pub fn stop(&self) {
        let processes = match self.processes.lock() {
            Ok(mut processes) => std::mem::take(&mut *processes),
            Err(_) => return,
        };
        for mut process in processes.into_iter().rev() {
            let _ = process.stop(Duration::from_secs(10));
        }
        // Pods outlive the kubelet and containerd; remove them and what they hold.
        if let Some(name) = &self.node_network {
            crate::node::teardown(name, &self.dir.join("node").display().to_string());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Stops kube-apiserver, waits `downtime`, and starts it again on the same port and
    /// etcd: what clients see during an API server restart or upgrade.
    pub async fn restart_apiserver(&self, downtime: Duration) -> Result<()> {
        let old = self.processes.lock().ok().and_then(|mut processes| {
            let index = processes.iter().position(|p| p.name == "kube-apiserver")?;
            Some(processes.remove(index))
        });
        if let Some(mut old) = old {
            let _ = old.stop(Duration::from_secs(10));
        }
        tokio::time::sleep(downtime).await;
        let (program, args) = &self.apiserver_command;
        let mut command = Command::new(program);
        command.args(args);
        self.add(Process::spawn(
            "kube-apiserver",
            command,
            &self.dir.join("kube-apiserver-restarted.log"),
        )?);
        let client = self.client().await?;
        self.wait_until_async("kube-apiserver", || {
            let client = client.clone();
            async move {
                client
                    .request_text(
                        http::Request::get("/readyz")
                            .body(Vec::new())
                            .unwrap_or_default(),
                    )
                    .await
                    .is_ok_and(|body| body.trim() == "ok")
            }
        })
        .await
    }

    /// How long [`ControlPlane::start`] took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// PEM of the CA that signed the API server's serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.pki.serving_ca_pem
    }

    /// Working directory holding certificates, logs and kubeconfigs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kubeconfig of the `system:masters` admin.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// Writes a kubeconfig authenticating as `user` in `groups` with a client certificate.
    pub fn write_kubeconfig(
        &self,
        file_name: &str,
        user: &str,
        groups: &[&str],
    ) -> Result<PathBuf> {
        self.write_kubeconfig_yaml(file_name, &self.kubeconfig_yaml(user, groups, None)?)
    }

    /// Writes a kubeconfig in which the admin impersonates `user`, e.g.
    /// `system:serviceaccount:<ns>:<name>`: a process using it has exactly that user's RBAC.
    pub fn write_impersonating_kubeconfig(&self, file_name: &str, user: &str) -> Result<PathBuf> {
        let yaml = self.kubeconfig_yaml("admin", &["system:masters"], Some(user))?;
        self.write_kubeconfig_yaml(file_name, &yaml)
    }

    /// A kubeconfig (YAML, credentials inline) authenticating as `user` in `groups`, as a
    /// remote cluster's kubeconfig would be stored in a Secret.
    pub fn kubeconfig_for(&self, user: &str, groups: &[&str]) -> Result<String> {
        self.kubeconfig_yaml(user, groups, None)
    }

    fn write_kubeconfig_yaml(&self, file_name: &str, yaml: &str) -> Result<PathBuf> {
        let path = self.dir.join(file_name);
        std::fs::write(&path, yaml)
            .map_err(|e| Error::Io(format!("writing {}", path.display()), e))?;
        Ok(path)
    }

    fn kubeconfig_yaml(
        &self,
        user: &str,
        groups: &[&str],
        impersonate: Option<&str>,
    ) -> Result<String> {
        self.kubeconfig_yaml_for(&self.server, user, groups, impersonate)
    }

    fn kubeconfig_yaml_for(
        &self,
        server: &str,
        user: &str,
        groups: &[&str],
        impersonate: Option<&str>,
    ) -> Result<String> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cert = self.pki.client_cert(user, groups)?;
        let impersonate = impersonate
            .map(|as_user| format!("    as: {as_user}\n"))
            .unwrap_or_default();
        Ok(format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: testenv\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n{impersonate}contexts:\n- name: testenv\n  context:\n    cluster: testenv\n    user: {user}\ncurrent-context: testenv\n",
            ca = b64(&self.pki.serving_ca_pem),
            cert = b64(&cert.cert_pem),
            key = b64(&cert.key_pem),
        ))
    }

    /// Client config authenticating as `user` in `groups` (client certificate).
    pub async fn config_for(&self, user: &str, groups: &[&str]) -> Result<Config> {
        let kubeconfig = Kubeconfig::from_yaml(&self.kubeconfig_yaml(user, groups, None)?)
            .map_err(|e| Error::Kubeconfig(e.to_string()))?;
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| Error::Kubeconfig(e.to_string()))?;
        // Tests create many objects quickly; client-side throttling would only slow them.
        config.read_timeout = Some(Duration::from_secs(60));
        Ok(config)
    }

    /// Admin client (`system:masters`). Build one per test: clients are tied to their runtime.
    pub async fn client(&self) -> Result<Client> {
        crate::install_crypto_provider();
        Ok(Client::try_from(
            self.config_for("admin", &["system:masters"]).await?,
        )?)
    }

    /// Client authenticating as `user` in `groups`, subject to RBAC.
    pub async fn client_as(&self, user: &str, groups: &[&str]) -> Result<Client> {
        crate::install_crypto_provider();
        Ok(Client::try_from(self.config_for(user, groups).await?)?)
    }

    /// Creates a namespace named `<prefix>-<random>` and returns its name.
    pub async fn namespace(&self, prefix: &str) -> Result<String> {
        let suffix: String = (0..6)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random_range(0..36)]))
            .collect();
        let name = format!("{prefix}-{suffix}");
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name }
        }))
        .map_err(|e| Error::Kubeconfig(e.to_string()))?;
        Api::<Namespace>::all(self.client().await?)
            .create(&PostParams::default(), &namespace)
            .await?;
        Ok(name)
    }

    /// Server-side applies CRDs and waits until each is Established.
    pub async fn install_crds(&self, crds: &[CustomResourceDefinition]) -> Result<()> {
        let api = Api::<CustomResourceDefinition>::all(self.client().await?);
        let params = PatchParams::apply("driftless-testenv").force();
        for crd in crds {
            let name = crd.metadata.name.clone().unwrap_or_default();
            api.patch(&name, &params, &Patch::Apply(crd)).await?;
        }
        let names: Vec<String> = crds
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        self.wait_until_async("CRDs Established", || {
            let api = api.clone();
            let names = names.clone();
            async move {
                for name in names {
                    let established = api.get_opt(&name).await.ok().flatten().is_some_and(|crd| {
                        crd.status
                            .and_then(|s| s.conditions)
                            .unwrap_or_default()
                            .iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                    if !established {
                        return false;
                    }
                }
                true
            }
        })
        .await
    }

    async fn wait_until(&self, component: &'static str, ready: impl Fn() -> bool) -> Result<()> {
        self.wait_until_async(component, || std::future::ready(ready()))
            .await
    }

    async fn wait_until_async<F, Fut>(&self, component: &'static str, ready: F) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ready().await {
                return Ok(());
            }
            // A component that died will never become ready: report its log now.
            if let Ok(mut processes) = self.processes.lock() {
                for process in processes.iter_mut() {
                    process.ensure_running()?;
                }
            }
            if Instant::now() > deadline {
                let log = self
                    .processes
                    .lock()
                    .ok()
                    .and_then(|p| p.last().map(|p| p.log_tail(40)))
                    .unwrap_or_default();
                return Err(Error::NotReady {
                    component,
                    seconds: START_TIMEOUT.as_secs(),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Run directories live under one parent so that leftovers of killed runs can be swept.
fn new_run_dir() -> Result<PathBuf> {
    let parent = std::env::temp_dir().join("driftless-testenv");
    std::fs::create_dir_all(&parent)
        .map_err(|e| Error::Io(format!("creating {}", parent.display()), e))?;
    crate::node::sweep_stale(&parent);
    sweep_stale_run_dirs(&parent);
    let dir = tempfile::Builder::new()
        .prefix(&format!("{}-", std::process::id()))
        .tempdir_in(&parent)
        .map_err(|e| Error::Io("creating run directory".into(), e))?;
    Ok(dir.keep())
}

/// Removes run directories whose owning process no longer exists.
fn sweep_stale_run_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `N` distinct free loopback ports (free when chosen; bind them promptly).
pub fn free_ports<const N: usize>() -> Result<[u16; N]> {
    // Ports below the kernel's ephemeral range (32768 and up by default): a port chosen there
    // cannot be taken by an outgoing connection before the process it is meant for binds it.
    const LOW: u16 = 20_000;
    const HIGH: u16 = 32_000;
    let mut ports = [0u16; N];
    // Hold the listeners until every port is chosen so the N ports are distinct.
    let mut held = Vec::with_capacity(N);
    for port in ports.iter_mut() {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let candidate = rand::random_range(LOW..HIGH);
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", candidate)) {
                *port = candidate;
                held.push(listener);
                break;
            }
            if attempts > 200 {
                return Err(Error::Io(
                    "choosing free ports".into(),
                    std::io::Error::other(format!("no free port in {LOW}..{HIGH}")),
                ));
            }
        }
    }
    Ok(ports)
}

fn http_get_ok(port: u16, path: &str) -> bool {
    crate::http::get(SocketAddr::from(([127, 0, 0, 1], port)), path)
        .is_some_and(|(status, _)| status == 200)
}
