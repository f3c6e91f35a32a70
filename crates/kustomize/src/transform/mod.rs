//! The built-in transformers, configured from a kustomization's fields or from plugin
//! configuration objects (`apiVersion: builtin`).

pub mod crds;
pub mod hash;
pub mod images;
pub mod json6902;
pub mod nameref;
pub mod namespace;
pub mod patch;
pub mod plugins;
pub mod replacements;
pub mod selector;
pub mod smp;
pub mod vars;

use std::collections::BTreeMap;

use crate::build::{Accumulator, Context};
use crate::config::{TransformerConfig, merge_specs};
use crate::fieldspec::{CreateKind, for_each_field, walk};
use crate::loader::Loader;
use crate::resmap::ResMap;
use crate::resource::Resource;
use crate::types::{FieldSpec, Image, Kustomization, Replica, Selector};
use crate::{Error, Result};
use driftless_yaml::{Node, Scalar};

pub enum Transformer {
    PatchStrategicMerge(Vec<Resource>),
    Patch(patch::Patch),
    Namespace(namespace::Namespace),
    Prefix {
        prefix: String,
        specs: Vec<FieldSpec>,
    },
    Suffix {
        suffix: String,
        specs: Vec<FieldSpec>,
    },
    Labels {
        pairs: BTreeMap<String, String>,
        specs: Vec<FieldSpec>,
    },
    Annotations {
        pairs: BTreeMap<String, String>,
        specs: Vec<FieldSpec>,
    },
    Json6902 {
        target: Selector,
        ops: Vec<json6902::Operation>,
    },
    Replicas {
        replica: Replica,
        specs: Vec<FieldSpec>,
    },
    Image {
        image: Image,
        specs: Vec<FieldSpec>,
    },
    Replacements(Vec<replacements::Replacement>),
    ValueAdd(plugins::ValueAdd),
    /// The content-hash suffix on generated names, run where configured (it runs again at the
    /// end of the build, as kustomize's does).
    Hash,
}

impl Transformer {
    /// The kustomize plugin this is (for build metadata).
    pub fn plugin_kind(&self) -> &'static str {
        match self {
            Transformer::PatchStrategicMerge(_) => "PatchStrategicMergeTransformer",
            Transformer::Patch(_) => "PatchTransformer",
            Transformer::Namespace(_) => "NamespaceTransformer",
            Transformer::Prefix { .. } => "PrefixTransformer",
            Transformer::Suffix { .. } => "SuffixTransformer",
            Transformer::Labels { .. } => "LabelTransformer",
            Transformer::Annotations { .. } => "AnnotationsTransformer",
            Transformer::Json6902 { .. } => "PatchJson6902Transformer",
            Transformer::Replicas { .. } => "ReplicaCountTransformer",
            Transformer::Image { .. } => "ImageTagTransformer",
            Transformer::Replacements(_) => "ReplacementTransformer",
            Transformer::ValueAdd(_) => "ValueAddTransformer",
            Transformer::Hash => "HashTransformer",
        }
    }

    pub(crate) fn apply(&self, context: &Context, accumulated: &mut Accumulator) -> Result<()> {
        let resmap = &mut accumulated.resmap;
        match self {
            Transformer::PatchStrategicMerge(patches) => {
                patch::apply_legacy_strategic_merge(resmap, patches, &context.schemas())
            }
            Transformer::Patch(p) => p.apply(resmap, &context.schemas()),
            Transformer::Namespace(n) => n.apply(resmap),
            Transformer::Prefix { prefix, .. } | Transformer::Suffix { suffix: prefix, .. }
                if prefix.is_empty() =>
            {
                Ok(())
            }
            Transformer::Prefix { prefix, specs } => rename(resmap, specs, |name, r| {
                r.prefixes.push(prefix.clone());
                format!("{prefix}{name}")
            }),
            Transformer::Suffix { suffix, specs } => rename(resmap, specs, |name, r| {
                r.suffixes.push(suffix.clone());
                format!("{name}{suffix}")
            }),
            Transformer::Labels { pairs, specs } | Transformer::Annotations { pairs, specs } => {
                for resource in resmap.iter_mut() {
                    set_pairs(resource, pairs, specs)?;
                }
                Ok(())
            }
            Transformer::Json6902 { target, ops } => {
                json6902::apply_to_targets(resmap, target, ops, false)
            }
            Transformer::Replicas { replica, specs } => set_replicas(resmap, replica, specs),
            Transformer::Image { image, specs } => images::apply(resmap, image, specs),
            Transformer::Replacements(list) => replacements::apply(resmap, list),
            Transformer::ValueAdd(v) => v.apply(resmap),
            Transformer::Hash => hash::add_name_hashes(resmap),
        }
    }
}

/// The transformers a kustomization's fields configure, in kustomize's order.
pub fn builtins_for(
    k: &Kustomization,
    config: &TransformerConfig,
    loader: &Loader<'_>,
) -> Result<Vec<Transformer>> {
    let mut out = Vec::new();
    if let Some(entries) = k.patches_strategic_merge.as_ref().filter(|p| !p.is_empty()) {
        out.push(Transformer::PatchStrategicMerge(
            patch::load_legacy_strategic_merge(entries, loader)?,
        ));
    }
    for entry in k.patches.iter().flatten() {
        out.push(Transformer::Patch(patch::Patch::configure(entry, loader)?));
    }
    if let Some(ns) = k.namespace.as_ref().filter(|n| !n.is_empty()) {
        out.push(Transformer::Namespace(namespace::Namespace::new(
            ns,
            config.namespace.clone(),
        )));
    }
    if let Some(prefix) = k.name_prefix.as_ref().filter(|p| !p.is_empty()) {
        out.push(Transformer::Prefix {
            prefix: prefix.clone(),
            specs: config.name_prefix.clone(),
        });
    }
    if let Some(suffix) = k.name_suffix.as_ref().filter(|s| !s.is_empty()) {
        out.push(Transformer::Suffix {
            suffix: suffix.clone(),
            specs: config.name_suffix.clone(),
        });
    }
    for label in k.labels.iter().flatten() {
        let mut specs = label.field_specs.clone();
        merge_specs(&mut specs, &config.labels)?;
        if label.include_selectors {
            merge_specs(&mut specs, &config.common_labels)?;
        } else {
            if label.include_templates {
                merge_specs(&mut specs, &config.template_labels)?;
            }
            merge_specs(
                &mut specs,
                &[FieldSpec {
                    path: "metadata/labels".into(),
                    create: true,
                    ..Default::default()
                }],
            )?;
        }
        out.push(Transformer::Labels {
            pairs: label.pairs.clone(),
            specs,
        });
    }
    if let Some(labels) = k.common_labels.as_ref().filter(|l| !l.is_empty()) {
        out.push(Transformer::Labels {
            pairs: labels.clone(),
            specs: config.common_labels.clone(),
        });
    }
    if let Some(annotations) = k.common_annotations.as_ref().filter(|a| !a.is_empty()) {
        out.push(Transformer::Annotations {
            pairs: annotations.clone(),
            specs: config.common_annotations.clone(),
        });
    }
    for entry in k.patches_json6902.iter().flatten() {
        let target = entry
            .target
            .clone()
            .ok_or_else(|| Error::new("must specify a target for patchesJson6902"))?;
        if target.name.is_empty() {
            return Err(Error::new(
                "must specify the target name in patchesJson6902",
            ));
        }
        let ops = match (entry.path.is_empty(), entry.patch.is_empty()) {
            (false, true) => json6902::parse(&loader.load_string(&entry.path)?)?,
            (true, false) => json6902::parse(&entry.patch)?,
            _ => {
                return Err(Error::new(
                    "patchesJson6902: exactly one of path and patch must be set",
                ));
            }
        };
        out.push(Transformer::Json6902 { target, ops });
    }
    for replica in k.replicas.iter().flatten() {
        out.push(Transformer::Replicas {
            replica: replica.clone(),
            specs: config.replicas.clone(),
        });
    }
    for image in k.images.iter().flatten() {
        out.push(Transformer::Image {
            image: image.clone(),
            specs: config.images.clone(),
        });
    }
    if let Some(list) = k.replacements.as_ref().filter(|r| !r.is_empty()) {
        out.push(Transformer::Replacements(replacements::load(list, loader)?));
    }
    Ok(out)
}

/// Prefix/suffix: renames every resource except CRDs, APIServices and Namespaces.
fn rename(
    resmap: &mut ResMap,
    specs: &[FieldSpec],
    mut new_name: impl FnMut(&str, &mut Resource) -> String,
) -> Result<()> {
    for resource in resmap.iter_mut() {
        let original = resource.original_id().gvk;
        let exempt = original.kind == "CustomResourceDefinition"
            || original.kind == "Namespace"
            || (original.kind == "APIService" && original.group == "apiregistration.k8s.io");
        if exempt {
            continue;
        }
        for spec in specs.iter().filter(|s| s.selects(&original)) {
            if spec.path == "metadata/name" {
                let name = resource.name().to_owned();
                let renamed = new_name(&name, resource);
                resource.set_name(&renamed);
                continue;
            }
            let create = spec.create.then_some(CreateKind::String);
            let mut values = Vec::new();
            walk(&mut resource.node, &spec.path, create, &mut |node| {
                values.push(
                    node.as_scalar()
                        .map(|s| s.value.clone())
                        .unwrap_or_default(),
                );
                Ok(())
            })?;
            let renamed: Vec<String> = values.iter().map(|v| new_name(v, resource)).collect();
            let mut renamed = renamed.into_iter();
            walk(&mut resource.node, &spec.path, create, &mut |node| {
                if let Some(value) = renamed.next() {
                    *node = Node::string(value);
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Labels or annotations: every pair into every field the specs name, created as maps.
fn set_pairs(
    resource: &mut Resource,
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<()> {
    for (key, value) in pairs {
        for_each_field(resource, specs, Some(CreateKind::Map), &mut |node| {
            match node {
                Node::Map(map) => map.insert(key.clone(), Node::string(value)),
                other if other.is_null() => {
                    let mut map = driftless_yaml::Mapping::new();
                    map.insert(key.clone(), Node::string(value));
                    *other = Node::Map(map);
                }
                _ => {
                    return Err(Error::new(format!(
                        "cannot set {key}: the field is not a map"
                    )));
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn set_replicas(resmap: &mut ResMap, replica: &Replica, specs: &[FieldSpec]) -> Result<()> {
    let mut matched = false;
    for spec in specs {
        for resource in resmap.iter_mut() {
            let hit = resource
                .all_ids()
                .iter()
                .any(|id| id.name == replica.name && spec.selects(&id.gvk));
            if !hit {
                continue;
            }
            matched = true;
            let create = spec.create.then_some(CreateKind::Int);
            walk(&mut resource.node, &spec.path, create, &mut |node| {
                *node = Node::Scalar(Scalar::plain(replica.count.to_string()));
                Ok(())
            })?;
        }
    }
    if !matched {
        let gvks: Vec<String> = specs.iter().map(|s| s.gvk().to_string()).collect();
        return Err(Error::new(format!(
            "resource with name {} does not match a config with the following GVK [{}]",
            replica.name,
            gvks.join(" ")
        )));
    }
    Ok(())
}

/// A generated ConfigMap/Secret merged into (or replacing) an existing one: it keeps the
/// existing name, namespace and tracking; labels and annotations are unioned; with
/// `merge`, data and binaryData are unioned too (the new values win).
pub fn merge_generated(existing: &Resource, generated: Resource, merge_data: bool) -> Resource {
    let mut result = generated;
    let mut node = result.node.clone();
    for field in ["labels", "annotations"] {
        let mut merged = existing
            .node
            .get_path(&["metadata", field])
            .and_then(Node::as_map)
            .cloned()
            .unwrap_or_default();
        if let Some(new) = node.get_path(&["metadata", field]).and_then(Node::as_map) {
            for (k, v) in new.iter() {
                merged.insert(k, v.clone());
            }
        }
        if !merged.is_empty() {
            node.ensure_map_path(&["metadata"])
                .insert(field, Node::Map(merged));
        }
    }
    if merge_data {
        for field in ["data", "binaryData"] {
            let mut merged = existing
                .node
                .get(field)
                .and_then(Node::as_map)
                .cloned()
                .unwrap_or_default();
            if let Some(new) = node.get(field).and_then(Node::as_map) {
                for (k, v) in new.iter() {
                    merged.insert(k, v.clone());
                }
            }
            if (!merged.is_empty()
                || existing.node.get(field).is_some()
                || node.get(field).is_some())
                && let Some(m) = node.as_map_mut()
            {
                m.insert(field, Node::Map(merged))
            }
        }
    }
    let metadata = node.ensure_map_path(&["metadata"]);
    metadata.insert("name", Node::string(existing.name()));
    if existing.namespace().is_empty() {
        metadata.remove("namespace");
    } else {
        metadata.insert("namespace", Node::string(existing.namespace()));
    }
    result.node = node;
    result.take_tracking_from(existing);
    result.needs_hash = existing.needs_hash && result.needs_hash;
    result.behavior = existing.behavior;
    // `merge` keeps where the object came from; `replace` takes the new generator's.
    result.origin = if merge_data {
        existing.origin.clone().or(result.origin)
    } else {
        result.origin.or_else(|| existing.origin.clone())
    };
    result.transformations = existing.transformations.clone();
    result
}
