//! `crds:`: OpenAPI definitions of custom types whose `x-kubernetes-*` annotations add field
//! specs (labels, annotations, names, and references to other objects).

use serde_json::Value;

use crate::config::{NameBackReferences, TransformerConfig};
use crate::types::FieldSpec;
use crate::{Error, Result};

/// kube-openapi's `{"Schema": {...}, "Dependencies": [...]}` entries, or bare schemas.
fn schema_of(definition: &Value) -> &Value {
    definition.get("Schema").unwrap_or(definition)
}

pub fn config_from_crds(text: &str, file: &str) -> Result<TransformerConfig> {
    let node = driftless_yaml::parse_one(text).map_err(|e| Error::yaml(file, e))?;
    let definitions = node.to_json();
    let Some(map) = definitions.as_object() else {
        return Err(Error::new(format!(
            "unable to parse open API definition from '{file}'"
        )));
    };
    let mut config = TransformerConfig::default();
    for (name, definition) in map {
        let properties = &schema_of(definition)["properties"];
        if ["kind", "apiVersion", "metadata"]
            .iter()
            .any(|p| properties.get(p).is_none())
        {
            continue;
        }
        // kustomize takes the kind from the type name: `com.example.v1.Bee` is a `Bee`.
        let kind = name.rsplit('.').next().unwrap_or(name);
        load_definition(&mut config, map, name, kind, &mut Vec::new(), 0)?;
    }
    Ok(config)
}

fn load_definition(
    config: &mut TransformerConfig,
    definitions: &serde_json::Map<String, Value>,
    type_name: &str,
    kind: &str,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<()> {
    let name = type_name
        .strip_prefix("#/definitions/")
        .unwrap_or(type_name);
    let Some(definition) = definitions.get(name) else {
        return Ok(());
    };
    let Some(properties) = schema_of(definition)
        .get("properties")
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    if depth > 32 {
        return Ok(());
    }
    let spec = |path: &[String]| FieldSpec {
        kind: kind.to_owned(),
        path: path.join("/"),
        ..Default::default()
    };
    for (property_name, property) in properties {
        path.push(property_name.clone());
        let ext = |key: &str| property.get(key).and_then(Value::as_str);
        if ext("x-kubernetes-annotation").is_some() {
            crate::config::merge_specs(&mut config.common_annotations, &[spec(path)])?;
        }
        if ext("x-kubernetes-label-selector").is_some() {
            crate::config::merge_specs(&mut config.common_labels, &[spec(path)])?;
        }
        if ext("x-kubernetes-identity").is_some() {
            crate::config::merge_specs(&mut config.name_prefix, &[spec(path)])?;
        }
        if let (Some(version), Some(ref_kind)) = (
            ext("x-kubernetes-object-ref-api-version"),
            ext("x-kubernetes-object-ref-kind"),
        ) {
            let name_key = ext("x-kubernetes-object-ref-name-key").unwrap_or("name");
            let mut referrer = path.clone();
            referrer.push(name_key.to_owned());
            let back = NameBackReferences {
                version: version.to_owned(),
                kind: ref_kind.to_owned(),
                field_specs: vec![spec(&referrer)],
                ..Default::default()
            };
            config.merge(&TransformerConfig {
                name_reference: vec![back],
                ..Default::default()
            })?;
        }
        if let Some(reference) = property.get("$ref").and_then(Value::as_str) {
            load_definition(config, definitions, reference, kind, path, depth + 1)?;
        }
        path.pop();
    }
    Ok(())
}
