//! A real container registry for tests: Debian's `docker-registry` (CNCF distribution) on
//! loopback, with optional htpasswd basic auth, TLS from a throwaway CA and webhook
//! notifications, and helpers that push images to it with `oci-client` (a real push: blobs
//! and manifests over the distribution API) or lay out thousands of tags directly in its
//! filesystem storage for benchmarks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
pub use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256};

use crate::control_plane::free_ports;
use crate::process::Process;
use crate::{Error, Result};

/// Where Debian installs the registry.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How the registry is started.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Basic-auth user and password (htpasswd, bcrypt).
    pub basic_auth: Option<(String, String)>,
    /// Token auth instead of htpasswd: the registry sends clients to a token server that
    /// checks `basic_auth` and issues signed JWTs.
    pub token_auth: bool,
    /// Serve HTTPS with a certificate from a throwaway CA.
    pub tls: bool,
    /// URLs the registry's notifications (`push` events) are POSTed to.
    pub notify: Vec<String>,
    /// Storage to serve (a directory prepared with [`write_tags`]); a fresh one if None.
    pub storage: Option<PathBuf>,
    /// Listen on this address instead of 127.0.0.1: a test node's `host_ip`, for its
    /// containerd to pull from (after `Node::allow_plain_http`).
    pub listen_on: Option<std::net::Ipv4Addr>,
}

pub struct Registry {
    /// `127.0.0.1:<port>` (or `listen_on`): the host part of image names.
    pub host: String,
    /// The CA that signed the serving certificate, with `tls`.
    pub ca_pem: Option<String>,
    pub storage: PathBuf,
    options: RegistryOptions,
    _token_server: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
    process: Process,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |e| Error::Io(what, e)
}

impl Registry {
    pub fn start(options: RegistryOptions) -> Result<Self> {
        if !Path::new(REGISTRY_BINARY).is_file() {
            return Err(Error::Io(
                format!(
                    "{REGISTRY_BINARY} is missing: install Debian's docker-registry package (cargo xtask prerequisites)"
                ),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        let dir = tempfile::tempdir().map_err(io("registry dir"))?;
        let storage = options
            .storage
            .clone()
            .unwrap_or_else(|| dir.path().join("storage"));
        let [port] = free_ports()?;
        let ip = options.listen_on.unwrap_or(std::net::Ipv4Addr::LOCALHOST);
        let host = format!("{ip}:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            storage.display()
        );
        let mut ca_pem = None;
        if options.tls {
            let pki = crate::certs::Pki::generate()?;
            let cert = dir.path().join("tls.crt");
            let key = dir.path().join("tls.key");
            std::fs::write(&cert, &pki.serving.cert_pem).map_err(io("writing tls.crt"))?;
            std::fs::write(&key, &pki.serving.key_pem).map_err(io("writing tls.key"))?;
            let _ = write!(
                config,
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
            ca_pem = Some(pki.serving_ca_pem.clone());
        }
        let mut token_server = None;
        if let (true, Some((user, password))) = (options.token_auth, &options.basic_auth) {
            let signer = crate::registry_token::Signer::generate()?;
            let bundle = dir.path().join("token-issuer.pem");
            std::fs::write(&bundle, &signer.cert_pem).map_err(io("writing the token bundle"))?;
            let (realm, stop) = crate::registry_token::serve(signer, user, password)?;
            token_server = Some(stop);
            let _ = write!(
                config,
                "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                crate::registry_token::SERVICE,
                crate::registry_token::ISSUER,
                bundle.display()
            );
        } else if let Some((user, password)) = &options.basic_auth {
            let hash = bcrypt::hash(password, 4)
                .map_err(|e| Error::Io("hashing the password".into(), std::io::Error::other(e)))?;
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{user}:{hash}\n")).map_err(io("writing htpasswd"))?;
            let _ = write!(
                config,
                "auth:\n  htpasswd:\n    realm: driftless-test\n    path: {}\n",
                file.display()
            );
        }
        if !options.notify.is_empty() {
            config
                .push_str("notifications:\n  events:\n    includereferences: true\n  endpoints:\n");
            for (i, url) in options.notify.iter().enumerate() {
                let _ = write!(
                    config,
                    "    - name: hook{i}\n      url: {url}\n      timeout: 2s\n      threshold: 3\n      backoff: 1s\n      ignoredmediatypes:\n        - application/octet-stream\n      ignore:\n        actions:\n          - pull\n"
                );
            }
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, &config).map_err(io("writing registry config"))?;
        let mut command = Command::new(REGISTRY_BINARY);
        command.arg("serve").arg(&config_path);
        let process = Process::spawn("docker-registry", command, &dir.path().join("registry.log"))?;
        let mut registry = Self {
            host,
            ca_pem,
            storage,
            options,
            _token_server: token_server,
            _dir: dir,
            process,
        };
        registry.wait_ready()?;
        Ok(registry)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            self.process.ensure_running()?;
            if std::net::TcpStream::connect(&self.host).is_ok() {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::NotReady {
                    component: "docker-registry",
                    seconds: READY_TIMEOUT.as_secs(),
                    log: self.process.log_tail(30),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// Pushes a small image (one layer naming `repository:tag`) as `repository:tag`; returns
    /// its manifest digest.
    pub async fn push(&self, repository: &str, tag: &str) -> Result<String> {
        let auth = match &self.options.basic_auth {
            Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
            None => RegistryAuth::Anonymous,
        };
        push_image(&self.host, self.ca_pem.as_deref(), &auth, repository, tag).await
    }

    /// `host/repository`, the `spec.image` of a repository in this registry.
    pub fn image(&self, repository: &str) -> String {
        format!("{}/{repository}", self.host)
    }
}

/// Lays out `tags` of `repository` in a registry filesystem storage directly, all pointing
/// at one manifest: how benchmarks get a thousand repositories of five hundred tags each
/// without half a million pushes. Tag listing reads exactly this layout.
pub fn write_tags(storage: &Path, repository: &str, tags: &[String]) -> Result<()> {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let digest = format!("{:x}", Sha256::digest(manifest));
    let v2 = storage.join("docker/registry/v2");
    let blob = v2.join(format!("blobs/sha256/{}/{digest}", &digest[..2]));
    std::fs::create_dir_all(&blob).map_err(io("blob dir"))?;
    std::fs::write(blob.join("data"), manifest).map_err(io("manifest blob"))?;
    let link = format!("sha256:{digest}");
    let repo = v2.join("repositories").join(repository).join("_manifests");
    let revision = repo.join(format!("revisions/sha256/{digest}"));
    std::fs::create_dir_all(&revision).map_err(io("revision dir"))?;
    std::fs::write(revision.join("link"), &link).map_err(io("revision link"))?;
    for tag in tags {
        let current = repo.join("tags").join(tag).join("current");
        std::fs::create_dir_all(&current).map_err(io("tag dir"))?;
        std::fs::write(current.join("link"), &link).map_err(io("tag link"))?;
    }
    Ok(())
}

/// One layer of an artifact to push: its media type and bytes.
pub struct Layer {
    pub media_type: String,
    pub data: Vec<u8>,
}

/// What [`push_artifact`] pushes: layers, the config's media type and the manifest
/// annotations.
pub struct Artifact {
    pub config_media_type: String,
    pub layers: Vec<Layer>,
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// The media types `flux push artifact` writes.
pub const FLUX_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.flux.config.v1+json";
pub const FLUX_CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

/// Pushes a small image (one layer naming `repository:tag`) to the registry at `host`
/// (HTTPS trusting `ca_pem` when given, plain HTTP otherwise); returns its manifest digest.
pub async fn push_image(
    host: &str,
    ca_pem: Option<&str>,
    auth: &RegistryAuth,
    repository: &str,
    tag: &str,
) -> Result<String> {
    let artifact = Artifact {
        config_media_type: oci_client::manifest::IMAGE_CONFIG_MEDIA_TYPE.to_owned(),
        layers: vec![Layer {
            media_type: oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE.to_owned(),
            data: format!("{repository}:{tag}").into_bytes(),
        }],
        annotations: Default::default(),
    };
    push_artifact(host, ca_pem, auth, repository, tag, artifact).await
}

/// Pushes `artifact` as `repository:tag` to the registry at `host` (HTTPS trusting `ca_pem`
/// when given, plain HTTP otherwise); returns its manifest digest.
pub async fn push_artifact(
    host: &str,
    ca_pem: Option<&str>,
    auth: &RegistryAuth,
    repository: &str,
    tag: &str,
    artifact: Artifact,
) -> Result<String> {
    let mut config = ClientConfig {
        protocol: if ca_pem.is_some() {
            ClientProtocol::Https
        } else {
            ClientProtocol::Http
        },
        ..ClientConfig::default()
    };
    if let Some(ca) = ca_pem {
        config
            .extra_root_certificates
            .push(oci_client::client::Certificate {
                encoding: oci_client::client::CertificateEncoding::Pem,
                data: ca.as_bytes().to_vec(),
            });
    }
    let client = Client::new(config);
    let reference = Reference::with_tag(host.to_owned(), repository.into(), tag.into());
    let layers: Vec<ImageLayer> = artifact
        .layers
        .into_iter()
        .map(|layer| ImageLayer::new(layer.data, layer.media_type, None))
        .collect();
    let image_config = Config::new(b"{}".to_vec(), artifact.config_media_type, None);
    let annotations = (!artifact.annotations.is_empty()).then_some(artifact.annotations);
    let manifest = OciImageManifest::build(&layers, &image_config, annotations);
    client
        .push(&reference, &layers, image_config, auth, Some(manifest))
        .await
        .map_err(|e| Error::Io(format!("pushing {reference}"), std::io::Error::other(e)))?;
    client
        .fetch_manifest_digest(&reference, auth)
        .await
        .map_err(|e| Error::Io(format!("digest of {reference}"), std::io::Error::other(e)))
}

/// Pushes directory `dir` to `reference` (`oci://host/repository:tag`, plain HTTP) with the real
/// `flux push artifact`, recording `source` and `revision` as Flux does; returns the pushed
/// manifest digest.
pub fn flux_push_artifact(
    reference: &str,
    dir: &Path,
    source: &str,
    revision: &str,
) -> Result<String> {
    let flux = crate::FLUX.path()?;
    let output = Command::new(&flux)
        .args([
            "push",
            "artifact",
            reference,
            "--insecure-registry",
            "--output=json",
        ])
        .arg(format!("--path={}", dir.display()))
        .arg(format!("--source={source}"))
        .arg(format!("--revision={revision}"))
        .output()
        .map_err(io("running flux push artifact"))?;
    if !output.status.success() {
        return Err(Error::Io(
            "flux push artifact".into(),
            std::io::Error::other(String::from_utf8_lossy(&output.stderr).into_owned()),
        ));
    }
    let pushed: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| Error::Io("flux push artifact output".into(), std::io::Error::other(e)))?;
    pushed["digest"].as_str().map(str::to_owned).ok_or_else(|| {
        Error::Io(
            "flux push artifact output".into(),
            std::io::Error::other("no digest"),
        )
    })
}

/// Pushes the image of an OCI layout tar, such as [`crate::NodeBinaries::agnhost_archive`],
/// as `repository:tag` to the plain-HTTP registry at `host`; returns the pushed index's
/// digest, which a node's containerd then pulls.
pub async fn push_layout(
    host: &str,
    archive: &Path,
    repository: &str,
    tag: &str,
) -> Result<String> {
    let failed = |what: String| move |e| Error::Io(what, std::io::Error::other(e));
    let layout = driftless_oci_image::read_layout_tar(archive)
        .map_err(failed(format!("reading {}", archive.display())))?;
    let image = layout.first().ok_or_else(|| {
        Error::Io(
            format!("{} holds no image", archive.display()),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    let platforms: Vec<&driftless_oci_image::Image> = image.images.iter().collect();
    driftless_oci_image::push(host, repository, tag, &platforms, &image.index, true)
        .await
        .map_err(failed(format!("pushing {host}/{repository}:{tag}")))
}
