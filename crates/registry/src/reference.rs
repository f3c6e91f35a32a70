//! `spec.image` as Flux reads it (go-containerregistry's rules): an optional registry host,
//! Docker Hub for names without one (with `library/` for single-component names), no scheme,
//! no tag and no digest. The canonical name (`index.docker.io/library/alpine`) keys the tags.

use std::fmt;

/// Docker Hub as go-containerregistry names it.
pub const DOCKER_HUB: &str = "index.docker.io";

/// The characters a repository path may hold.
const REPOSITORY_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789_-./";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageName {
    /// Registry host (and port), `index.docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path within the registry, `library/alpine` say.
    pub repository: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("image '{image}' should not include URL scheme; remove '{scheme}://'")]
    Scheme { image: String, scheme: String },
    #[error("image '{image}' should not include a tag; remove ':{tag}'")]
    Tag { image: String, tag: String },
    #[error("image '{image}' should not include a digest; remove '@{digest}'")]
    Digest { image: String, digest: String },
    #[error("repository can only contain the characters `{REPOSITORY_CHARS}`: {0}")]
    Repository(String),
    #[error("registries must be valid RFC 3986 URI authorities: {0}")]
    Registry(String),
    #[error("image name is empty")]
    Empty,
}

impl ImageName {
    /// Parses `spec.image`.
    pub fn parse(image: &str) -> Result<Self, ReferenceError> {
        if let Some((scheme, _)) = image.split_once("://") {
            return Err(ReferenceError::Scheme {
                image: image.to_owned(),
                scheme: scheme.to_owned(),
            });
        }
        if let Some((_, digest)) = image.split_once('@') {
            return Err(ReferenceError::Digest {
                image: image.to_owned(),
                digest: digest.to_owned(),
            });
        }
        let (registry, path) = match image.split_once('/') {
            Some((first, rest)) if looks_like_registry(first) => (first, rest),
            _ => ("", image),
        };
        if let Some((_, tag)) = path.rsplit_once(':') {
            return Err(ReferenceError::Tag {
                image: image.to_owned(),
                tag: tag.to_owned(),
            });
        }
        if path.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if !path.chars().all(|c| REPOSITORY_CHARS.contains(c)) || path.split('/').any(str::is_empty)
        {
            return Err(ReferenceError::Repository(path.to_owned()));
        }
        let registry = match registry {
            "" | "docker.io" => DOCKER_HUB.to_owned(),
            host if valid_authority(host) => host.to_owned(),
            host => return Err(ReferenceError::Registry(host.to_owned())),
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        Ok(Self {
            registry,
            repository,
        })
    }

    /// The registry's host without the port, for matching credentials.
    pub fn host(&self) -> &str {
        self.registry
            .rsplit_once(':')
            .map_or(self.registry.as_str(), |(host, _)| host)
    }
}

impl fmt::Display for ImageName {
    /// The canonical name, `status.canonicalImageName`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// go-containerregistry's test for a first path component naming a registry.
fn looks_like_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn valid_authority(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(image: &str) -> String {
        ImageName::parse(image).unwrap().to_string()
    }

    #[test]
    fn docker_hub_names_are_made_explicit_as_go_containerregistry_does() {
        assert_eq!(canonical("alpine"), "index.docker.io/library/alpine");
        assert_eq!(
            canonical("docker.io/alpine"),
            "index.docker.io/library/alpine"
        );
        assert_eq!(
            canonical("docker.io/library/alpine"),
            "index.docker.io/library/alpine"
        );
        assert_eq!(
            canonical("stefanprodan/podinfo"),
            "index.docker.io/stefanprodan/podinfo"
        );
        assert_eq!(
            canonical("index.docker.io/fluxcd/flux"),
            "index.docker.io/fluxcd/flux"
        );
    }

    #[test]
    fn other_registries_keep_their_host_and_port() {
        assert_eq!(
            canonical("ghcr.io/stefanprodan/podinfo"),
            "ghcr.io/stefanprodan/podinfo"
        );
        assert_eq!(canonical("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(canonical("localhost/app"), "localhost/app");
        assert_eq!(canonical("127.0.0.1:5000/a/b/c"), "127.0.0.1:5000/a/b/c");
        let name = ImageName::parse("127.0.0.1:5000/app").unwrap();
        assert_eq!(name.host(), "127.0.0.1");
        // A first component without a dot, colon or "localhost" is a Docker Hub user.
        assert_eq!(canonical("myhost/app"), "index.docker.io/myhost/app");
    }

    #[test]
    fn schemes_tags_digests_and_bad_characters_are_refused_with_flux_wording() {
        assert_eq!(
            ImageName::parse("https://ghcr.io/x")
                .unwrap_err()
                .to_string(),
            "image 'https://ghcr.io/x' should not include URL scheme; remove 'https://'"
        );
        assert_eq!(
            ImageName::parse("ghcr.io/x/y:1.0").unwrap_err().to_string(),
            "image 'ghcr.io/x/y:1.0' should not include a tag; remove ':1.0'"
        );
        assert_eq!(
            ImageName::parse("localhost:5000/app:v1").unwrap_err(),
            ReferenceError::Tag {
                image: "localhost:5000/app:v1".into(),
                tag: "v1".into()
            }
        );
        assert!(matches!(
            ImageName::parse("alpine@sha256:abcd"),
            Err(ReferenceError::Digest { .. })
        ));
        assert!(matches!(
            ImageName::parse("ghcr.io/Upper/case"),
            Err(ReferenceError::Repository(_))
        ));
        assert!(matches!(
            ImageName::parse("ghcr.io//x"),
            Err(ReferenceError::Repository(_))
        ));
        assert_eq!(ImageName::parse(""), Err(ReferenceError::Empty));
        assert!(matches!(
            ImageName::parse("bad host:1/x"),
            Err(ReferenceError::Registry(_) | ReferenceError::Repository(_))
        ));
    }
}
