//! One-shot fetches for source-controller: resolve a reference on the remote (one `ls-refs`
//! round trip), and fetch only when the revision is new, shallowly where the reference allows
//! it, into a throwaway bare repository.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gix::ObjectId;
use gix::remote::fetch::Shallow;

use crate::session::{Connector, check_url};
use crate::{Credentials, Endpoint, GitError, GitRef, init_minimal_bare, open_isolated};

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

impl FetchRequest<'_> {
    fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            url: self.url,
            credentials: self.credentials,
            timeout: self.timeout,
            runtime: self.runtime,
        }
    }
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
/// Blocks.
pub fn fetch(
    request: &FetchRequest<'_>,
    unchanged: impl FnOnce(&Resolved) -> bool,
    interrupt: &AtomicBool,
) -> Result<FetchOutcome, GitError> {
    let url = request.url;
    check_url(url)?;
    let endpoint = request.endpoint();

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
        let session = Session::new(request, &endpoint)?;
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

    let session = Session::new(request, &endpoint)?;
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
    let remote = session.connector.remote(&session.repo, &refspec)?;
    let connection = session.connector.connect(&remote)?;
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| session.connector.list_error(&e))?;
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
        .map_err(|e| session.connector.fetch_error(&full_name, &e, interrupt))?;
    drop(remote);
    session.checkout(resolved, tag)
}

/// One fetch's temporary repository and connection settings.
struct Session<'a> {
    connector: Connector<'a>,
    repo: gix::Repository,
    dir: tempfile::TempDir,
}

impl<'a> Session<'a> {
    fn new(request: &FetchRequest<'_>, endpoint: &'a Endpoint<'a>) -> Result<Self, GitError> {
        let dir = tempfile::Builder::new()
            .prefix("git-")
            .tempdir_in(request.work_dir)
            .map_err(|e| GitError::Repository(format!("creating a temporary repository: {e}")))?;
        init_minimal_bare(dir.path())
            .map_err(|e| GitError::Repository(format!("creating a temporary repository: {e}")))?;
        let mut repo = open_isolated(dir.path())?;
        let connector = Connector::new(endpoint, dir.path())?;
        connector.configure(&mut repo)?;
        Ok(Self {
            connector,
            repo,
            dir,
        })
    }

    /// Tag names (without `refs/tags/`) advertised by the remote.
    fn list_tags(&self) -> Result<Vec<String>, GitError> {
        let remote = self
            .connector
            .remote(&self.repo, "+refs/tags/*:refs/tags/*")?;
        let connection = self.connector.connect(&remote)?;
        let prepare = connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.connector.list_error(&e))?;
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
        fetch_refspec(&self.connector, &self.repo, refspec, depth, interrupt)
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

/// Fetches what `refspec` maps into `repo`, `depth` commits deep when given.
pub(crate) fn fetch_refspec(
    connector: &Connector<'_>,
    repo: &gix::Repository,
    refspec: &str,
    depth: Option<u32>,
    interrupt: &AtomicBool,
) -> Result<(), GitError> {
    let remote = connector.remote(repo, refspec)?;
    let connection = connector.connect(&remote)?;
    let mut prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| connector.list_error(&e))?;
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
        .map_err(|e| connector.fetch_error(refspec, &e, interrupt))?;
    Ok(())
}
