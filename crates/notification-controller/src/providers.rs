//! What each Provider type sends for an event: method, headers and body as the target's API
//! expects them. Building a request is pure; [`deliver`] sends it with retries.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::event::{Event, Severity};
use driftless_api::notification::{Provider, ProviderType};
use hmac::{Hmac, Mac};

/// An HTTP client trusting the system roots plus `ca_pem`, presenting `client` when given,
/// through `proxy` when given.
pub fn http_client(
    ca_pem: Option<&[u8]>,
    client: Option<(&[u8], &[u8])>,
    proxy: Option<reqwest::Proxy>,
) -> Result<reqwest::Client, String> {
    let tls = driftless_runtime::tls::client_config(ca_pem, client)?;
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(15))
        .user_agent(concat!(
            "driftless-notification-controller/",
            env!("CARGO_PKG_VERSION")
        ));
    if let Some(proxy) = proxy {
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))
}

/// Values a Provider's Secret may hold (`address`, `token`, `headers`).
#[derive(Clone, Debug, Default)]
pub struct ProviderSecret {
    pub address: Option<String>,
    pub token: Option<String>,
    /// `headers`: a YAML map of extra request headers.
    pub headers: BTreeMap<String, String>,
}

impl ProviderSecret {
    pub fn from_data(data: &BTreeMap<String, Vec<u8>>) -> Result<ProviderSecret, String> {
        let text = |key: &str| {
            data.get(key)
                .map(|v| String::from_utf8_lossy(v).trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let headers = match data.get("headers") {
            Some(raw) => serde_yaml::from_slice::<BTreeMap<String, String>>(raw)
                // serde's message would quote the offending value, which may be a secret.
                .map_err(|_| {
                    "invalid 'headers' in the provider secret: not a map of strings".to_owned()
                })?,
            None => BTreeMap::new(),
        };
        Ok(ProviderSecret {
            address: text("address"),
            token: text("token"),
            headers,
        })
    }
}

/// One HTTP request to a provider.
#[derive(Debug, PartialEq)]
pub struct Outgoing {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// `<kind lowercase>/<name>.<namespace>`, how Flux names an object in chat messages.
fn object_name(event: &Event) -> String {
    let object = &event.involved_object;
    format!(
        "{}/{}.{}",
        object.kind.as_deref().unwrap_or_default().to_lowercase(),
        object.name.as_deref().unwrap_or_default(),
        object.namespace.as_deref().unwrap_or_default()
    )
}

/// The request `provider` sends for `event`.
pub fn request(
    provider: &Provider,
    secret: &ProviderSecret,
    event: &Event,
) -> Result<Outgoing, String> {
    let url = address(provider, secret).ok_or_else(|| {
        "the provider has no address (spec.address or the secret's address)".to_owned()
    })?;
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let body = match provider.spec.type_ {
        ProviderType::Generic | ProviderType::GenericHmac => {
            headers.push((
                "Gotk-Component".to_owned(),
                event.reporting_controller.clone(),
            ));
            let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
            if provider.spec.type_ == ProviderType::GenericHmac {
                let token = secret
                    .token
                    .as_deref()
                    .ok_or("generic-hmac needs a token in the provider secret")?;
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes())
                    .map_err(|e| e.to_string())?;
                mac.update(&body);
                let signature = hex::encode(mac.finalize().into_bytes());
                headers.push(("X-Signature".to_owned(), format!("sha256={signature}")));
            }
            body
        }
        // Rocket.Chat's incoming webhooks take Slack's payload, which is what Flux sends.
        ProviderType::Slack | ProviderType::Discord | ProviderType::Rocket => {
            if let Some(token) = &secret.token {
                headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
            }
            let name = object_name(event);
            let fields: Vec<serde_json::Value> = event
                .metadata
                .iter()
                .map(|(k, v)| serde_json::json!({ "title": k, "value": v, "short": false }))
                .collect();
            let mut attachment = serde_json::json!({
                "fallback": format!("{name}: {}", event.message),
                "color": if event.severity == Severity::Error { "danger" } else { "good" },
                "author_name": name,
                "text": event.message,
                "mrkdwn_in": ["text"],
            });
            if !fields.is_empty() {
                attachment["fields"] = serde_json::Value::Array(fields);
            }
            let mut payload = serde_json::json!({
                "username": provider
                    .spec
                    .username
                    .clone()
                    .unwrap_or_else(|| event.reporting_controller.clone()),
                "attachments": [attachment],
            });
            if let Some(channel) = provider.spec.channel.as_deref().filter(|c| !c.is_empty()) {
                payload["channel"] = serde_json::Value::String(channel.to_owned());
            }
            serde_json::to_vec(&payload).map_err(|e| e.to_string())?
        }
        ProviderType::MsTeams => {
            let mut card_body = vec![
                serde_json::json!({ "type": "TextBlock", "text": object_name(event), "weight": "bolder", "size": "large", "wrap": true }),
                serde_json::json!({ "type": "TextBlock", "text": event.message, "wrap": true }),
            ];
            if !event.metadata.is_empty() {
                let facts: Vec<serde_json::Value> = event
                    .metadata
                    .iter()
                    .map(|(k, v)| serde_json::json!({ "title": k, "value": v }))
                    .collect();
                card_body.push(serde_json::json!({ "type": "FactSet", "facts": facts }));
            }
            let payload = serde_json::json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": card_body,
                    },
                }],
            });
            serde_json::to_vec(&payload).map_err(|e| e.to_string())?
        }
        other => {
            return Err(format!(
                "provider type {} is not supported yet",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ));
        }
    };
    // Discord takes Slack's payload at its webhook URL plus `/slack`, which Flux uses.
    let url = if provider.spec.type_ == ProviderType::Discord {
        let mut parsed =
            reqwest::Url::parse(&url).map_err(|e| format!("invalid Discord address: {e}"))?;
        if !parsed.path().ends_with("/slack") {
            let path = format!("{}/slack", parsed.path().trim_end_matches('/'));
            parsed.set_path(&path);
        }
        parsed.to_string()
    } else {
        url
    };
    headers.extend(secret.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(Outgoing { url, headers, body })
}

/// `ReconciliationSucceeded` → `reconciliation succeeded`, as Flux describes statuses.
fn words(reason: &str) -> String {
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// A GitHub commit status for an event that carries a revision: where to read the commit's
/// statuses, where to post, and the status. `None` for events without a commit.
#[derive(Debug, PartialEq)]
pub struct CommitStatus {
    pub list_url: String,
    pub post_url: String,
    pub headers: Vec<(String, String)>,
    pub state: &'static str,
    pub context: String,
    pub description: String,
    /// How the host names the context and state fields (GitHub: `context`, `state`; GitLab:
    /// `name` and, when listing, `status`).
    pub context_field: &'static str,
    pub listed_state_field: &'static str,
}

/// Builds the commit status a Git host provider sets for an event (`None`: the event names
/// no commit).
pub type CommitStatusBuilder =
    fn(&Provider, &str, &ProviderSecret, &Event) -> Result<Option<CommitStatus>, String>;

/// The commit of an event (its `commit`, `originRevision` or `revision` metadata, hex part).
fn event_commit(event: &Event) -> Option<String> {
    let revision = ["commit", "originRevision", "revision"]
        .iter()
        .find_map(|k| event.metadata.get(*k))?;
    let sha = revision.rsplit(':').next().unwrap_or(revision).to_owned();
    (sha.len() >= 7 && sha.chars().all(|c| c.is_ascii_hexdigit())).then_some(sha)
}

/// `<kind>/<name>/<first part of the Provider's UID>`, lower case: Flux's commit status id.
fn status_context(event: &Event, provider_uid: &str) -> String {
    let object = &event.involved_object;
    let uid_prefix = provider_uid.split('-').next().unwrap_or_default();
    format!(
        "{}/{}/{uid_prefix}",
        object.kind.as_deref().unwrap_or_default(),
        object.name.as_deref().unwrap_or_default()
    )
    .to_lowercase()
}

/// The Provider's address: its Secret's `address` wins over `spec.address`.
fn address(provider: &Provider, secret: &ProviderSecret) -> Option<String> {
    secret
        .address
        .clone()
        .or_else(|| provider.spec.address.clone())
        .filter(|a| !a.is_empty())
}

/// What a Git host's commit status needs: the repository (or project) URL without `.git`, and
/// the token. `kind` and `noun` name them in errors.
fn git_host<'s>(
    provider: &Provider,
    secret: &'s ProviderSecret,
    kind: &str,
    noun: &str,
) -> Result<(reqwest::Url, &'s str), String> {
    let address = address(provider, secret)
        .ok_or_else(|| format!("the {kind} provider needs the {noun} address"))?;
    let token = secret
        .token
        .as_deref()
        .ok_or_else(|| format!("the {kind} provider needs a token in its secret"))?;
    let url = reqwest::Url::parse(address.trim_end_matches(".git"))
        .map_err(|e| format!("invalid {noun} address: {e}"))?;
    Ok((url, token))
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

/// A Gitea (or Forgejo) commit status (`Authorization: token`), for an event that carries a
/// revision. The address is the repository URL.
pub fn gitea_commit_status(
    provider: &Provider,
    provider_uid: &str,
    secret: &ProviderSecret,
    event: &Event,
) -> Result<Option<CommitStatus>, String> {
    let Some(sha) = event_commit(event) else {
        return Ok(None);
    };
    let (parsed, token) = git_host(provider, secret, "gitea", "repository")?;
    let (owner, repository) = parsed
        .path()
        .trim_matches('/')
        .split_once('/')
        .ok_or("the repository address does not name an owner and a repository")?;
    let api = format!("{}/api/v1/repos/{owner}/{repository}", origin(&parsed));
    let state = match (event.severity, event.reason.as_str()) {
        (_, "Progressing") => "pending",
        (Severity::Error, _) => "failure",
        _ => "success",
    };
    Ok(Some(CommitStatus {
        list_url: format!("{api}/commits/{sha}/statuses"),
        post_url: format!("{api}/statuses/{sha}"),
        headers: vec![("Authorization".to_owned(), format!("token {token}"))],
        state,
        context: status_context(event, provider_uid),
        description: words(&event.reason),
        context_field: "context",
        listed_state_field: "status",
    }))
}

/// A GitLab commit status (`PRIVATE-TOKEN`), for an event that carries a revision. The
/// address is the project URL (`https://gitlab.example/group/project`, or a numeric id).
pub fn gitlab_commit_status(
    provider: &Provider,
    provider_uid: &str,
    secret: &ProviderSecret,
    event: &Event,
) -> Result<Option<CommitStatus>, String> {
    let Some(sha) = event_commit(event) else {
        return Ok(None);
    };
    let (parsed, token) = git_host(provider, secret, "gitlab", "project")?;
    let project = parsed.path().trim_matches('/');
    if project.is_empty() {
        return Err("the project address does not name a project".into());
    }
    let encoded: String = project.replace('/', "%2F");
    let api = format!("{}/api/v4/projects/{encoded}", origin(&parsed));
    let context = status_context(event, provider_uid);
    Ok(Some(CommitStatus {
        list_url: format!("{api}/repository/commits/{sha}/statuses?name={context}"),
        post_url: format!("{api}/statuses/{sha}"),
        headers: vec![("PRIVATE-TOKEN".to_owned(), token.to_owned())],
        state: if event.severity == Severity::Error {
            "failed"
        } else {
            "success"
        },
        context,
        description: words(&event.reason).chars().take(255).collect(),
        context_field: "name",
        listed_state_field: "status",
    }))
}

pub fn github_commit_status(
    provider: &Provider,
    provider_uid: &str,
    secret: &ProviderSecret,
    event: &Event,
) -> Result<Option<CommitStatus>, String> {
    let Some(sha) = event_commit(event) else {
        return Ok(None);
    };
    let (parsed, token) = git_host(provider, secret, "github", "repository")?;
    let host = parsed.host_str().unwrap_or_default();
    let path = parsed.path().trim_matches('/');
    let (owner, repository) = path
        .split_once('/')
        .ok_or("the repository address does not name an owner and a repository")?;
    // github.com has its own API host; Enterprise servers serve the API under /api/v3.
    let api = if host == "github.com" {
        "https://api.github.com".to_owned()
    } else {
        format!("{}/api/v3", origin(&parsed))
    };
    let context = status_context(event, provider_uid);
    let description: String = words(&event.reason).chars().take(140).collect();
    Ok(Some(CommitStatus {
        list_url: format!("{api}/repos/{owner}/{repository}/commits/{sha}/statuses"),
        post_url: format!("{api}/repos/{owner}/{repository}/statuses/{sha}"),
        headers: vec![
            ("Authorization".to_owned(), format!("Bearer {token}")),
            (
                "Accept".to_owned(),
                "application/vnd.github+json".to_owned(),
            ),
            ("X-GitHub-Api-Version".to_owned(), "2022-11-28".to_owned()),
            (
                "User-Agent".to_owned(),
                "driftless-notification-controller".to_owned(),
            ),
        ],
        state: if event.severity == Severity::Error {
            "failure"
        } else {
            "success"
        },
        context,
        description,
        context_field: "context",
        listed_state_field: "state",
    }))
}

/// Posts `status` unless the commit's newest status of that context already says the same,
/// as Flux does (a repeated event adds nothing to the commit's history).
pub async fn deliver_commit_status(
    http: &reqwest::Client,
    status: &CommitStatus,
    timeout: Duration,
) -> Result<(), String> {
    let mut list = http.get(&status.list_url).timeout(timeout);
    for (name, value) in &status.headers {
        list = list.header(name, value);
    }
    let existing: Vec<serde_json::Value> = match list.send().await {
        Ok(response) if response.status().is_success() => response.json().await.unwrap_or_default(),
        Ok(response) => return Err(format!("listing commit statuses: {}", response.status())),
        Err(error) => return Err(format!("listing commit statuses: {}", error.without_url())),
    };
    let newest = existing.iter().find(|s| {
        s[status.context_field]
            .as_str()
            .is_some_and(|c| c.eq_ignore_ascii_case(&status.context))
    });
    if newest.is_some_and(|s| {
        s[status.listed_state_field] == status.state
            && s["description"] == status.description.as_str()
    }) {
        return Ok(());
    }
    let mut body = serde_json::json!({ "state": status.state, "description": status.description });
    body[status.context_field] = serde_json::Value::String(status.context.clone());
    let outgoing = Outgoing {
        url: status.post_url.clone(),
        headers: status
            .headers
            .iter()
            .cloned()
            .chain([("Content-Type".to_owned(), "application/json".to_owned())])
            .collect(),
        body: serde_json::to_vec(&body).map_err(|e| e.to_string())?,
    };
    deliver(http, &outgoing, timeout).await
}

/// Sends `outgoing`, retrying failures up to four times with growing waits (2 s to 30 s), as
/// Flux's client does. Any 2xx is success.
pub async fn deliver(
    http: &reqwest::Client,
    outgoing: &Outgoing,
    timeout: Duration,
) -> Result<(), String> {
    let mut wait = Duration::from_secs(2);
    let mut last_error = String::new();
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
        }
        let mut request = http
            .post(&outgoing.url)
            .timeout(timeout)
            .body(outgoing.body.clone());
        for (name, value) in &outgoing.headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                last_error = format!("{status}: {}", text.chars().take(200).collect::<String>());
                // A request the target refuses as such will not pass on a retry.
                if status.is_client_error() && status.as_u16() != 429 {
                    break;
                }
            }
            // The address may be a credential (chat webhook URLs are): never in messages.
            Err(error) => last_error = error.without_url().to_string(),
        }
        tracing::debug!(attempt, error = %last_error, "delivery failed");
    }
    Err(format!("posting to the provider failed: {last_error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(spec: serde_json::Value) -> Provider {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": { "name": "p", "namespace": "apps" }, "spec": spec,
        }))
        .unwrap()
    }

    fn event() -> Event {
        serde_json::from_value(serde_json::json!({
            "involvedObject": { "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": "podinfo", "namespace": "flux-system" },
            "severity": "info", "timestamp": "2026-11-30T10:00:00Z",
            "message": "Reconciliation finished in 1.2s", "reason": "ReconciliationSucceeded",
            "reportingController": "kustomize-controller",
            "metadata": { "revision": "main@sha1:3b9a1f7c" },
        }))
        .unwrap()
    }

    #[test]
    fn slack_gets_an_attachment() {
        let request = request(
            &provider(serde_json::json!({ "type": "slack", "channel": "ops" })),
            &ProviderSecret {
                address: Some("http://sink/slack".into()),
                ..Default::default()
            },
            &event(),
        )
        .unwrap();
        assert_eq!(request.url, "http://sink/slack");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["username"], "kustomize-controller");
        assert_eq!(body["channel"], "ops");
        let attachment = &body["attachments"][0];
        assert_eq!(
            attachment["author_name"],
            "kustomization/podinfo.flux-system"
        );
        assert_eq!(attachment["color"], "good");
        assert_eq!(attachment["text"], "Reconciliation finished in 1.2s");
        assert_eq!(attachment["fields"][0]["title"], "revision");
    }

    #[test]
    fn github_commit_statuses_follow_flux() {
        let github = provider(
            serde_json::json!({ "type": "github", "address": "https://github.com/org/app" }),
        );
        let secret = ProviderSecret {
            token: Some("t".into()),
            ..Default::default()
        };
        let status = github_commit_status(&github, "5f0c9f3e-aaaa-bbbb", &secret, &event())
            .unwrap()
            .unwrap();
        assert_eq!(
            status.post_url,
            "https://api.github.com/repos/org/app/statuses/3b9a1f7c"
        );
        assert_eq!(status.context, "kustomization/podinfo/5f0c9f3e");
        assert_eq!(status.description, "reconciliation succeeded");
        assert_eq!(status.state, "success");
        let enterprise = provider(
            serde_json::json!({ "type": "github", "address": "http://ghe.local:8080/org/app.git" }),
        );
        let status = github_commit_status(&enterprise, "u", &secret, &event())
            .unwrap()
            .unwrap();
        assert_eq!(
            status.list_url,
            "http://ghe.local:8080/api/v3/repos/org/app/commits/3b9a1f7c/statuses"
        );
        // Events without a commit make no status.
        let mut plain = event();
        plain.metadata.clear();
        assert_eq!(
            github_commit_status(&github, "u", &secret, &plain).unwrap(),
            None
        );
    }

    #[test]
    fn teams_gets_an_adaptive_card() {
        let teams = provider(
            serde_json::json!({ "type": "msteams", "address": "http://sink/workflow?sig=x" }),
        );
        let request = request(&teams, &ProviderSecret::default(), &event()).unwrap();
        assert_eq!(request.url, "http://sink/workflow?sig=x");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "message");
        let attachment = &body["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &attachment["content"];
        assert_eq!(
            (card["type"].as_str(), card["version"].as_str()),
            (Some("AdaptiveCard"), Some("1.4"))
        );
        assert_eq!(card["body"][0]["text"], "kustomization/podinfo.flux-system");
        assert_eq!(card["body"][1]["text"], "Reconciliation finished in 1.2s");
        assert_eq!(card["body"][2]["facts"][0]["title"], "revision");
    }

    #[test]
    fn gitlab_commit_statuses_follow_flux() {
        let gitlab = provider(
            serde_json::json!({ "type": "gitlab", "address": "https://gitlab.example/group/sub/app.git" }),
        );
        let secret = ProviderSecret {
            token: Some("glpat".into()),
            ..Default::default()
        };
        let mut failed = event();
        failed.severity = Severity::Error;
        failed.reason = "HealthCheckFailed".into();
        let status = gitlab_commit_status(&gitlab, "5f0c9f3e-1", &secret, &failed)
            .unwrap()
            .unwrap();
        assert_eq!(
            status.post_url,
            "https://gitlab.example/api/v4/projects/group%2Fsub%2Fapp/statuses/3b9a1f7c"
        );
        assert_eq!(
            status.list_url,
            "https://gitlab.example/api/v4/projects/group%2Fsub%2Fapp/repository/commits/3b9a1f7c/statuses?name=kustomization/podinfo/5f0c9f3e"
        );
        assert_eq!(
            (status.state, status.description.as_str()),
            ("failed", "health check failed")
        );
        assert_eq!(
            status.headers,
            vec![("PRIVATE-TOKEN".to_owned(), "glpat".to_owned())]
        );
    }

    #[test]
    fn gitea_commit_statuses_follow_flux() {
        let gitea = provider(
            serde_json::json!({ "type": "gitea", "address": "https://gitea.example:3000/org/app" }),
        );
        let secret = ProviderSecret {
            token: Some("tok".into()),
            ..Default::default()
        };
        let mut progressing = event();
        progressing.reason = "Progressing".into();
        let status = gitea_commit_status(&gitea, "abc-1", &secret, &progressing)
            .unwrap()
            .unwrap();
        assert_eq!(
            status.post_url,
            "https://gitea.example:3000/api/v1/repos/org/app/statuses/3b9a1f7c"
        );
        assert_eq!(
            status.list_url,
            "https://gitea.example:3000/api/v1/repos/org/app/commits/3b9a1f7c/statuses"
        );
        assert_eq!(status.state, "pending");
        assert_eq!(status.listed_state_field, "status");
        assert_eq!(
            status.headers,
            vec![("Authorization".to_owned(), "token tok".to_owned())]
        );
        assert_eq!(
            gitea_commit_status(&gitea, "abc", &secret, &event())
                .unwrap()
                .unwrap()
                .state,
            "success"
        );
    }

    #[test]
    fn clients_take_a_custom_ca_and_refuse_a_bad_one() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = rcgen::generate_simple_self_signed(vec!["sink.local".into()]).unwrap();
        assert!(http_client(Some(ca.cert.pem().as_bytes()), None, None).is_ok());
        let error = http_client(Some(b"not a certificate"), None, None).unwrap_err();
        assert!(error.contains("ca.crt"), "{error}");
        let proxy = reqwest::Proxy::all("http://proxy.local:3128").unwrap();
        assert!(http_client(None, None, Some(proxy)).is_ok());
    }

    #[test]
    fn discord_takes_slack_payloads() {
        let discord = provider(
            serde_json::json!({ "type": "discord", "address": "http://sink/api/webhooks/1/t" }),
        );
        let request = request(&discord, &ProviderSecret::default(), &event()).unwrap();
        assert_eq!(request.url, "http://sink/api/webhooks/1/t/slack");
        let waiting = provider(
            serde_json::json!({ "type": "discord", "address": "http://sink/api/webhooks/1/t?wait=true" }),
        );
        let request = super::request(&waiting, &ProviderSecret::default(), &event()).unwrap();
        assert_eq!(request.url, "http://sink/api/webhooks/1/t/slack?wait=true");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body["attachments"][0]["author_name"],
            "kustomization/podinfo.flux-system"
        );
    }

    #[test]
    fn generic_hmac_signs_the_exact_body() {
        let secret = ProviderSecret {
            token: Some("k".into()),
            ..Default::default()
        };
        let hmac_provider =
            provider(serde_json::json!({ "type": "generic-hmac", "address": "http://sink/" }));
        let request = request(&hmac_provider, &secret, &event()).unwrap();
        let signature = request
            .headers
            .iter()
            .find(|(k, _)| k == "X-Signature")
            .map(|(_, v)| v.clone())
            .unwrap();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
        mac.update(&request.body);
        assert_eq!(
            signature,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert!(
            request
                .headers
                .contains(&("Gotk-Component".into(), "kustomize-controller".into()))
        );
        // Without an address or token: a clear error.
        assert!(super::request(&hmac_provider, &ProviderSecret::default(), &event()).is_err());
        let no_address = provider(serde_json::json!({ "type": "generic" }));
        assert!(
            super::request(&no_address, &secret, &event())
                .unwrap_err()
                .contains("no address")
        );
    }
}
