//! `Chart.yaml` as Helm's `chart.Metadata`: read as `sigs.k8s.io/yaml` reads it into that
//! struct (a number or bool written where Helm wants a string is typed by go-yaml v2 and
//! written back, so `appVersion: 1.10` is `"1.1"` and `y` is `"true"`; unknown fields are
//! dropped), validated and sanitized as `Metadata.Validate` does, and written back as Helm's
//! `chartutil.Save` writes it.

use driftless_yaml::{Node, ScalarKind, Style};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("{0}")]
    Syntax(String),
    #[error("validation: {0}")]
    Invalid(String),
}

/// Helm's `chart.Metadata`, field for field, in its JSON names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub home: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintainers: Vec<Maintainer>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tags: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_version: String,
    #[serde(
        default,
        deserialize_with = "go_bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub deprecated: bool,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub chart_type: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Maintainer {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
}

/// A `dependencies` entry (also the entries of `Chart.lock` and `requirements.yaml`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(
        default,
        deserialize_with = "go_bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub enabled: bool,
    #[serde(
        default,
        rename = "import-values",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub import_values: Vec<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias: String,
}

impl Metadata {
    /// Reads `Chart.yaml` (or merges `requirements.yaml` into `self`, as Helm does for
    /// `apiVersion: v1` charts).
    pub fn merge_yaml(&mut self, text: &str) -> Result<(), MetadataError> {
        let read: Metadata = from_yaml(text)?;
        let mut current =
            serde_json::to_value(&*self).map_err(|e| MetadataError::Syntax(e.to_string()))?;
        let incoming =
            serde_json::to_value(read).map_err(|e| MetadataError::Syntax(e.to_string()))?;
        if let (Value::Object(current), Value::Object(incoming)) = (&mut current, incoming) {
            current.extend(incoming);
        }
        *self =
            serde_json::from_value(current).map_err(|e| MetadataError::Syntax(e.to_string()))?;
        Ok(())
    }

    /// `Metadata.Validate`: required fields, a valid SemVer version, the chart type, unique
    /// dependency names and aliases; strings sanitized on the way.
    pub fn validate(&mut self) -> Result<(), MetadataError> {
        let invalid = |message: String| Err(MetadataError::Invalid(message));
        for field in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.version,
            &mut self.app_version,
            &mut self.condition,
            &mut self.tags,
            &mut self.kube_version,
            &mut self.chart_type,
        ] {
            sanitize(field);
        }
        self.sources.iter_mut().for_each(sanitize);
        self.keywords.iter_mut().for_each(sanitize);
        for maintainer in &mut self.maintainers {
            sanitize(&mut maintainer.name);
            sanitize(&mut maintainer.email);
            sanitize(&mut maintainer.url);
        }
        if self.api_version.is_empty() {
            return invalid("chart.metadata.apiVersion is required".into());
        }
        if self.name.is_empty() {
            return invalid("chart.metadata.name is required".into());
        }
        if self.name.contains(['/', '\\']) || self.name == "." || self.name == ".." {
            return invalid(format!("chart.metadata.name {:?} is invalid", self.name));
        }
        if self.version.is_empty() {
            return invalid("chart.metadata.version is required".into());
        }
        if driftless_version::parse_version(&self.version).is_none() {
            return invalid(format!(
                "chart.metadata.version {:?} is invalid",
                self.version
            ));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return invalid("chart.metadata.type must be application or library".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for dependency in &mut self.dependencies {
            dependency.validate()?;
            let key = if dependency.alias.is_empty() {
                &dependency.name
            } else {
                &dependency.alias
            };
            if !seen.insert(key.clone()) {
                return invalid(format!(
                    "more than one dependency with name or alias {key:?}"
                ));
            }
        }
        Ok(())
    }

    /// `Chart.yaml` as `chartutil.Save` writes it: the struct marshalled by
    /// `sigs.k8s.io/yaml` (empty fields left out, keys sorted).
    pub fn to_yaml(&self) -> String {
        crate::yaml::to_yaml(&serde_json::to_value(self).unwrap_or(Value::Null))
    }

    /// Whether the chart is a library chart (never rendered on its own).
    pub fn is_library(&self) -> bool {
        self.chart_type == "library"
    }
}

impl Dependency {
    fn validate(&mut self) -> Result<(), MetadataError> {
        for field in [
            &mut self.name,
            &mut self.version,
            &mut self.repository,
            &mut self.condition,
            &mut self.alias,
        ] {
            sanitize(field);
        }
        self.tags.iter_mut().for_each(sanitize);
        if self.name.is_empty() {
            return Err(MetadataError::Invalid(
                "dependencies must have a name".into(),
            ));
        }
        let alias_ok = self
            .alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !alias_ok {
            return Err(MetadataError::Invalid(format!(
                "dependency {:?} has disallowed characters in the alias",
                self.name
            )));
        }
        Ok(())
    }
}

/// Reads YAML into a Helm struct the way `sigs.k8s.io/yaml` does: a plain scalar is typed as
/// go-yaml v2 types it and written back as text wherever a string is expected (so
/// `version: 1.10` is `"1.1"`); a null leaves its field empty.
pub fn from_yaml<T: serde::de::DeserializeOwned + Default>(text: &str) -> Result<T, MetadataError> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    let node = driftless_yaml::parse_one(text).map_err(|e| MetadataError::Syntax(e.to_string()))?;
    if node.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(textual(&node)).map_err(|e| MetadataError::Syntax(e.to_string()))
}

/// JSON with every scalar as the text a Go string field gets; [`go_bool`] reads the booleans
/// back. A null map value is left out (Go leaves the field as it was); a null list item is
/// an empty string.
fn textual(node: &Node) -> Value {
    match node {
        Node::Map(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !is_null(v))
                .map(|(k, v)| (k.to_owned(), textual(v)))
                .collect(),
        ),
        Node::Seq(items) => Value::Array(items.iter().map(textual).collect()),
        Node::Scalar(scalar) if scalar.tag.is_none() && scalar.style == Style::Plain => {
            Value::String(crate::values::yaml11_text(&scalar.value).unwrap_or_default())
        }
        Node::Scalar(scalar) if scalar.kind() == ScalarKind::Null => Value::String(String::new()),
        Node::Scalar(scalar) => Value::String(scalar.value.clone()),
    }
}

fn is_null(node: &Node) -> bool {
    matches!(node, Node::Scalar(scalar) if scalar.kind() == ScalarKind::Null)
}

/// A bool as YAML 1.1 (Go's yaml.v2, under `sigs.k8s.io/yaml`) reads one: `true`, `yes`,
/// `on` and their spellings; null reads as false.
fn go_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(value)) => Ok(value),
        Some(Value::String(text)) => match text.as_str() {
            "" => Ok(false),
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
                Ok(true)
            }
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False"
            | "FALSE" => Ok(false),
            _ => Err(serde::de::Error::custom(format!(
                "cannot unmarshal {text:?} into a bool"
            ))),
        },
        Some(other) => Err(serde::de::Error::custom(format!(
            "cannot unmarshal {other} into a bool"
        ))),
    }
}

/// Helm's `sanitizeString`: whitespace becomes a space, unprintable characters are dropped.
fn sanitize(text: &mut String) {
    if text
        .chars()
        .all(|c| c == ' ' || (!c.is_whitespace() && !c.is_control()))
    {
        return;
    }
    *text = text
        .chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() {
                None
            } else {
                Some(c)
            }
        })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Metadata {
        let mut metadata = Metadata::default();
        metadata.merge_yaml(text).unwrap();
        metadata
    }

    #[test]
    fn scalars_are_typed_then_written_back_where_helm_wants_strings() {
        // Checked against helm v3.21.4 (`toJson .Chart`).
        let metadata = read(
            "apiVersion: v2\nname: app\nversion: 1.10\nappVersion: 12345678.9\ndeprecated: yes\n\
             unknown: dropped\nkeywords: [a, 1, y, 0.000012, 017, ~, 3.0e2, '1.10']\n\
             annotations: {x: 1, y: on, z: .inf, w: 0x10}\nicon: ~\nhome: 1_000\n",
        );
        assert_eq!(metadata.version, "1.1");
        assert_eq!(metadata.app_version, "1.2345679e+07");
        assert_eq!(
            metadata.keywords,
            ["a", "1", "true", "1.2e-05", "15", "", "300", "1.10"]
        );
        assert_eq!(metadata.annotations["x"], "1");
        assert_eq!(metadata.annotations["y"], "true");
        assert_eq!(metadata.annotations["z"], "+Inf");
        assert_eq!(metadata.annotations["w"], "16");
        assert_eq!(metadata.icon, "");
        assert_eq!(metadata.home, "1000");
        // Bools as YAML 1.1 spells them.
        assert!(metadata.deprecated);
        assert!(
            Metadata::default()
                .merge_yaml("deprecated: maybe\n")
                .is_err()
        );
        assert!(!read("deprecated: Off\n").deprecated);
    }

    #[test]
    fn validation_follows_helm() {
        let check = |text: &str| {
            let mut metadata = read(text);
            metadata.validate().map_err(|e| e.to_string())
        };
        assert_eq!(
            check("name: a\nversion: 1.0.0\n").unwrap_err(),
            "validation: chart.metadata.apiVersion is required"
        );
        assert_eq!(
            check("apiVersion: v2\nversion: 1.0.0\n").unwrap_err(),
            "validation: chart.metadata.name is required"
        );
        assert_eq!(
            check("apiVersion: v2\nname: ../a\nversion: 1\n").unwrap_err(),
            "validation: chart.metadata.name \"../a\" is invalid"
        );
        assert_eq!(
            check("apiVersion: v2\nname: a\nversion: one\n").unwrap_err(),
            "validation: chart.metadata.version \"one\" is invalid"
        );
        assert_eq!(
            check("apiVersion: v2\nname: a\nversion: 1\ntype: app\n").unwrap_err(),
            "validation: chart.metadata.type must be application or library"
        );
        assert_eq!(
            check(
                "apiVersion: v2\nname: a\nversion: 1\ndependencies:\n- {name: b, repository: ''}\n\
                 - {name: c, alias: b, repository: ''}\n"
            )
            .unwrap_err(),
            "validation: more than one dependency with name or alias \"b\""
        );
        assert_eq!(
            check(
                "apiVersion: v2\nname: a\nversion: 1\ndependencies:\n- {name: b, alias: 'x y'}\n"
            )
            .unwrap_err(),
            "validation: dependency \"b\" has disallowed characters in the alias"
        );
        let mut metadata =
            read("apiVersion: v2\nname: a\nversion: v1\ndescription: \"two\\nlines\\u0007\"\n");
        metadata.validate().unwrap();
        assert_eq!(metadata.description, "two lines");
    }

    #[test]
    fn written_as_helm_saves_it() {
        let metadata = read(
            "name: app\nversion: 1.10\napiVersion: v2\ndependencies:\n- name: db\n  repository: file://../db\n  \
             version: ~1\n  import-values: [child]\nappVersion: \"7\"\n",
        );
        assert_eq!(
            metadata.to_yaml(),
            "apiVersion: v2\nappVersion: \"7\"\ndependencies:\n- import-values:\n  - child\n  name: db\n  \
             repository: file://../db\n  version: ~1\nname: app\nversion: \"1.1\"\n"
        );
    }
}
