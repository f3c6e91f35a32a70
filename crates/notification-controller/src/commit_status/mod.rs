//! Commit statuses on Git hosts (GitHub, GitLab, Gitea/Forgejo, Bitbucket Cloud and Server)
//! for events that name a commit. Each status is keyed by an id: by default
//! `<kind>/<name>/<first part of the Provider's UID>`, or what the Provider's
//! `commitStatusExpr` makes of the event, Alert and Provider. Building a status is pure;
//! [`deliver`] reads the host's current status first and posts only a change, as Flux does.

use std::time::Duration;

use base64::Engine as _;
use driftless_api::event::{Event, Severity};
use driftless_api::notification::{Alert, Provider, ProviderType};
use driftless_runtime::cel::Expression;
use sha1::Digest as _;

use crate::providers::{self, Outgoing, ProviderSecret};

/// How the host's current status is read before posting.
#[derive(Debug, PartialEq)]
pub enum Check {
    /// GET returns the commit's statuses, newest first; the first whose `id_field` is the id
    /// decides (GitHub, GitLab, Gitea).
    Listed {
        url: String,
        id_field: &'static str,
        state_field: &'static str,
    },
    /// GET returns the status of this key, 404 when there is none; it is current when every
    /// field of `compared` is equal (Bitbucket).
    Keyed {
        url: String,
        compared: &'static [&'static str],
    },
}

/// One status to set on a commit.
#[derive(Debug, PartialEq)]
pub struct CommitStatus {
    pub check: Check,
    pub post_url: String,
    pub headers: Vec<(String, String)>,
    /// The status id (context, name or key source).
    pub id: String,
    pub state: &'static str,
    pub description: String,
    /// The body posted.
    pub body: serde_json::Value,
}

/// Whether `type_` sets commit statuses here.
pub fn supported(type_: ProviderType) -> bool {
    matches!(
        type_,
        ProviderType::GitHub
            | ProviderType::GitLab
            | ProviderType::Gitea
            | ProviderType::Bitbucket
            | ProviderType::BitbucketServer
    )
}

/// The status id for `event`: `commitStatusExpr` evaluated with `event`, `alert` and
/// `provider`, else Flux's default `<kind>/<name>/<UID prefix>` in lower case.
pub fn status_id(provider: &Provider, alert: &Alert, event: &Event) -> Result<String, String> {
    match provider
        .spec
        .commit_status_expr
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    {
        Some(source) => {
            let failed = |e: String| {
                format!(
                    "failed to evaluate the spec.commitStatusExpr CEL expression for the event: {e}"
                )
            };
            let expression = Expression::compile(source).map_err(failed)?;
            let as_value = |v: Result<serde_json::Value, serde_json::Error>| {
                v.map_err(|e| failed(e.to_string()))
            };
            let event_value = as_value(serde_json::to_value(event))?;
            let alert_value = as_value(serde_json::to_value(alert))?;
            let provider_value = as_value(serde_json::to_value(provider))?;
            let id = expression
                .string_with(&[
                    ("event", &event_value),
                    ("alert", &alert_value),
                    ("provider", &provider_value),
                ])
                .map_err(failed)?;
            if id.is_empty() {
                return Err(failed("the expression gave an empty id".into()));
            }
            Ok(id)
        }
        None => {
            let object = &event.involved_object;
            let uid = provider.metadata.uid.as_deref().unwrap_or_default();
            let uid_prefix = uid.split('-').next().unwrap_or_default();
            Ok(format!(
                "{}/{}/{uid_prefix}",
                object.kind.as_deref().unwrap_or_default(),
                object.name.as_deref().unwrap_or_default()
            )
            .to_lowercase())
        }
    }
}

/// The status `provider` sets for `event` under `id`; `None` when the event sets none (no
/// commit, or a Bitbucket progress event).
pub fn build(
    provider: &Provider,
    id: &str,
    secret: &ProviderSecret,
    event: &Event,
) -> Result<Option<CommitStatus>, String> {
    let Some(sha) = event_commit(event) else {
        return Ok(None);
    };
    match provider.spec.type_ {
        ProviderType::GitHub => github(provider, id, secret, event, &sha).map(Some),
        ProviderType::GitLab => gitlab(provider, id, secret, event, &sha).map(Some),
        ProviderType::Gitea => gitea(provider, id, secret, event, &sha).map(Some),
        // Bitbucket has no state for progress; Flux sends none.
        ProviderType::Bitbucket | ProviderType::BitbucketServer
            if event.reason == "Progressing" =>
        {
            Ok(None)
        }
        ProviderType::Bitbucket => bitbucket_cloud(provider, id, secret, event, &sha).map(Some),
        ProviderType::BitbucketServer => {
            bitbucket_server(provider, id, secret, event, &sha).map(Some)
        }
        _ => Err("this provider type sets no commit statuses".into()),
    }
}

/// `ReconciliationSucceeded` → `reconciliation succeeded`, `PDFLoader` → `pdf loader`: the
/// reason in words, as Flux describes statuses.
pub fn words(reason: &str) -> String {
    let chars: Vec<char> = reason.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_uppercase() {
            let previous = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if !previous.is_uppercase() || next_is_lower {
                out.push(' ');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The commit of an event: its `commit`, `originRevision` or `revision` metadata, in any
/// form Flux reads (`main@sha1:<hex>`, `sha1:<hex>`, the legacy `<branch>/<hex>`, `<hex>`).
fn event_commit(event: &Event) -> Option<String> {
    let revision = ["commit", "originRevision", "revision"]
        .iter()
        .find_map(|k| event.metadata.get(*k))?;
    let sha = revision
        .rsplit([':', '/'])
        .next()
        .unwrap_or(revision)
        .to_owned();
    (sha.len() >= 7 && sha.chars().all(|c| c.is_ascii_hexdigit())).then_some(sha)
}

/// Whether `event` names a commit a status could be set on.
pub fn names_commit(event: &Event) -> bool {
    event_commit(event).is_some()
}

/// The repository (or project) URL without `.git`. `kind` and `noun` name them in errors.
fn repository_url(
    provider: &Provider,
    secret: &ProviderSecret,
    kind: &str,
    noun: &str,
) -> Result<reqwest::Url, String> {
    let address = providers::address(provider, secret)
        .ok_or_else(|| format!("the {kind} provider needs the {noun} address"))?;
    reqwest::Url::parse(address.trim_end_matches(".git"))
        .map_err(|e| format!("invalid {noun} address: {e}"))
}

fn token<'s>(secret: &'s ProviderSecret, kind: &str) -> Result<&'s str, String> {
    secret
        .token
        .as_deref()
        .ok_or_else(|| format!("the {kind} provider needs a token in its secret"))
}

/// `scheme://host[:port]` of `url`.
fn origin(url: &reqwest::Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}",
        url.scheme(),
        url.host_str().unwrap_or_default()
    )
}

fn owner_and_repository(url: &reqwest::Url) -> Result<(String, String), String> {
    let path = url.path().trim_matches('/');
    match path.split('/').collect::<Vec<_>>()[..] {
        [owner, repository] if !owner.is_empty() && !repository.is_empty() => {
            Ok((owner.to_owned(), repository.to_owned()))
        }
        _ => Err(format!("invalid repository id \"{path}\"")),
    }
}

fn success_or(event: &Event, failure: &'static str, success: &'static str) -> &'static str {
    if event.severity == Severity::Error {
        failure
    } else {
        success
    }
}

fn github(
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
    let api = if url.host_str() == Some("github.com") {
        "https://api.github.com".to_owned()
    } else {
        format!("{}/api/v3", origin(&url))
    };
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

/// The address is the project URL (`https://gitlab.example/group/sub/project`).
fn gitlab(
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

/// Gitea and Forgejo (`Authorization: token`); the address is the repository URL.
fn gitea(
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

/// Bitbucket keys statuses by at most 40 characters: the SHA-1 of the id, as Flux sends it.
fn bitbucket_key(id: &str) -> String {
    hex::encode(sha1::Sha1::digest(id.as_bytes()))
}

fn basic(user: &str, password: &str) -> String {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {credentials}")
}

/// Bitbucket Cloud: the address is `https://bitbucket.org/<workspace>/<repository>`, the token
/// `<username>:<app password or API token>`. The API is api.bitbucket.org's; an address on
/// another host (a proxy, a test server) is served its `/2.0` API.
fn bitbucket_cloud(
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
    let api = if url.host_str() == Some("bitbucket.org") {
        "https://api.bitbucket.org/2.0".to_owned()
    } else {
        format!("{}/2.0", origin(&url))
    };
    let statuses =
        format!("{api}/repositories/{workspace}/{repository}/commit/{sha}/statuses/build");
    let key = bitbucket_key(id);
    let state = success_or(event, "FAILED", "SUCCESSFUL");
    let description = words(&event.reason);
    let object = &event.involved_object;
    let name = format!(
        "{}/{}",
        object.kind.as_deref().unwrap_or_default(),
        object.name.as_deref().unwrap_or_default()
    )
    .to_lowercase();
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
fn bitbucket_server(
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
    let (project, repository) = match repository_id.split('/').collect::<Vec<_>>()[..] {
        [project, repository] if !project.is_empty() && !repository.is_empty() => {
            (project, repository)
        }
        _ => {
            return Err(format!(
                "could not parse git address: invalid repository id \"{repository_id}\""
            ));
        }
    };
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
    let key = bitbucket_key(id);
    let state = success_or(event, "FAILED", "SUCCESSFUL");
    let description = words(&event.reason);
    let object = &event.involved_object;
    let name = format!(
        "{}/{} [{description}]",
        object.kind.as_deref().unwrap_or_default(),
        object.name.as_deref().unwrap_or_default()
    )
    .to_lowercase();
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

/// Whether the host already shows `status`, judged by `check`'s answer.
fn already_current(status: &CommitStatus, existing: &serde_json::Value) -> bool {
    match &status.check {
        Check::Listed {
            id_field,
            state_field,
            ..
        } => existing
            .as_array()
            .and_then(|listed| {
                listed.iter().find(|s| {
                    s[*id_field]
                        .as_str()
                        .is_some_and(|c| c.eq_ignore_ascii_case(&status.id))
                })
            })
            .is_some_and(|newest| {
                newest[*state_field] == status.state
                    && newest["description"] == status.description.as_str()
            }),
        Check::Keyed { compared, .. } => compared
            .iter()
            .all(|field| existing[*field] == status.body[*field]),
    }
}

/// Posts `status` unless the host already shows it, as Flux does (a repeated event adds
/// nothing to the commit's history).
pub async fn deliver(
    http: &reqwest::Client,
    status: &CommitStatus,
    timeout: Duration,
) -> Result<(), String> {
    let url = match &status.check {
        Check::Listed { url, .. } | Check::Keyed { url, .. } => url,
    };
    let existing = read_current(http, status, url, timeout).await?;
    if already_current(status, &existing) {
        return Ok(());
    }
    let outgoing = Outgoing {
        url: status.post_url.clone(),
        headers: status
            .headers
            .iter()
            .cloned()
            .chain([("Content-Type".to_owned(), "application/json".to_owned())])
            .collect(),
        body: serde_json::to_vec(&status.body).map_err(|e| e.to_string())?,
    };
    providers::deliver(http, &outgoing, timeout).await
}

/// The host's current status (`Null` when a keyed read finds none), retried as posts are
/// when the host fails or cannot be reached.
async fn read_current(
    http: &reqwest::Client,
    status: &CommitStatus,
    url: &str,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let mut wait = Duration::from_secs(2);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match read_once(http, status, url, timeout).await {
            Ok(existing) => return Ok(existing),
            Err((error, retriable)) if retriable && attempt < 5 => {
                tracing::debug!(attempt, %error, "reading the commit status failed");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err((error, _)) => return Err(error),
        }
    }
}

/// One read; an error says whether a retry could help.
async fn read_once(
    http: &reqwest::Client,
    status: &CommitStatus,
    url: &str,
    timeout: Duration,
) -> Result<serde_json::Value, (String, bool)> {
    let mut read = http.get(url).timeout(timeout);
    for (name, value) in &status.headers {
        read = read.header(name, value);
    }
    match read.send().await {
        Ok(response) if response.status().is_success() => {
            Ok(response.json().await.unwrap_or_default())
        }
        // Keyed reads answer 404 when the key has no status yet.
        Ok(response)
            if response.status() == reqwest::StatusCode::NOT_FOUND
                && matches!(status.check, Check::Keyed { .. }) =>
        {
            Ok(serde_json::Value::Null)
        }
        Ok(response) => {
            let code = response.status();
            Err((
                format!("reading the current commit status: {code}"),
                code.is_server_error() || code == reqwest::StatusCode::TOO_MANY_REQUESTS,
            ))
        }
        Err(error) => {
            let retriable = !error.is_builder();
            Err((
                format!("reading the current commit status: {}", error.without_url()),
                retriable,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(spec: serde_json::Value) -> Provider {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": { "name": "p", "namespace": "apps", "uid": "5f0c9f3e-aaaa-bbbb" },
            "spec": spec,
        }))
        .unwrap()
    }

    fn alert() -> Alert {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": { "name": "statuses", "namespace": "apps" },
            "spec": { "providerRef": { "name": "p" }, "eventSources": [{ "kind": "Kustomization", "name": "*" }] },
        }))
        .unwrap()
    }

    fn event(severity: &str, reason: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "involvedObject": { "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": "podinfo", "namespace": "apps" },
            "severity": severity, "timestamp": "2026-11-30T10:00:00Z",
            "message": "m", "reason": reason, "reportingController": "kustomize-controller",
            "metadata": { "revision": "main@sha1:3b9a1f7c", "cluster": "prod-eu" },
        }))
        .unwrap()
    }

    fn token(token: &str) -> ProviderSecret {
        ProviderSecret {
            token: Some(token.into()),
            ..Default::default()
        }
    }

    #[test]
    fn reasons_read_as_words() {
        assert_eq!(words("ReconciliationSucceeded"), "reconciliation succeeded");
        assert_eq!(words("HealthCheckFailed"), "health check failed");
        assert_eq!(words("PDFLoader"), "pdf loader");
        assert_eq!(words("Progressing"), "progressing");
    }

    #[test]
    fn ids_default_to_flux_and_follow_commit_status_expr() {
        let github = provider(
            serde_json::json!({ "type": "github", "address": "https://github.com/org/app" }),
        );
        let info = event("info", "ReconciliationSucceeded");
        assert_eq!(
            status_id(&github, &alert(), &info).unwrap(),
            "kustomization/podinfo/5f0c9f3e"
        );
        let custom = provider(serde_json::json!({
            "type": "github", "address": "https://github.com/org/app",
            "commitStatusExpr": "event.involvedObject.kind + '/' + event.involvedObject.name + '/' + event.metadata.cluster + '/' + alert.metadata.name + '/' + provider.spec.type",
        }));
        assert_eq!(
            status_id(&custom, &alert(), &info).unwrap(),
            "Kustomization/podinfo/prod-eu/statuses/github"
        );
        let missing = provider(serde_json::json!({
            "type": "github", "commitStatusExpr": "event.metadata.nothing + 'x'",
        }));
        let error = status_id(&missing, &alert(), &info).unwrap_err();
        assert!(
            error.starts_with(
                "failed to evaluate the spec.commitStatusExpr CEL expression for the event"
            ),
            "{error}"
        );
        let broken =
            provider(serde_json::json!({ "type": "github", "commitStatusExpr": "event.(" }));
        assert!(
            status_id(&broken, &alert(), &info)
                .unwrap_err()
                .contains("failed to parse")
        );
    }

    #[test]
    fn github_statuses() {
        let github = provider(
            serde_json::json!({ "type": "github", "address": "https://github.com/org/app" }),
        );
        let status = build(
            &github,
            "ks/podinfo/1",
            &token("t"),
            &event("info", "ReconciliationSucceeded"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            status.post_url,
            "https://api.github.com/repos/org/app/statuses/3b9a1f7c"
        );
        assert_eq!(
            status.body,
            serde_json::json!({ "state": "success", "description": "reconciliation succeeded", "context": "ks/podinfo/1" })
        );
        let enterprise = provider(
            serde_json::json!({ "type": "github", "address": "http://ghe.local:8080/org/app.git" }),
        );
        let status = build(
            &enterprise,
            "x",
            &token("t"),
            &event("error", "HealthCheckFailed"),
        )
        .unwrap()
        .unwrap();
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
            build(&github, "x", &token("t"), &legacy)
                .unwrap()
                .unwrap()
                .post_url
                .ends_with("/statuses/3b9a1f7c")
        );
        let mut plain = event("info", "ReconciliationSucceeded");
        plain.metadata.clear();
        assert_eq!(build(&github, "x", &token("t"), &plain).unwrap(), None);
        let error = build(
            &github,
            "x",
            &ProviderSecret::default(),
            &event("info", "X"),
        )
        .unwrap_err();
        assert!(error.contains("needs a token"), "{error}");
    }

    #[test]
    fn gitlab_and_gitea_statuses() {
        let gitlab = provider(
            serde_json::json!({ "type": "gitlab", "address": "https://gitlab.example/group/sub/app.git" }),
        );
        let status = build(
            &gitlab,
            "kustomization/podinfo/5f0c9f3e",
            &token("glpat"),
            &event("error", "HealthCheckFailed"),
        )
        .unwrap()
        .unwrap();
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

        let gitea = provider(
            serde_json::json!({ "type": "gitea", "address": "https://gitea.example:3000/org/app" }),
        );
        let status = build(&gitea, "id", &token("tok"), &event("info", "Progressing"))
            .unwrap()
            .unwrap();
        assert_eq!(
            status.post_url,
            "https://gitea.example:3000/api/v1/repos/org/app/statuses/3b9a1f7c"
        );
        assert_eq!(status.state, "pending");
        assert_eq!(
            status.headers,
            vec![("Authorization".to_owned(), "token tok".to_owned())]
        );
        let nested = provider(
            serde_json::json!({ "type": "gitea", "address": "https://gitea.example/a/b/c" }),
        );
        assert!(
            build(&nested, "id", &token("t"), &event("info", "X"))
                .unwrap_err()
                .contains("invalid repository id")
        );
    }

    #[test]
    fn bitbucket_cloud_statuses() {
        let bitbucket = provider(
            serde_json::json!({ "type": "bitbucket", "address": "https://bitbucket.org/team/app.git" }),
        );
        let id = "kustomization/podinfo/5f0c9f3e";
        let status = build(
            &bitbucket,
            id,
            &token("ci-bot:app-password"),
            &event("info", "ReconciliationSucceeded"),
        )
        .unwrap()
        .unwrap();
        let key = hex::encode(sha1::Sha1::digest(id.as_bytes()));
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
        assert_eq!(
            status.headers[0].1,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("ci-bot:app-password")
            )
        );
        let bearer = build(
            &bitbucket,
            id,
            &token("x-token-auth:at"),
            &event("error", "BuildFailed"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(bearer.headers[0].1, "Bearer at");
        assert_eq!(bearer.body["state"], "FAILED");
        // Progress has no Bitbucket state; malformed tokens are refused.
        assert_eq!(
            build(&bitbucket, id, &token("a:b"), &event("info", "Progressing")).unwrap(),
            None
        );
        assert_eq!(
            build(&bitbucket, id, &token("no-colon"), &event("info", "X")).unwrap_err(),
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
        let key = hex::encode(sha1::Sha1::digest(id.as_bytes()));
        let with_password = ProviderSecret {
            password: Some("pw".into()),
            ..Default::default()
        };
        let status = build(
            &server,
            id,
            &with_password,
            &event("info", "ReconciliationSucceeded"),
        )
        .unwrap()
        .unwrap();
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
        assert_eq!(
            status.headers[0].1,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("spec-user:pw")
            )
        );
        assert!(
            status
                .headers
                .contains(&("X-Atlassian-Token".into(), "no-check".into()))
        );
        let with_token = build(&server, id, &token("http-token"), &event("error", "X"))
            .unwrap()
            .unwrap();
        assert_eq!(with_token.headers[0].1, "Bearer http-token");
        let ssh = provider(
            serde_json::json!({ "type": "bitbucketserver", "address": "ssh://git@bb.example.com/prj/app.git" }),
        );
        assert!(
            build(&ssh, id, &token("t"), &event("info", "X"))
                .unwrap_err()
                .contains("Must be http or https")
        );
        let browse = provider(
            serde_json::json!({ "type": "bitbucketserver", "address": "https://bb.example.com/projects/PRJ/repos/app" }),
        );
        assert!(
            build(&browse, id, &token("t"), &event("info", "X"))
                .unwrap_err()
                .contains("not http(s) git clone url")
        );
        let anonymous = provider(
            serde_json::json!({ "type": "bitbucketserver", "address": "https://bb.example.com/scm/PRJ/app.git" }),
        );
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

    #[test]
    fn current_statuses_are_not_posted_again() {
        let github = provider(
            serde_json::json!({ "type": "github", "address": "https://github.com/org/app" }),
        );
        let status = build(
            &github,
            "ks/a/1",
            &token("t"),
            &event("info", "ReconciliationSucceeded"),
        )
        .unwrap()
        .unwrap();
        let listed = |state: &str| {
            serde_json::json!([
                { "context": "KS/A/1", "state": state, "description": "reconciliation succeeded" },
                { "context": "ks/a/1", "state": "failure", "description": "older" },
            ])
        };
        assert!(already_current(&status, &listed("success")));
        assert!(!already_current(&status, &listed("failure")));
        assert!(!already_current(&status, &serde_json::json!([])));
        let server = provider(
            serde_json::json!({ "type": "bitbucketserver", "address": "https://bb.example.com/scm/PRJ/app.git" }),
        );
        let status = build(
            &server,
            "ks/a/1",
            &token("t"),
            &event("info", "ReconciliationSucceeded"),
        )
        .unwrap()
        .unwrap();
        let mut existing = status.body.clone();
        assert!(already_current(&status, &existing));
        existing["name"] = "renamed".into();
        assert!(!already_current(&status, &existing));
        assert!(!already_current(&status, &serde_json::Value::Null));
    }
}
