//! JSON patch (RFC 6902) on resources, with the semantics of the library kustomize uses
//! (evanphx/json-patch v4): `add` needs the parent, `replace` of a missing object key
//! adds it, negative array indexes count from the end.

use crate::resmap::ResMap;
use crate::transform::selector::Matcher;
use crate::types::Selector;
use crate::{Error, Result};
use driftless_yaml::Node;

#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub op: String,
    pub path: String,
    pub from: Option<String>,
    pub value: Option<Node>,
}

/// Operations from JSON (`[...]`) or YAML text.
pub fn parse(text: &str) -> Result<Vec<Operation>> {
    let documents = driftless_yaml::parse_documents(text)
        .map_err(|e| Error::new(format!("invalid JSON patch: {e}")))?;
    let Some(first) = documents.into_iter().next() else {
        return Ok(Vec::new());
    };
    let Node::Seq(items) = first else {
        return Err(Error::new("a JSON patch must be a list of operations"));
    };
    items
        .iter()
        .map(|item| {
            let Node::Map(map) = item else {
                return Err(Error::new("a JSON patch operation must be a mapping"));
            };
            let text = |key: &str| {
                map.get(key)
                    .and_then(|v| v.as_scalar())
                    .map(|s| s.value.clone())
            };
            Ok(Operation {
                op: text("op").unwrap_or_default(),
                path: text("path")
                    .ok_or_else(|| Error::new("operation missing path field: missing value"))?,
                from: text("from"),
                value: map.get("value").cloned(),
            })
        })
        .collect()
}

pub fn apply_to_targets(
    resmap: &mut ResMap,
    target: &Selector,
    ops: &[Operation],
    remember: bool,
) -> Result<()> {
    let matcher = Matcher::new(target)?;
    for resource in resmap.iter_mut() {
        if !matcher.matches(resource) {
            continue;
        }
        if remember {
            resource.remember_id();
        }
        let mut node = resource.node.clone();
        apply(&mut node, ops)?;
        resource.node = node;
    }
    Ok(())
}

pub fn apply(document: &mut Node, ops: &[Operation]) -> Result<()> {
    for op in ops {
        apply_one(document, op)?;
    }
    Ok(())
}

fn pointer(path: &str) -> Result<Vec<String>> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| Error::new(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn missing(op: &str, path: &str) -> Error {
    Error::new(format!(
        "{op} operation does not apply: doc is missing path: \"{path}\": missing value"
    ))
}

/// The container holding the last segment.
fn parent<'a>(
    document: &'a mut Node,
    segments: &[String],
    op: &str,
    path: &str,
) -> Result<&'a mut Node> {
    let mut node = document;
    for segment in &segments[..segments.len().saturating_sub(1)] {
        node = match node {
            Node::Map(map) => map.get_mut(segment).ok_or_else(|| missing(op, path))?,
            Node::Seq(items) => {
                let len = items.len();
                let index = array_index(segment, len, false).ok_or_else(|| missing(op, path))?;
                items.get_mut(index).ok_or_else(|| missing(op, path))?
            }
            Node::Scalar(_) => return Err(missing(op, path)),
        };
    }
    Ok(node)
}

/// An index into an array of `len` (negative counts from the end); `inserting` allows `len`.
fn array_index(segment: &str, len: usize, inserting: bool) -> Option<usize> {
    let n: i64 = segment.parse().ok()?;
    let limit = if inserting {
        len as i64
    } else {
        len as i64 - 1
    };
    let index = if n < 0 { len as i64 + n } else { n };
    (0..=limit).contains(&index).then_some(index as usize)
}

fn get<'a>(document: &'a Node, segments: &[String]) -> Option<&'a Node> {
    let mut node = document;
    for segment in segments {
        node = match node {
            Node::Map(map) => map.get(segment)?,
            Node::Seq(items) => items.get(array_index(segment, items.len(), false)?)?,
            Node::Scalar(_) => return None,
        };
    }
    Some(node)
}

fn add(document: &mut Node, segments: &[String], value: Node, op: &str, path: &str) -> Result<()> {
    let Some(last) = segments.last() else {
        return Err(missing(op, path));
    };
    match parent(document, segments, op, path)? {
        Node::Map(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Node::Seq(items) => {
            if last == "-" {
                items.push(value);
                return Ok(());
            }
            let index = array_index(last, items.len(), true).ok_or_else(|| {
                Error::new(format!(
                    "Unable to access invalid index: {last}: invalid index referenced"
                ))
            })?;
            items.insert(index, value);
            Ok(())
        }
        Node::Scalar(_) => Err(missing(op, path)),
    }
}

fn remove(document: &mut Node, segments: &[String], op: &str, path: &str) -> Result<Node> {
    let Some(last) = segments.last() else {
        return Err(missing(op, path));
    };
    match parent(document, segments, op, path)? {
        Node::Map(map) => map.remove(last).ok_or_else(|| {
            Error::new(format!("error in remove for path: '{path}': Unable to remove nonexistent key: {last}: missing value"))
        }),
        Node::Seq(items) => {
            let index = array_index(last, items.len(), false)
                .ok_or_else(|| Error::new(format!("Unable to access invalid index: {last}: invalid index referenced")))?;
            Ok(items.remove(index))
        }
        Node::Scalar(_) => Err(missing(op, path)),
    }
}

fn apply_one(document: &mut Node, operation: &Operation) -> Result<()> {
    let op = operation.op.as_str();
    let path = operation.path.as_str();
    let segments = pointer(path)?;
    let value = || operation.value.clone().unwrap_or_else(Node::null);
    match op {
        "add" => add(document, &segments, value(), op, path),
        "remove" => remove(document, &segments, op, path).map(|_| ()),
        "replace" => {
            if segments.is_empty() {
                *document = value();
                return Ok(());
            }
            let last = segments.last().cloned().unwrap_or_default();
            match parent(document, &segments, op, path)? {
                Node::Map(map) => {
                    map.insert(last, value());
                    Ok(())
                }
                Node::Seq(items) => {
                    let index = array_index(&last, items.len(), false)
                        .ok_or_else(|| Error::new(format!("replace operation does not apply: doc is missing key: {path}: missing value")))?;
                    items[index] = value();
                    Ok(())
                }
                Node::Scalar(_) => Err(missing(op, path)),
            }
        }
        "move" => {
            let from = operation
                .from
                .as_deref()
                .ok_or_else(|| Error::new("move operation missing from"))?;
            let taken = remove(document, &pointer(from)?, op, from)?;
            add(document, &segments, taken, op, path)
        }
        "copy" => {
            let from = operation
                .from
                .as_deref()
                .ok_or_else(|| Error::new("copy operation missing from"))?;
            let copied = get(document, &pointer(from)?)
                .cloned()
                .unwrap_or_else(Node::null);
            add(document, &segments, copied, op, path)
        }
        "test" => {
            let actual = get(document, &segments);
            let expected = operation.value.as_ref();
            let equal = match (actual, expected) {
                (None, None) => true,
                (None, Some(e)) => e.is_null(),
                (Some(a), Some(e)) => a.to_json() == e.to_json(),
                (Some(a), None) => a.is_null(),
            };
            if equal {
                Ok(())
            } else {
                Err(Error::new(format!(
                    "testing value {path} failed: test failed"
                )))
            }
        }
        other => Err(Error::new(format!("Unexpected kind: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_yaml::parse_one;

    fn run(doc: &str, patch: &str) -> Result<Node> {
        let mut node = parse_one(doc).map_err(|e| Error::new(e.to_string()))?;
        apply(&mut node, &parse(patch)?)?;
        Ok(node)
    }

    #[test]
    fn operations_follow_json_patch_v4() {
        let doc = "spec:\n  list: [a, b]\n  map: {x: 1}\n";
        let out = run(doc, r#"[{"op": "add", "path": "/spec/list/-", "value": "c"}, {"op": "add", "path": "/spec/list/0", "value": "z"}]"#).unwrap();
        let list: Vec<_> = out
            .get_path(&["spec", "list"])
            .unwrap()
            .as_seq()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(list, ["z", "a", "b", "c"]);
        let out = run(doc, "- op: replace\n  path: /spec/map/y\n  value: 2\n").unwrap();
        assert_eq!(out.str_at(&["spec", "map", "y"]), Some("2"));
        let out = run(
            doc,
            r#"[{"op": "move", "from": "/spec/map/x", "path": "/spec/x"}]"#,
        )
        .unwrap();
        assert!(
            out.get_path(&["spec", "map", "x"]).is_none()
                && out.str_at(&["spec", "x"]) == Some("1")
        );
        assert!(
            run(
                doc,
                r#"[{"op": "add", "path": "/spec/missing/x", "value": 1}]"#
            )
            .is_err()
        );
        assert!(run(doc, r#"[{"op": "remove", "path": "/spec/map/nope"}]"#).is_err());
        assert!(
            run(
                doc,
                r#"[{"op": "test", "path": "/spec/map/x", "value": 2}]"#
            )
            .is_err()
        );
        assert!(
            run(
                doc,
                r#"[{"op": "test", "path": "/spec/map/x", "value": 1}]"#
            )
            .is_ok()
        );
        let out = run(doc, r#"[{"op": "remove", "path": "/spec/list/-1"}]"#).unwrap();
        assert_eq!(
            out.get_path(&["spec", "list"])
                .unwrap()
                .as_seq()
                .unwrap()
                .len(),
            1
        );
    }
}
