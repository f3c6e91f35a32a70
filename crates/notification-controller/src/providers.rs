//! What each Provider type sends for an event: method, headers and body as the target's API
//! expects them. Building a request is pure; [`deliver`] sends it with retries.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
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

/// Values a Provider's Secret may hold (`address`, `token`, `username`, `password`,
/// `headers`).
#[derive(Clone, Debug, Default)]
pub struct ProviderSecret {
    pub address: Option<String>,
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
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
            username: text("username"),
            password: text("password"),
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

/// The name of a provider type as specs spell it (`generic-hmac`, `msteams`, …).
pub fn type_name(type_: ProviderType) -> String {
    serde_json::to_value(type_)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether [`request`] builds requests for `type_`.
pub fn supported(type_: ProviderType) -> bool {
    matches!(
        type_,
        ProviderType::Generic
            | ProviderType::GenericHmac
            | ProviderType::Slack
            | ProviderType::Discord
            | ProviderType::Rocket
            | ProviderType::MsTeams
            | ProviderType::GoogleChat
            | ProviderType::AlertManager
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
        ProviderType::GoogleChat => {
            serde_json::to_vec(&google_chat_card(event)).map_err(|e| e.to_string())?
        }
        ProviderType::AlertManager => {
            // Basic auth wins over a token, as in Flux; the Secret's username over the spec's.
            let username = secret.username.as_ref().or(provider.spec.username.as_ref());
            match (username, &secret.password, &secret.token) {
                (Some(user), Some(password), _) => {
                    let credentials = base64::engine::general_purpose::STANDARD
                        .encode(format!("{user}:{password}"));
                    headers.push(("Authorization".to_owned(), format!("Basic {credentials}")));
                }
                (_, _, Some(token)) => {
                    headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
                }
                _ => {}
            }
            serde_json::to_vec(&alertmanager_alerts(event)).map_err(|e| e.to_string())?
        }
        other => {
            return Err(format!(
                "provider type {} is not supported yet",
                type_name(other)
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

/// A Google Chat card (the `cards` format Flux sends): the object as title, the controller as
/// subtitle, the message, and the metadata as key-value widgets. Unset fields are `null`, as
/// Flux writes them.
fn google_chat_card(event: &Event) -> serde_json::Value {
    let text = if event.severity == Severity::Error {
        format!("<font color=\"#ff0000\">{}</font>", event.message)
    } else {
        event.message.clone()
    };
    let mut sections = vec![serde_json::json!({
        "header": "",
        "widgets": [{ "textParagraph": { "text": text }, "keyValue": null }],
    })];
    if !event.metadata.is_empty() {
        let widgets: Vec<serde_json::Value> = event
            .metadata
            .iter()
            .map(|(key, value)| {
                serde_json::json!({
                    "textParagraph": null,
                    "keyValue": {
                        "topLabel": key, "content": value, "contentMultiline": false,
                        "bottomLabel": null, "icon": null,
                    },
                })
            })
            .collect();
        sections.push(serde_json::json!({ "header": "", "widgets": widgets }));
    }
    serde_json::json!({
        "cards": [{
            "header": {
                "title": object_name(event),
                "subtitle": event.reporting_controller,
                "imageUrl": null,
                "imageStyle": null,
            },
            "sections": sections,
        }],
    })
}

/// `ReconciliationSucceeded` → `Reconciliationsucceeded`: Go's `cases.Title`, which Flux
/// applies to the reason in an Alertmanager `alertname`.
fn title_case(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// One firing alert for Alertmanager's `/api/v2/alerts`: the event's metadata as labels plus
/// the object, reason and severity; the message (and `summary`) as annotations.
fn alertmanager_alerts(event: &Event) -> serde_json::Value {
    let object = &event.involved_object;
    let kind = object.kind.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = event.metadata.clone();
    let mut annotations = BTreeMap::from([("message".to_owned(), event.message.clone())]);
    if let Some(summary) = labels.remove("summary") {
        annotations.insert("summary".to_owned(), summary);
    }
    labels.extend([
        (
            "alertname".to_owned(),
            format!("Flux{kind}{}", title_case(&event.reason)),
        ),
        ("severity".to_owned(), event.severity.as_str().to_owned()),
        ("reason".to_owned(), event.reason.clone()),
        ("kind".to_owned(), kind),
        ("name".to_owned(), object.name.clone().unwrap_or_default()),
        (
            "namespace".to_owned(),
            object.namespace.clone().unwrap_or_default(),
        ),
        (
            "reportingcontroller".to_owned(),
            event.reporting_controller.clone(),
        ),
    ]);
    serde_json::json!([{
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": event.timestamp,
        // Go's encoder writes the zero time for Flux's unset field; Alertmanager reads it as
        // unset.
        "endsAt": "0001-01-01T00:00:00Z",
    }])
}

/// The Provider's address: its Secret's `address` wins over `spec.address`.
pub(crate) fn address(provider: &Provider, secret: &ProviderSecret) -> Option<String> {
    secret
        .address
        .clone()
        .or_else(|| provider.spec.address.clone())
        .filter(|a| !a.is_empty())
}

/// `text` (a target's answer) without the address it was sent to: chat webhook URLs are
/// credentials, and error pages tend to repeat the path they could not serve.
fn redacted(text: &str, url: &str) -> String {
    let mut text = text.replace(url, "<address>");
    if let Ok(parsed) = reqwest::Url::parse(url) {
        let path = parsed.path();
        if path.len() > 1 {
            text = text.replace(path, "<address>");
        }
        if let Some(query) = parsed.query().filter(|q| !q.is_empty()) {
            text = text.replace(query, "<address>");
        }
    }
    text
}

/// Whether a request failed because the server's certificate was refused.
fn is_certificate_error(error: &reqwest::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(rustls::Error::InvalidCertificate(_)) = current.downcast_ref::<rustls::Error>()
        {
            return true;
        }
        // io::Error's `source` skips the error it wraps (connectors nest them); unwrap it.
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    false
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
                let text = redacted(&response.text().await.unwrap_or_default(), &outgoing.url);
                last_error = format!("{status}: {}", text.chars().take(200).collect::<String>());
                // A request the target refuses as such will not pass on a retry.
                if status.is_client_error() && status.as_u16() != 429 {
                    break;
                }
            }
            // The address may be a credential (chat webhook URLs are): never in messages.
            Err(error) => {
                let untrusted = is_certificate_error(&error);
                last_error = error.without_url().to_string();
                // An untrusted certificate stays untrusted; as Flux's client, do not retry.
                if untrusted {
                    last_error.push_str(
                        ": the server's certificate is not trusted (certSecretRef sets a CA)",
                    );
                    break;
                }
            }
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

    #[test]
    fn google_chat_gets_a_card() {
        let chat = provider(
            serde_json::json!({ "type": "googlechat", "address": "http://sink/v1/spaces/x/messages?key=k" }),
        );
        let mut failed = event();
        failed.severity = Severity::Error;
        failed.message = "apply failed".into();
        let request = request(&chat, &ProviderSecret::default(), &failed).unwrap();
        assert_eq!(request.url, "http://sink/v1/spaces/x/messages?key=k");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let card = &body["cards"][0];
        assert_eq!(
            card["header"],
            serde_json::json!({ "title": "kustomization/podinfo.flux-system", "subtitle": "kustomize-controller", "imageUrl": null, "imageStyle": null })
        );
        assert_eq!(
            card["sections"][0]["widgets"][0],
            serde_json::json!({ "textParagraph": { "text": "<font color=\"#ff0000\">apply failed</font>" }, "keyValue": null })
        );
        assert_eq!(
            card["sections"][1]["widgets"][0]["keyValue"],
            serde_json::json!({ "topLabel": "revision", "content": "main@sha1:3b9a1f7c", "contentMultiline": false, "bottomLabel": null, "icon": null })
        );
        // Without metadata there is no second section.
        let mut plain = event();
        plain.metadata.clear();
        let body: serde_json::Value = serde_json::from_slice(
            &super::request(&chat, &ProviderSecret::default(), &plain)
                .unwrap()
                .body,
        )
        .unwrap();
        assert_eq!(body["cards"][0]["sections"].as_array().unwrap().len(), 1);
        assert_eq!(
            body["cards"][0]["sections"][0]["widgets"][0]["textParagraph"]["text"],
            "Reconciliation finished in 1.2s"
        );
    }

    #[test]
    fn alertmanager_gets_one_firing_alert() {
        let manager = provider(
            serde_json::json!({ "type": "alertmanager", "address": "http://sink/api/v2/alerts" }),
        );
        let mut with_summary = event();
        with_summary
            .metadata
            .insert("summary".into(), "prod cluster".into());
        with_summary
            .metadata
            .insert("name".into(), "overridden by the object".into());
        let secret = ProviderSecret {
            token: Some("t".into()),
            ..Default::default()
        };
        let request = request(&manager, &secret, &with_summary).unwrap();
        assert_eq!(request.url, "http://sink/api/v2/alerts");
        assert!(
            request
                .headers
                .contains(&("Authorization".into(), "Bearer t".into()))
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!([{
                "status": "firing",
                "labels": {
                    "alertname": "FluxKustomizationReconciliationsucceeded", "severity": "info",
                    "reason": "ReconciliationSucceeded", "kind": "Kustomization", "name": "podinfo",
                    "namespace": "flux-system", "reportingcontroller": "kustomize-controller",
                    "revision": "main@sha1:3b9a1f7c",
                },
                "annotations": { "message": "Reconciliation finished in 1.2s", "summary": "prod cluster" },
                "startsAt": "2026-11-30T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
            }])
        );
        // Basic auth wins over a token.
        let basic = ProviderSecret {
            token: Some("t".into()),
            username: Some("am".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let request = super::request(&manager, &basic, &event()).unwrap();
        assert!(
            request
                .headers
                .contains(&("Authorization".into(), "Basic YW06cHc=".into()))
        );
        assert_eq!(title_case("Progressing"), "Progressing");
    }

    #[test]
    fn answers_lose_the_address() {
        let url = "https://hooks.example.com/services/T0/B0/secret?sig=abc";
        assert_eq!(
            redacted("Cannot POST /services/T0/B0/secret (sig=abc)", url),
            "Cannot POST <address> (<address>)"
        );
        assert_eq!(redacted(&format!("bad {url}"), url), "bad <address>");
        assert_eq!(redacted("invalid_payload", url), "invalid_payload");
    }
}
