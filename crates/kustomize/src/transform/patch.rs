//! `patches:` (strategic merge or JSON 6902, with or without a target) and the legacy
//! `patchesStrategicMerge:`.

use crate::loader::Loader;
use crate::openapi::Schemas;
use crate::resmap::ResMap;
use crate::resource::{Resource, resources_from_yaml};
use crate::transform::json6902::{self, Operation};
use crate::transform::selector::Matcher;
use crate::transform::smp;
use crate::types::{self, PatchOptions, Selector};
use crate::{Error, Result};
use driftless_yaml::Node;

pub enum Content {
    StrategicMerge(Vec<Resource>),
    Json(Vec<Operation>),
}

pub struct Patch {
    pub content: Content,
    pub target: Option<Selector>,
    pub options: PatchOptions,
    source: String,
}

impl Patch {
    pub fn configure(entry: &types::Patch, loader: &Loader<'_>) -> Result<Patch> {
        // A blank inline patch counts as none, as in kustomize.
        let (text, source) = match (entry.path.is_empty(), entry.patch.trim().is_empty()) {
            (true, true) => {
                return Err(Error::new(
                    "must specify one of patch and path in patches entry",
                ));
            }
            (false, false) => {
                return Err(Error::new(
                    "patch and path can't be set at the same time in patches entry",
                ));
            }
            (false, true) => (
                loader.load_string(&entry.path).map_err(|e| {
                    Error::new(format!(
                        "failed to get the patch file from path({}): {e}",
                        entry.path
                    ))
                })?,
                format!("path: {:?}", entry.path),
            ),
            (true, false) => (
                entry.patch.trim().to_owned(),
                format!("patch: {:?}", entry.patch),
            ),
        };
        let content = classify(&text, &source)?;
        if let (Content::StrategicMerge(docs), Some(_)) = (&content, &entry.target)
            && docs.len() > 1
        {
            return Err(Error::new(format!(
                "Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set `patches.target` field: [{source}]"
            )));
        }
        if let (Content::Json(_), None) = (&content, &entry.target) {
            return Err(Error::new(format!(
                "must specify a target for JSON patch [{source}]"
            )));
        }
        Ok(Patch {
            content,
            target: entry.target.clone(),
            options: entry.options.clone().unwrap_or_default(),
            source,
        })
    }

    pub fn apply(&self, resmap: &mut ResMap, schemas: &Schemas) -> Result<()> {
        match (&self.content, &self.target) {
            (Content::Json(ops), Some(target)) => {
                json6902::apply_to_targets(resmap, target, ops, true)
            }
            (Content::Json(_), None) => Err(Error::new(format!(
                "must specify a target for JSON patch [{}]",
                self.source
            ))),
            (Content::StrategicMerge(docs), Some(target)) => {
                let matcher = Matcher::new(target)?;
                let selected: Vec<usize> = (0..resmap.len())
                    .filter(|&i| matcher.matches(&resmap.resources()[i]))
                    .collect();
                for doc in docs {
                    apply_with_normalized_metadata(resmap, &selected, doc, &self.options, schemas)?;
                }
                Ok(())
            }
            (Content::StrategicMerge(docs), None) => {
                for doc in docs {
                    let index = unique_target(resmap, doc).map_err(|e| {
                        Error::new(format!(
                            "no resource matches strategic merge patch \"{}\": {e}",
                            doc.original_id()
                        ))
                    })?;
                    apply_to(resmap, index, &doc.node, &self.options, schemas)?;
                }
                Ok(())
            }
        }
    }
}

/// Strategic merge docs when the text reads as resources, JSON operations when it reads as a
/// list of them.
fn classify(text: &str, source: &str) -> Result<Content> {
    let as_resources = resources_from_yaml(text, source);
    let as_json = if text.trim_start().starts_with('[')
        || !matches!(as_resources, Ok(ref r) if !r.is_empty())
    {
        json6902::parse(text)
    } else {
        Err(Error::new("not a JSON patch"))
    };
    match (as_resources, as_json) {
        (Ok(docs), Err(_)) if !docs.is_empty() => Ok(Content::StrategicMerge(docs)),
        (Ok(docs), Ok(ops)) if !docs.is_empty() && !ops.is_empty() => Err(Error::new(format!(
            "illegally qualifies as both an SM and JSON patch: [{source}]"
        ))),
        (Ok(docs), Ok(_)) if !docs.is_empty() => Ok(Content::StrategicMerge(docs)),
        (_, Ok(ops)) => Ok(Content::Json(ops)),
        (Ok(_), Err(_)) => Ok(Content::StrategicMerge(Vec::new())),
        (Err(_), Err(_)) => Err(Error::new(format!(
            "unable to parse SM or JSON patch from [{source}]"
        ))),
    }
}

/// The one resource a target-less strategic merge patch names (by any of its ids).
fn unique_target(resmap: &ResMap, doc: &Resource) -> Result<usize> {
    let id = doc.original_id();
    let matches = resmap.positions_by_any_id(&id);
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::new(format!(
            "no matches for Id {id}; failed to find unique target for patch {id}"
        ))),
        _ => Err(Error::new(format!(
            "multiple matches for Id {id}; failed to find unique target for patch {id}"
        ))),
    }
}

/// kustomize's `resmap.ApplySmPatch`: the patch's labels and annotations are read as strings
/// and its apiVersion is the target's.
fn apply_with_normalized_metadata(
    resmap: &mut ResMap,
    selected: &[usize],
    doc: &Resource,
    options: &PatchOptions,
    schemas: &Schemas,
) -> Result<()> {
    // Deleting changes the indexes: work from the end.
    for &index in selected.iter().rev() {
        let mut patch = doc.node.clone();
        if let Some(metadata) = patch.get_mut("metadata").and_then(Node::as_map_mut) {
            for field in ["labels", "annotations"] {
                match metadata.get(field) {
                    Some(Node::Map(map)) if !map.is_empty() => {
                        let stringified = map
                            .iter()
                            .map(|(k, v)| (k.to_owned(), Node::string(scalar_text(v))))
                            .collect();
                        metadata.insert(
                            field,
                            Node::Map(driftless_yaml::Mapping {
                                entries: stringified,
                            }),
                        );
                    }
                    Some(_) => {
                        metadata.remove(field);
                    }
                    None => {}
                }
            }
        }
        let target_api_version = resmap.resources()[index].api_version().to_owned();
        if let Some(map) = patch.as_map_mut() {
            map.insert("apiVersion", Node::string(target_api_version));
        }
        apply_to(resmap, index, &patch, options, schemas)?;
    }
    Ok(())
}

fn scalar_text(node: &Node) -> String {
    match node {
        Node::Scalar(s) if s.value.is_empty() && s.is_null() => "null".to_owned(),
        Node::Scalar(s) => s.value.clone(),
        other => driftless_yaml::to_string(other).trim_end().to_owned(),
    }
}

/// kustomize's `Resource.ApplySmPatch`: merge, then restore the name and kind (unless the
/// options allow changing them) and always the namespace.
fn apply_to(
    resmap: &mut ResMap,
    index: usize,
    patch: &Node,
    options: &PatchOptions,
    schemas: &Schemas,
) -> Result<()> {
    let resource = &mut resmap.resources_mut()[index];
    let (name, namespace, kind) = (
        resource.name().to_owned(),
        resource.namespace().to_owned(),
        resource.kind().to_owned(),
    );
    if options.allow_name_change || options.allow_kind_change {
        resource.remember_id();
    }
    let merged = smp::merge(&resource.node, patch, schemas)
        .map_err(|e| e.context(format!("applying patch to {}", resource.id())))?;
    let Some(mut merged) = merged else {
        resmap.remove(index);
        return Ok(());
    };
    if let Some(map) = merged.as_map_mut()
        && !options.allow_kind_change
    {
        map.insert("kind", Node::string(&kind));
    }
    let metadata = merged.ensure_map_path(&["metadata"]);
    if !options.allow_name_change {
        metadata.insert("name", Node::string(&name));
    }
    if namespace.is_empty() {
        metadata.remove("namespace");
    } else {
        metadata.insert("namespace", Node::string(&namespace));
    }
    resource.node = merged;
    Ok(())
}

/// `patchesStrategicMerge` entries: inline YAML, or files.
pub fn load_legacy_strategic_merge(
    entries: &[String],
    loader: &Loader<'_>,
) -> Result<Vec<Resource>> {
    let mut patches = Vec::new();
    for entry in entries {
        match resources_from_yaml(entry, "patchesStrategicMerge") {
            Ok(docs) if !docs.is_empty() => patches.extend(docs),
            _ => {
                let text = loader.load_string(entry)?;
                patches.extend(resources_from_yaml(&text, entry)?);
            }
        }
    }
    if patches.is_empty() {
        return Err(Error::new(format!(
            "patch appears to be empty; files={entries:?}"
        )));
    }
    Ok(patches)
}

pub fn apply_legacy_strategic_merge(
    resmap: &mut ResMap,
    patches: &[Resource],
    schemas: &Schemas,
) -> Result<()> {
    for patch in patches {
        let index = unique_target(resmap, patch)?;
        apply_with_normalized_metadata(resmap, &[index], patch, &PatchOptions::default(), schemas)?;
    }
    Ok(())
}
