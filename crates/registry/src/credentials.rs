//! Registry credentials from a `kubernetes.io/dockerconfigjson` Secret: the entry whose server
//! names the image's registry, as Docker and go-containerregistry match them (scheme and path
//! ignored, Docker Hub's aliases one registry).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use crate::reference::DOCKER_HUB;

/// The key of the config data in a `kubernetes.io/dockerconfigjson` Secret.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("secret has no '{DOCKER_CONFIG_KEY}' key")]
    MissingKey,
    #[error("invalid docker config JSON: {0}")]
    Json(String),
    #[error("invalid 'auth' for '{0}': expected base64 of username:password")]
    Auth(String),
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
}

/// The credentials `data` holds for `registry` (host and optional port); `None` when no entry
/// names it (the scan is then anonymous, as with Flux).
pub fn for_registry(
    data: &BTreeMap<String, Vec<u8>>,
    registry: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    let raw = data
        .get(DOCKER_CONFIG_KEY)
        .ok_or(CredentialsError::MissingKey)?;
    let config: DockerConfig =
        serde_json::from_slice(raw).map_err(|e| CredentialsError::Json(e.to_string()))?;
    let wanted = normalize(registry);
    let Some((server, entry)) = config
        .auths
        .iter()
        .find(|(server, _)| normalize(server) == wanted)
    else {
        return Ok(None);
    };
    if !entry.username.is_empty() || entry.auth.is_empty() {
        return Ok(Some(Credentials {
            username: entry.username.clone(),
            password: entry.password.clone(),
        }));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(entry.auth.trim())
        .map_err(|_| CredentialsError::Auth(server.clone()))?;
    let decoded = String::from_utf8(decoded).map_err(|_| CredentialsError::Auth(server.clone()))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| CredentialsError::Auth(server.clone()))?;
    Ok(Some(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    }))
}

/// `https://index.docker.io/v1/` → `index.docker.io`; every Docker Hub alias to one name.
fn normalize(server: &str) -> String {
    let without_scheme = server.split_once("://").map_or(server, |(_, rest)| rest);
    let host = without_scheme
        .split_once('/')
        .map_or(without_scheme, |(host, _)| host)
        .to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => DOCKER_HUB.to_owned(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(json: &str) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([(DOCKER_CONFIG_KEY.to_owned(), json.as_bytes().to_vec())])
    }

    #[test]
    fn entries_match_by_host_and_port_ignoring_scheme_and_path() {
        let data = secret(
            r#"{"auths":{"http://localhost:5000/v2/":{"username":"u","password":"p"},
                "https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="}}}"#,
        );
        let local = for_registry(&data, "localhost:5000").unwrap().unwrap();
        assert_eq!(
            (local.username.as_str(), local.password.as_str()),
            ("u", "p")
        );
        let hub = for_registry(&data, DOCKER_HUB).unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "secret")
        );
        assert_eq!(for_registry(&data, "localhost:5001").unwrap(), None);
        assert_eq!(for_registry(&data, "ghcr.io").unwrap(), None);
    }

    #[test]
    fn a_password_may_contain_colons() {
        // "u:p:q"
        let data = secret(r#"{"auths":{"ghcr.io":{"auth":"dTpwOnE="}}}"#);
        let creds = for_registry(&data, "ghcr.io").unwrap().unwrap();
        assert_eq!(creds.password, "p:q");
    }

    #[test]
    fn malformed_secrets_say_what_is_wrong() {
        assert_eq!(
            for_registry(&BTreeMap::new(), "ghcr.io"),
            Err(CredentialsError::MissingKey)
        );
        assert!(matches!(
            for_registry(&secret("{not json"), "ghcr.io"),
            Err(CredentialsError::Json(_))
        ));
        assert_eq!(
            for_registry(
                &secret(r#"{"auths":{"ghcr.io":{"auth":"!!!"}}}"#),
                "ghcr.io"
            ),
            Err(CredentialsError::Auth("ghcr.io".into()))
        );
    }
}
