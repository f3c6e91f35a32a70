//! Dotted field paths as replacements and vars use them: `spec.template.spec.containers.[name=app].image`,
//! with `\.` escapes, `[a.b]` keys, `[k=v]` list selectors, indexes, `-` and `*`.

use regex::Regex;

use crate::{Error, Result};
use driftless_yaml::{Mapping, Node};

/// Splits on dots, keeping `[...]` groups and `\.` escapes together.
pub fn split(path: &str) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    let mut current = String::new();
    for part in path.split('.') {
        if let Some(escaped) = part.strip_suffix('\\') {
            current.push_str(escaped);
            current.push('.');
            continue;
        }
        current.push_str(part);
        raw.push(std::mem::take(&mut current));
    }
    if !current.is_empty() {
        raw.push(current);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let segment = &raw[i];
        if segment.starts_with('[') && !segment.ends_with(']') {
            let mut joined = segment.clone();
            i += 1;
            while i < raw.len() {
                joined.push('.');
                joined.push_str(&raw[i]);
                if raw[i].ends_with(']') {
                    break;
                }
                i += 1;
            }
            i += 1;
            if joined.contains('=') {
                out.push(joined);
            } else {
                out.push(
                    joined
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                );
            }
            continue;
        }
        out.push(segment.clone());
        i += 1;
    }
    out
}

fn list_selector(segment: &str) -> Option<Result<(String, String)>> {
    let inner = segment.strip_prefix('[')?.strip_suffix(']')?;
    Some(match inner.split_once('=') {
        Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
        None => Err(Error::new(
            "list path element must contain fieldName=fieldValue for element to match",
        )),
    })
}

/// The node at `segments` (kyaml's PathGetter without creation); `None` when absent.
pub fn get<'a>(node: &'a Node, segments: &[String]) -> Result<Option<&'a Node>> {
    let mut current = node;
    for segment in segments.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if current.is_null() {
            return Ok(None);
        }
        let next = if let Some(selector) = list_selector(segment) {
            let (key, value) = selector?;
            let Node::Seq(items) = current else {
                return Err(Error::new(format!(
                    "wrong node kind at {segment:?}: expected a sequence"
                )));
            };
            items.iter().find(|item| {
                if key.is_empty() {
                    item.as_scalar().is_some_and(|s| s.value == value)
                } else {
                    item.get(&key)
                        .and_then(Node::as_scalar)
                        .is_some_and(|s| s.value == value)
                }
            })
        } else if segment == "-" {
            match current {
                Node::Seq(items) => items.last(),
                _ => return Err(Error::new("wrong node kind at \"-\": expected a sequence")),
            }
        } else if let Ok(index) = segment.parse::<i64>() {
            match current {
                Node::Seq(items) if index >= 0 => items.get(index as usize),
                Node::Seq(_) => return Err(Error::new(format!("negative index {index}"))),
                _ => {
                    return Err(Error::new(format!(
                        "wrong node kind at index {index}: expected a sequence"
                    )));
                }
            }
        } else {
            match current {
                Node::Map(map) => map.get(segment),
                _ => {
                    return Err(Error::new(format!(
                        "wrong node kind at {segment:?}: expected a mapping"
                    )));
                }
            }
        };
        match next {
            Some(n) => current = n,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// What a created leaf should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafKind {
    Scalar,
    Map,
    Seq,
}

/// Every node `segments` reaches (kyaml's PathMatcher): `*` fans out over a list,
/// `[k=v]` matches list elements by an unanchored regular expression; with `create`,
/// missing parts are made.
pub fn find_mut<'a>(
    node: &'a mut Node,
    segments: &[String],
    create: Option<LeafKind>,
) -> Result<Vec<&'a mut Node>> {
    let mut out = Vec::new();
    find_into(node, segments, create, &mut out)?;
    Ok(out)
}

fn new_node_for(next: Option<&String>, leaf: LeafKind) -> Node {
    match next {
        None => match leaf {
            LeafKind::Scalar => Node::plain(""),
            LeafKind::Map => Node::map(),
            LeafKind::Seq => Node::Seq(Vec::new()),
        },
        Some(next) if next.starts_with('[') || next.parse::<usize>().is_ok() => {
            Node::Seq(Vec::new())
        }
        Some(_) => Node::map(),
    }
}

fn find_into<'a>(
    node: &'a mut Node,
    segments: &[String],
    create: Option<LeafKind>,
    out: &mut Vec<&'a mut Node>,
) -> Result<()> {
    let Some((segment, rest)) = segments.split_first() else {
        out.push(node);
        return Ok(());
    };
    if segment == "*" {
        return match node {
            Node::Seq(items) => {
                for item in items.iter_mut() {
                    find_into(item, rest, create, out)?;
                }
                Ok(())
            }
            _ => Err(Error::new("wrong node kind at \"*\": expected a sequence")),
        };
    }
    if let Some(selector) = list_selector(segment) {
        let (key, value) = selector?;
        let pattern = Regex::new(&value)
            .map_err(|e| Error::new(format!("invalid pattern {value:?}: {e}")))?;
        if node.is_null() && create.is_some() {
            *node = Node::Seq(Vec::new());
        }
        let Node::Seq(items) = node else {
            return Err(Error::new(format!(
                "wrong node kind at {segment:?}: expected a sequence"
            )));
        };
        let matches = |item: &Node| {
            if key.is_empty() {
                item.as_scalar()
                    .is_some_and(|s| pattern.is_match(s.value.trim()))
            } else {
                item.get(&key)
                    .and_then(Node::as_scalar)
                    .is_some_and(|s| pattern.is_match(s.value.trim()))
            }
        };
        let any = items.iter().any(matches);
        if !any {
            if create.is_none() {
                return Ok(());
            }
            let element = if key.is_empty() {
                Node::string(&value)
            } else {
                let mut map = Mapping::new();
                map.insert(key.clone(), Node::string(&value));
                Node::Map(map)
            };
            items.push(element);
            let last = items.len() - 1;
            return find_into(&mut items[last], rest, create, out);
        }
        for item in items.iter_mut().filter(|item| matches(item)) {
            find_into(item, rest, create, out)?;
        }
        return Ok(());
    }
    if let Ok(index) = segment.parse::<usize>() {
        if node.is_null() && create.is_some() {
            *node = Node::Seq(Vec::new());
        }
        let Node::Seq(items) = node else {
            return Err(Error::new(format!(
                "wrong node kind at index {index}: expected a sequence"
            )));
        };
        if index == items.len()
            && let Some(leaf) = create
        {
            items.push(new_node_for(rest.first(), leaf));
        }
        let len = items.len();
        let item = items.get_mut(index).ok_or_else(|| {
            Error::new(format!(
                "index {index} specified but only {len} elements found"
            ))
        })?;
        return find_into(item, rest, create, out);
    }
    if node.is_null() && create.is_some() {
        *node = Node::map();
    }
    let Node::Map(map) = node else {
        return Err(Error::new(format!(
            "wrong node kind at {segment:?}: expected a mapping"
        )));
    };
    if !map.contains_key(segment) {
        match create {
            Some(leaf) => map.insert(segment.clone(), new_node_for(rest.first(), leaf)),
            None => return Ok(()),
        }
    }
    let child = map
        .get_mut(segment)
        .ok_or_else(|| Error::new("inserted above"))?;
    find_into(child, rest, create, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_yaml::parse_one;

    #[test]
    fn split_handles_escapes_and_brackets() {
        assert_eq!(split("a.b\\.c.d"), ["a", "b.c", "d"]);
        assert_eq!(
            split("spec.containers.[name=com.foo].image"),
            ["spec", "containers", "[name=com.foo]", "image"]
        );
        assert_eq!(
            split("metadata.annotations.[a.b/c]"),
            ["metadata", "annotations", "a.b/c"]
        );
    }

    #[test]
    fn get_and_find_address_list_elements() {
        let mut node = parse_one(
            "spec:\n  c:\n  - name: app\n    image: a\n  - name: myapp-2\n    image: b\n",
        )
        .unwrap();
        let got = get(&node, &split("spec.c.[name=app].image"))
            .unwrap()
            .unwrap();
        assert_eq!(got.as_str(), Some("a"));
        assert_eq!(
            get(&node, &split("spec.c.1.image"))
                .unwrap()
                .unwrap()
                .as_str(),
            Some("b")
        );
        assert_eq!(
            get(&node, &split("spec.c.-.name"))
                .unwrap()
                .unwrap()
                .as_str(),
            Some("myapp-2")
        );
        // Targets match by an unanchored regular expression.
        assert_eq!(
            find_mut(&mut node, &split("spec.c.[name=app].image"), None)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            find_mut(&mut node, &split("spec.c.*.image"), None)
                .unwrap()
                .len(),
            2
        );
        let created = find_mut(
            &mut node,
            &split("spec.new.[name=x].value"),
            Some(LeafKind::Scalar),
        )
        .unwrap();
        assert_eq!(created.len(), 1);
        assert!(
            node.get_path(&["spec", "new"]).unwrap().as_seq().unwrap()[0]
                .get("name")
                .is_some()
        );
    }
}
