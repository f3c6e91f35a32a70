//! Git for the Driftless controllers, with gix and no `git` binary: the Flux Secret's
//! credentials ([`Credentials`]), HTTP(S) over one shared connection pool, SSH through the
//! system `ssh` with pinned options.
//!
//! Two ways to use a remote:
//!
//! - **One-shot fetches** (source-controller): [`fetch`] resolves a [`GitRef`] on the remote
//!   and fetches it, shallowly, into a throwaway bare repository ([`Checkout`]); [`tree`]
//!   reads its files into artifact entries, [`submodules`] follows gitlinks.
//! - **A kept clone that is written to** (image-automation-controller):
//!   - [`LocalClone::sync`] opens the bare clone in a directory the caller keeps between runs
//!     and fetches the followed reference into it incrementally (it re-clones when the
//!     directory is missing or unreadable);
//!   - [`read_files`] reads the files under a path of the fetched commit;
//!   - [`commit_changes`] writes changed files (path → bytes) as a new commit on top of a
//!     parent, with no worktree, optionally signed ([`CommitSigner`]: OpenPGP or SSH);
//!     it returns `None` when the tree would not change;
//!   - [`push`] sends commits with git's receive-pack protocol over HTTP(S) or SSH:
//!     fast-forwards with an expected old id ([`RefUpdate::fast_forward`], a moved remote
//!     is [`PushError::Race`]), forced updates ([`RefUpdate::force`]), raw refspecs
//!     ([`RefUpdate::from_refspec`]) and push options.
//!
//! Everything that touches the network or the disk blocks (the module docs say which);
//! callers run it in `tokio::task::spawn_blocking`. HTTP requests themselves run on the
//! runtime handle given in [`Endpoint`], so that handle must belong to a multi-threaded
//! runtime the blocking thread is not part of.

pub mod auth;
mod clone;
mod commit;
mod fetch;
mod files;
mod http;
pub mod push;
mod reference;
mod session;
pub mod sign;
mod ssh;
pub mod submodules;
pub mod tree;

use std::path::Path;
use std::time::Duration;

pub use auth::{AuthError, Credentials, Transport};
pub use clone::LocalClone;
pub use commit::{CommitError, CommitRequest, Person, commit_changes};
pub use fetch::{Checkout, FetchOutcome, FetchRequest, Resolved, fetch};
pub use files::read_files;
pub use push::{PushError, RefUpdate, push};
pub use reference::{DEFAULT_BRANCH, GitRef};
pub use sign::{CommitSigner, SignError};

/// A remote and how to reach it; shared by the kept clone and push.
#[derive(Clone, Copy)]
pub struct Endpoint<'a> {
    /// `http://`, `https://` or `ssh://` (or scp-like `user@host:path`).
    pub url: &'a str,
    pub credentials: &'a Credentials,
    /// Bounds connection set-up and each HTTP request.
    pub timeout: Duration,
    /// The runtime HTTP requests run on (the caller blocks a thread outside it).
    pub runtime: &'a tokio::runtime::Handle,
}

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
pub(crate) fn describe(error: &gix::Error) -> String {
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

/// A message with its causes, each added once: reqwest's and gix's transport errors keep the
/// useful part (connection refused, a certificate, the HTTP status) in their sources.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Opens a repository of ours with no system or user configuration, no environment and no
/// credential helpers.
pub(crate) fn open_isolated(dir: &Path) -> Result<gix::Repository, GitError> {
    let options = gix::open::Options::isolated()
        .with(gix::sec::Trust::Full)
        .open_path_as_is(true);
    gix::open_opts(dir, options).map_err(|e| {
        GitError::Repository(format!(
            "opening the repository at {}: {}",
            dir.display(),
            describe(&e)
        ))
    })
}

/// The smallest valid bare repository. `git init` (and gix's) would also write hooks and
/// templates: a dozen files per fetch that the filesystem must allocate and free again, which
/// dominated the controller's CPU time with many sources.
pub(crate) fn init_minimal_bare(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("objects").join("pack"))?;
    std::fs::create_dir(dir.join("refs"))?;
    std::fs::write(dir.join("HEAD"), "ref: refs/heads/main\n")?;
    std::fs::write(
        dir.join("config"),
        "[core]\n\trepositoryformatversion = 0\n\tbare = true\n",
    )
}

/// Servers differ in how they refuse: HTTP 401/403, or ssh's "Permission denied".
pub(crate) fn looks_unauthenticated(message: &str) -> bool {
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
