//! The blocking Git work of one run, on the clone kept for the source: fetch the checkout
//! branch, rewrite the marked fields under the update path, commit (signed when asked) and
//! push — and when another writer pushed first, fetch, re-apply and push again at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use driftless_git::push::UpdateMode;
use driftless_git::{
    CommitRequest, CommitSigner, Credentials, Endpoint, GitRef, LocalClone, Person, PushError,
    RefUpdate, commit_changes, push, read_files,
};
use driftless_setters::{Policies, SkipReason, UpdateResult, rewrite_all};
use gix::ObjectId;

use super::outcome::Failure;
use super::plan::Plan;

/// How often a push that lost a race is re-applied on the new remote state.
const RACE_ATTEMPTS: usize = 5;

pub struct Job {
    pub dir: PathBuf,
    pub url: String,
    pub credentials: Credentials,
    pub timeout: Duration,
    pub runtime: tokio::runtime::Handle,
    pub plan: Plan,
    pub policies: Policies,
    /// `namespace:name` of selected policies without an image yet.
    pub pending: BTreeSet<String>,
    /// The source revision the last run saw, when the selected images are unchanged since:
    /// a run finding the checkout branch still there does nothing.
    pub skip_if_at: Option<String>,
    /// The commit the last run pushed, to tell a rebuilt push branch that changed nothing.
    pub last_push: Option<String>,
    pub author: Person,
    pub signer: Option<CommitSigner>,
}

/// What a run did.
#[derive(Debug)]
pub enum Ran {
    /// The checkout branch and the images are as last seen.
    Skipped { source_revision: String },
    /// Nothing to write: every marked field already holds its image.
    UpToDate {
        source_revision: String,
        unknown_markers: Vec<String>,
    },
    Pushed {
        /// The checkout branch's revision after the push.
        source_revision: String,
        commit: String,
        message: String,
        refspecs: Vec<String>,
        /// Races lost and re-applied before the push landed.
        retries: usize,
        unknown_markers: Vec<String>,
    },
}

/// Runs `job`; `message` renders the commit message from the changes. Blocks.
pub fn run(
    job: &Job,
    message: &dyn Fn(&UpdateResult) -> Result<String, Failure>,
) -> Result<Ran, Failure> {
    let credentials = &job.credentials;
    let endpoint = Endpoint {
        url: &job.url,
        credentials,
        timeout: job.timeout,
        runtime: &job.runtime,
    };
    let checkout = GitRef::from_spec(Some(&job.plan.checkout));
    let interrupt = AtomicBool::new(false);
    let mut retries = 0;
    loop {
        let clone = LocalClone::sync(&job.dir, &endpoint, &checkout, &interrupt)
            .map_err(|e| Failure::Git(format!("failed to checkout source: {e}")))?;
        let base = clone.head();
        let source_revision = checkout.revision(base);
        if retries == 0 && job.skip_if_at.as_deref() == Some(source_revision.as_str()) {
            return Ok(Ran::Skipped { source_revision });
        }
        let files = read_files(clone.repo(), base, &job.plan.path)
            .map_err(|e| Failure::Git(format!("failed to read files: {e}")))?;
        let texts: Vec<(&str, &str)> = files
            .iter()
            .filter_map(|(path, bytes)| Some((path.as_str(), std::str::from_utf8(bytes).ok()?)))
            .collect();
        let result = rewrite_all(texts.iter().copied(), &job.policies);
        if let Some((path, error)) = result.problem_files.iter().next() {
            return Err(Failure::Update(format!("file '{path}': {error}")));
        }
        let unknown_markers = unknown_markers(&result, &job.pending);
        if result.updated_files.is_empty() {
            return Ok(Ran::UpToDate {
                source_revision,
                unknown_markers,
            });
        }
        let text = message(&result)?;
        let changes: BTreeMap<String, Vec<u8>> = result
            .updated_files
            .iter()
            .map(|(path, text)| (path.clone(), text.clone().into_bytes()))
            .collect();
        let commit = commit_changes(
            clone.repo(),
            &CommitRequest {
                parent: base,
                changes: &changes,
                author: &job.author,
                committer: &job.author,
                message: &text,
                signer: job.signer.as_ref(),
            },
        )
        .map_err(|e| Failure::Git(format!("failed to update source: {e}")))?;
        let Some(commit) = commit else {
            return Ok(Ran::UpToDate {
                source_revision,
                unknown_markers,
            });
        };
        if job.plan.switch_branch && same_as_last_push(clone.repo(), job, base, commit) {
            return Ok(Ran::UpToDate {
                source_revision,
                unknown_markers,
            });
        }
        let branch_update = if job.plan.switch_branch {
            RefUpdate {
                remote_ref: format!("refs/heads/{}", job.plan.push_branch),
                new: commit,
                mode: if job.plan.force {
                    UpdateMode::Force
                } else {
                    UpdateMode::FastForward
                },
            }
        } else {
            RefUpdate::fast_forward(&job.plan.push_branch, commit, base)
        };
        let options: Vec<String> = job
            .plan
            .push_options
            .iter()
            .map(|(key, value)| {
                if value.is_empty() {
                    key.clone()
                } else {
                    format!("{key}={value}")
                }
            })
            .collect();
        match push(clone.repo(), &endpoint, &[branch_update], &options) {
            Ok(()) => {}
            Err(PushError::Race { .. }) if retries + 1 < RACE_ATTEMPTS => {
                retries += 1;
                tracing::info!(
                    retries,
                    "the branch moved on the remote; re-applying on its new head"
                );
                continue;
            }
            Err(error) => return Err(Failure::Git(format!("failed to update source: {error}"))),
        }
        let mut refspecs = Vec::new();
        if let Some(refspec) = &job.plan.refspec {
            // Never forced: force is only granted for the push branch, as in Flux.
            let update = RefUpdate::from_refspec(clone.repo(), refspec, commit)
                .map_err(|e| Failure::Git(format!("failed to update source: {e}")))?;
            push(clone.repo(), &endpoint, &[update], &options)
                .map_err(|e| Failure::Git(format!("failed to update source: {e}")))?;
            refspecs.push(refspec.clone());
        }
        return Ok(Ran::Pushed {
            // Pushed to the checkout branch, the new commit is what the source now is; to
            // another branch, the checkout branch is as fetched.
            source_revision: if job.plan.switch_branch {
                source_revision
            } else {
                checkout.revision(commit)
            },
            commit: commit.to_string(),
            message: text,
            refspecs,
            retries,
            unknown_markers,
        });
    }
}

/// Markers naming a policy that is neither selected nor pending: `file:line ns:name`.
fn unknown_markers(result: &UpdateResult, pending: &BTreeSet<String>) -> Vec<String> {
    result
        .skipped
        .iter()
        .flat_map(|(path, markers)| markers.iter().map(move |m| (path, m)))
        .filter(|(_, m)| m.reason == SkipReason::UnknownPolicy)
        .filter(|(_, m)| {
            let policy: Vec<&str> = m.setter.splitn(3, ':').take(2).collect();
            !pending.contains(&policy.join(":"))
        })
        .map(|(path, m)| format!("{path}:{} {}", m.line, m.setter))
        .collect()
}

/// Whether the last pushed commit already is `base` plus the same tree: a push branch
/// rebuilt from an unchanged checkout with the same images must not be pushed again.
fn same_as_last_push(repo: &gix::Repository, job: &Job, base: ObjectId, commit: ObjectId) -> bool {
    let Some(last) = job
        .last_push
        .as_deref()
        .and_then(|id| ObjectId::from_hex(id.as_bytes()).ok())
    else {
        return false;
    };
    let (Ok(last), Ok(new)) = (repo.find_commit(last), repo.find_commit(commit)) else {
        return false;
    };
    let parents_match = last.parent_ids().next().map(|p| p.detach()) == Some(base);
    let trees_match = matches!((last.tree_id(), new.tree_id()), (Ok(a), Ok(b)) if a == b);
    parents_match && trees_match
}
