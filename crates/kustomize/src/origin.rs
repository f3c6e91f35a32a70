//! Build metadata (`buildMetadata: [originAnnotations, transformerAnnotations]`): where each
//! resource came from and which transformers changed it, as kustomize annotates them.

use driftless_yaml::{Mapping, Node};

/// A file a resource was read from, or the plugin that generated or transformed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The resource file, relative to the top kustomization.
    pub path: String,
    /// The file that configured the generator or transformer.
    pub configured_in: String,
    /// The plugin: apiVersion, kind and (for plugin objects) name and namespace.
    pub configured_by: Option<(String, String, String, String)>,
}

impl Origin {
    pub fn file(path: String) -> Origin {
        Origin {
            path,
            ..Default::default()
        }
    }

    pub fn plugin(configured_in: String, api_version: &str, kind: &str, name: &str) -> Origin {
        Origin {
            configured_in,
            configured_by: Some((
                api_version.to_owned(),
                kind.to_owned(),
                name.to_owned(),
                String::new(),
            )),
            ..Default::default()
        }
    }

    /// The plugin object's namespace, for `configuredBy`.
    pub fn in_namespace(mut self, namespace: &str) -> Origin {
        if let Some(by) = &mut self.configured_by {
            by.3 = namespace.to_owned();
        }
        self
    }

    fn to_node(&self) -> Node {
        let mut map = Mapping::new();
        if !self.path.is_empty() {
            map.insert("path", Node::string(&self.path));
        }
        if !self.configured_in.is_empty() {
            map.insert("configuredIn", Node::string(&self.configured_in));
        }
        if let Some((api_version, kind, name, namespace)) = &self.configured_by {
            let mut by = Mapping::new();
            by.insert("apiVersion", Node::string(api_version));
            by.insert("kind", Node::string(kind));
            if !name.is_empty() {
                by.insert("name", Node::string(name));
            }
            if !namespace.is_empty() {
                by.insert("namespace", Node::string(namespace));
            }
            map.insert("configuredBy", Node::Map(by));
        }
        Node::Map(map)
    }

    /// The `config.kubernetes.io/origin` annotation value.
    pub fn annotation(&self) -> String {
        driftless_yaml::to_string(&self.to_node())
    }

    /// The `alpha.config.kubernetes.io/transformations` annotation value.
    pub fn list_annotation(origins: &[Origin]) -> String {
        driftless_yaml::to_string(&Node::Seq(origins.iter().map(Origin::to_node).collect()))
    }
}

/// `base` and `path` joined and cleaned lexically, like Go's `path.Join` (`../base` +
/// `../common` is `../common`).
pub fn join(base: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_go_path_join() {
        assert_eq!(join("", "service.yaml"), "service.yaml");
        assert_eq!(join("../base", "service.yaml"), "../base/service.yaml");
        assert_eq!(join("../base", "../common"), "../common");
        assert_eq!(join("a/./b", "../c"), "a/c");
    }

    #[test]
    fn annotations_are_yaml_documents() {
        assert_eq!(
            Origin::file("../base/svc.yaml".into()).annotation(),
            "path: ../base/svc.yaml\n"
        );
        let plugin = Origin::plugin(
            "kustomization.yaml".into(),
            "builtin",
            "PrefixTransformer",
            "",
        );
        assert_eq!(
            Origin::list_annotation(&[plugin]),
            "- configuredIn: kustomization.yaml\n  configuredBy:\n    apiVersion: builtin\n    kind: PrefixTransformer\n"
        );
    }
}
