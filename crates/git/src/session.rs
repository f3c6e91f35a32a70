//! One remote's connection settings: the URL checked, SSH key files written, HTTP over the
//! shared client, and gix's errors turned into [`GitError`]s. Fetch, the kept clone and push
//! all connect through an [`Connector`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gix::remote::Direction;
use gix::remote::fetch::Tags;

use crate::auth::Transport;
use crate::{Endpoint, GitError, describe, http, looks_unauthenticated, ssh};

pub(crate) type BoxedTransport =
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>;

pub(crate) struct Connector<'a> {
    pub endpoint: &'a Endpoint<'a>,
    ssh: Option<ssh::SshFiles>,
    /// Holds the SSH key files; removed on drop.
    _ssh_dir: Option<tempfile::TempDir>,
    /// Set when the server refused us and gix asked for credentials.
    auth_refused: Arc<AtomicBool>,
}

/// Refuses URLs that are not http(s) or ssh, and credentials embedded in http(s) URLs.
pub(crate) fn check_url(url: &str) -> Result<gix::Url, GitError> {
    let parsed = gix::Url::try_from(url).map_err(|e| GitError::InvalidUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(
        parsed.scheme,
        gix::url::Scheme::Http | gix::url::Scheme::Https | gix::url::Scheme::Ssh
    ) {
        return Err(GitError::InvalidUrl {
            url: url.to_owned(),
            reason: "only http, https and ssh URLs are supported".into(),
        });
    }
    if parsed.user().is_some() && parsed.scheme != gix::url::Scheme::Ssh {
        return Err(GitError::InvalidUrl {
            url: url.to_owned(),
            reason: "credentials belong in spec.secretRef, not in the URL".into(),
        });
    }
    Ok(parsed)
}

impl<'a> Connector<'a> {
    /// SSH key files, when needed, go into a private temporary directory under `scratch`.
    pub fn new(endpoint: &'a Endpoint<'a>, scratch: &Path) -> Result<Self, GitError> {
        let (ssh, ssh_dir) = match (&endpoint.credentials.ssh, Transport::of(endpoint.url)) {
            (Some(creds), Some(Transport::Ssh)) => {
                let dir = tempfile::Builder::new()
                    .prefix("ssh-")
                    .tempdir_in(scratch)
                    .map_err(|e| GitError::Repository(format!("creating ssh files: {e}")))?;
                let files =
                    ssh::SshFiles::write(dir.path(), creds).map_err(GitError::Repository)?;
                (Some(files), Some(dir))
            }
            (None, Some(Transport::Ssh)) => {
                return Err(GitError::Unauthenticated {
                    url: endpoint.url.to_owned(),
                    message: "ssh URLs need a secretRef with 'identity' and 'known_hosts'".into(),
                });
            }
            _ => (None, None),
        };
        Ok(Self {
            endpoint,
            ssh,
            _ssh_dir: ssh_dir,
            auth_refused: Default::default(),
        })
    }

    /// The `core.sshCommand` for this remote, if it is reached over SSH.
    pub fn ssh_command(&self) -> Option<String> {
        self.ssh
            .as_ref()
            .map(|files| files.command(self.endpoint.timeout))
    }

    /// Points `repo`'s in-memory configuration at our SSH command (no effect for HTTP).
    pub fn configure(&self, repo: &mut gix::Repository) -> Result<(), GitError> {
        let Some(command) = self.ssh_command() else {
            return Ok(());
        };
        let mut config = repo.config_snapshot_mut();
        let ssh_error = |e: gix::Error| GitError::Repository(format!("configuring ssh: {e}"));
        config
            .set_raw_value("core.sshCommand", command.as_str())
            .map_err(ssh_error)?;
        config
            .set_raw_value("ssh.variant", "ssh")
            .map_err(ssh_error)?;
        Ok(())
    }

    pub fn remote<'r>(
        &self,
        repo: &'r gix::Repository,
        refspec: &str,
    ) -> Result<gix::Remote<'r>, GitError> {
        repo.remote_at_without_url_rewrite(self.endpoint.url)
            .and_then(|r| r.with_refspecs([refspec], Direction::Fetch))
            .map(|r| r.with_fetch_tags(Tags::None))
            .map_err(|e| GitError::InvalidUrl {
                url: self.endpoint.url.to_owned(),
                reason: describe(&e),
            })
    }

    /// Smart HTTP over the process's shared connection pool, carrying our credentials.
    pub fn http_transport(
        &self,
        url: gix::Url,
        version: gix::protocol::transport::Protocol,
    ) -> Result<BoxedTransport, GitError> {
        let endpoint = self.endpoint;
        let client =
            http::client_for(endpoint.credentials.tls.as_ref()).map_err(GitError::Repository)?;
        let shared = http::SharedHttp::new(
            client,
            endpoint.runtime.clone(),
            endpoint.credentials.authorization.clone(),
            endpoint.timeout,
        );
        Ok(Box::new(
            gix::protocol::transport::client::blocking_io::http::Transport::new_http(
                shared, url, version, false,
            ),
        ))
    }

    pub fn connect<'r>(
        &self,
        remote: &'r gix::Remote<'r>,
    ) -> Result<gix::remote::Connection<'r, 'static, 'r, BoxedTransport>, GitError> {
        let connection = match Transport::of(self.endpoint.url) {
            Some(Transport::Http | Transport::Https) => {
                let (url, version) = remote
                    .sanitized_url_and_version(Direction::Fetch)
                    .map_err(|e| self.list_error(&e))?;
                remote.to_connection_with_transport(self.http_transport(url, version)?)
            }
            _ => remote
                .connect(Direction::Fetch)
                .map_err(|e| self.list_error(&e))?,
        };
        // Never ask a helper or a terminal for credentials: a 401 is an authentication error.
        let refused = self.auth_refused.clone();
        Ok(connection.with_credentials(move |_| {
            refused.store(true, Ordering::Relaxed);
            Ok(None)
        }))
    }

    /// Remembers that the server asked for credentials (a push sees the 401 directly).
    pub fn note_auth_refused(&self) {
        self.auth_refused.store(true, Ordering::Relaxed);
    }

    /// What ssh printed on failure, if anything.
    pub fn ssh_diagnostics(&self) -> Option<String> {
        self.ssh.as_ref().and_then(ssh::SshFiles::diagnostics)
    }

    /// Classifies a failure to reach or list the remote: refused credentials or anything else.
    pub fn list_error(&self, error: &gix::Error) -> GitError {
        self.classify(
            describe(error),
            error.is_unauthenticated() || error.is_permission_denied(),
        )
    }

    pub fn classify(&self, mut message: String, refused_by_gix: bool) -> GitError {
        let url = self.endpoint.url.to_owned();
        if let Some(ssh) = self.ssh_diagnostics() {
            message = format!("ssh: {ssh}");
        } else if self.auth_refused.load(Ordering::Relaxed) {
            // gix's own wording is about credential helpers, which are never used here.
            message = match Transport::of(self.endpoint.url) {
                Some(Transport::Ssh) => {
                    "permission denied: the server did not accept the SSH key".into()
                }
                _ if self.endpoint.credentials.authorization.is_some() => {
                    "the server rejected the credentials (HTTP 401)".into()
                }
                _ => "the server requires authentication (HTTP 401): set spec.secretRef".into(),
            };
        }
        if self.auth_refused.load(Ordering::Relaxed)
            || refused_by_gix
            || looks_unauthenticated(&message)
        {
            GitError::Unauthenticated { url, message }
        } else {
            GitError::ListRemote { url, message }
        }
    }

    pub fn fetch_error(&self, what: &str, error: &gix::Error, interrupt: &AtomicBool) -> GitError {
        if interrupt.load(Ordering::Relaxed) || error.is_cancelled() {
            return GitError::Cancelled;
        }
        GitError::Fetch {
            what: what.to_owned(),
            message: describe(error),
        }
    }
}
