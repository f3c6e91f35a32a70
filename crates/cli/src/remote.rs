//! `driftless kustomize build --enable-remote`: fetches the remote files (HTTP GET) and Git
//! bases (a shallow fetch with gix into a throwaway bare repository, read from the object
//! database into memory) that kustomizations name.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;

use driftless_kustomize::fs::{FileSystem, MemFs};
use driftless_kustomize::remote::{Remote, RepoSpec};
use gix::remote::fetch::Shallow;

pub struct NetworkRemote {
    http: reqwest::blocking::Client,
}

impl NetworkRemote {
    pub fn new() -> anyhow::Result<NetworkRemote> {
        // TLS is rustls with ring throughout the workspace.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("driftless/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(NetworkRemote { http })
    }
}

const CHECKOUT: &str = "/checkout";

fn is_commit(reference: &str) -> bool {
    reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit())
}

impl Remote for NetworkRemote {
    fn fetch_file(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self.http.get(url).send().map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "HTTP Error: status code {} ({})",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ));
        }
        response
            .bytes()
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string())
    }

    fn fetch_repository(&self, spec: &RepoSpec) -> Result<(Rc<dyn FileSystem>, PathBuf), String> {
        let url = spec.clone_url();
        let dir =
            tempfile::tempdir().map_err(|e| format!("creating a temporary directory: {e}"))?;
        let describe = |e: &dyn std::error::Error| format!("fetching {url}: {e}");
        let mut prepare =
            gix::prepare_clone_bare(url.as_str(), dir.path()).map_err(|e| describe(&e))?;
        let commit_ref = is_commit(&spec.git_ref);
        if !commit_ref {
            if !spec.git_ref.is_empty() {
                prepare = prepare
                    .with_ref_name(Some(spec.git_ref.as_str()))
                    .map_err(|e| describe(&e))?;
            }
            prepare = prepare.with_shallow(Shallow::DepthAtRemote(std::num::NonZeroU32::MIN));
        }
        let (repository, _) = prepare
            .fetch_only(gix::progress::Discard, &AtomicBool::new(false))
            .map_err(|e| describe(&e))?;
        let commit = if commit_ref {
            let id = gix::ObjectId::from_hex(spec.git_ref.as_bytes()).map_err(|e| describe(&e))?;
            repository
                .find_commit(id)
                .map_err(|e| format!("commit {} not found in {url}: {e}", spec.git_ref))?
        } else {
            repository.head_commit().map_err(|e| describe(&e))?
        };
        let tree = commit.tree_id().map_err(|e| describe(&e))?.detach();
        let mut fs = MemFs::new();
        fs.add_dir(CHECKOUT);
        read_tree(&repository, tree, CHECKOUT, &mut fs)?;
        Ok((Rc::new(fs), PathBuf::from(CHECKOUT)))
    }
}

/// Regular files of a tree into `fs` under `prefix` (links and submodules are skipped).
fn read_tree(
    repository: &gix::Repository,
    id: gix::ObjectId,
    prefix: &str,
    fs: &mut MemFs,
) -> Result<(), String> {
    let tree = repository
        .find_tree(id)
        .map_err(|e| format!("reading tree {id}: {e}"))?;
    let decoded = tree
        .decode()
        .map_err(|e| format!("reading tree {id}: {e}"))?;
    for entry in decoded.entries {
        let name = entry.filename.to_string();
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return Err(format!("tree entry {name:?} has an unsafe name"));
        }
        let path = format!("{prefix}/{name}");
        let oid = entry.oid.to_owned();
        if entry.mode.is_tree() {
            fs.add_dir(&path);
            read_tree(repository, oid, &path, fs)?;
        } else if entry.mode.is_blob() {
            let blob = repository
                .find_object(oid)
                .map_err(|e| format!("reading {path}: {e}"))?;
            fs.add_file(&path, blob.data.clone());
        }
    }
    Ok(())
}
