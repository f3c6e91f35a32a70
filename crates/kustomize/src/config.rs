//! Transformer configuration: for each built-in transformer, the fields it edits in which
//! kinds. kustomize's defaults, extended by `configurations:` files and `crds:`.

use serde::Deserialize;

use crate::resid::Gvk;
use crate::types::FieldSpec;
use crate::{Error, Result};

/// The kinds whose name a set of fields refers to (e.g. ConfigMap names in Pod volumes).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameBackReferences {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub field_specs: Vec<FieldSpec>,
}

impl NameBackReferences {
    pub fn gvk(&self) -> Gvk {
        Gvk::new(&self.group, &self.version, &self.kind)
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformerConfig {
    #[serde(default)]
    pub name_prefix: Vec<FieldSpec>,
    #[serde(default)]
    pub name_suffix: Vec<FieldSpec>,
    #[serde(default)]
    pub namespace: Vec<FieldSpec>,
    #[serde(default)]
    pub common_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub labels: Vec<FieldSpec>,
    #[serde(default)]
    pub template_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub common_annotations: Vec<FieldSpec>,
    #[serde(default)]
    pub name_reference: Vec<NameBackReferences>,
    #[serde(default)]
    pub var_reference: Vec<FieldSpec>,
    #[serde(default)]
    pub images: Vec<FieldSpec>,
    #[serde(default)]
    pub replicas: Vec<FieldSpec>,
}

impl TransformerConfig {
    /// kustomize's built-in configuration.
    pub fn defaults() -> TransformerConfig {
        static DEFAULTS: std::sync::OnceLock<TransformerConfig> = std::sync::OnceLock::new();
        DEFAULTS
            .get_or_init(|| {
                let node = driftless_yaml::parse_one(include_str!("config/defaults.yaml"))
                    .unwrap_or_else(|_| driftless_yaml::Node::map());
                let mut config: TransformerConfig =
                    crate::types::from_node(&node).unwrap_or_default();
                config.name_suffix = config.name_prefix.clone();
                config.sort();
                config
            })
            .clone()
    }

    /// Reads a `configurations:` file.
    pub fn from_yaml(text: &str, file: &str) -> Result<TransformerConfig> {
        let node = driftless_yaml::parse_one(text).map_err(|e| Error::yaml(file, e))?;
        if node.is_null() {
            return Ok(TransformerConfig::default());
        }
        crate::types::from_node_lenient(&node)
            .map_err(|e| Error::new(format!("{file}: invalid transformer configuration: {e}")))
    }

    /// Adds `other`'s field specs as kustomize's `TransformerConfig.Merge` does: an incoming
    /// spec whose kind selector covers one already there on the same path is dropped (a spec
    /// differing only in `create` is a conflict); then every table is sorted by kind.
    pub fn merge(&mut self, other: &TransformerConfig) -> Result<()> {
        merge_specs(&mut self.name_prefix, &other.name_prefix)?;
        merge_specs(&mut self.name_suffix, &other.name_suffix)?;
        merge_specs(&mut self.namespace, &other.namespace)?;
        merge_specs(&mut self.common_labels, &other.common_labels)?;
        merge_specs(&mut self.labels, &other.labels)?;
        merge_specs(&mut self.template_labels, &other.template_labels)?;
        merge_specs(&mut self.common_annotations, &other.common_annotations)?;
        merge_specs(&mut self.var_reference, &other.var_reference)?;
        merge_specs(&mut self.images, &other.images)?;
        merge_specs(&mut self.replicas, &other.replicas)?;
        for incoming in &other.name_reference {
            match self
                .name_reference
                .iter_mut()
                .find(|existing| existing.gvk() == incoming.gvk())
            {
                Some(existing) => merge_specs(&mut existing.field_specs, &incoming.field_specs)?,
                None => self.name_reference.push(incoming.clone()),
            }
        }
        self.sort();
        Ok(())
    }

    /// kustomize's `sortFields`: each table ordered by its specs' kinds (stable here; Go's
    /// unstable sort only reorders specs of one kind, whose order does not matter).
    fn sort(&mut self) {
        for specs in [
            &mut self.name_prefix,
            &mut self.name_suffix,
            &mut self.namespace,
            &mut self.common_labels,
            &mut self.labels,
            &mut self.template_labels,
            &mut self.common_annotations,
            &mut self.var_reference,
            &mut self.images,
            &mut self.replicas,
        ] {
            specs.sort_by_cached_key(|spec| spec.gvk().type_order_key());
        }
        self.name_reference
            .sort_by_cached_key(|reference| reference.gvk().type_order_key());
    }
}

pub fn merge_specs(into: &mut Vec<FieldSpec>, from: &[FieldSpec]) -> Result<()> {
    for spec in from {
        // kustomize's `effectivelyEquals`: the incoming spec's kinds select the existing one.
        match into.iter().find(|existing| {
            existing.path == spec.path && existing.gvk().is_selected_by(&spec.gvk())
        }) {
            Some(existing) if existing.create != spec.create => {
                return Err(Error::new(format!(
                    "conflicting fieldspecs: {} and {}",
                    describe(existing),
                    describe(spec)
                )));
            }
            Some(_) => {}
            None => into.push(spec.clone()),
        }
    }
    Ok(())
}

fn describe(spec: &FieldSpec) -> String {
    format!("{}:{}", spec.gvk(), spec.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_every_table() {
        let config = TransformerConfig::defaults();
        assert!(
            config
                .common_labels
                .iter()
                .any(|s| s.path == "spec/selector" && s.kind == "Service" && s.create)
        );
        assert_eq!(config.name_prefix, config.name_suffix);
        assert!(
            config
                .name_reference
                .iter()
                .any(|r| r.kind == "ConfigMap" && r.field_specs.len() > 20)
        );
        assert!(
            !config.var_reference.is_empty()
                && !config.images.is_empty()
                && !config.template_labels.is_empty()
        );
    }

    #[test]
    fn merging_adds_new_specs_once_and_refuses_conflicts() {
        let mut config = TransformerConfig::defaults();
        let before = config.common_labels.len();
        let extra = TransformerConfig::from_yaml(
            "commonLabels:\n- path: spec/extra\n  kind: Widget\n  create: true\n",
            "c.yaml",
        )
        .unwrap();
        config.merge(&extra).unwrap();
        config.merge(&extra).unwrap();
        assert_eq!(config.common_labels.len(), before + 1);
        let conflicting = TransformerConfig::from_yaml(
            "commonLabels:\n- path: spec/extra\n  kind: Widget\n",
            "c.yaml",
        )
        .unwrap();
        assert!(config.merge(&conflicting).is_err());
    }
}
