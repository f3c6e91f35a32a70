//! GitLab: statuses keyed by `name` on a project addressed by its URL-encoded path under
//! `/api/v4`. Gitea's builder is tested here too, in the one test the two have shared.

use driftless_api::event::Event;
use driftless_api::notification::Provider;

use super::{Check, CommitStatus, origin, repository_url, success_or, token, words};
use crate::providers::ProviderSecret;

/// The address is the project URL (`https://gitlab.example/group/sub/project`).
pub(super) fn status(
    provider: &Provider,
    id: &str,
    secret: &ProviderSecret,
    event: &Event,
    sha: &str,
) -> Result<CommitStatus, String> {
    let url = repository_url(provider, secret, "gitlab", "project")?;
    let token = token(secret, "gitlab")?;
    let project = url.path().trim_matches('/');
    if project.is_empty() {
        return Err("the project address does not name a project".into());
    }
    let encoded = project.replace('/', "%2F");
    let api = format!("{}/api/v4/projects/{encoded}", origin(&url));
    let state = success_or(event, "failed", "success");
    let description: String = words(&event.reason).chars().take(255).collect();
    let name_query: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    Ok(CommitStatus {
        check: Check::Listed {
            url: format!("{api}/repository/commits/{sha}/statuses?name={name_query}"),
            id_field: "name",
            state_field: "status",
        },
        post_url: format!("{api}/statuses/{sha}"),
        headers: vec![("PRIVATE-TOKEN".to_owned(), token.to_owned())],
        body: serde_json::json!({ "state": state, "description": description, "name": id }),
        id: id.to_owned(),
        state,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Check, build};
    use crate::commit_status::fixtures::{built, event, provider_at, secret_with_token};

    #[test]
    fn gitlab_and_gitea_statuses() {
        let gitlab = provider_at("gitlab", "https://gitlab.example/group/sub/app.git");
        let status = built(
            &gitlab,
            "kustomization/podinfo/5f0c9f3e",
            &secret_with_token("glpat"),
            &event("error", "HealthCheckFailed"),
        );
        assert_eq!(
            status.post_url,
            "https://gitlab.example/api/v4/projects/group%2Fsub%2Fapp/statuses/3b9a1f7c"
        );
        assert_eq!(
            status.check,
            Check::Listed {
                url: "https://gitlab.example/api/v4/projects/group%2Fsub%2Fapp/repository/commits/3b9a1f7c/statuses?name=kustomization%2Fpodinfo%2F5f0c9f3e".into(),
                id_field: "name",
                state_field: "status",
            }
        );
        assert_eq!(status.body["state"], "failed");
        assert_eq!(status.body["name"], "kustomization/podinfo/5f0c9f3e");
        assert_eq!(
            status.headers,
            vec![("PRIVATE-TOKEN".to_owned(), "glpat".to_owned())]
        );

        let gitea = provider_at("gitea", "https://gitea.example:3000/org/app");
        let status = built(
            &gitea,
            "id",
            &secret_with_token("tok"),
            &event("info", "Progressing"),
        );
        assert_eq!(
            status.post_url,
            "https://gitea.example:3000/api/v1/repos/org/app/statuses/3b9a1f7c"
        );
        assert_eq!(status.state, "pending");
        assert_eq!(
            status.headers,
            vec![("Authorization".to_owned(), "token tok".to_owned())]
        );
        let nested = provider_at("gitea", "https://gitea.example/a/b/c");
        assert!(
            build(&nested, "id", &secret_with_token("t"), &event("info", "X"))
                .unwrap_err()
                .contains("invalid repository id")
        );
    }
}
