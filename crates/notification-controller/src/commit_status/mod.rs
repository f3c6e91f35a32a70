//! Commit statuses on Git hosts (GitHub, GitLab, Gitea/Forgejo, Bitbucket Cloud and Server)
//! for events that name a commit. Each status is keyed by an id: by default
//! `<kind>/<name>/<first part of the Provider's UID>`, or what the Provider's
//! `commitStatusExpr` makes of the event, Alert and Provider. Building a status is pure;
//! [`deliver`] reads the host's current status first and posts only a change, as Flux does.

use driftless_api::event::{Event, Severity};
use driftless_api::notification::{Alert, Provider, ProviderType};
use driftless_runtime::cel::Expression;

use crate::providers::{self, ProviderSecret};

mod bitbucket;
mod delivery;
#[cfg(test)]
mod fixtures;
mod gitea;
mod github;
mod gitlab;

pub use delivery::deliver;

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
            let uid = provider.metadata.uid.as_deref().unwrap_or_default();
            let uid_prefix = uid.split('-').next().unwrap_or_default();
            Ok(format!("{}/{uid_prefix}", involved_object(event)).to_lowercase())
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
    let host_status: HostStatus = match provider.spec.type_ {
        ProviderType::GitHub => github::status,
        ProviderType::GitLab => gitlab::status,
        ProviderType::Gitea => gitea::status,
        // Bitbucket has no state for progress; Flux sends none.
        ProviderType::Bitbucket | ProviderType::BitbucketServer
            if event.reason == "Progressing" =>
        {
            return Ok(None);
        }
        ProviderType::Bitbucket => bitbucket::cloud_status,
        ProviderType::BitbucketServer => bitbucket::server_status,
        _ => return Err("this provider type sets no commit statuses".into()),
    };
    host_status(provider, id, secret, event, &sha).map(Some)
}

/// One host's builder: the status `provider` sets under the id for the event's commit (sha).
type HostStatus =
    fn(&Provider, &str, &ProviderSecret, &Event, &str) -> Result<CommitStatus, String>;

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

/// `<kind>/<name>` of the object `event` is about, as written (callers lower-case it).
fn involved_object(event: &Event) -> String {
    let object = &event.involved_object;
    format!(
        "{}/{}",
        object.kind.as_deref().unwrap_or_default(),
        object.name.as_deref().unwrap_or_default()
    )
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

/// The API root for `url`: `public_api` on the host's own SaaS (`public_host`), else
/// `self_hosted_path` on the server the address names (Enterprise, a proxy, a test server).
fn api_root(
    url: &reqwest::Url,
    public_host: &str,
    public_api: &str,
    self_hosted_path: &str,
) -> String {
    if url.host_str() == Some(public_host) {
        public_api.to_owned()
    } else {
        format!("{}{self_hosted_path}", origin(url))
    }
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

/// `first/second`, both non-empty, split in two; `None` for any other shape.
fn two_segments(path: &str) -> Option<(&str, &str)> {
    match path.split('/').collect::<Vec<_>>()[..] {
        [first, second] if !first.is_empty() && !second.is_empty() => Some((first, second)),
        _ => None,
    }
}

/// `<owner>/<repository>` from the address path (GitHub, Gitea, Bitbucket Cloud).
fn owner_and_repository(url: &reqwest::Url) -> Result<(String, String), String> {
    let path = url.path().trim_matches('/');
    let (owner, repository) =
        two_segments(path).ok_or_else(|| format!("invalid repository id \"{path}\""))?;
    Ok((owner.to_owned(), repository.to_owned()))
}

fn success_or(event: &Event, failure: &'static str, success: &'static str) -> &'static str {
    if event.severity == Severity::Error {
        failure
    } else {
        success
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit_status::fixtures::{alert, event, provider, provider_at};

    #[test]
    fn reasons_read_as_words() {
        assert_eq!(words("ReconciliationSucceeded"), "reconciliation succeeded");
        assert_eq!(words("HealthCheckFailed"), "health check failed");
        assert_eq!(words("PDFLoader"), "pdf loader");
        assert_eq!(words("Progressing"), "progressing");
    }

    #[test]
    fn ids_default_to_flux_and_follow_commit_status_expr() {
        let github = provider_at("github", "https://github.com/org/app");
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
}
