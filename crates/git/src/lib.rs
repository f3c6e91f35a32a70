//! Git with gix: resolve a GitRepository's reference on the remote (one `ls-refs` round trip),
//! and fetch only when the revision is new, shallowly where the reference allows it, into a
//! throwaway bare repository. Trees are read from the object database; there is no worktree.
//!
//! Everything here is blocking; callers run it on a blocking thread.

pub mod auth;
mod http;
mod reference;
mod ssh;
pub mod submodules;
pub mod tree;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gix::ObjectId;
use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Tags};

pub use auth::{AuthError, Credentials, Transport};
pub use reference::GitRef;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("invalid URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("authentication to '{url}' failed: {message}")]
    Unauthenticated { url: String, message: String },
    #[error("unable to list remote for '{url}': {message}")]
    ListRemote { url: String, message: String },
    #[error("remote ref '{0}' not found")]
    RefNotFound(String),
    #[error("no tag matches semver constraint '{constraint}'")]
    NoMatchingTag { constraint: String },
    #[error("invalid semver constraint '{constraint}': {reason}")]
    InvalidSemver { constraint: String, reason: String },
    #[error("failed to fetch '{what}': {message}")]
    Fetch { what: String, message: String },
    #[error("commit '{0}' not found in the fetched history")]
    CommitNotFound(String),
    #[error("submodule '{path}': {message}")]
    Submodule { path: String, message: String },
    #[error("git operation timed out or was cancelled")]
    Cancelled,
    #[error("{0}")]
    Repository(String),
    #[error(transparent)]
    Tree(#[from] tree::TreeError),
}

impl GitError {
    /// Whether the remote refused our credentials (or asked for some we did not have).
    pub fn is_authentication(&self) -> bool {
        matches!(self, Self::Unauthenticated { .. })
    }
}

/// Renders a gix error with its causes, which carry the useful part ("HTTP 404", "Permission
/// denied").
fn describe(error: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.iter_errors() {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

/// What to fetch and how.
pub struct FetchRequest<'a> {
    pub url: &'a str,
    pub reference: &'a GitRef,
    pub credentials: &'a Credentials,
    /// Bounds connection set-up and each HTTP request; the fetch as a whole is bounded by the
    /// caller through `interrupt`.
    pub timeout: Duration,
    /// Where the temporary bare repository is created.
    pub work_dir: &'a Path,
    /// The runtime HTTP requests run on (the fetch itself blocks a thread outside it).
    pub runtime: &'a tokio::runtime::Handle,
}

/// The remote's answer for a reference: the commit and Flux's revision string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub commit: ObjectId,
    /// `main@sha1:<hex>`, `v1.0.0@sha1:<hex>`, `refs/pull/1/head@sha1:<hex>` or `sha1:<hex>`.
    pub revision: String,
}

pub enum FetchOutcome {
    /// The caller said the resolved revision needs no fetch.
    Unchanged(Resolved),
    Fetched(Box<Checkout>),
}

/// A fetched commit in a temporary bare repository, removed on drop.
pub struct Checkout {
    pub resolved: Resolved,
    /// The annotated tag object the reference resolved through, if any.
    pub tag: Option<ObjectId>,
    pub repo: gix::Repository,
    _dir: tempfile::TempDir,
}

impl Checkout {
    /// First line of the commit message, for events.
    pub fn summary(&self) -> String {
        self.repo
            .find_commit(self.resolved.commit)
            .ok()
            .and_then(|c| c.message().ok().map(|m| m.summary().to_string()))
            .unwrap_or_default()
    }
}

/// Resolves `request.reference` on the remote and fetches it unless `unchanged` says the
/// resolved revision is already stored. A reference to a bare commit is decided without any
/// network round trip; every other kind costs one `ls-refs` (two for semver) when unchanged.
pub fn fetch(
    request: &FetchRequest<'_>,
    unchanged: impl FnOnce(&Resolved) -> bool,
    interrupt: &AtomicBool,
) -> Result<FetchOutcome, GitError> {
    let url = request.url;
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

    if let GitRef::Commit { sha, branch } = request.reference {
        let commit = ObjectId::from_hex(sha.as_bytes()).map_err(|e| GitError::InvalidUrl {
            url: url.to_owned(),
            reason: format!("invalid commit SHA '{sha}': {e}"),
        })?;
        let resolved = Resolved {
            commit,
            revision: request.reference.revision(commit),
        };
        if unchanged(&resolved) {
            return Ok(FetchOutcome::Unchanged(resolved));
        }
        let session = Session::new(request)?;
        return match branch {
            // The commit may be anywhere in the branch's history: fetch it whole.
            Some(branch) => {
                session.fetch_refspec(
                    &format!("+refs/heads/{branch}:refs/heads/{branch}"),
                    None,
                    interrupt,
                )?;
                session.checkout(resolved, None)
            }
            None => {
                // Protocol v2 servers hand out any reachable commit by id; older ones need
                // the branches fetched in full.
                let by_id = session.fetch_refspec(&commit.to_string(), Some(1), interrupt);
                if by_id.is_err() || session.repo.find_commit(commit).is_err() {
                    session.fetch_refspec("+refs/heads/*:refs/heads/*", None, interrupt)?;
                }
                session.checkout(resolved, None)
            }
        };
    }

    let session = Session::new(request)?;
    let (full_name, display_name) = match request.reference {
        GitRef::Semver(constraint) => {
            let parsed = driftless_version::Constraint::parse(constraint).map_err(|e| {
                GitError::InvalidSemver {
                    constraint: constraint.clone(),
                    reason: e.reason,
                }
            })?;
            let tags = session.list_tags()?;
            let (tag, _) = parsed
                .latest(tags.iter().map(String::as_str))
                .ok_or_else(|| GitError::NoMatchingTag {
                    constraint: constraint.clone(),
                })?;
            (format!("refs/tags/{tag}"), tag.to_owned())
        }
        other => other.full_name(),
    };
    let refspec = format!("+{full_name}:{full_name}");
    let remote = session.remote(&refspec)?;
    let connection = session.connect(&remote)?;
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| session.list_error(&e))?;
    let (commit, tag) = prepare
        .ref_map()
        .mappings
        .iter()
        .find_map(|m| match &m.remote {
            gix::protocol::fetch::refmap::Source::Ref(r) => {
                let (name, target, peeled) = r.unpack();
                // Annotated tags arrive peeled: the target is the tag object, the peeled id
                // the commit.
                (name == full_name.as_str()).then(|| match peeled {
                    Some(object) => (Some(object.to_owned()), target.map(ToOwned::to_owned)),
                    None => (target.map(ToOwned::to_owned), None),
                })
            }
            gix::protocol::fetch::refmap::Source::ObjectId(_) => None,
        })
        .and_then(|(commit, tag)| commit.map(|c| (c, tag)))
        .ok_or_else(|| GitError::RefNotFound(full_name.clone()))?;
    let resolved = Resolved {
        commit,
        revision: format!("{display_name}@sha1:{commit}"),
    };
    if unchanged(&resolved) {
        // Dropping the prepared fetch ends the conversation without asking for a pack.
        drop(prepare);
        return Ok(FetchOutcome::Unchanged(resolved));
    }
    let depth = std::num::NonZeroU32::MIN;
    prepare
        .with_shallow(Shallow::DepthAtRemote(depth))
        // One packed-refs file instead of a directory tree of loose refs.
        .with_write_packed_refs_only(true)
        .receive(gix::progress::Discard, interrupt)
        .map_err(|e| session.fetch_error(&full_name, &e, interrupt))?;
    drop(remote);
    session.checkout(resolved, tag)
}

/// One fetch's temporary repository and connection settings.
struct Session<'a> {
    request: &'a FetchRequest<'a>,
    repo: gix::Repository,
    dir: tempfile::TempDir,
    ssh: Option<ssh::SshFiles>,
    /// Set when the server refused us and gix asked for credentials.
    auth_refused: std::sync::Arc<AtomicBool>,
}

impl<'a> Session<'a> {
    fn new(request: &'a FetchRequest<'a>) -> Result<Self, GitError> {
        let dir = tempfile::Builder::new()
            .prefix("git-")
            .tempdir_in(request.work_dir)
            .map_err(|e| GitError::Repository(format!("creating a temporary repository: {e}")))?;
        init_minimal_bare(dir.path())
            .map_err(|e| GitError::Repository(format!("creating a temporary repository: {e}")))?;
        // No system or user configuration, no environment, no credential helpers; the
        // directory is ours, created just now, and is opened as it is.
        let options = gix::open::Options::isolated()
            .with(gix::sec::Trust::Full)
            .open_path_as_is(true);
        let mut repo = gix::open_opts(dir.path(), options).map_err(|e| {
            GitError::Repository(format!("opening a temporary repository: {}", describe(&e)))
        })?;
        let ssh_files = match (&request.credentials.ssh, Transport::of(request.url)) {
            (Some(creds), Some(Transport::Ssh)) => {
                let files =
                    ssh::SshFiles::write(dir.path(), creds).map_err(GitError::Repository)?;
                let command = files.command(request.timeout);
                let mut config = repo.config_snapshot_mut();
                let ssh_error =
                    |e: gix::Error| GitError::Repository(format!("configuring ssh: {e}"));
                config
                    .set_raw_value("core.sshCommand", command.as_str())
                    .map_err(ssh_error)?;
                config
                    .set_raw_value("ssh.variant", "ssh")
                    .map_err(ssh_error)?;
                drop(config);
                Some(files)
            }
            (None, Some(Transport::Ssh)) => {
                return Err(GitError::Unauthenticated {
                    url: request.url.to_owned(),
                    message: "ssh URLs need a secretRef with 'identity' and 'known_hosts'".into(),
                });
            }
            _ => None,
        };
        Ok(Self {
            request,
            repo,
            dir,
            ssh: ssh_files,
            auth_refused: Default::default(),
        })
    }

    fn remote(&self, refspec: &str) -> Result<gix::Remote<'_>, GitError> {
        self.repo
            .remote_at_without_url_rewrite(self.request.url)
            .and_then(|r| r.with_refspecs([refspec], Direction::Fetch))
            .map(|r| r.with_fetch_tags(Tags::None))
            .map_err(|e| GitError::InvalidUrl {
                url: self.request.url.to_owned(),
                reason: describe(&e),
            })
    }

    fn connect<'r>(
        &self,
        remote: &'r gix::Remote<'r>,
    ) -> Result<
        gix::remote::Connection<
            'r,
            'static,
            'r,
            Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
        >,
        GitError,
    > {
        type Boxed = Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>;
        let connection = match Transport::of(self.request.url) {
            Some(Transport::Http | Transport::Https) => {
                // Smart HTTP over the process's shared connection pool.
                let (url, version) = remote
                    .sanitized_url_and_version(Direction::Fetch)
                    .map_err(|e| self.list_error(&e))?;
                let client = http::client_for(self.request.credentials.tls.as_ref())
                    .map_err(GitError::Repository)?;
                let shared = http::SharedHttp::new(
                    client,
                    self.request.runtime.clone(),
                    self.request.credentials.authorization.clone(),
                    self.request.timeout,
                );
                let transport =
                    gix::protocol::transport::client::blocking_io::http::Transport::new_http(
                        shared, url, version, false,
                    );
                remote.to_connection_with_transport(Box::new(transport) as Boxed)
            }
            _ => remote
                .connect(Direction::Fetch)
                .map_err(|e| self.list_error(&e))?,
        };
        // Never ask a helper or a terminal for credentials: a 401 is an authentication error.
        let refused = self.auth_refused.clone();
        Ok(connection.with_credentials(move |_| {
            refused.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(None)
        }))
    }

    fn list_error(&self, error: &gix::Error) -> GitError {
        let mut message = describe(error);
        if let Some(ssh) = self.ssh.as_ref().and_then(ssh::SshFiles::diagnostics) {
            message = format!("ssh: {ssh}");
        } else if self.auth_refused.load(std::sync::atomic::Ordering::Relaxed) {
            // gix's own wording is about credential helpers, which are never used here.
            message = match Transport::of(self.request.url) {
                Some(Transport::Ssh) => {
                    "permission denied: the server did not accept the SSH key".into()
                }
                _ if self.request.credentials.authorization.is_some() => {
                    "the server rejected the credentials (HTTP 401)".into()
                }
                _ => "the server requires authentication (HTTP 401): set spec.secretRef".into(),
            };
        }
        if self.auth_refused.load(std::sync::atomic::Ordering::Relaxed)
            || error.is_unauthenticated()
            || error.is_permission_denied()
            || looks_unauthenticated(&message)
        {
            GitError::Unauthenticated {
                url: self.request.url.to_owned(),
                message,
            }
        } else {
            GitError::ListRemote {
                url: self.request.url.to_owned(),
                message,
            }
        }
    }

    fn fetch_error(&self, what: &str, error: &gix::Error, interrupt: &AtomicBool) -> GitError {
        if interrupt.load(std::sync::atomic::Ordering::Relaxed) || error.is_cancelled() {
            return GitError::Cancelled;
        }
        GitError::Fetch {
            what: what.to_owned(),
            message: describe(error),
        }
    }

    /// Tag names (without `refs/tags/`) advertised by the remote.
    fn list_tags(&self) -> Result<Vec<String>, GitError> {
        let remote = self.remote("+refs/tags/*:refs/tags/*")?;
        let connection = self.connect(&remote)?;
        let prepare = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.list_error(&e))?;
        let tags = prepare
            .ref_map()
            .mappings
            .iter()
            .filter_map(|m| m.remote.as_name())
            .filter_map(|name| {
                name.to_string()
                    .strip_prefix("refs/tags/")
                    .map(str::to_owned)
            })
            .collect();
        Ok(tags)
    }

    fn fetch_refspec(
        &self,
        refspec: &str,
        depth: Option<u32>,
        interrupt: &AtomicBool,
    ) -> Result<(), GitError> {
        let remote = self.remote(refspec)?;
        let connection = self.connect(&remote)?;
        let mut prepare = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.list_error(&e))?;
        if prepare.ref_map().mappings.is_empty() {
            return Err(GitError::RefNotFound(
                refspec
                    .trim_start_matches('+')
                    .split(':')
                    .next()
                    .unwrap_or(refspec)
                    .to_owned(),
            ));
        }
        if let Some(depth) = depth.and_then(std::num::NonZeroU32::new) {
            prepare = prepare.with_shallow(Shallow::DepthAtRemote(depth));
        }
        prepare
            .with_write_packed_refs_only(true)
            .receive(gix::progress::Discard, interrupt)
            .map_err(|e| self.fetch_error(refspec, &e, interrupt))?;
        Ok(())
    }

    fn checkout(self, resolved: Resolved, tag: Option<ObjectId>) -> Result<FetchOutcome, GitError> {
        if self.repo.find_commit(resolved.commit).is_err() {
            return Err(GitError::CommitNotFound(resolved.commit.to_string()));
        }
        Ok(FetchOutcome::Fetched(Box::new(Checkout {
            resolved,
            tag,
            repo: self.repo,
            _dir: self.dir,
        })))
    }
}

/// The smallest valid bare repository. `git init` (and gix's) would also write hooks and
/// templates: a dozen files per fetch that the filesystem must allocate and free again, which
/// dominated the controller's CPU time with many sources.
fn init_minimal_bare(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("objects").join("pack"))?;
    std::fs::create_dir(dir.join("refs"))?;
    std::fs::write(dir.join("HEAD"), "ref: refs/heads/main\n")?;
    std::fs::write(
        dir.join("config"),
        "[core]\n\trepositoryformatversion = 0\n\tbare = true\n",
    )
}

/// Servers differ in how they refuse: HTTP 401/403, or ssh's "Permission denied".
fn looks_unauthenticated(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    // Whole phrases only: a bare "403" also matches a port such as 127.0.0.1:38403.
    [
        "http 401",
        "http 403",
        "status 401",
        "status 403",
        "permission denied",
        "authentication required",
        "unauthorized",
        "host key verification failed",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::looks_unauthenticated;

    #[test]
    fn refusals_are_recognised_and_port_numbers_are_not() {
        assert!(looks_unauthenticated("ssh: Host key verification failed."));
        assert!(looks_unauthenticated(
            "git@h: Permission denied (publickey)."
        ));
        assert!(looks_unauthenticated("Received HTTP status 403"));
        assert!(looks_unauthenticated("HTTP 403"));
        assert!(!looks_unauthenticated(
            "error sending request for url (http://127.0.0.1:38403/x.git/info/refs): connection refused"
        ));
        assert!(!looks_unauthenticated(
            "http://10.0.0.1:4010/repo.git: HTTP 404"
        ));
    }
}
