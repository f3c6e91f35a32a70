//! Strategic merge patch, as kustomize's kyaml merges: maps recursively (a `null` deletes,
//! `$patch: delete|replace|merge`), lists merged by key where the OpenAPI schema says so
//! (patch elements first, then the untouched ones), replaced wholesale otherwise.

use crate::openapi::{SchemaRef, Schemas};
use crate::resid::Gvk;
use crate::{Error, Result};
use driftless_yaml::{Mapping, Node, Scalar, Style};

const DIRECTIVE: &str = "$patch";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Directive {
    None,
    Merge,
    Replace,
    Delete,
}

fn directive_of(map: &Mapping) -> Result<Directive> {
    match map.get(DIRECTIVE) {
        None => Ok(Directive::None),
        Some(value) => match value.as_scalar().map(|s| s.value.as_str()) {
            Some("merge") => Ok(Directive::Merge),
            Some("replace") => Ok(Directive::Replace),
            Some("delete") => Ok(Directive::Delete),
            other => Err(Error::new(format!(
                "unknown patch strategy '{}'",
                other.unwrap_or("")
            ))),
        },
    }
}

fn without_directive(map: &Mapping) -> Mapping {
    Mapping {
        entries: map
            .entries
            .iter()
            .filter(|(k, _)| k != DIRECTIVE)
            .cloned()
            .collect(),
    }
}

/// Merges `patch` into `target`; `None` when the patch deletes the object.
pub fn merge(target: &Node, patch: &Node, schemas: &Schemas) -> Result<Option<Node>> {
    let walker = Walker { schemas };
    walker.walk(Some(target), Some(patch), None)
}

struct Walker<'a> {
    schemas: &'a Schemas,
}

fn is_null(node: Option<&Node>) -> bool {
    node.is_none_or(Node::is_null)
}

fn kind_name(node: &Node) -> &'static str {
    match node {
        Node::Map(_) => "MappingNode",
        Node::Seq(_) => "SequenceNode",
        Node::Scalar(_) => "ScalarNode",
    }
}

impl<'a> Walker<'a> {
    fn schema_for_object(&self, node: Option<&Node>) -> Option<SchemaRef<'a>> {
        let node = node?;
        let api_version = node.str_at(&["apiVersion"])?;
        let kind = node.str_at(&["kind"])?;
        self.schemas
            .for_resource(&Gvk::from_api_version(api_version, kind))
    }

    fn walk(
        &self,
        dest: Option<&Node>,
        patch: Option<&Node>,
        schema: Option<SchemaRef<'a>>,
    ) -> Result<Option<Node>> {
        let schema = schema
            .or_else(|| self.schema_for_object(dest))
            .or_else(|| self.schema_for_object(patch));
        let shape = [dest, patch].into_iter().flatten().find(|n| !n.is_null());
        let Some(shape) = shape else {
            // Every side is missing or null: a patch null deletes; an untouched `~`/`null`
            // stays, an untouched empty value goes.
            return Ok(match (dest, patch) {
                (_, Some(_)) => None,
                (Some(Node::Scalar(s)), None) if !s.value.is_empty() => dest.cloned(),
                _ => None,
            });
        };
        for side in [dest, patch].into_iter().flatten().filter(|n| !n.is_null()) {
            if std::mem::discriminant(side) != std::mem::discriminant(shape) {
                return Err(Error::new(format!(
                    "wrong node kind: expected {} but the patch has {}",
                    kind_name(shape),
                    kind_name(side)
                )));
            }
        }
        match shape {
            Node::Map(_) => self.walk_map(dest, patch, schema),
            Node::Seq(_) => self.walk_seq(dest, patch, schema),
            Node::Scalar(_) => Ok(walk_scalar(dest, patch)),
        }
    }

    fn walk_map(
        &self,
        dest: Option<&Node>,
        patch: Option<&Node>,
        schema: Option<SchemaRef<'a>>,
    ) -> Result<Option<Node>> {
        let patch_map = match patch {
            Some(Node::Map(m)) => Some(m),
            Some(n) if n.is_null() => return Ok(None),
            _ => None,
        };
        let base: Mapping = match (dest, patch_map) {
            (d, Some(p)) if is_null(d) => {
                if directive_of(p).unwrap_or(Directive::None) == Directive::Delete {
                    return Ok(None);
                }
                without_directive(p)
            }
            (Some(Node::Map(d)), Some(p)) => match directive_of(p)? {
                Directive::Delete => return Ok(None),
                Directive::Replace => without_directive(p),
                Directive::Merge | Directive::None => d.clone(),
            },
            (Some(Node::Map(d)), None) => d.clone(),
            _ => Mapping::new(),
        };
        let mut names: Vec<String> = base.keys().map(str::to_owned).collect();
        if let Some(p) = patch_map {
            names.extend(
                p.keys()
                    .filter(|k| *k != DIRECTIVE && !base.contains_key(k))
                    .map(str::to_owned),
            );
        }
        let mut result = base.clone();
        for name in names {
            let field_schema = schema.and_then(|s| s.field(&name));
            let from_patch = patch_map.and_then(|p| p.get(&name));
            let merged = self.walk(base.get(&name), from_patch, field_schema)?;
            match merged {
                Some(value) => result.insert(name, value),
                None => {
                    result.remove(&name);
                }
            }
        }
        Ok(Some(Node::Map(result)))
    }

    fn walk_seq(
        &self,
        dest: Option<&Node>,
        patch: Option<&Node>,
        schema: Option<SchemaRef<'a>>,
    ) -> Result<Option<Node>> {
        let associative = schema
            .and_then(|s| s.patch_strategy())
            .is_some_and(|s| s.split(',').any(|p| p.trim() == "merge"));
        if !associative {
            return Ok(match patch {
                Some(p) if p.is_null() => None,
                Some(p) => Some(p.clone()),
                None => dest.cloned(),
            });
        }
        let mut patch_items: Vec<Node> = match patch {
            Some(Node::Seq(items)) => items.clone(),
            Some(p) if p.is_null() => return Ok(None),
            _ => Vec::new(),
        };
        // A list-level directive: an element that is only `$patch: ...`.
        let mut directive = Directive::None;
        if let Some(at) = patch_items
            .iter()
            .position(|i| matches!(i, Node::Map(m) if m.len() == 1 && m.contains_key(DIRECTIVE)))
        {
            if let Node::Map(m) = &patch_items[at] {
                directive = directive_of(m)?;
            }
            patch_items.remove(at);
        }
        let dest_items: Vec<Node> = match (directive, dest) {
            (Directive::Delete, _) => return Ok(None),
            (Directive::Replace, _) => Vec::new(),
            (_, Some(Node::Seq(items))) => items.clone(),
            _ => Vec::new(),
        };
        let items_schema = schema.and_then(|s| s.items());
        let keys: Vec<String> = match schema.and_then(|s| s.list_map_keys()) {
            Some(keys) if !keys.is_empty() => keys,
            _ => schema
                .and_then(|s| s.merge_key())
                .map(|k| vec![k.to_owned()])
                .unwrap_or_default(),
        };
        if keys.is_empty() {
            return Ok(Some(Node::Seq(merge_primitive(&dest_items, &patch_items))));
        }
        let tuple_of = |item: &Node| -> Vec<String> {
            keys.iter()
                .map(|k| {
                    item.get(k)
                        .and_then(Node::as_scalar)
                        .filter(|s| !s.is_null())
                        .map(|s| s.value.clone())
                        .unwrap_or_default()
                })
                .collect()
        };
        let mut tuples: Vec<Vec<String>> = Vec::new();
        for item in patch_items.iter().chain(dest_items.iter()) {
            if item.is_null() {
                continue;
            }
            let tuple = tuple_of(item);
            if !tuples.contains(&tuple) {
                tuples.push(tuple);
            }
        }
        let tuples = unify(tuples);
        let used: Vec<usize> = (0..keys.len())
            .filter(|&i| tuples.iter().any(|t| !t[i].is_empty()))
            .collect();
        let same = |a: &[String], b: &[String]| used.iter().all(|&i| a[i] == b[i]);
        let mut result = Vec::new();
        for tuple in &tuples {
            let dest_element = dest_items
                .iter()
                .find(|i| !i.is_null() && same(&tuple_of(i), tuple));
            let patch_element = patch_items
                .iter()
                .find(|i| !i.is_null() && same(&tuple_of(i), tuple));
            // kyaml merges an element in place and then writes the destination's element
            // back over it, so an element-level `$patch: replace` leaves the element as it
            // was (reproduced, since kustomize's output is the reference).
            let replaces = matches!(patch_element, Some(Node::Map(m)) if directive_of(m).ok() == Some(Directive::Replace));
            // Destination duplicates collapse into the last one, unpatched, as kyaml's
            // element upsert leaves them.
            let duplicates: Vec<&Node> = dest_items
                .iter()
                .filter(|i| !i.is_null() && same(&tuple_of(i), tuple))
                .collect();
            let merged = if duplicates.len() > 1 {
                self.walk(duplicates.last().copied(), None, items_schema)?
            } else if replaces && dest_element.is_some() {
                self.walk(dest_element, None, items_schema)?
            } else {
                self.walk(dest_element, patch_element, items_schema)?
            };
            match merged {
                None => {}
                Some(Node::Map(m)) if m.is_empty() => {}
                Some(mut value) => {
                    if let Node::Map(map) = &mut value {
                        for (i, key) in keys.iter().enumerate() {
                            if !tuple[i].is_empty() && !map.contains_key(key) {
                                map.insert(key.clone(), Node::string(&tuple[i]));
                            }
                        }
                    }
                    result.push(value);
                }
            }
        }
        Ok(Some(Node::Seq(result)))
    }
}

/// Key tuples that agree wherever both are set (and share a set value) are one element:
/// a patch port without `protocol` is the destination's `TCP` port.
fn unify(tuples: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    'next: for tuple in tuples {
        for existing in out.iter_mut() {
            let compatible = existing
                .iter()
                .zip(&tuple)
                .all(|(a, b)| a == b || a.is_empty() || b.is_empty());
            let shared = existing
                .iter()
                .zip(&tuple)
                .any(|(a, b)| a == b && !a.is_empty());
            if compatible && shared {
                for (a, b) in existing.iter_mut().zip(&tuple) {
                    if a.is_empty() {
                        a.clone_from(b);
                    }
                }
                continue 'next;
            }
        }
        out.push(tuple);
    }
    out
}

/// Scalars: the patch's value; the destination's quoting decides when it was quoted.
fn walk_scalar(dest: Option<&Node>, patch: Option<&Node>) -> Option<Node> {
    match (dest, patch) {
        (_, Some(p)) if p.is_null() => None,
        (Some(Node::Scalar(d)), Some(Node::Scalar(p))) => {
            let mut out: Scalar = p.clone();
            if matches!(
                d.style,
                Style::SingleQuoted | Style::DoubleQuoted | Style::Literal | Style::Folded
            ) && p.tag.is_none()
            {
                out.style = d.style;
            }
            Some(Node::Scalar(out))
        }
        (_, Some(p)) => Some(p.clone()),
        (d, None) => d.cloned(),
    }
}

/// A merge list of scalars (finalizers): the union, patch values first.
fn merge_primitive(dest: &[Node], patch: &[Node]) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    let text = |n: &Node| n.as_scalar().map(|s| s.value.clone());
    for item in patch.iter().chain(dest.iter()) {
        if item.is_null() {
            continue;
        }
        if !out
            .iter()
            .any(|o| text(o).is_some() && text(o) == text(item))
        {
            out.push(item.clone());
        }
    }
    out
}

/// A strategic merge patch that turns `original` into `modified` when neither has a schema
/// (lists are replaced whole): changed fields set, removed fields `null`, nested maps
/// diffed. Empty when they are equal.
pub fn diff(original: &Mapping, modified: &Mapping) -> Mapping {
    let mut patch = Mapping::new();
    for (key, new) in modified.iter() {
        match (original.get(key), new) {
            (Some(old), _) if old == new => {}
            (Some(Node::Map(old)), Node::Map(new_map)) => {
                let nested = diff(old, new_map);
                if nested.is_empty() && !new_map.is_empty() {
                    continue;
                }
                if nested.is_empty() {
                    // Every field removed: the map itself is emptied.
                    let cleared: Vec<(String, Node)> =
                        old.keys().map(|k| (k.to_owned(), Node::null())).collect();
                    patch.insert(key, Node::Map(Mapping { entries: cleared }));
                } else {
                    patch.insert(key, Node::Map(nested));
                }
            }
            _ => patch.insert(key, new.clone()),
        }
    }
    for key in original.keys() {
        if !modified.contains_key(key) {
            patch.insert(key, Node::null());
        }
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_yaml::{parse_one, to_string};

    fn merged(target: &str, patch: &str) -> String {
        let out = merge(
            &parse_one(target).unwrap(),
            &parse_one(patch).unwrap(),
            &Schemas::builtin(),
        )
        .unwrap();
        out.map(|n| to_string(&n)).unwrap_or_default()
    }

    fn containers(out: &str) -> Vec<Node> {
        let node = parse_one(out).unwrap();
        node.get_path(&["spec", "template", "spec", "containers"])
            .unwrap()
            .as_seq()
            .unwrap()
            .clone()
    }

    const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: a:1\n      - name: b\n        image: b:1\n";

    #[test]
    fn containers_merge_by_name_with_patched_ones_first() {
        let out = merged(
            DEPLOYMENT,
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: b\n        image: b:2\n      - name: c\n        image: c:1\n",
        );
        let containers = containers(&out);
        let names: Vec<_> = containers
            .iter()
            .map(|c| c.str_at(&["name"]).unwrap())
            .collect();
        assert_eq!(names, ["b", "c", "a"]);
        assert_eq!(containers[0].str_at(&["image"]), Some("b:2"));
    }

    #[test]
    fn delete_directives_and_nulls_remove() {
        let out = merged(
            DEPLOYMENT,
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        $patch: delete\n      - name: b\n        image: null\n",
        );
        let containers = containers(&out);
        assert_eq!(containers.len(), 1);
        assert!(containers[0].get("image").is_none());
        assert_eq!(
            merged(
                DEPLOYMENT,
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n$patch: delete\n"
            ),
            ""
        );
    }

    #[test]
    fn lists_without_a_schema_are_replaced() {
        let out = merged(
            "apiVersion: x/v1\nkind: W\nmetadata:\n  name: w\nspec:\n  items:\n  - name: a\n  - name: b\n",
            "spec:\n  items:\n  - name: c\n",
        );
        assert!(
            out.contains("- name: c") && !out.contains("- name: a"),
            "{out}"
        );
    }

    #[test]
    fn replace_directive_replaces_a_map() {
        let out = merged(
            "apiVersion: x/v1\nkind: W\nmetadata:\n  name: w\nspec:\n  a: 1\n  b: 2\n",
            "spec:\n  $patch: replace\n  c: 3\n",
        );
        assert!(out.contains("c: 3") && !out.contains("a: 1"), "{out}");
    }

    #[test]
    fn quoted_destination_keeps_a_string_type() {
        let out = merged(
            "apiVersion: x/v1\nkind: W\nmetadata:\n  name: w\nspec:\n  port: \"80\"\n",
            "spec:\n  port: 81\n",
        );
        let node = parse_one(&out).unwrap();
        assert_eq!(
            node.get_path(&["spec", "port"])
                .unwrap()
                .as_scalar()
                .unwrap()
                .kind(),
            driftless_yaml::ScalarKind::Str
        );
    }

    #[test]
    fn finalizers_are_unioned() {
        let out = merged(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  finalizers: [a, b]\n",
            "metadata:\n  finalizers: [c, a]\n",
        );
        let node = parse_one(&out).unwrap();
        let list: Vec<_> = node
            .get_path(&["metadata", "finalizers"])
            .unwrap()
            .as_seq()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert_eq!(list, ["c", "a", "b"]);
    }
}
