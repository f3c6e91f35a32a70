//! Gitea and Forgejo: statuses keyed by `context` under `/api/v1`; the one host here with a
//! state for progress (`pending`). Tested in `gitlab.rs` (`gitlab_and_gitea_statuses`).

use driftless_api::event::{Event, Severity};
use driftless_api::notification::Provider;

use super::{Check, CommitStatus, origin, owner_and_repository, repository_url, token, words};
use crate::providers::ProviderSecret;

/// Gitea and Forgejo (`Authorization: token`); the address is the repository URL.
pub(super) fn status(
    provider: &Provider,
    id: &str,
    secret: &ProviderSecret,
    event: &Event,
    sha: &str,
) -> Result<CommitStatus, String> {
    let url = repository_url(provider, secret, "gitea", "repository")?;
    let token = token(secret, "gitea")?;
    let (owner, repository) = owner_and_repository(&url)?;
    let api = format!("{}/api/v1/repos/{owner}/{repository}", origin(&url));
    let state = match (event.severity, event.reason.as_str()) {
        (_, "Progressing") => "pending",
        (Severity::Error, _) => "failure",
        _ => "success",
    };
    let description = words(&event.reason);
    Ok(CommitStatus {
        check: Check::Listed {
            url: format!("{api}/commits/{sha}/statuses"),
            id_field: "context",
            state_field: "status",
        },
        post_url: format!("{api}/statuses/{sha}"),
        headers: vec![("Authorization".to_owned(), format!("token {token}"))],
        body: serde_json::json!({ "state": state, "description": description, "context": id }),
        id: id.to_owned(),
        state,
        description,
    })
}
