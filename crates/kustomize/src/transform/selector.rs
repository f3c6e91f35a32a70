//! Choosing resources: patch targets (anchored regular expressions over group, version,
//! kind, name and namespace, plus label and annotation selectors).

use regex::Regex;

use crate::resid::{Gvk, ResId};
use crate::resource::Resource;
use crate::types::Selector;
use crate::{Error, Result};

/// A compiled [`Selector`].
pub struct Matcher {
    id: IdPattern,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

/// A selector's id parts (kustomize's `SelectorRegex`): each part set is an anchored regular
/// expression, so a plain name matches exactly and `Deployment|StatefulSet` both kinds.
pub(crate) struct IdPattern {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
}

fn is(re: &Option<Regex>, value: &str) -> bool {
    re.as_ref().is_none_or(|re| re.is_match(value))
}

impl IdPattern {
    pub(crate) fn new(selector: &Selector) -> Result<IdPattern> {
        Ok(IdPattern {
            group: anchored(&selector.group)?,
            version: anchored(&selector.version)?,
            kind: anchored(&selector.kind)?,
            name: anchored(&selector.name)?,
            namespace: anchored(&selector.namespace)?,
        })
    }

    fn matches_type(&self, gvk: &Gvk) -> bool {
        is(&self.group, &gvk.group) && is(&self.version, &gvk.version) && is(&self.kind, &gvk.kind)
    }

    /// One id: its type, name, and namespace as written or as it defaults.
    pub(crate) fn matches(&self, id: &ResId) -> bool {
        self.matches_type(&id.gvk)
            && is(&self.name, &id.name)
            && (is(&self.namespace, &id.namespace) || is(&self.namespace, id.effective_namespace()))
    }
}

fn anchored(pattern: &str) -> Result<Option<Regex>> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|e| {
            Error::new(format!(
                "invalid regular expression {pattern:?} in selector: {e}"
            ))
        })
}

impl Matcher {
    pub fn new(selector: &Selector) -> Result<Matcher> {
        Ok(Matcher {
            id: IdPattern::new(selector)?,
            labels: (!selector.label_selector.is_empty())
                .then(|| LabelSelector::parse(&selector.label_selector))
                .transpose()?,
            annotations: (!selector.annotation_selector.is_empty())
                .then(|| LabelSelector::parse(&selector.annotation_selector))
                .transpose()?,
        })
    }

    /// Type against the current id; name and namespace against the original or the
    /// current one.
    pub fn matches(&self, resource: &Resource) -> bool {
        let current = resource.id();
        let original = resource.original_id();
        let id = &self.id;
        id.matches_type(&current.gvk)
            && (is(&id.name, &original.name) || is(&id.name, &current.name))
            && (is(&id.namespace, original.effective_namespace())
                || is(&id.namespace, current.effective_namespace()))
            && self
                .labels
                .as_ref()
                .is_none_or(|s| s.matches(&resource.labels()))
            && self
                .annotations
                .as_ref()
                .is_none_or(|s| s.matches(&resource.annotations()))
    }
}

/// A Kubernetes label selector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`,
/// requirements joined by commas.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let bad = || {
                Error::new(format!(
                    "unable to parse requirement {part:?} in selector {text:?}"
                ))
            };
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(key.trim().to_owned())
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) = part.split_once("==") {
                Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) = part.split_once('=') {
                Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, values)) = set_requirement(part, " notin ") {
                Requirement::NotIn(key, values.ok_or_else(bad)?)
            } else if let Some((key, values)) = set_requirement(part, " in ") {
                Requirement::In(key, values.ok_or_else(bad)?)
            } else if part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Requirement::Exists(part.to_owned())
            } else {
                return Err(bad());
            };
            requirements.push(requirement);
        }
        Ok(LabelSelector { requirements })
    }

    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn set_requirement(part: &str, operator: &str) -> Option<(String, Option<Vec<String>>)> {
    let (key, rest) = part.split_once(operator)?;
    let values = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(|inner| {
            inner
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        });
    Some((key.trim().to_owned(), values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors_follow_kubernetes_syntax() {
        let set = labels(&[("app", "web"), ("tier", "front")]);
        for (selector, expected) in [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("app in (db, web)", true),
            ("tier notin (front)", false),
            ("app", true),
            ("!missing", true),
            ("!app", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(selector).unwrap().matches(&set),
                expected,
                "{selector}"
            );
        }
        assert!(LabelSelector::parse("a in x").is_err());
    }

    #[test]
    fn names_are_anchored_regular_expressions() {
        let resource = crate::resource::resources_from_yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app-1}\n",
            "f",
        )
        .unwrap()
        .remove(0);
        let sel = |name: &str| {
            Matcher::new(&Selector {
                name: name.into(),
                ..Default::default()
            })
            .unwrap()
        };
        assert!(!sel("app").matches(&resource));
        assert!(sel("app-.*").matches(&resource));
        let kind = Matcher::new(&Selector {
            kind: "Deploy".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(!kind.matches(&resource));
    }
}
