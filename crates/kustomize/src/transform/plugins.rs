//! Built-in plugins configured by objects in `generators:` and `transformers:`
//! (`apiVersion: builtin`, `kind: PrefixTransformer`, ...). Their configuration is read
//! leniently, as kustomize does.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::generators::{self, GeneratedKind};
use crate::loader::Loader;
use crate::resmap::ResMap;
use crate::resource::Resource;
use crate::transform::namespace::{Namespace, RoleBindingSubjects};
use crate::transform::selector::Matcher;
use crate::transform::{Transformer, json6902, patch, replacements};
use crate::types::{
    self, FieldSpec, GeneratorArgs, GeneratorOptions, Image, PatchOptions, ReplacementField,
    Replica, Selector,
};
use crate::{Error, Result};
use driftless_yaml::Node;

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    unset_only: bool,
    #[serde(default)]
    set_role_binding_subjects: String,
    #[serde(default)]
    image_tag: Image,
    replica: Option<Replica>,
    #[serde(default)]
    path: String,
    #[serde(default)]
    patch: String,
    target: Option<Selector>,
    options: Option<PatchOptions>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    patches: String,
    #[serde(default)]
    json_op: String,
    #[serde(default)]
    replacements: Vec<ReplacementField>,
    #[serde(default)]
    value: String,
    #[serde(default)]
    targets: Vec<ValueAddTarget>,
    #[serde(default)]
    target_file_path: String,
}

fn read_config(resource: &Resource) -> Result<Config> {
    types::from_node_lenient(&resource.node).map_err(|e| {
        Error::new(format!(
            "trouble configuring builtin {} with config: {e}",
            resource.kind()
        ))
    })
}

fn check_builtin(resource: &Resource) -> Result<()> {
    if resource.api_version() != "builtin" {
        return Err(Error::new(format!(
            "{} {}: only built-in plugins (apiVersion: builtin) are supported; exec, Go and KRM function plugins are not",
            resource.api_version(),
            resource.kind()
        )));
    }
    Ok(())
}

pub fn transformers(resource: &Resource, loader: &Loader<'_>) -> Result<Vec<Transformer>> {
    check_builtin(resource)?;
    let config = read_config(resource)?;
    Ok(vec![match resource.kind() {
        "PrefixTransformer" => Transformer::Prefix {
            prefix: config.prefix,
            specs: config.field_specs,
        },
        "SuffixTransformer" => Transformer::Suffix {
            suffix: config.suffix,
            specs: config.field_specs,
        },
        // The older combined plugin: prefix first, then suffix.
        "PrefixSuffixTransformer" => {
            return Ok(vec![
                Transformer::Prefix {
                    prefix: config.prefix,
                    specs: config.field_specs.clone(),
                },
                Transformer::Suffix {
                    suffix: config.suffix,
                    specs: config.field_specs,
                },
            ]);
        }
        "LabelTransformer" => Transformer::Labels {
            pairs: config.labels,
            specs: config.field_specs,
        },
        "AnnotationsTransformer" => Transformer::Annotations {
            pairs: config.annotations,
            specs: config.field_specs,
        },
        "NamespaceTransformer" => Transformer::Namespace(Namespace {
            namespace: resource.namespace().to_owned(),
            specs: config.field_specs,
            unset_only: config.unset_only,
            subjects: RoleBindingSubjects::parse(&config.set_role_binding_subjects)?,
        }),
        "ImageTagTransformer" => Transformer::Image {
            image: config.image_tag,
            specs: config.field_specs,
        },
        "ReplicaCountTransformer" => Transformer::Replicas {
            replica: config
                .replica
                .ok_or_else(|| Error::new("ReplicaCountTransformer needs a replica"))?,
            specs: config.field_specs,
        },
        "PatchTransformer" => Transformer::Patch(patch::Patch::configure(
            &types::Patch {
                path: config.path,
                patch: config.patch,
                target: config.target,
                options: config.options,
            },
            loader,
        )?),
        "PatchStrategicMergeTransformer" => {
            let mut entries = config.paths;
            if !config.patches.is_empty() {
                entries.push(config.patches);
            }
            Transformer::PatchStrategicMerge(patch::load_legacy_strategic_merge(&entries, loader)?)
        }
        "PatchJson6902Transformer" => {
            let target = config
                .target
                .ok_or_else(|| Error::new("must specify a target for PatchJson6902Transformer"))?;
            let ops = match (config.path.is_empty(), config.json_op.is_empty()) {
                (false, true) => json6902::parse(&loader.load_string(&config.path)?)?,
                (true, false) => json6902::parse(&config.json_op)?,
                (true, true) => return Err(Error::new("empty file path and empty jsonOp")),
                (false, false) => {
                    return Err(Error::new("must specify a file path or jsonOp, not both"));
                }
            };
            Transformer::Json6902 { target, ops }
        }
        "ReplacementTransformer" => {
            Transformer::Replacements(replacements::load(&config.replacements, loader)?)
        }
        "ValueAddTransformer" => Transformer::ValueAdd(ValueAdd::configure(config, loader)?),
        "HashTransformer" => Transformer::Hash,
        other => {
            return Err(Error::new(format!(
                "unsupported built-in transformer {other}"
            )));
        }
    }])
}

/// Resources from a generator plugin configuration.
pub fn generate(resource: &Resource, loader: &Loader<'_>) -> Result<Vec<Resource>> {
    check_builtin(resource)?;
    let kind = match resource.kind() {
        "ConfigMapGenerator" => GeneratedKind::ConfigMap,
        "SecretGenerator" => GeneratedKind::Secret,
        "IAMPolicyGenerator" => return iam_policy(resource),
        other => {
            return Err(Error::new(format!(
                "unsupported built-in generator {other}"
            )));
        }
    };
    let mut node = resource.node.clone();
    if let Some(map) = node.as_map_mut() {
        for field in ["apiVersion", "kind", "metadata"] {
            map.remove(field);
        }
    }
    #[derive(Deserialize)]
    struct Lenient {
        #[serde(default)]
        name: String,
        #[serde(default)]
        namespace: String,
        #[serde(default)]
        behavior: String,
        #[serde(default)]
        literals: Vec<String>,
        #[serde(default)]
        files: Vec<String>,
        #[serde(default)]
        envs: Vec<String>,
        #[serde(default)]
        env: String,
        options: Option<GeneratorOptions>,
        #[serde(default, rename = "type")]
        secret_type: String,
    }
    let lenient: Lenient = types::from_node_lenient(&node).map_err(|e| {
        Error::new(format!(
            "trouble configuring builtin {kind:?} generator: {e}"
        ))
    })?;
    // The generator's own `name`/`namespace` win over the plugin object's metadata.
    let or = |own: String, metadata: &str| {
        if own.is_empty() {
            metadata.to_owned()
        } else {
            own
        }
    };
    let args = GeneratorArgs {
        name: or(lenient.name, resource.name()),
        namespace: or(lenient.namespace, resource.namespace()),
        behavior: lenient.behavior,
        literals: lenient.literals,
        files: lenient.files,
        envs: lenient.envs,
        env: lenient.env,
        options: lenient.options,
        secret_type: lenient.secret_type,
    };
    Ok(vec![generators::generate(kind, &args, None, loader)?])
}

/// IAMPolicyGenerator: a ServiceAccount bound to a cloud identity (GKE Workload Identity).
fn iam_policy(resource: &Resource) -> Result<Vec<Resource>> {
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Named {
        #[serde(default)]
        name: String,
        #[serde(default)]
        namespace: String,
        #[serde(default)]
        project_id: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Args {
        #[serde(default)]
        cloud: String,
        #[serde(default)]
        kubernetes_service: Named,
        #[serde(default)]
        service_account: Named,
    }
    let args: Args = types::from_node_lenient(&resource.node).map_err(|e| {
        Error::new(format!(
            "trouble configuring builtin IAMPolicyGenerator: {e}"
        ))
    })?;
    if args.cloud != "gke" {
        return Err(Error::new(format!(
            "cloud provider {} not supported yet",
            args.cloud
        )));
    }
    let mut metadata = driftless_yaml::Mapping::new();
    let mut annotations = driftless_yaml::Mapping::new();
    annotations.insert(
        "iam.gke.io/gcp-service-account",
        Node::string(format!(
            "{}@{}.iam.gserviceaccount.com",
            args.service_account.name, args.service_account.project_id
        )),
    );
    metadata.insert("annotations", Node::Map(annotations));
    metadata.insert("name", Node::string(&args.kubernetes_service.name));
    if !args.kubernetes_service.namespace.is_empty() {
        metadata.insert(
            "namespace",
            Node::string(&args.kubernetes_service.namespace),
        );
    }
    let mut object = driftless_yaml::Mapping::new();
    object.insert("apiVersion", Node::string("v1"));
    object.insert("kind", Node::string("ServiceAccount"));
    object.insert("metadata", Node::Map(metadata));
    Ok(vec![Resource::new(Node::Map(object))])
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueAddTarget {
    selector: Option<Selector>,
    #[serde(default)]
    field_path: String,
    #[serde(default)]
    file_path_position: i64,
}

/// ValueAddTransformer: writes a value (or inserts it into a path-like value) at a field.
pub struct ValueAdd {
    value: String,
    targets: Vec<ValueAddTarget>,
}

impl ValueAdd {
    fn configure(config: Config, loader: &Loader<'_>) -> Result<ValueAdd> {
        let mut value = config.value.trim().to_owned();
        if value.is_empty() {
            value = loader
                .root()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        let mut targets = config.targets;
        if !config.target_file_path.is_empty() {
            #[derive(Deserialize)]
            struct File {
                #[serde(default)]
                targets: Vec<ValueAddTarget>,
            }
            let text = loader.load_string(&config.target_file_path)?;
            let node = driftless_yaml::parse_one(&text)
                .map_err(|e| Error::yaml(&config.target_file_path, e))?;
            let file: File = types::from_node_lenient(&node)
                .map_err(|e| Error::new(format!("{}: {e}", config.target_file_path)))?;
            targets.extend(file.targets);
        }
        if targets.is_empty() {
            return Err(Error::new("must specify at least one target"));
        }
        if targets.iter().any(|t| t.file_path_position < 0) {
            return Err(Error::new("value of FilePathPosition cannot be negative"));
        }
        Ok(ValueAdd { value, targets })
    }

    pub fn apply(&self, resmap: &mut ResMap) -> Result<()> {
        for target in &self.targets {
            let matcher = target.selector.as_ref().map(Matcher::new).transpose()?;
            for resource in resmap.iter_mut() {
                if matcher.as_ref().is_some_and(|m| !m.matches(resource)) {
                    continue;
                }
                if target.field_path == "metadata/namespace" {
                    Namespace::new(&self.value, Vec::new()).apply_to(resource)?;
                    continue;
                }
                let segments = crate::fieldspec::split_path(&target.field_path);
                let mut node = &mut resource.node;
                for (key, _) in &segments {
                    if node.is_null() {
                        *node = Node::map();
                    }
                    let Node::Map(map) = node else {
                        return Err(Error::new(format!("{}: not a mapping", target.field_path)));
                    };
                    node = map.entry_or_insert_with(key, || Node::string(""));
                }
                let Node::Scalar(scalar) = node else {
                    return Err(Error::new(format!(
                        "{}: expected a scalar",
                        target.field_path
                    )));
                };
                let new_value = if target.file_path_position > 0 {
                    insert_path_part(
                        &scalar.value,
                        (target.file_path_position - 1) as usize,
                        &self.value,
                    )
                } else {
                    self.value.clone()
                };
                *node = Node::string(new_value);
            }
        }
        Ok(())
    }
}

/// `a/b` with `x` inserted at position 1 is `a/x/b`.
fn insert_path_part(path: &str, position: usize, part: &str) -> String {
    if path.is_empty() {
        return part.to_owned();
    }
    let (lead, body) = match path.strip_prefix('/') {
        Some(rest) => ("/", rest),
        None => ("", path),
    };
    let mut parts: Vec<&str> = body.split('/').collect();
    parts.insert(position.min(parts.len()), part);
    format!("{lead}{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parts_are_inserted_by_position() {
        assert_eq!(
            insert_path_part("projects/data", 1, "area-51"),
            "projects/area-51/data"
        );
        assert_eq!(insert_path_part("a", 5, "x"), "a/x");
        assert_eq!(insert_path_part("", 0, "x"), "x");
    }
}
