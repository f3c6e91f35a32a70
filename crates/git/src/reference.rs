//! `spec.ref` → what to ask the remote for, and Flux's revision strings.

use driftless_api::source::GitRepositoryRef;
use gix::ObjectId;

/// Flux checks out `master` when `spec.ref` is absent or empty.
pub const DEFAULT_BRANCH: &str = "master";

/// The reference a GitRepository follows, after Flux's precedence: commit, name, semver, tag,
/// branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitRef {
    Branch(String),
    Tag(String),
    Semver(String),
    /// A full reference name such as `refs/pull/1/head`.
    Name(String),
    /// A commit, optionally on a branch whose history is fetched to find it.
    Commit {
        sha: String,
        branch: Option<String>,
    },
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl GitRef {
    pub fn from_spec(reference: Option<&GitRepositoryRef>) -> Self {
        let Some(r) = reference else {
            return Self::Branch(DEFAULT_BRANCH.into());
        };
        if let Some(sha) = non_empty(&r.commit) {
            return Self::Commit {
                sha: sha.to_ascii_lowercase(),
                branch: non_empty(&r.branch).map(str::to_owned),
            };
        }
        if let Some(name) = non_empty(&r.name) {
            return Self::Name(name.to_owned());
        }
        if let Some(semver) = non_empty(&r.semver) {
            return Self::Semver(semver.to_owned());
        }
        if let Some(tag) = non_empty(&r.tag) {
            return Self::Tag(tag.to_owned());
        }
        Self::Branch(non_empty(&r.branch).unwrap_or(DEFAULT_BRANCH).to_owned())
    }

    /// The full ref name asked for on the remote and the name shown in the revision. Semver
    /// references are resolved to a tag first; for them this is not meaningful.
    pub fn full_name(&self) -> (String, String) {
        match self {
            Self::Branch(b) => (format!("refs/heads/{b}"), b.clone()),
            Self::Tag(t) => (format!("refs/tags/{t}"), t.clone()),
            Self::Name(n) => (n.clone(), n.clone()),
            Self::Semver(s) => (s.clone(), s.clone()),
            Self::Commit { sha, branch } => match branch {
                Some(b) => (format!("refs/heads/{b}"), b.clone()),
                None => (sha.clone(), sha.clone()),
            },
        }
    }

    /// Flux's revision string for `commit` reached through this reference (semver: use the
    /// chosen tag's name instead).
    pub fn revision(&self, commit: ObjectId) -> String {
        match self {
            Self::Commit { branch: None, .. } => format!("sha1:{commit}"),
            other => format!("{}@sha1:{commit}", other.full_name().1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(f: impl FnOnce(&mut GitRepositoryRef)) -> GitRepositoryRef {
        let mut r = GitRepositoryRef::default();
        f(&mut r);
        r
    }

    #[test]
    fn precedence_follows_flux() {
        assert_eq!(GitRef::from_spec(None), GitRef::Branch("master".into()));
        assert_eq!(
            GitRef::from_spec(Some(&spec(|_| {}))),
            GitRef::Branch("master".into())
        );
        let all = spec(|r| {
            r.branch = Some("main".into());
            r.tag = Some("v1".into());
            r.semver = Some(">=1".into());
            r.name = Some("refs/pull/1/head".into());
            r.commit = Some("ABCDEF".into());
        });
        assert_eq!(
            GitRef::from_spec(Some(&all)),
            GitRef::Commit {
                sha: "abcdef".into(),
                branch: Some("main".into())
            }
        );
        let mut r = all.clone();
        r.commit = None;
        assert_eq!(
            GitRef::from_spec(Some(&r)),
            GitRef::Name("refs/pull/1/head".into())
        );
        r.name = None;
        assert_eq!(GitRef::from_spec(Some(&r)), GitRef::Semver(">=1".into()));
        r.semver = Some(String::new());
        assert_eq!(GitRef::from_spec(Some(&r)), GitRef::Tag("v1".into()));
        r.tag = None;
        assert_eq!(GitRef::from_spec(Some(&r)), GitRef::Branch("main".into()));
    }

    #[test]
    fn revisions_match_flux() {
        let id = ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        let hex = id.to_string();
        assert_eq!(
            GitRef::Branch("main".into()).revision(id),
            format!("main@sha1:{hex}")
        );
        assert_eq!(
            GitRef::Tag("v1.0.0".into()).revision(id),
            format!("v1.0.0@sha1:{hex}")
        );
        assert_eq!(
            GitRef::Name("refs/pull/1/head".into()).revision(id),
            format!("refs/pull/1/head@sha1:{hex}")
        );
        let bare = GitRef::Commit {
            sha: hex.clone(),
            branch: None,
        };
        assert_eq!(bare.revision(id), format!("sha1:{hex}"));
        let on_branch = GitRef::Commit {
            sha: hex.clone(),
            branch: Some("dev".into()),
        };
        assert_eq!(on_branch.revision(id), format!("dev@sha1:{hex}"));
    }
}
