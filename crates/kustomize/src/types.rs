//! The kustomization file (`kustomize.config.k8s.io/v1beta1` Kustomization and
//! `v1alpha1` Component) and the configuration of the built-in plugins, read strictly: an
//! unknown field or a value of the wrong type is an error, as in kustomize.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::resid::Gvk;
use driftless_yaml::{Mapping, Node};

pub const KUSTOMIZATION_VERSION: &str = "kustomize.config.k8s.io/v1beta1";
pub const COMPONENT_VERSION: &str = "kustomize.config.k8s.io/v1alpha1";

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<ObjectMeta>,
    pub openapi: Option<BTreeMap<String, String>>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub namespace: Option<String>,
    pub common_labels: Option<BTreeMap<String, String>>,
    pub labels: Option<Vec<Label>>,
    pub common_annotations: Option<BTreeMap<String, String>>,
    pub patches_strategic_merge: Option<Vec<String>>,
    #[serde(rename = "patchesJson6902")]
    pub patches_json6902: Option<Vec<Patch>>,
    pub patches: Option<Vec<Patch>>,
    pub images: Option<Vec<Image>>,
    pub image_tags: Option<Vec<Image>>,
    pub replacements: Option<Vec<ReplacementField>>,
    pub replicas: Option<Vec<Replica>>,
    pub vars: Option<Vec<Var>>,
    pub sort_options: Option<SortOptions>,
    pub resources: Option<Vec<String>>,
    pub components: Option<Vec<String>>,
    pub crds: Option<Vec<String>>,
    pub bases: Option<Vec<String>>,
    pub config_map_generator: Option<Vec<GeneratorArgs>>,
    pub secret_generator: Option<Vec<GeneratorArgs>>,
    pub helm_globals: Option<serde_json::Value>,
    pub helm_charts: Option<Vec<serde_json::Value>>,
    pub helm_chart_inflation_generator: Option<Vec<serde_json::Value>>,
    pub generator_options: Option<GeneratorOptions>,
    pub configurations: Option<Vec<String>>,
    pub generators: Option<Vec<String>>,
    pub transformers: Option<Vec<String>>,
    pub validators: Option<Vec<String>>,
    pub build_metadata: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default, rename = "fields")]
    pub field_specs: Vec<FieldSpec>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FieldSpec {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub path: String,
    #[serde(default, rename = "create")]
    pub create: bool,
}

impl FieldSpec {
    pub fn gvk(&self) -> Gvk {
        Gvk::new(&self.group, &self.version, &self.kind)
    }

    /// Whether this spec applies to objects of type `gvk` (its empty fields match any).
    pub fn selects(&self, gvk: &Gvk) -> bool {
        (self.group.is_empty() || self.group == gvk.group)
            && (self.version.is_empty() || self.version == gvk.version)
            && (self.kind.is_empty() || self.kind == gvk.kind)
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub patch: String,
    pub target: Option<Selector>,
    pub options: Option<PatchOptions>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PatchOptions {
    #[serde(default)]
    pub allow_name_change: bool,
    #[serde(default)]
    pub allow_kind_change: bool,
}

/// Selects resources: every set field must match; `name`, `namespace` and the type fields
/// are anchored regular expressions.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub annotation_selector: String,
    #[serde(default)]
    pub label_selector: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub new_name: String,
    #[serde(default)]
    pub tag_suffix: String,
    #[serde(default)]
    pub new_tag: String,
    #[serde(default)]
    pub digest: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Replica {
    #[serde(default)]
    pub name: String,
    pub count: i64,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Var {
    pub name: String,
    pub objref: VarTarget,
    #[serde(default)]
    pub fieldref: FieldSelector,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VarTarget {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldSelector {
    #[serde(default)]
    pub field_path: String,
}

/// A replacement; as a `replacements:` entry it may instead name a file of them (`path`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    #[serde(default)]
    pub path: String,
    pub source: Option<SourceSelector>,
    #[serde(default)]
    pub targets: Vec<TargetSelector>,
    pub source_value: Option<String>,
}

/// A `replacements:` entry.
pub type ReplacementField = Replacement;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SourceSelector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub field_path: String,
    pub options: Option<FieldOptions>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetSelector {
    pub select: Option<Selector>,
    #[serde(default)]
    pub reject: Vec<Selector>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldOptions {
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub index: i64,
    #[serde(default)]
    pub encoding: String,
    #[serde(default)]
    pub create: bool,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SortOptions {
    #[serde(default)]
    pub order: String,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}

/// `configMapGenerator` / `secretGenerator` entries (and the generator plugins' config).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorArgs {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub behavior: String,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    #[serde(default)]
    pub env: String,
    pub options: Option<GeneratorOptions>,
    /// Secrets only.
    #[serde(default, rename = "type")]
    pub secret_type: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorOptions {
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub disable_name_suffix_hash: bool,
    #[serde(default)]
    pub immutable: bool,
}

/// Every field name of the types above, for Go-style case-insensitive key matching.
const FIELD_NAMES: &[&str] = &[
    "allowKindChange",
    "allowNameChange",
    "annotationSelector",
    "annotations",
    "apiVersion",
    "bases",
    "behavior",
    "buildMetadata",
    "commonAnnotations",
    "commonLabels",
    "components",
    "configMapGenerator",
    "configurations",
    "count",
    "create",
    "crds",
    "delimiter",
    "digest",
    "disableNameSuffixHash",
    "encoding",
    "env",
    "envs",
    "fieldPath",
    "fieldPaths",
    "fieldSpecs",
    "fieldref",
    "fields",
    "files",
    "generatorOptions",
    "generators",
    "group",
    "helmChartInflationGenerator",
    "helmCharts",
    "helmGlobals",
    "imageTag",
    "imageTags",
    "images",
    "immutable",
    "includeSelectors",
    "includeTemplates",
    "index",
    "jsonOp",
    "kind",
    "labelSelector",
    "labels",
    "legacySortOptions",
    "literals",
    "metadata",
    "name",
    "namePrefix",
    "nameReference",
    "nameSuffix",
    "namespace",
    "newName",
    "newTag",
    "objref",
    "openapi",
    "options",
    "order",
    "orderFirst",
    "orderLast",
    "pairs",
    "patch",
    "patches",
    "patchesJson6902",
    "patchesStrategicMerge",
    "path",
    "paths",
    "prefix",
    "reject",
    "replacements",
    "replica",
    "replicas",
    "resources",
    "secretGenerator",
    "select",
    "setRoleBindingSubjects",
    "sortOptions",
    "source",
    "sourceValue",
    "suffix",
    "tagSuffix",
    "target",
    "targets",
    "templateLabels",
    "transformers",
    "type",
    "unsetOnly",
    "validators",
    "value",
    "varReference",
    "vars",
    "version",
    "filePathPosition",
    "targetFilePath",
    "commonLabels",
];

/// Fields whose values are free-form maps (label keys, schema names), never renamed.
const FREE_FORM: &[&str] = &[
    "commonLabels",
    "commonAnnotations",
    "pairs",
    "annotations",
    "openapi",
    "helmGlobals",
    "helmCharts",
];

/// Keys renamed to the field they match ignoring case, as Go's JSON decoding matches them.
fn normalize_keys(node: &Node) -> Node {
    match node {
        Node::Map(map) => Node::Map(Mapping {
            entries: map
                .iter()
                .map(|(key, value)| {
                    let canonical = if FIELD_NAMES.contains(&key) {
                        key.to_owned()
                    } else {
                        FIELD_NAMES
                            .iter()
                            .find(|f| f.eq_ignore_ascii_case(key))
                            .map_or_else(|| key.to_owned(), |f| (*f).to_owned())
                    };
                    let free = FREE_FORM.contains(&canonical.as_str())
                        || (canonical == "labels" && matches!(value, Node::Map(_)));
                    let value = if free {
                        value.clone()
                    } else {
                        normalize_keys(value)
                    };
                    (canonical, value)
                })
                .collect(),
        }),
        Node::Seq(items) => Node::Seq(items.iter().map(normalize_keys).collect()),
        Node::Scalar(_) => node.clone(),
    }
}

/// Reads a type strictly (as kustomize reads a kustomization): values keep their YAML
/// types and an unknown field is an error.
pub fn from_node<T: serde::de::DeserializeOwned>(node: &Node) -> Result<T, String> {
    let json = normalize_keys(node).to_json();
    let mut unknown = Vec::new();
    let value: T = serde_ignored::deserialize(json, |path| unknown.push(path.to_string()))
        .map_err(|e| e.to_string())?;
    match unknown.first() {
        Some(path) => Err(format!("json: unknown field \"{path}\"")),
        None => Ok(value),
    }
}

/// Fields of plugin configuration that are not strings.
const TYPED_FIELDS: &[&str] = &[
    "allowKindChange",
    "allowNameChange",
    "count",
    "create",
    "disableNameSuffixHash",
    "filePathPosition",
    "immutable",
    "includeSelectors",
    "includeTemplates",
    "index",
    "unsetOnly",
];

/// Reads a type leniently (as kustomize reads plugin configuration): unknown fields are
/// ignored and scalars become strings wherever a string is expected.
pub fn from_node_lenient<T: serde::de::DeserializeOwned>(node: &Node) -> Result<T, String> {
    fn convert(node: &Node, key: Option<&str>) -> serde_json::Value {
        match node {
            Node::Map(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(k, v)| (k.to_owned(), convert(v, Some(k))))
                    .collect(),
            ),
            Node::Seq(items) => {
                serde_json::Value::Array(items.iter().map(|i| convert(i, None)).collect())
            }
            Node::Scalar(scalar) if scalar.is_null() => serde_json::Value::Null,
            Node::Scalar(_) if key.is_some_and(|k| TYPED_FIELDS.contains(&k)) => node.to_json(),
            Node::Scalar(scalar) => serde_json::Value::String(scalar.value.clone()),
        }
    }
    serde_json::from_value(convert(&normalize_keys(node), None)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_yaml::parse_one;

    #[test]
    fn reads_a_kustomization_and_refuses_unknown_fields() {
        let node =
            parse_one("resources:\n- a.yaml\nnamePrefix: p-\ncommonLabels:\n  app: x\n").unwrap();
        let k: Kustomization = from_node(&node).unwrap();
        assert_eq!(k.resources.unwrap(), ["a.yaml"]);
        assert_eq!(k.name_prefix.as_deref(), Some("p-"));
        let bad = parse_one("resource:\n- a.yaml\n").unwrap();
        let error = from_node::<Kustomization>(&bad).unwrap_err();
        assert!(error.contains("unknown field \"resource\""), "{error}");
        // Go's JSON decoding matches field names ignoring case.
        let cased = parse_one("NamePrefix: p-\nvars:\n- name: V\n  objref: {kind: Service, name: s, apiVersion: v1}\n  fieldref: {fieldpath: spec.x}\n").unwrap();
        let k: Kustomization = from_node(&cased).unwrap();
        assert_eq!(k.name_prefix.as_deref(), Some("p-"));
        assert_eq!(k.vars.unwrap()[0].fieldref.field_path, "spec.x");
    }

    #[test]
    fn a_number_where_a_string_belongs_is_an_error() {
        let node = parse_one("commonLabels:\n  version: 1\n").unwrap();
        assert!(from_node::<Kustomization>(&node).is_err());
    }
}
