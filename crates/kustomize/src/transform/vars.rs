//! Legacy `vars:`: `$(NAME)` in the varReference fields replaced by a field of another
//! resource, resolved once at the end of the build.

use crate::fieldspec::for_each_field;
use crate::resid::{Gvk, split_api_version};
use crate::resmap::ResMap;
use crate::types::{FieldSpec, Var};
use crate::{Error, Result};
use driftless_yaml::{Node, Scalar, ScalarKind, Style};

fn objref_gvk(var: &Var) -> Gvk {
    let objref = &var.objref;
    if objref.api_version.is_empty() {
        Gvk::new(&objref.group, &objref.version, &objref.kind)
    } else {
        let (group, version) = split_api_version(&objref.api_version);
        Gvk::new(group, version, &objref.kind)
    }
}

/// Records which resource a var reads from (one of its ids must match the objref).
pub fn bind(resmap: &mut ResMap, var: &Var) -> Result<()> {
    let gvk = objref_gvk(var);
    let objref = &var.objref;
    let matching: Vec<usize> = resmap
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.all_ids().iter().any(|id| {
                id.gvk == gvk
                    && id.name == objref.name
                    && (objref.namespace.is_empty() || {
                        let wanted =
                            crate::resid::ResId::new(gvk.clone(), &objref.name, &objref.namespace);
                        wanted.effective_namespace() == id.effective_namespace()
                    })
            })
        })
        .map(|(i, _)| i)
        .collect();
    match matching.as_slice() {
        [] => Ok(()),
        [one] => {
            resmap.resources_mut()[*one]
                .ref_var_names
                .push(var.name.clone());
            Ok(())
        }
        many => Err(Error::new(format!(
            "found {} resId matches for var {} (unable to disambiguate)",
            many.len(),
            var.name
        ))),
    }
}

/// A var's value: text, and the type it keeps when it is a field's whole value.
#[derive(Clone, Debug)]
struct Value {
    text: String,
    kind: ScalarKind,
}

pub fn resolve(resmap: &mut ResMap, vars: &[Var], specs: &[FieldSpec]) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&Var> = vars.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut values: Vec<(String, Option<Value>)> = Vec::new();
    for var in sorted {
        let resource = resmap
            .iter()
            .find(|r| r.ref_var_names.contains(&var.name))
            .ok_or_else(|| {
                Error::new(format!(
                    "var '{}' cannot be mapped to a field in the set of known resources",
                    var.name
                ))
            })?;
        let path = if var.fieldref.field_path.is_empty() {
            "metadata.name"
        } else {
            &var.fieldref.field_path
        };
        let mut segments = Vec::new();
        for segment in crate::path::split(path) {
            match indexed(&segment) {
                Some((field, index)) => {
                    segments.push(field.to_owned());
                    segments.push(index.to_owned());
                }
                None => segments.push(segment),
            }
        }
        let node = crate::path::get(&resource.node, &segments)?.ok_or_else(|| {
            Error::new(format!(
                "field specified in var '{}' not found in corresponding resource",
                var.name
            ))
        })?;
        let value = match node {
            Node::Scalar(s) => Some(Value {
                text: s.value.clone(),
                kind: s.kind(),
            }),
            _ => None,
        };
        values.push((var.name.clone(), value));
    }
    for resource in resmap.iter_mut() {
        for_each_field(resource, specs, None, &mut |node| {
            expand_node(node, &values)
        })?;
    }
    Ok(())
}

fn indexed(segment: &str) -> Option<(&str, &str)> {
    let open = segment.rfind('[')?;
    let index = segment.strip_suffix(']')?.get(open + 1..)?;
    (open > 0 && !index.is_empty() && index.chars().all(|c| c.is_ascii_digit()))
        .then(|| (&segment[..open], index))
}

fn expand_node(node: &mut Node, values: &[(String, Option<Value>)]) -> Result<()> {
    match node {
        Node::Scalar(scalar) => {
            if scalar.kind() == ScalarKind::Str {
                expand_scalar(scalar, values);
            }
            Ok(())
        }
        Node::Map(map) => {
            for (_, value) in map.entries.iter_mut() {
                if let Node::Scalar(scalar) = value
                    && scalar.kind() == ScalarKind::Str
                {
                    expand_scalar(scalar, values);
                }
            }
            Ok(())
        }
        Node::Seq(items) => {
            for item in items.iter_mut() {
                match item {
                    Node::Scalar(scalar) if scalar.kind() == ScalarKind::Str => {
                        expand_scalar(scalar, values)
                    }
                    _ => return Err(Error::new("invalid value type expect a string")),
                }
            }
            Ok(())
        }
    }
}

fn expand_scalar(scalar: &mut Scalar, values: &[(String, Option<Value>)]) {
    let lookup = |name: &str| {
        values
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_ref())
    };
    let text = &scalar.value;
    if let Some(name) = text.strip_prefix("$(").and_then(|t| t.strip_suffix(')'))
        && !name.contains(')')
        && let Some(value) = lookup(name)
    {
        *scalar = match value.kind {
            ScalarKind::Str => Scalar::string(&value.text),
            _ => Scalar {
                value: value.text.clone(),
                style: Style::Plain,
                tag: None,
            },
        };
        return;
    }
    if let Some(expanded) = expand(text, &lookup) {
        *scalar = Scalar::string(expanded);
    }
}

/// `$(NAME)` replaced by known vars, `$$` by `$`; unknown vars stay. `None` when nothing
/// changed.
fn expand<'v>(text: &str, lookup: &dyn Fn(&str) -> Option<&'v Value>) -> Option<String> {
    if !text.contains('$') {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(close) => {
                    let name = &inner[..close];
                    match lookup(name) {
                        Some(value) => out.push_str(&value.text),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    (out != text).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let values = [Value {
            text: "svc".into(),
            kind: ScalarKind::Str,
        }];
        let lookup = |name: &str| (name == "SVC").then(|| &values[0]);
        assert_eq!(
            expand("http://$(SVC):80", &lookup).unwrap(),
            "http://svc:80"
        );
        assert_eq!(expand("$$(SVC)", &lookup).unwrap(), "$(SVC)");
        assert_eq!(expand("$(OTHER)", &lookup), None);
        assert_eq!(expand("$(SVC", &lookup), None);
    }

    #[test]
    fn a_whole_value_var_keeps_its_type() {
        let values = vec![(
            "PORT".to_string(),
            Some(Value {
                text: "8080".into(),
                kind: ScalarKind::Int,
            }),
        )];
        let mut scalar = Scalar::string("$(PORT)");
        expand_scalar(&mut scalar, &values);
        assert_eq!(scalar.kind(), ScalarKind::Int);
        let mut embedded = Scalar::string("--port=$(PORT)");
        expand_scalar(&mut embedded, &values);
        assert_eq!(
            (embedded.value.as_str(), embedded.kind()),
            ("--port=8080", ScalarKind::Str)
        );
    }
}
