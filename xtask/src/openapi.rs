//! `crates/kustomize/src/openapi/kubernetes.json`: the parts of the Kubernetes OpenAPI
//! schema kustomize needs (types, their fields, patch merge keys and strategies, and which
//! kinds are cluster-scoped), cut from the `swagger.json` of the Kubernetes release that
//! kustomize's built-in schema comes from (v1.21.2).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

pub const KUBERNETES_VERSION: &str = "v1.21.2";

pub fn output_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/kustomize/src/openapi/kubernetes.json")
}

/// The swagger.json of the Kubernetes Go module, downloaded into Go's module cache.
fn swagger_path() -> anyhow::Result<PathBuf> {
    let output = Command::new("go")
        .args([
            "mod",
            "download",
            "-json",
            &format!("k8s.io/kubernetes@{KUBERNETES_VERSION}"),
        ])
        .env("GOFLAGS", "-mod=mod")
        .output()
        .context("running `go mod download` (Go is needed to fetch the Kubernetes schema)")?;
    if !output.status.success() {
        bail!(
            "go mod download failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let info: Value =
        serde_json::from_slice(&output.stdout).context("reading go mod download output")?;
    let dir = info["Dir"]
        .as_str()
        .context("go mod download printed no Dir")?;
    Ok(Path::new(dir).join("api/openapi-spec/swagger.json"))
}

/// Keeps, per definition, only what drives merging and lookups.
pub fn trim(swagger: &Value) -> anyhow::Result<Value> {
    let definitions = swagger["definitions"]
        .as_object()
        .context("swagger has no definitions")?;
    let mut kept = Map::new();
    for (name, definition) in definitions {
        let mut out = Map::new();
        if let Some(gvks) = definition.get("x-kubernetes-group-version-kind") {
            out.insert("x-kubernetes-group-version-kind".into(), gvks.clone());
        }
        if let Some(properties) = definition.get("properties").and_then(Value::as_object) {
            let mut props = Map::new();
            for (field, schema) in properties {
                if let Some(trimmed) = trim_schema(schema) {
                    props.insert(field.clone(), trimmed);
                }
            }
            if !props.is_empty() {
                out.insert("properties".into(), Value::Object(props));
            }
        }
        if let Some(extra) = definition.get("additionalProperties").and_then(trim_schema) {
            out.insert("additionalProperties".into(), extra);
        }
        if !out.is_empty() {
            kept.insert(name.clone(), Value::Object(out));
        }
    }

    // A kind is namespaced when one of its GET paths has a namespace parameter, as kyaml
    // decides it.
    let mut scopes: std::collections::BTreeMap<(String, String), bool> = Default::default();
    for (path, item) in swagger["paths"]
        .as_object()
        .context("swagger has no paths")?
    {
        let Some(gvk) = item
            .get("get")
            .and_then(|get| get.get("x-kubernetes-group-version-kind"))
        else {
            continue;
        };
        let (Some(group), Some(version), Some(kind)) = (
            gvk["group"].as_str(),
            gvk["version"].as_str(),
            gvk["kind"].as_str(),
        ) else {
            continue;
        };
        let api_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        let namespaced = path.contains("namespaces/{namespace}");
        let entry = scopes
            .entry((api_version, kind.to_owned()))
            .or_insert(namespaced);
        *entry |= namespaced;
    }
    let cluster_scoped: Vec<Value> = scopes
        .into_iter()
        .filter(|(_, namespaced)| !namespaced)
        .map(|((api_version, kind), _)| json!([api_version, kind]))
        .collect();
    Ok(json!({
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "x-driftless-cluster-scoped": cluster_scoped,
        "definitions": kept,
    }))
}

fn trim_schema(schema: &Value) -> Option<Value> {
    let mut out = Map::new();
    for key in [
        "$ref",
        "type",
        "x-kubernetes-patch-merge-key",
        "x-kubernetes-patch-strategy",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
    ] {
        if let Some(value) = schema.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = schema.get(key).and_then(trim_schema) {
            out.insert(key.into(), inner);
        }
    }
    // A plain scalar field tells the merge nothing the absence of a schema would not.
    let only_type = out.len() == 1
        && out.contains_key("type")
        && !matches!(out["type"].as_str(), Some("array" | "object"));
    (!out.is_empty() && !only_type).then_some(Value::Object(out))
}

pub fn render() -> anyhow::Result<String> {
    let path = swagger_path()?;
    let swagger: Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )?;
    let mut text = serde_json::to_string(&trim(&swagger)?)?;
    text.push('\n');
    Ok(text)
}

pub fn write(check: bool) -> anyhow::Result<()> {
    let text = render()?;
    let out = output_path();
    if check {
        if std::fs::read_to_string(&out).ok().as_deref() != Some(text.as_str()) {
            bail!(
                "{} is out of date: run `cargo xtask openapi`",
                out.display()
            );
        }
        eprintln!("{} is up to date", out.display());
    } else {
        std::fs::create_dir_all(out.parent().context("output has a parent")?)?;
        std::fs::write(&out, text)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
