//! `replacements:`: copy a field of one resource into fields of others.

use crate::loader::Loader;
use crate::path::{self, LeafKind};
use crate::resid::{Gvk, ResId};
use crate::resmap::ResMap;
use crate::resource::Resource;
use crate::transform::selector::{IdPattern, LabelSelector};
use crate::types::{
    self, FieldOptions, ReplacementField, Selector, SourceSelector, TargetSelector,
};
use crate::{Error, Result};
use driftless_yaml::Node;

pub type Replacement = types::Replacement;

pub fn load(fields: &[ReplacementField], loader: &Loader<'_>) -> Result<Vec<Replacement>> {
    let mut out = Vec::new();
    for field in fields {
        if field.path.is_empty() {
            out.push(field.clone());
            continue;
        }
        if field.source.is_some() || !field.targets.is_empty() {
            return Err(Error::new(
                "cannot specify both path and inline replacement",
            ));
        }
        let text = loader.load_string(&field.path)?;
        let node = driftless_yaml::parse_one(&text).map_err(|e| Error::yaml(&field.path, e))?;
        let items = match node {
            Node::Seq(items) => items,
            map @ Node::Map(_) => vec![map],
            _ => {
                return Err(Error::new(format!(
                    "unsupported replacement type encountered within replacement path: {}",
                    field.path
                )));
            }
        };
        for item in items {
            out.push(
                types::from_node_lenient(&item)
                    .map_err(|e| Error::new(format!("{}: invalid replacement: {e}", field.path)))?,
            );
        }
    }
    Ok(out)
}

fn selector_id(group: &str, version: &str, kind: &str, name: &str, namespace: &str) -> ResId {
    ResId::new(Gvk::new(group, version, kind), name, namespace)
}

/// kustomize's `ResId.IsSelectedBy`: exact name and namespace, type fields as wildcards.
fn id_selected_by(id: &ResId, selector: &ResId) -> bool {
    (selector.name.is_empty() || selector.name == id.name)
        && (selector.namespace.is_empty()
            || selector.effective_namespace() == id.effective_namespace())
        && id.gvk.is_selected_by(&selector.gvk)
}

fn describe_source(source: &SourceSelector) -> String {
    format!(
        "{}:{}",
        selector_id(
            &source.group,
            &source.version,
            &source.kind,
            &source.name,
            &source.namespace
        ),
        source.field_path
    )
}

pub fn apply(resmap: &mut ResMap, replacements: &[Replacement]) -> Result<()> {
    for replacement in replacements {
        let Some(source) = &replacement.source else {
            return Err(Error::new(
                "replacements must specify a source and at least one target",
            ));
        };
        let value = source_value(resmap, source)?;
        for target in &replacement.targets {
            apply_target(resmap, &value, target)?;
        }
    }
    Ok(())
}

fn source_value(resmap: &ResMap, source: &SourceSelector) -> Result<Node> {
    let wanted = selector_id(
        &source.group,
        &source.version,
        &source.kind,
        &source.name,
        &source.namespace,
    );
    let matches: Vec<&Resource> = resmap
        .iter()
        .filter(|r| r.all_ids().iter().any(|id| id_selected_by(id, &wanted)))
        .collect();
    let resource = match matches.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::new(format!(
                "nothing selected by {}",
                describe_source(source)
            )));
        }
        _ => {
            return Err(Error::new(format!(
                "multiple matches for selector {}",
                describe_source(source)
            )));
        }
    };
    let field_path = if source.field_path.is_empty() {
        "metadata.name"
    } else {
        &source.field_path
    };
    let node = path::get(&resource.node, &path::split(field_path))
        .map_err(|e| e.context("error looking up replacement source"))?
        .filter(|n| match n {
            Node::Scalar(s) => !s.is_null(),
            Node::Map(m) => !m.is_empty(),
            Node::Seq(s) => !s.is_empty(),
        })
        .ok_or_else(|| {
            Error::new(format!(
                "fieldPath `{field_path}` is missing for replacement source {}",
                resource.id()
            ))
        })?
        .clone();
    match &source.options {
        Some(options) if !options.delimiter.is_empty() => {
            let Node::Scalar(scalar) = &node else {
                return Err(Error::new(
                    "delimiter option can only be used with scalar nodes",
                ));
            };
            let parts: Vec<&str> = scalar.value.split(options.delimiter.as_str()).collect();
            let part = usize::try_from(options.index)
                .ok()
                .and_then(|i| parts.get(i))
                .ok_or_else(|| {
                    Error::new(format!(
                        "options.index {} is out of bounds for value {}",
                        options.index, scalar.value
                    ))
                })?;
            let mut out = scalar.clone();
            out.value = (*part).to_owned();
            Ok(Node::Scalar(out))
        }
        _ => Ok(node),
    }
}

fn matches_labels(resource: &Resource, selector: &Selector) -> Result<bool> {
    let labels = if selector.label_selector.is_empty() {
        true
    } else {
        LabelSelector::parse(&selector.label_selector)?.matches(&resource.labels())
    };
    let annotations = if selector.annotation_selector.is_empty() {
        true
    } else {
        LabelSelector::parse(&selector.annotation_selector)?.matches(&resource.annotations())
    };
    Ok(labels && annotations)
}

fn has_id_part(selector: &Selector) -> bool {
    [
        &selector.group,
        &selector.version,
        &selector.kind,
        &selector.name,
        &selector.namespace,
    ]
    .iter()
    .any(|s| !s.is_empty())
}

fn apply_target(resmap: &mut ResMap, value: &Node, target: &TargetSelector) -> Result<()> {
    let select = target
        .select
        .as_ref()
        .ok_or_else(|| Error::new("target must specify resources to select"))?;
    let wanted = IdPattern::new(select)?;
    let rejects = target
        .reject
        .iter()
        .filter(|reject| has_id_part(reject))
        .map(IdPattern::new)
        .collect::<Result<Vec<_>>>()?;
    let default_paths = ["metadata.name".to_owned()];
    let paths: &[String] = if target.field_paths.is_empty() {
        &default_paths
    } else {
        &target.field_paths
    };
    for resource in resmap.iter_mut() {
        if !matches_labels(resource, select)? {
            continue;
        }
        let mut rejected_by_labels = false;
        for reject in &target.reject {
            if (!reject.label_selector.is_empty() || !reject.annotation_selector.is_empty())
                && matches_labels(resource, reject)?
            {
                rejected_by_labels = true;
            }
        }
        if rejected_by_labels {
            continue;
        }
        // Selected by any id, and rejected when any of its ids is rejected.
        let ids = resource.all_ids();
        let selected = ids.iter().any(|id| wanted.matches(id));
        let rejected = rejects
            .iter()
            .any(|reject| ids.iter().any(|id| reject.matches(id)));
        if !selected || rejected {
            continue;
        }
        for field_path in paths {
            copy_to(resource, value, field_path, target.options.as_ref())?;
        }
    }
    Ok(())
}

fn copy_to(
    resource: &mut Resource,
    value: &Node,
    field_path: &str,
    options: Option<&FieldOptions>,
) -> Result<()> {
    let create = options.is_some_and(|o| o.create);
    let leaf = create.then_some(match value {
        Node::Scalar(_) => LeafKind::Scalar,
        Node::Map(_) => LeafKind::Map,
        Node::Seq(_) => LeafKind::Seq,
    });
    let verb = if create {
        "unable to find or create field"
    } else {
        "unable to find field"
    };
    let fields =
        path::find_mut(&mut resource.node, &path::split(field_path), leaf).map_err(|e| {
            Error::new(format!(
                "{verb} \"{field_path}\" in replacement target: {e}"
            ))
        })?;
    if fields.is_empty() {
        return Err(Error::new(format!(
            "{verb} \"{field_path}\" in replacement target"
        )));
    }
    for field in fields {
        let mut value = value.clone();
        if let Some(options) = options.filter(|o| !o.delimiter.is_empty()) {
            let Node::Scalar(target) = &*field else {
                return Err(Error::new(
                    "delimiter option can only be used with scalar nodes",
                ));
            };
            let Node::Scalar(source) = &mut value else {
                return Err(Error::new(
                    "delimiter option can only be used with scalar nodes",
                ));
            };
            let mut parts: Vec<String> = target
                .value
                .split(options.delimiter.as_str())
                .map(str::to_owned)
                .collect();
            if options.index < 0 {
                parts.insert(0, source.value.clone());
            } else if options.index as usize >= parts.len() {
                parts.push(source.value.clone());
            } else {
                parts[options.index as usize] = source.value.clone();
            }
            source.value = parts.join(&options.delimiter);
        }
        match (field, value) {
            // A scalar keeps its own type and quoting; only the text changes.
            (Node::Scalar(target), Node::Scalar(source)) => target.value = source.value,
            (Node::Scalar(target), _) => target.value.clear(),
            (field, value) => *field = value,
        }
    }
    Ok(())
}
