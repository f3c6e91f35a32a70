//! GitHub and GitHub Enterprise: statuses keyed by `context`, posted to api.github.com or to
//! an Enterprise server's `/api/v3`.

use driftless_api::event::Event;
use driftless_api::notification::Provider;

use super::{
    Check, CommitStatus, api_root, owner_and_repository, repository_url, success_or, token, words,
};
use crate::providers::ProviderSecret;

pub(super) fn status(
    provider: &Provider,
    id: &str,
    secret: &ProviderSecret,
    event: &Event,
    sha: &str,
) -> Result<CommitStatus, String> {
    let url = repository_url(provider, secret, "github", "repository")?;
    let token = token(secret, "github")?;
    let (owner, repository) = owner_and_repository(&url)?;
    // github.com has its own API host; Enterprise servers serve the API under /api/v3.
    let api = api_root(&url, "github.com", "https://api.github.com", "/api/v3");
    let state = success_or(event, "failure", "success");
    let description: String = words(&event.reason).chars().take(140).collect();
    Ok(CommitStatus {
        check: Check::Listed {
            url: format!("{api}/repos/{owner}/{repository}/commits/{sha}/statuses"),
            id_field: "context",
            state_field: "state",
        },
        post_url: format!("{api}/repos/{owner}/{repository}/statuses/{sha}"),
        headers: vec![
            ("Authorization".to_owned(), format!("Bearer {token}")),
            (
                "Accept".to_owned(),
                "application/vnd.github+json".to_owned(),
            ),
            ("X-GitHub-Api-Version".to_owned(), "2022-11-28".to_owned()),
        ],
        body: serde_json::json!({ "state": state, "description": description, "context": id }),
        id: id.to_owned(),
        state,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Check, build};
    use crate::commit_status::fixtures::{built, event, provider_at, secret_with_token};
    use crate::providers::ProviderSecret;

    #[test]
    fn github_statuses() {
        let github = provider_at("github", "https://github.com/org/app");
        let status = built(
            &github,
            "ks/podinfo/1",
            &secret_with_token("t"),
            &event("info", "ReconciliationSucceeded"),
        );
        assert_eq!(
            status.post_url,
            "https://api.github.com/repos/org/app/statuses/3b9a1f7c"
        );
        assert_eq!(
            status.body,
            serde_json::json!({ "state": "success", "description": "reconciliation succeeded", "context": "ks/podinfo/1" })
        );
        let enterprise = provider_at("github", "http://ghe.local:8080/org/app.git");
        let status = built(
            &enterprise,
            "x",
            &secret_with_token("t"),
            &event("error", "HealthCheckFailed"),
        );
        assert_eq!(
            status.check,
            Check::Listed {
                url: "http://ghe.local:8080/api/v3/repos/org/app/commits/3b9a1f7c/statuses".into(),
                id_field: "context",
                state_field: "state",
            }
        );
        assert_eq!(status.state, "failure");
        // No commit, no status; no token, a clear error.
        let mut legacy = event("info", "ReconciliationSucceeded");
        legacy
            .metadata
            .insert("revision".into(), "main/3b9a1f7c".into());
        assert!(
            built(&github, "x", &secret_with_token("t"), &legacy)
                .post_url
                .ends_with("/statuses/3b9a1f7c")
        );
        let mut plain = event("info", "ReconciliationSucceeded");
        plain.metadata.clear();
        assert_eq!(
            build(&github, "x", &secret_with_token("t"), &plain).unwrap(),
            None
        );
        let error = build(
            &github,
            "x",
            &ProviderSecret::default(),
            &event("info", "X"),
        )
        .unwrap_err();
        assert!(error.contains("needs a token"), "{error}");
    }
}
