//! Walking a field spec's path (`spec/template/metadata/labels`) through an object: every
//! element of a list on the way is visited, `\/` escapes a slash inside a key, and missing
//! fields are created only when the spec says `create` and the caller says what to create.

use crate::resid::Gvk;
use crate::resource::Resource;
use crate::types::FieldSpec;
use crate::{Error, Result};
use driftless_yaml::Node;

/// What to put at the end of a path that does not exist yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateKind {
    Map,
    String,
    Int,
}

impl CreateKind {
    fn empty(self) -> Node {
        match self {
            CreateKind::Map => Node::map(),
            CreateKind::String => Node::string(""),
            CreateKind::Int => Node::plain("0"),
        }
    }
}

/// A path split into keys; a key ending in `[]` names a list that is never created.
pub fn split_path(path: &str) -> Vec<(String, bool)> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let mut segments = Vec::new();
    let mut current = String::new();
    for part in path.split('/') {
        if let Some(escaped) = part.strip_suffix('\\') {
            current.push_str(escaped);
            current.push('/');
            continue;
        }
        current.push_str(part);
        let segment = std::mem::take(&mut current);
        match segment.strip_suffix("[]") {
            Some(list) => segments.push((list.to_owned(), true)),
            None => segments.push((segment, false)),
        }
    }
    if !current.is_empty() {
        segments.push((current, false));
    }
    segments
}

/// Calls `visit` on every node `path` reaches in `node`.
pub fn walk(
    node: &mut Node,
    path: &str,
    create: Option<CreateKind>,
    visit: &mut dyn FnMut(&mut Node) -> Result<()>,
) -> Result<()> {
    let segments = split_path(path);
    walk_segments(node, &segments, create, visit)
}

fn walk_segments(
    node: &mut Node,
    segments: &[(String, bool)],
    create: Option<CreateKind>,
    visit: &mut dyn FnMut(&mut Node) -> Result<()>,
) -> Result<()> {
    let Some(((key, is_list), rest)) = segments.split_first() else {
        return visit(node);
    };
    match node {
        Node::Seq(items) => {
            for item in items {
                walk_segments(item, segments, create, visit)?;
            }
            Ok(())
        }
        Node::Map(map) => {
            let last = rest.is_empty();
            match map.get_mut(key) {
                Some(child) if child.is_null() => match create {
                    Some(kind) if !is_list => {
                        *child = if last { kind.empty() } else { Node::map() };
                        walk_segments(child, rest, create, visit)
                    }
                    _ => Ok(()),
                },
                Some(child) => walk_segments(child, rest, create, visit),
                None => match create {
                    Some(kind) if !is_list => {
                        let child = map.entry_or_insert_with(key, || {
                            if last { kind.empty() } else { Node::map() }
                        });
                        walk_segments(child, rest, create, visit)
                    }
                    _ => Ok(()),
                },
            }
        }
        Node::Scalar(scalar) if scalar.is_null() => Ok(()),
        Node::Scalar(_) => Err(Error::new(format!(
            "expected sequence or mapping node at {key:?}"
        ))),
    }
}

/// Whether a field spec applies to a resource of type `gvk`.
pub fn applies_to(spec: &FieldSpec, gvk: &Gvk) -> bool {
    spec.selects(gvk)
}

/// Runs `visit` on every field of `resource` that one of `specs` names.
pub fn for_each_field(
    resource: &mut Resource,
    specs: &[FieldSpec],
    create: Option<CreateKind>,
    visit: &mut dyn FnMut(&mut Node) -> Result<()>,
) -> Result<()> {
    let gvk = resource.gvk();
    for spec in specs.iter().filter(|spec| applies_to(spec, &gvk)) {
        let create = if spec.create { create } else { None };
        walk(&mut resource.node, &spec.path, create, visit)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_yaml::parse_one;

    #[test]
    fn paths_split_on_unescaped_slashes() {
        assert_eq!(
            split_path("metadata/annotations/a\\/b"),
            [
                ("metadata".into(), false),
                ("annotations".into(), false),
                ("a/b".into(), false)
            ]
        );
        assert_eq!(
            split_path("/spec/vct[]/metadata"),
            [
                ("spec".into(), false),
                ("vct".into(), true),
                ("metadata".into(), false)
            ]
        );
    }

    #[test]
    fn lists_are_walked_element_by_element() {
        let mut node =
            parse_one("spec:\n  containers:\n  - image: a\n  - image: b\n  - name: c\n").unwrap();
        let mut seen = Vec::new();
        walk(&mut node, "spec/containers/image", None, &mut |n| {
            seen.push(n.as_str().unwrap().to_owned());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["a", "b"]);
    }

    #[test]
    fn create_makes_missing_fields_but_never_lists() {
        let mut node = parse_one("spec: {}\n").unwrap();
        walk(
            &mut node,
            "spec/template/metadata/labels",
            Some(CreateKind::Map),
            &mut |_| Ok(()),
        )
        .unwrap();
        assert!(
            node.get_path(&["spec", "template", "metadata", "labels"])
                .unwrap()
                .as_map()
                .is_some()
        );
        walk(
            &mut node,
            "spec/volumeClaimTemplates[]/metadata/labels",
            Some(CreateKind::Map),
            &mut |_| Ok(()),
        )
        .unwrap();
        assert!(node.get_path(&["spec", "volumeClaimTemplates"]).is_none());
        let mut untouched = parse_one("spec: {}\n").unwrap();
        walk(&mut untouched, "spec/selector", None, &mut |_| {
            panic!("nothing to visit")
        })
        .unwrap();
    }
}
