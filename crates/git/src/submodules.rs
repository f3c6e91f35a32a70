//! `spec.recurseSubmodules`: gitlinks are resolved through `.gitmodules` (relative URLs
//! against the parent's URL, as git does), each pinned commit is fetched shallowly with the
//! parent's credentials, and nested submodules follow up to git's default depth.

use std::sync::atomic::AtomicBool;

use super::tree::{self, Listing};
use super::{Checkout, FetchOutcome, FetchRequest, GitError, GitRef, Transport};

/// go-git's (and so Flux's) default recursion depth.
pub const MAX_DEPTH: usize = 10;

/// A fetched submodule, its listing with paths relative to the artifact root.
pub struct Submodule {
    pub checkout: Box<Checkout>,
    pub listing: Listing,
}

fn failed(path: &str, message: impl Into<String>) -> GitError {
    GitError::Submodule {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Resolves a `.gitmodules` URL: relative ones (`./x`, `../x`) against `parent`.
pub fn resolve_url(parent: &str, url: &str) -> Result<String, String> {
    if !(url.starts_with("./") || url.starts_with("../")) {
        return Ok(url.to_owned());
    }
    let base = reqwest::Url::parse(&format!("{}/", parent.trim_end_matches('/')))
        .map_err(|e| format!("cannot resolve '{url}' against '{parent}': {e}"))?;
    base.join(url)
        .map(|u| u.to_string())
        .map_err(|e| format!("cannot resolve '{url}' against '{parent}': {e}"))
}

/// Fetches the submodules of `listing` (a tree of `repo`, fetched from `request.url`), and
/// theirs, appending them to `out` with paths under `prefix`.
pub fn fetch_all(
    request: &FetchRequest<'_>,
    repo: &gix::Repository,
    listing: &Listing,
    prefix: &str,
    depth: usize,
    interrupt: &AtomicBool,
    out: &mut Vec<Submodule>,
) -> Result<(), GitError> {
    if listing.submodules.is_empty() {
        return Ok(());
    }
    let modules = listing
        .files
        .iter()
        .find(|f| f.path == ".gitmodules")
        .ok_or_else(|| failed(prefix, "gitlinks without a .gitmodules file"))?;
    let blob = repo
        .find_blob(modules.id)
        .map_err(|e| failed(prefix, format!("reading .gitmodules: {e}")))?;
    let modules = gix::submodule::File::from_bytes(&blob.data, None, &Default::default())
        .map_err(|e| failed(prefix, format!("parsing .gitmodules: {e}")))?;
    for (path, commit) in &listing.submodules {
        let full_path = if prefix.is_empty() {
            path.clone()
        } else {
            format!("{prefix}/{path}")
        };
        if depth >= MAX_DEPTH {
            return Err(failed(
                &full_path,
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let name = modules
            .name_by_path(path.as_str().into())
            .ok_or_else(|| failed(&full_path, "not listed in .gitmodules"))?;
        let raw = modules
            .config()
            .string_by("submodule", Some(name), "url")
            .ok_or_else(|| failed(&full_path, "no url in .gitmodules"))?;
        let url = resolve_url(request.url, &raw.to_string()).map_err(|e| failed(&full_path, e))?;
        // file:// and local paths would make the controller read its own filesystem.
        if Transport::of(&url).is_none() {
            return Err(failed(
                &full_path,
                format!("unsupported submodule URL '{url}'"),
            ));
        }
        let reference = GitRef::Commit {
            sha: commit.to_string(),
            branch: None,
        };
        let sub_request = FetchRequest {
            url: &url,
            reference: &reference,
            credentials: request.credentials,
            timeout: request.timeout,
            work_dir: request.work_dir,
            runtime: request.runtime,
        };
        let checkout = match super::fetch(&sub_request, |_| false, interrupt)
            .map_err(|e| failed(&full_path, e.to_string()))?
        {
            FetchOutcome::Fetched(checkout) => checkout,
            FetchOutcome::Unchanged(_) => return Err(failed(&full_path, "not fetched")),
        };
        let tree_id = tree::commit_tree(&checkout.repo, *commit)
            .map_err(|e| failed(&full_path, e.to_string()))?;
        let own =
            tree::list(&checkout.repo, tree_id).map_err(|e| failed(&full_path, e.to_string()))?;
        let mut nested = Vec::new();
        fetch_all(
            &sub_request,
            &checkout.repo,
            &own,
            &full_path,
            depth + 1,
            interrupt,
            &mut nested,
        )?;
        let listing = Listing {
            files: own
                .files
                .into_iter()
                .map(|mut f| {
                    f.path = format!("{full_path}/{}", f.path);
                    f
                })
                .collect(),
            submodules: Vec::new(),
        };
        out.push(Submodule { checkout, listing });
        out.extend(nested);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::resolve_url;

    #[test]
    fn relative_urls_resolve_like_git() {
        assert_eq!(
            resolve_url("http://h:8080/org/app.git", "../lib.git").unwrap(),
            "http://h:8080/org/lib.git"
        );
        assert_eq!(
            resolve_url("https://h/org/app.git/", "./sub.git").unwrap(),
            "https://h/org/app.git/sub.git"
        );
        assert_eq!(
            resolve_url("ssh://git@h:2222/srv/app.git", "../../other/lib.git").unwrap(),
            "ssh://git@h:2222/other/lib.git"
        );
        assert_eq!(
            resolve_url("https://h/app.git", "https://elsewhere/lib.git").unwrap(),
            "https://elsewhere/lib.git"
        );
    }
}
