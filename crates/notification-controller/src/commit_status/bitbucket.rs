//! Bitbucket Cloud and Bitbucket Server (Data Center): build statuses keyed by the SHA-1 of
//! the id and read back by that key. Neither has a state for progress, so `build` skips it.

use base64::Engine as _;
use driftless_api::event::Event;
use driftless_api::notification::Provider;
use sha1::Digest as _;

use super::{
    Check, CommitStatus, api_root, involved_object, origin, owner_and_repository, repository_url,
    success_or, two_segments, words,
};
use crate::providers::{self, ProviderSecret};

/// What the two Bitbucket APIs send alike for a status.
struct BuildStatus {
    /// Bitbucket keys statuses by at most 40 characters: the SHA-1 of the id, as Flux sends it.
    key: String,
    state: &'static str,
    description: String,
}

impl BuildStatus {
    fn new(id: &str, event: &Event) -> Self {
        BuildStatus {
            key: hex::encode(sha1::Sha1::digest(id.as_bytes())),
            state: success_or(event, "FAILED", "SUCCESSFUL"),
            description: words(&event.reason),
        }
    }
}

fn basic(user: &str, password: &str) -> String {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {credentials}")
}

/// Bitbucket Cloud: the address is `https://bitbucket.org/<workspace>/<repository>`, the token
/// `<username>:<app password or API token>`. The API is api.bitbucket.org's; an address on
/// another host (a proxy, a test server) is served its `/2.0` API.
pub(super) fn cloud_status(
    provider: &Provider,
    id: &str,
    secret: &ProviderSecret,
    event: &Event,
    sha: &str,
) -> Result<CommitStatus, String> {
    let token = secret
        .token
        .as_deref()
        .ok_or("bitbucket token cannot be empty")?;
    let url = repository_url(provider, secret, "bitbucket", "repository")?;
    let (workspace, repository) = owner_and_repository(&url)?;
    let (user, password) = match token.split(':').collect::<Vec<_>>()[..] {
        [user, password] => (user, password),
        _ => return Err("invalid token format, expected to be <user>:<password>".into()),
    };
    // Access tokens are sent as bearer tokens under these pseudo-users.
    let authorization = if matches!(user, "x-token-auth" | "x-bitbucket-api-token-auth") {
        format!("Bearer {password}")
    } else {
        basic(user, password)
    };
    let api = api_root(
        &url,
        "bitbucket.org",
        "https://api.bitbucket.org/2.0",
        "/2.0",
    );
    let statuses =
        format!("{api}/repositories/{workspace}/{repository}/commit/{sha}/statuses/build");
    let BuildStatus {
        key,
        state,
        description,
    } = BuildStatus::new(id, event);
    let name = involved_object(event).to_lowercase();
    Ok(CommitStatus {
        check: Check::Keyed {
            url: format!("{statuses}/{key}"),
            compared: &["state", "description"],
        },
        post_url: statuses,
        headers: vec![("Authorization".to_owned(), authorization)],
        body: serde_json::json!({
            "key": key, "url": "https://bitbucket.org", "state": state,
            "name": name, "description": description,
        }),
        id: id.to_owned(),
        state,
        description,
    })
}

/// Bitbucket Server and Data Center: the address is an HTTP(S) clone URL,
/// `https://host[/context]/scm/<PROJECT>/<repository>.git`; a `token` is sent as a bearer
/// token, else `username` (Secret or `spec.username`) and `password` as Basic.
pub(super) fn server_status(
    provider: &Provider,
    id: &str,
    secret: &ProviderSecret,
    event: &Event,
    sha: &str,
) -> Result<CommitStatus, String> {
    let address = providers::address(provider, secret)
        .ok_or("the bitbucketserver provider needs the repository clone URL")?;
    let url =
        reqwest::Url::parse(&address).map_err(|e| format!("could not parse git address: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "could not parse git address: unsupported scheme type in address: {}. Must be http or https",
            url.scheme()
        ));
    }
    let path = url.path().trim_end_matches(".git");
    let split = path.rfind("/scm/").ok_or(
        "could not parse git address: supplied provider address is not http(s) git clone url",
    )?;
    let (context, repository_id) = (&path[..split], &path[split + "/scm/".len()..]);
    let (project, repository) = two_segments(repository_id).ok_or_else(|| {
        format!("could not parse git address: invalid repository id \"{repository_id}\"")
    })?;
    let username = secret
        .username
        .clone()
        .or_else(|| provider.spec.username.clone());
    let authorization = match (&secret.token, username, &secret.password) {
        (Some(token), _, _) => format!("Bearer {token}"),
        (None, Some(user), Some(password)) => basic(&user, password),
        _ => {
            return Err(
                "invalid credentials, expected to be one of username/password or API Token".into(),
            );
        }
    };
    let builds = format!(
        "{}{context}/rest/api/latest/projects/{project}/repos/{repository}/commits/{sha}/builds",
        origin(&url)
    );
    let BuildStatus {
        key,
        state,
        description,
    } = BuildStatus::new(id, event);
    let name = format!("{} [{description}]", involved_object(event)).to_lowercase();
    Ok(CommitStatus {
        check: Check::Keyed {
            url: format!("{builds}?key={key}"),
            compared: &["key", "state", "description", "name"],
        },
        post_url: builds,
        headers: vec![
            ("Authorization".to_owned(), authorization),
            ("X-Atlassian-Token".to_owned(), "no-check".to_owned()),
            ("X-Requested-With".to_owned(), "XMLHttpRequest".to_owned()),
        ],
        body: serde_json::json!({
            "description": description, "key": key, "name": name, "state": state, "url": address,
        }),
        id: id.to_owned(),
        state,
        description,
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use sha1::Digest as _;

    use super::super::{Check, build};
    use crate::commit_status::fixtures::{built, event, provider, provider_at, secret_with_token};
    use crate::providers::ProviderSecret;

    // Computed here, not with the module's own code, so the tests check what it sends.
    fn sha1_hex(text: &str) -> String {
        hex::encode(sha1::Sha1::digest(text.as_bytes()))
    }

    fn basic_header(credentials: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
    }

    #[test]
    fn bitbucket_cloud_statuses() {
        let bitbucket = provider_at("bitbucket", "https://bitbucket.org/team/app.git");
        let id = "kustomization/podinfo/5f0c9f3e";
        let status = built(
            &bitbucket,
            id,
            &secret_with_token("ci-bot:app-password"),
            &event("info", "ReconciliationSucceeded"),
        );
        let key = sha1_hex(id);
        assert_eq!(key.len(), 40);
        assert_eq!(
            status.post_url,
            "https://api.bitbucket.org/2.0/repositories/team/app/commit/3b9a1f7c/statuses/build"
        );
        assert_eq!(
            status.check,
            Check::Keyed {
                url: format!(
                    "https://api.bitbucket.org/2.0/repositories/team/app/commit/3b9a1f7c/statuses/build/{key}"
                ),
                compared: &["state", "description"],
            }
        );
        assert_eq!(
            status.body,
            serde_json::json!({
                "key": key, "url": "https://bitbucket.org", "state": "SUCCESSFUL",
                "name": "kustomization/podinfo", "description": "reconciliation succeeded",
            })
        );
        assert_eq!(status.headers[0].1, basic_header("ci-bot:app-password"));
        let bearer = built(
            &bitbucket,
            id,
            &secret_with_token("x-token-auth:at"),
            &event("error", "BuildFailed"),
        );
        assert_eq!(bearer.headers[0].1, "Bearer at");
        assert_eq!(bearer.body["state"], "FAILED");
        // Progress has no Bitbucket state; malformed tokens are refused.
        assert_eq!(
            build(
                &bitbucket,
                id,
                &secret_with_token("a:b"),
                &event("info", "Progressing")
            )
            .unwrap(),
            None
        );
        assert_eq!(
            build(
                &bitbucket,
                id,
                &secret_with_token("no-colon"),
                &event("info", "X")
            )
            .unwrap_err(),
            "invalid token format, expected to be <user>:<password>"
        );
        assert_eq!(
            build(
                &bitbucket,
                id,
                &ProviderSecret::default(),
                &event("info", "X")
            )
            .unwrap_err(),
            "bitbucket token cannot be empty"
        );
    }

    #[test]
    fn bitbucket_server_statuses() {
        let server = provider(serde_json::json!({
            "type": "bitbucketserver", "username": "spec-user",
            "address": "https://bb.example.com:7990/ctx/scm/PRJ/app.git",
        }));
        let id = "kustomization/podinfo/5f0c9f3e";
        let key = sha1_hex(id);
        let with_password = ProviderSecret {
            password: Some("pw".into()),
            ..Default::default()
        };
        let status = built(
            &server,
            id,
            &with_password,
            &event("info", "ReconciliationSucceeded"),
        );
        let builds = "https://bb.example.com:7990/ctx/rest/api/latest/projects/PRJ/repos/app/commits/3b9a1f7c/builds";
        assert_eq!(status.post_url, builds);
        assert_eq!(
            status.check,
            Check::Keyed {
                url: format!("{builds}?key={key}"),
                compared: &["key", "state", "description", "name"]
            }
        );
        assert_eq!(
            status.body,
            serde_json::json!({
                "description": "reconciliation succeeded", "key": key,
                "name": "kustomization/podinfo [reconciliation succeeded]", "state": "SUCCESSFUL",
                "url": "https://bb.example.com:7990/ctx/scm/PRJ/app.git",
            })
        );
        assert_eq!(status.headers[0].1, basic_header("spec-user:pw"));
        assert!(
            status
                .headers
                .contains(&("X-Atlassian-Token".into(), "no-check".into()))
        );
        let with_token = built(
            &server,
            id,
            &secret_with_token("http-token"),
            &event("error", "X"),
        );
        assert_eq!(with_token.headers[0].1, "Bearer http-token");
        let ssh = provider_at("bitbucketserver", "ssh://git@bb.example.com/prj/app.git");
        assert!(
            build(&ssh, id, &secret_with_token("t"), &event("info", "X"))
                .unwrap_err()
                .contains("Must be http or https")
        );
        let browse = provider_at(
            "bitbucketserver",
            "https://bb.example.com/projects/PRJ/repos/app",
        );
        assert!(
            build(&browse, id, &secret_with_token("t"), &event("info", "X"))
                .unwrap_err()
                .contains("not http(s) git clone url")
        );
        let anonymous = provider_at("bitbucketserver", "https://bb.example.com/scm/PRJ/app.git");
        assert!(
            build(
                &anonymous,
                id,
                &ProviderSecret::default(),
                &event("info", "X")
            )
            .unwrap_err()
            .starts_with("invalid credentials")
        );
    }
}
