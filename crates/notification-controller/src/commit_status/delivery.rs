//! Delivering a built status: read what the host shows for the commit, post only a change,
//! as Flux does.

use std::time::Duration;

use super::{Check, CommitStatus};
use crate::providers::{self, Outgoing};

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
    use super::already_current;
    use crate::commit_status::fixtures::{built, event, provider_at, secret_with_token};

    #[test]
    fn current_statuses_are_not_posted_again() {
        let github = provider_at("github", "https://github.com/org/app");
        let status = built(
            &github,
            "ks/a/1",
            &secret_with_token("t"),
            &event("info", "ReconciliationSucceeded"),
        );
        let listed = |state: &str| {
            serde_json::json!([
                { "context": "KS/A/1", "state": state, "description": "reconciliation succeeded" },
                { "context": "ks/a/1", "state": "failure", "description": "older" },
            ])
        };
        assert!(already_current(&status, &listed("success")));
        assert!(!already_current(&status, &listed("failure")));
        assert!(!already_current(&status, &serde_json::json!([])));
        let server = provider_at("bitbucketserver", "https://bb.example.com/scm/PRJ/app.git");
        let status = built(
            &server,
            "ks/a/1",
            &secret_with_token("t"),
            &event("info", "ReconciliationSucceeded"),
        );
        let mut existing = status.body.clone();
        assert!(already_current(&status, &existing));
        existing["name"] = "renamed".into();
        assert!(!already_current(&status, &existing));
        assert!(!already_current(&status, &serde_json::Value::Null));
    }
}
