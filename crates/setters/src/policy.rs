//! The latest image of each ImagePolicy, and the value each setter name stands for.

use std::collections::BTreeMap;
use std::fmt;

/// An ImagePolicy's `.status.latestRef`: the image it selected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    pub name: String,
    pub tag: String,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn new(name: impl Into<String>, tag: impl Into<String>) -> Self {
        ImageRef {
            name: name.into(),
            tag: tag.into(),
            digest: None,
        }
    }

    pub fn with_digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = Some(digest.into());
        self
    }
}

/// `name:tag`, or `name:tag@digest` when the policy reflected a digest (as Flux's
/// `ImageRef.String()`, which the full-image setter writes).
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)?;
        match &self.digest {
            Some(digest) if !digest.is_empty() => write!(f, "@{digest}"),
            _ => Ok(()),
        }
    }
}

/// The latest image of each policy, keyed `namespace:name` as markers name them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    by_key: BTreeMap<String, ImageRef>,
}

impl Policies {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, namespace: &str, name: &str, latest: ImageRef) {
        self.by_key.insert(format!("{namespace}:{name}"), latest);
    }

    /// The policy a marker names as `namespace:name`.
    pub fn get(&self, key: &str) -> Option<&ImageRef> {
        self.by_key.get(key)
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The value a setter (`ns:name`, `ns:name:tag`, `ns:name:name`, `ns:name:digest`) sets.
    pub(crate) fn resolve(&self, setter: &str) -> Resolved {
        // Kubernetes names cannot hold a colon, so the parts are unambiguous.
        let mut parts = setter.splitn(3, ':');
        let (Some(namespace), Some(name)) = (parts.next(), parts.next()) else {
            return Resolved::UnknownPolicy;
        };
        let Some(latest) = self.by_key.get(&format!("{namespace}:{name}")) else {
            return Resolved::UnknownPolicy;
        };
        match parts.next() {
            None => Resolved::Value(latest.to_string()),
            Some("tag") => Resolved::Value(latest.tag.clone()),
            Some("name") => Resolved::Value(latest.name.clone()),
            // Flux defines the digest setter only when the policy reflected a digest.
            Some("digest") => match &latest.digest {
                Some(digest) if !digest.is_empty() => Resolved::Value(digest.clone()),
                _ => Resolved::NoDigest,
            },
            Some(_) => Resolved::UnknownPolicy,
        }
    }
}

impl FromIterator<((String, String), ImageRef)> for Policies {
    fn from_iter<I: IntoIterator<Item = ((String, String), ImageRef)>>(iter: I) -> Self {
        let mut policies = Policies::new();
        for ((namespace, name), latest) in iter {
            policies.insert(&namespace, &name, latest);
        }
        policies
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    Value(String),
    UnknownPolicy,
    NoDigest,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies() -> Policies {
        let mut policies = Policies::new();
        policies.insert(
            "flux-system",
            "app",
            ImageRef::new("ghcr.io/org/app", "1.2.3"),
        );
        policies.insert(
            "flux-system",
            "pinned",
            ImageRef::new("ghcr.io/org/pinned", "v2").with_digest("sha256:abc"),
        );
        policies
    }

    #[test]
    fn setters_resolve_as_flux_defines_them() {
        let policies = policies();
        let value = |s: &str| policies.resolve(s);
        let v = |s: &str| Resolved::Value(s.to_owned());
        assert_eq!(value("flux-system:app"), v("ghcr.io/org/app:1.2.3"));
        assert_eq!(value("flux-system:app:tag"), v("1.2.3"));
        assert_eq!(value("flux-system:app:name"), v("ghcr.io/org/app"));
        assert_eq!(value("flux-system:app:digest"), Resolved::NoDigest);
        assert_eq!(
            value("flux-system:pinned"),
            v("ghcr.io/org/pinned:v2@sha256:abc")
        );
        assert_eq!(value("flux-system:pinned:digest"), v("sha256:abc"));
        assert_eq!(value("flux-system:app:other"), Resolved::UnknownPolicy);
        assert_eq!(value("flux-system:missing"), Resolved::UnknownPolicy);
        assert_eq!(value("app"), Resolved::UnknownPolicy);
    }
}
