//! Remote resources, as kustomize reads them: `http(s)://` files, and kustomization
//! directories in Git repositories (`github.com/org/repo//path?ref=v1`,
//! `https://host/org/repo.git//path`, `git@host:org/repo`, `ssh://…`). Off unless a build is
//! given a [`Remote`] that fetches them; the library itself does no network I/O.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use crate::fs::FileSystem;
use crate::{Error, Result};

/// Fetches what remote references name. Implementations decide transport and security.
pub trait Remote {
    /// The content of an `http://` or `https://` file.
    fn fetch_file(&self, url: &str) -> std::result::Result<Vec<u8>, String>;

    /// The repository `repo` names, at its ref: a file system holding it and the directory
    /// of the repository's root in it.
    fn fetch_repository(
        &self,
        repo: &RepoSpec,
    ) -> std::result::Result<(Rc<dyn FileSystem>, PathBuf), String>;
}

/// An `http://` or `https://` URL (a file, unless it turns out to be a repository).
pub fn is_remote_file(path: &str) -> bool {
    let lower = path.get(..8).unwrap_or(path).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// A Git repository reference, parsed as kustomize parses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoSpec {
    /// Scheme, user and host: `https://github.com/`, `git@github.com:`, `file://`.
    pub host: String,
    /// The repository's path on the host: `org/repo`, `org/repo.git`.
    pub repo_path: String,
    /// The kustomization's directory inside the repository.
    pub root_path: String,
    /// `?ref=` (or `?version=`): a branch, tag or commit; empty for the default branch.
    pub git_ref: String,
    pub timeout: Duration,
    pub submodules: bool,
}

const SSH: &str = "ssh://";
const HTTPS: &str = "https://";
const HTTP: &str = "http://";
const FILE: &str = "file://";

impl RepoSpec {
    /// What to clone: host and repository path.
    pub fn clone_url(&self) -> String {
        format!("{}{}", self.host, self.repo_path)
    }

    pub fn parse(reference: &str) -> Result<RepoSpec> {
        let fail = |why: &str| {
            Error::new(format!(
                "{reference}: not a Git repository reference: {why}"
            ))
        };
        if reference.starts_with('/') {
            return Err(fail("uri looks like abs path"));
        }
        let (rest, query) = reference.split_once('?').unwrap_or((reference, ""));
        let (git_ref, timeout, submodules) = parse_query(query);
        let rest = strip_prefix_ignore_case(rest, "git::").unwrap_or(rest);
        let (scheme, rest) = [SSH, HTTPS, HTTP, FILE]
            .iter()
            .find_map(|s| strip_prefix_ignore_case(rest, s).map(|r| (*s, r)))
            .unwrap_or(("", rest));
        let (user, rest) = match user_prefix(rest) {
            Some(len) => rest.split_at(len),
            None => ("", rest),
        };
        let lower = rest.to_ascii_lowercase();
        let github = lower.starts_with("github.com/") || lower.starts_with("github.com:");
        let scp = scheme.is_empty() && (!user.is_empty() || github);
        if scheme.is_empty() && !scp {
            return Err(fail("failed to parse scheme"));
        }
        let (host, path) = if scheme == FILE {
            (format!("{scheme}{user}{rest}"), String::new())
        } else {
            let mut separator = rest.find('/');
            if scp
                && let Some(colon) = rest.find(':')
                && separator.is_none_or(|s| colon > 0 && colon < s)
            {
                separator = Some(colon);
            }
            let (mut host, path) = match separator {
                Some(at) => (rest[..=at].to_owned(), rest[at + 1..].to_owned()),
                None => (rest.to_owned(), String::new()),
            };
            let (mut scheme, mut user) = (scheme.to_owned(), user.to_owned());
            if github {
                if scheme.starts_with(SSH) || !user.is_empty() {
                    scheme.clear();
                    host = "github.com:".to_owned();
                } else {
                    scheme = HTTPS.to_owned();
                    user.clear();
                    host = "github.com/".to_owned();
                }
            }
            if host.is_empty() {
                return Err(fail("failed to parse host segment"));
            }
            (format!("{scheme}{user}{host}"), path)
        };
        let (repo_path, root_path) = if scheme == FILE {
            let full = host.strip_prefix(FILE).unwrap_or(&host).to_owned();
            split_repo_path(&full, None).ok_or_else(|| fail("failed to parse repo path segment"))?
        } else {
            split_repo_path(&path, Some(2))
                .ok_or_else(|| fail("failed to parse repo path segment"))?
        };
        let host = if scheme == FILE {
            FILE.to_owned()
        } else {
            host
        };
        if repo_path.is_empty() {
            return Err(fail("failed to parse repo path segment"));
        }
        let root_path = root_path.trim_start_matches('/').to_owned();
        if crate::origin::join("", &root_path).starts_with("..") {
            return Err(fail("url path exits repo"));
        }
        Ok(RepoSpec {
            host,
            repo_path,
            root_path,
            git_ref,
            timeout,
            submodules,
        })
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Length of a leading `user@` (a letter, then letters, digits or dashes).
fn user_prefix(text: &str) -> Option<usize> {
    let at = text.find('@')?;
    let user = &text[..at];
    let mut chars = user.chars();
    (chars.next()?.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .then_some(at + 1)
}

fn parse_query(query: &str) -> (String, Duration, bool) {
    let mut git_ref = String::new();
    let mut version = String::new();
    let mut timeout = Duration::from_secs(27);
    let mut submodules = true;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "ref" if git_ref.is_empty() => git_ref = value.to_owned(),
            "version" if version.is_empty() => version = value.to_owned(),
            "timeout" => {
                if let Ok(seconds) = value.parse::<u64>() {
                    if seconds > 0 {
                        timeout = Duration::from_secs(seconds);
                    }
                } else if let Some(seconds) =
                    value.strip_suffix('s').and_then(|s| s.parse::<u64>().ok())
                {
                    timeout = Duration::from_secs(seconds.max(1));
                }
            }
            "submodules" => {
                if let Ok(flag) = value.parse::<bool>() {
                    submodules = flag;
                }
            }
            _ => {}
        }
    }
    (
        if git_ref.is_empty() { version } else { git_ref },
        timeout,
        submodules,
    )
}

/// Repository path and the path inside it: split at `_git/<repo>`, `//`, or `.git`, else
/// after `segments` path segments (all of them when `None`).
fn split_repo_path(path: &str, segments: Option<usize>) -> Option<(String, String)> {
    if let Some(at) = path.find("_git/") {
        let (head, tail) = path.split_at(at + "_git/".len());
        let mut parts = tail.splitn(2, '/');
        let repo = parts.next().unwrap_or("");
        return Some((
            format!("{head}{repo}"),
            parts.next().unwrap_or("").to_owned(),
        ));
    }
    if let Some(at) = path.find("//") {
        return Some((path[..at].to_owned(), path[at + 2..].to_owned()));
    }
    if let Some(at) = path.find(".git") {
        let end = at + ".git".len();
        return Some((path[..end].to_owned(), path[end..].to_owned()));
    }
    match segments {
        None => Some((path.to_owned(), String::new())),
        Some(n) => {
            let parts: Vec<&str> = path.split('/').collect();
            (parts.len() >= n).then(|| (parts[..n].join("/"), parts[n..].join("/")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(reference: &str) -> (String, String, String, String) {
        let s = RepoSpec::parse(reference).unwrap_or_else(|e| panic!("{reference}: {e}"));
        (s.host, s.repo_path, s.root_path, s.git_ref)
    }

    fn t(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
        (a.into(), b.into(), c.into(), d.into())
    }

    #[test]
    fn parses_the_reference_forms_kustomize_accepts() {
        assert_eq!(
            spec("github.com/org/repo/deploy/prod?ref=v1"),
            t("https://github.com/", "org/repo", "deploy/prod", "v1")
        );
        assert_eq!(
            spec("https://github.com/org/repo//deploy?ref=main"),
            t("https://github.com/", "org/repo", "deploy", "main")
        );
        assert_eq!(
            spec("git@github.com:org/repo.git/deploy"),
            t("git@github.com:", "org/repo.git", "deploy", "")
        );
        assert_eq!(
            spec("ssh://git@gitlab.example.com/org/repo.git//base?version=v2"),
            t(
                "ssh://git@gitlab.example.com/",
                "org/repo.git",
                "base",
                "v2"
            )
        );
        assert_eq!(
            spec("http://127.0.0.1:8080/app.git//base?ref=main"),
            t("http://127.0.0.1:8080/", "app.git", "base", "main")
        );
        assert_eq!(
            spec("https://dev.azure.com/org/project/_git/repo/path"),
            t(
                "https://dev.azure.com/",
                "org/project/_git/repo",
                "path",
                ""
            )
        );
        assert_eq!(
            spec("git::https://host/org/repo//x"),
            t("https://host/", "org/repo", "x", "")
        );
    }

    #[test]
    fn local_paths_and_escapes_are_not_repositories() {
        for reference in [
            "../base",
            "base",
            "/abs/path",
            "https://host/org",
            "ftp://host/org/repo",
            "github.com/org/repo//../x",
        ] {
            assert!(RepoSpec::parse(reference).is_err(), "{reference}");
        }
    }

    #[test]
    fn only_http_urls_are_remote_files() {
        assert!(is_remote_file("https://example.com/a.yaml"));
        assert!(is_remote_file("HTTP://example.com/a.yaml"));
        assert!(!is_remote_file("github.com/org/repo"));
        assert!(!is_remote_file("a.yaml"));
    }
}
