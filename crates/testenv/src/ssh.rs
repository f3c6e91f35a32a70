//! A real SSH Git server for tests: OpenSSH's `sshd` on a loopback port with its own host key
//! and an authorized key, serving bare repositories by absolute path (`git-upload-pack`).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::git::GitRepo;
use crate::{Error, Result};

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |e| Error::Io(what, e)
}

/// An SSH key pair written by `ssh-keygen`.
pub struct KeyPair {
    pub private: String,
    pub public: String,
}

/// Generates an ed25519 key pair, encrypted with `passphrase` when given.
pub fn generate_key(dir: &Path, name: &str, passphrase: Option<&str>) -> Result<KeyPair> {
    let path = dir.join(name);
    let output = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-C",
            name,
            "-N",
            passphrase.unwrap_or(""),
        ])
        .arg("-f")
        .arg(&path)
        .output()
        .map_err(io("running ssh-keygen"))?;
    if !output.status.success() {
        return Err(Error::Io(
            format!("ssh-keygen: {}", String::from_utf8_lossy(&output.stderr)),
            std::io::Error::other("ssh-keygen failed"),
        ));
    }
    Ok(KeyPair {
        private: std::fs::read_to_string(&path).map_err(io("reading the private key"))?,
        public: std::fs::read_to_string(path.with_extension("pub"))
            .map_err(io("reading the public key"))?,
    })
}

pub struct SshGitServer {
    pub addr: SocketAddr,
    /// The user the server accepts (the one running the tests).
    pub user: String,
    dir: tempfile::TempDir,
    host_public_key: String,
    child: Child,
}

impl SshGitServer {
    /// Starts `sshd` accepting `authorized` public keys. Fails if OpenSSH's server is not
    /// installed (`apt-get install openssh-server`).
    pub fn start(authorized: &[&str]) -> Result<Self> {
        let sshd = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::Io(
                    "sshd not found: install openssh-server".into(),
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                )
            })?;
        let dir = tempfile::Builder::new()
            .prefix("driftless-sshd-")
            .tempdir()
            .map_err(io("creating the sshd directory"))?;
        let host = generate_key(dir.path(), "host_ed25519", None)?;
        std::fs::write(dir.path().join("authorized_keys"), authorized.join("\n"))
            .map_err(io("writing authorized_keys"))?;
        // sshd's privilege separation directory, absent on hosts that never ran sshd.
        let _ = std::fs::create_dir_all("/run/sshd");
        let [port] = crate::free_ports()?;
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_ed25519\n\
             PidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\n\
             UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel VERBOSE\n",
            dir = dir.path().display()
        );
        let config_path = dir.path().join("sshd_config");
        std::fs::write(&config_path, config).map_err(io("writing sshd_config"))?;
        let log = std::fs::File::create(dir.path().join("sshd.log")).map_err(io("sshd log"))?;
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(io("starting sshd"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = Self {
            addr,
            user: std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "root".into()),
            host_public_key: host.public.trim().to_owned(),
            dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(Error::Exited {
                    component: "sshd",
                    status: status.to_string(),
                    log: server.log(),
                });
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    component: "sshd",
                    seconds: 10,
                    log: server.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The `known_hosts` line for this server, as `ssh-keyscan` would print it.
    pub fn known_hosts(&self) -> String {
        format!(
            "[127.0.0.1]:{} {}\n",
            self.addr.port(),
            self.host_public_key
        )
    }

    /// Creates a bare repository served by this server and a working copy that pushes to it.
    pub fn create_repo(&self, name: &str) -> Result<GitRepo> {
        GitRepo::create(&self.dir.path().join("repos").join(format!("{name}.git")))
    }

    /// `ssh://<user>@127.0.0.1:<port>/<absolute path of the bare repository>`
    pub fn url(&self, repo: &GitRepo) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.addr.port(),
            repo.bare.display()
        )
    }
}

impl Drop for SshGitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
