//! A resource in a build: its YAML object plus what kustomize tracks about it on the side
//! (earlier ids, generator behaviour, whether its name takes a content hash).

use crate::Error;
use crate::resid::{Gvk, ResId};
use driftless_yaml::{Mapping, Node};

/// What a generated resource does when one with its id already exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behavior {
    #[default]
    Create,
    Merge,
    Replace,
}

impl Behavior {
    pub fn parse(text: &str) -> Option<Behavior> {
        match text {
            "" | "create" => Some(Behavior::Create),
            "merge" => Some(Behavior::Merge),
            "replace" => Some(Behavior::Replace),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Resource {
    pub node: Node,
    /// The ids this resource had before renames, oldest first.
    pub previous_ids: Vec<ResId>,
    /// Set on generated ConfigMaps/Secrets.
    pub behavior: Option<Behavior>,
    /// The name gets a content-hash suffix at the end of the build.
    pub needs_hash: bool,
    /// Prefixes and suffixes added to its name, innermost first.
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Names of the `$(VAR)`s found in it.
    pub ref_var_names: Vec<String>,
    /// Where it came from (tracked when the build asks for build metadata).
    pub origin: Option<crate::origin::Origin>,
    /// The transformers that ran over it after it had an origin.
    pub transformations: Vec<crate::origin::Origin>,
}

impl Resource {
    pub fn new(node: Node) -> Resource {
        Resource {
            node,
            previous_ids: Vec::new(),
            behavior: None,
            needs_hash: false,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            ref_var_names: Vec::new(),
            origin: None,
            transformations: Vec::new(),
        }
    }

    pub fn api_version(&self) -> &str {
        self.node.str_at(&["apiVersion"]).unwrap_or("")
    }

    pub fn kind(&self) -> &str {
        self.node.str_at(&["kind"]).unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.node.str_at(&["metadata", "name"]).unwrap_or("")
    }

    pub fn namespace(&self) -> &str {
        self.node.str_at(&["metadata", "namespace"]).unwrap_or("")
    }

    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }

    /// The current id.
    pub fn id(&self) -> ResId {
        ResId::new(self.gvk(), self.name(), self.namespace())
    }

    /// The id it was first read or generated with.
    pub fn original_id(&self) -> ResId {
        self.previous_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.id())
    }

    /// Every id it has had, the current one last.
    pub fn all_ids(&self) -> Vec<ResId> {
        let mut ids = self.previous_ids.clone();
        ids.push(self.id());
        ids
    }

    fn metadata_mut(&mut self) -> &mut Mapping {
        self.node.ensure_map_path(&["metadata"])
    }

    /// Renames, remembering the old id.
    pub fn set_name(&mut self, name: &str) {
        if self.name() != name {
            self.remember_id();
            self.metadata_mut().insert("name", Node::string(name));
        }
    }

    pub fn set_namespace(&mut self, namespace: &str) {
        if self.namespace() != namespace {
            self.remember_id();
            self.metadata_mut()
                .insert("namespace", Node::string(namespace));
        }
    }

    /// Records the current id as a previous one (before a rename, a namespace or kind change).
    pub fn remember_id(&mut self) {
        let id = self.id();
        self.previous_ids.push(id);
    }

    pub fn labels(&self) -> Vec<(String, String)> {
        string_map(self.node.get_path(&["metadata", "labels"]))
    }

    pub fn annotations(&self) -> Vec<(String, String)> {
        string_map(self.node.get_path(&["metadata", "annotations"]))
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.node
            .get_path(&["metadata", "annotations", key])?
            .as_scalar()
            .map(|s| s.value.as_str())
    }

    /// Copies the tracking of `other` (used when a patch or merge replaces the object).
    pub fn take_tracking_from(&mut self, other: &Resource) {
        self.previous_ids = other.previous_ids.clone();
        self.prefixes = other.prefixes.clone();
        self.suffixes = other.suffixes.clone();
    }
}

fn string_map(node: Option<&Node>) -> Vec<(String, String)> {
    node.and_then(Node::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v.as_scalar()?.value.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// The resources in one YAML text: empty documents skipped, `*List` kinds with `items`
/// expanded (their items after the other documents, as kustomize does), each checked for a
/// kind and a name.
pub fn resources_from_yaml(text: &str, file: &str) -> Result<Vec<Resource>, Error> {
    let documents = driftless_yaml::parse_documents(text).map_err(|e| Error::yaml(file, e))?;
    let mut queue: std::collections::VecDeque<Node> = documents.into();
    let mut out = Vec::new();
    while let Some(node) = queue.pop_front() {
        if matches!(&node, Node::Map(m) if m.is_empty()) {
            continue;
        }
        if !matches!(node, Node::Map(_)) {
            return Err(Error::invalid(
                file,
                "a resource must be a YAML mapping".to_owned(),
            ));
        }
        let kind = node.str_at(&["kind"]).unwrap_or("").to_owned();
        if kind.is_empty() {
            return Err(Error::invalid(file, "missing kind in object".to_owned()));
        }
        if let Some(metadata) = node.get("metadata")
            && !matches!(metadata, Node::Map(_))
            && !metadata.is_null()
        {
            return Err(Error::invalid(
                file,
                format!("metadata of {kind} must be a mapping"),
            ));
        }
        if kind.ends_with("List") {
            match node.get("items") {
                Some(Node::Seq(items)) => {
                    for item in items {
                        queue.push_back(item.clone());
                    }
                    continue;
                }
                Some(items) if items.is_null() => continue,
                Some(_) => {
                    return Err(Error::invalid(
                        file,
                        format!("expected array in {kind}/items"),
                    ));
                }
                None => {}
            }
        } else if node.str_at(&["metadata", "name"]).is_none_or(str::is_empty) {
            return Err(Error::invalid(
                file,
                format!("missing metadata.name in object of kind {kind}"),
            ));
        }
        if let Some(path) = nil_entry_in_list(&node, String::new()) {
            return Err(Error::invalid(
                file,
                format!("empty item at {path} in object of kind {kind}"),
            ));
        }
        out.push(Resource::new(node));
    }
    Ok(out)
}

fn nil_entry_in_list(node: &Node, path: String) -> Option<String> {
    match node {
        Node::Map(m) => m
            .iter()
            .find_map(|(k, v)| nil_entry_in_list(v, format!("{path}.{k}"))),
        Node::Seq(items) => items.iter().enumerate().find_map(|(i, item)| {
            if item.is_null() {
                Some(format!("{path}[{i}]"))
            } else {
                nil_entry_in_list(item, format!("{path}[{i}]"))
            }
        }),
        Node::Scalar(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_expanded_after_the_other_documents() {
        let text = "kind: List\napiVersion: v1\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
        let names: Vec<_> = resources_from_yaml(text, "f.yaml")
            .unwrap()
            .iter()
            .map(|r| r.name().to_owned())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn missing_kind_name_or_null_items_are_errors() {
        assert!(resources_from_yaml("apiVersion: v1\nmetadata: {name: a}\n", "f").is_err());
        assert!(resources_from_yaml("apiVersion: v1\nkind: ConfigMap\n", "f").is_err());
        let error = resources_from_yaml(
            "kind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  -\n",
            "f",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("empty item at .spec.containers[0]"),
            "{error}"
        );
    }

    #[test]
    fn renames_remember_the_original_id() {
        let mut r = resources_from_yaml(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            "f",
        )
        .unwrap()
        .remove(0);
        r.set_name("p-a");
        r.set_name("p-a-s");
        assert_eq!(r.original_id().name, "a");
        assert_eq!(r.id().name, "p-a-s");
        assert_eq!(r.all_ids().len(), 3);
    }
}
