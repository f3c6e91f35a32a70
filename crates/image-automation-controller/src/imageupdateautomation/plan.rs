//! What an automation run will do, decided from the spec and its GitRepository before any
//! Git work: which ref to check out, which branch to push to (and whether that is another
//! branch, force-pushed), the refspec and options, and the directory to update. Pure.

use std::collections::BTreeMap;

use driftless_api::image::ImageUpdateAutomation;
use driftless_api::source::{GitRepository, GitRepositoryRef};

/// Git's default branch when neither the automation nor the GitRepository names a ref.
pub const DEFAULT_BRANCH: &str = "master";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// What to clone: `spec.git.checkout.ref`, else the GitRepository's `spec.ref`.
    pub checkout: GitRepositoryRef,
    /// The branch commits are pushed to.
    pub push_branch: String,
    /// The push branch is not the checked-out branch: it is based on the checkout and
    /// force-pushed (unless `GitForcePushBranch=false`).
    pub switch_branch: bool,
    /// Force-push the push branch.
    pub force: bool,
    pub refspec: Option<String>,
    pub push_options: BTreeMap<String, String>,
    /// Directory under the repository root to update (`""` = the root), normalised.
    pub path: String,
}

/// A configuration no retry can fix (Flux: `InvalidSourceConfiguration`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("source kind '{0}' necessitates field .spec.git")]
    NoGitSpec(&'static str),
    #[error(
        "push spec not provided, and cannot be inferred from .spec.git.checkout.ref or GitRepository .spec.ref"
    )]
    NoPushBranch,
    #[error("invalid update path '{0}': it must stay inside the repository")]
    Path(String),
}

/// The plan for `automation` working on `repository`; `force_push_branch` is the
/// `GitForcePushBranch` feature gate.
pub fn plan(
    automation: &ImageUpdateAutomation,
    repository: &GitRepository,
    force_push_branch: bool,
) -> Result<Plan, PlanError> {
    let git = automation
        .spec
        .git_spec
        .as_ref()
        .ok_or(PlanError::NoGitSpec("GitRepository"))?;
    let explicit_checkout = git
        .checkout
        .as_ref()
        .map(|c| c.reference.clone())
        .or_else(|| repository.spec.reference.clone());
    let push_branch_spec = git
        .push
        .as_ref()
        .and_then(|p| p.branch.clone())
        .filter(|b| !b.is_empty());
    let checkout_branch = explicit_checkout
        .as_ref()
        .and_then(|r| r.branch.clone())
        .filter(|b| !b.is_empty());
    let (push_branch, switch_branch) = match (push_branch_spec, &explicit_checkout) {
        (Some(push), Some(_)) => {
            let switch = checkout_branch.as_deref() != Some(push.as_str());
            (push, switch)
        }
        (Some(push), None) => {
            let switch = push != DEFAULT_BRANCH;
            (push, switch)
        }
        (None, _) => (checkout_branch.ok_or(PlanError::NoPushBranch)?, false),
    };
    let checkout = explicit_checkout.unwrap_or_else(|| GitRepositoryRef {
        branch: Some(DEFAULT_BRANCH.to_owned()),
        ..GitRepositoryRef::default()
    });
    let update_path = automation
        .spec
        .update
        .as_ref()
        .and_then(|u| u.path.clone())
        .unwrap_or_default();
    Ok(Plan {
        checkout,
        push_branch,
        switch_branch,
        force: switch_branch && force_push_branch,
        refspec: git
            .push
            .as_ref()
            .and_then(|p| p.refspec.clone())
            .filter(|r| !r.is_empty()),
        push_options: git
            .push
            .as_ref()
            .map(|p| p.options.clone())
            .unwrap_or_default(),
        path: normalize_path(&update_path)?,
    })
}

/// `./apps//prod/` → `apps/prod`; `..` that would leave the repository is refused.
pub fn normalize_path(path: &str) -> Result<String, PlanError> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PlanError::Path(path.to_owned()));
                }
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn automation(git: serde_json::Value) -> ImageUpdateAutomation {
        serde_json::from_value(json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
            "metadata": {"name": "a", "namespace": "ns"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "interval": "5m",
                     "git": git, "update": {"strategy": "Setters", "path": "./clusters/prod"}}
        }))
        .unwrap()
    }

    fn repository(reference: Option<serde_json::Value>) -> GitRepository {
        let mut spec = json!({"url": "https://example.com/x.git", "interval": "1m"});
        if let Some(r) = reference {
            spec["ref"] = r;
        }
        serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "ns"}, "spec": spec
        }))
        .unwrap()
    }

    const AUTHOR: &str = r#"{"author": {"email": "bot@example.com"}}"#;

    fn commit() -> serde_json::Value {
        serde_json::from_str(AUTHOR).unwrap()
    }

    #[test]
    fn pushing_back_to_the_checked_out_branch() {
        let p = plan(
            &automation(json!({"commit": commit()})),
            &repository(Some(json!({"branch": "main"}))),
            true,
        )
        .unwrap();
        assert_eq!(p.checkout.branch.as_deref(), Some("main"));
        assert_eq!(
            (p.push_branch.as_str(), p.switch_branch, p.force),
            ("main", false, false)
        );
        assert_eq!(p.path, "clusters/prod");
    }

    #[test]
    fn a_separate_push_branch_is_force_pushed_unless_the_gate_is_off() {
        let a = automation(
            json!({"commit": commit(), "checkout": {"ref": {"branch": "main"}},
                                  "push": {"branch": "auto", "options": {"ci.skip": ""}}}),
        );
        let p = plan(&a, &repository(None), true).unwrap();
        assert_eq!(
            (p.push_branch.as_str(), p.switch_branch, p.force),
            ("auto", true, true)
        );
        assert_eq!(p.push_options.len(), 1);
        assert!(!plan(&a, &repository(None), false).unwrap().force);
        // The same branch named twice is no switch.
        let same = automation(json!({"commit": commit(), "push": {"branch": "main"}}));
        let p = plan(&same, &repository(Some(json!({"branch": "main"}))), true).unwrap();
        assert!(!p.switch_branch);
    }

    #[test]
    fn without_any_ref_the_default_branch_is_used() {
        let a = automation(json!({"commit": commit(), "push": {"branch": "master"}}));
        let p = plan(&a, &repository(None), true).unwrap();
        assert_eq!(p.checkout.branch.as_deref(), Some(DEFAULT_BRANCH));
        assert!(!p.switch_branch);
    }

    #[test]
    fn configurations_that_cannot_work_are_refused() {
        let tag_only = plan(
            &automation(json!({"commit": commit()})),
            &repository(Some(json!({"tag": "v1.0.0"}))),
            true,
        );
        assert_eq!(tag_only, Err(PlanError::NoPushBranch));
        let mut no_git = automation(json!({"commit": commit()}));
        no_git.spec.git_spec = None;
        assert!(matches!(
            plan(&no_git, &repository(None), true),
            Err(PlanError::NoGitSpec(_))
        ));
        assert_eq!(normalize_path("./a/../b/"), Ok("b".into()));
        assert_eq!(normalize_path(""), Ok(String::new()));
        assert!(normalize_path("../outside").is_err());
        assert!(normalize_path("a/../../x").is_err());
    }
}
