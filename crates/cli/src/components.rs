//! The Toolkit's components as `driftless install` applies them: the chart in
//! `charts/driftless`, embedded at build time and rendered with the built-in Helm renderer,
//! with its defaults and the few values the install flags set.

use anyhow::{Context, bail};
use driftless_helm::render::{Capabilities, KubeVersion};
use driftless_helm::template::{DEFAULT_KUBE_VERSION, TemplateOptions, render_release};
use driftless_helm::{Chart, strvals, values};
use serde_json::{Map, Value};

include!(concat!(env!("OUT_DIR"), "/chart_files.rs"));

/// Every controller the chart can deploy.
pub const ALL: [&str; 5] = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-automation-controller",
];

/// `flux install`'s default `--components`.
pub const DEFAULT: [&str; 4] = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
];

/// The controllers for Flux's `--components` and `--components-extra`. Flux's
/// image-reflector-controller and image-automation-controller are one controller here.
pub fn resolve(components: &[String], extra: &[String]) -> anyhow::Result<Vec<&'static str>> {
    let mut resolved = Vec::new();
    for name in components.iter().chain(extra) {
        let component = match name.as_str() {
            "image-reflector-controller" => "image-automation-controller",
            other => match ALL.iter().find(|c| **c == other) {
                Some(component) => component,
                None => bail!(
                    "unknown component {other:?}; the components are {} (and Flux's \
                     image-reflector-controller, which image-automation-controller includes)",
                    ALL.join(", ")
                ),
            },
        };
        if !resolved.contains(&component) {
            resolved.push(component);
        }
    }
    Ok(resolved)
}

/// What to render.
pub struct Selection<'a> {
    pub namespace: &'a str,
    pub components: &'a [&'static str],
    /// `host[:port]/prefix` the images are pulled from.
    pub registry: Option<&'a str>,
    pub image_tag: Option<&'a str>,
    /// Values files (e.g. `cargo xtask images --values`, pinning digests).
    pub values_files: &'a [std::path::PathBuf],
    /// `--set key=value`, as Helm reads them.
    pub set: &'a [String],
    /// The cluster's version (`.Capabilities.KubeVersion`); the renderer's default for
    /// `--export`, which asks no cluster.
    pub kube_version: Option<&'a str>,
}

/// The CRDs and the controllers' objects (`kind`-ordered as the chart renders them).
pub struct Rendered {
    pub crds: Vec<Value>,
    pub objects: Vec<Value>,
}

pub fn render(selection: &Selection<'_>) -> anyhow::Result<Rendered> {
    let chart = Chart::load_dir(
        CHART_FILES
            .iter()
            .map(|(path, bytes)| (path.to_string(), bytes.to_vec())),
    )
    .context("loading the embedded chart")?;
    let values = values_for(selection)?;
    let version = selection.kube_version.unwrap_or(DEFAULT_KUBE_VERSION);
    let kube_version = KubeVersion::parse(version)
        .with_context(|| format!("reading Kubernetes version {version}"))?;
    let options = TemplateOptions {
        release_name: "driftless".to_owned(),
        namespace: selection.namespace.to_owned(),
        capabilities: Capabilities {
            kube_version,
            ..Capabilities::default()
        },
        include_crds: true,
        skip_tests: true,
        is_upgrade: false,
        revision: 1,
        skip_schema_validation: false,
    };
    let rendered = render_release(chart, &values, &options).context("rendering the chart")?;
    let mut crds = Vec::new();
    for (path, text) in &rendered.crds {
        crds.extend(documents(text).with_context(|| format!("reading {path}"))?);
    }
    let mut objects = Vec::new();
    for manifest in &rendered.manifests {
        objects.extend(
            documents(&manifest.content).with_context(|| format!("reading {}", manifest.name))?,
        );
    }
    Ok(Rendered { crds, objects })
}

fn values_for(selection: &Selection<'_>) -> anyhow::Result<Map<String, Value>> {
    let mut merged = Map::new();
    for file in selection.values_files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading values file {}", file.display()))?;
        values::merge(
            &mut merged,
            values::parse_go(&text).with_context(|| format!("parsing {}", file.display()))?,
        );
    }
    if let Some(registry) = selection.registry {
        let (host, prefix) = registry.split_once('/').unwrap_or((registry, ""));
        let prefix = match prefix {
            "" => String::new(),
            p if p.ends_with('/') => p.to_owned(),
            p => format!("{p}/"),
        };
        strvals::set_at(
            "image.registry",
            Value::String(host.to_owned()),
            &mut merged,
        )?;
        strvals::set_at("image.repositoryPrefix", Value::String(prefix), &mut merged)?;
    }
    if let Some(tag) = selection.image_tag {
        strvals::set_at("image.tag", Value::String(tag.to_owned()), &mut merged)?;
    }
    for component in ALL {
        strvals::set_at(
            &format!("controllers.{component}.enabled"),
            Value::Bool(selection.components.contains(&component)),
            &mut merged,
        )?;
    }
    for text in selection.set {
        strvals::parse_into(text, &mut merged)?;
    }
    Ok(merged)
}

/// The non-empty YAML documents of `text` as JSON values.
fn documents(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(document)?;
        if value.is_object() {
            out.push(value);
        }
    }
    Ok(out)
}

/// `Kind/namespace/name` or `Kind/name`, as Flux prints objects.
pub fn describe(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match object["metadata"]["namespace"].as_str() {
        Some(namespace) => format!("{kind}/{namespace}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection<'a>(components: &'a [&'static str], set: &'a [String]) -> Selection<'a> {
        Selection {
            namespace: "gitops",
            components,
            registry: Some("registry.example.com:5000/driftless"),
            image_tag: Some("v1.2.3"),
            values_files: &[],
            set,
            kube_version: None,
        }
    }

    fn deployments(rendered: &Rendered) -> Vec<&Value> {
        rendered
            .objects
            .iter()
            .filter(|o| o["kind"] == "Deployment")
            .collect()
    }

    #[test]
    fn all_components_render_into_the_namespace_with_the_chosen_images() {
        let rendered = render(&selection(&ALL, &[])).unwrap();
        assert_eq!(rendered.crds.len(), driftless_api::crds().len());
        let deployments = deployments(&rendered);
        assert_eq!(deployments.len(), ALL.len());
        for deployment in deployments {
            assert_eq!(deployment["metadata"]["namespace"], "gitops");
            let name = deployment["metadata"]["name"].as_str().unwrap();
            assert_eq!(
                deployment["spec"]["template"]["spec"]["containers"][0]["image"],
                format!("registry.example.com:5000/driftless/{name}:v1.2.3")
            );
        }
    }

    #[test]
    fn components_select_the_controllers_and_set_pins_a_digest() {
        let components = ["source-controller", "kustomize-controller"];
        let set = vec!["controllers.source-controller.digest=sha256:abc".to_owned()];
        let rendered = render(&selection(&components, &set)).unwrap();
        let names: Vec<&str> = deployments(&rendered)
            .iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"source-controller") && names.contains(&"kustomize-controller"));
        let source = deployments(&rendered)
            .into_iter()
            .find(|d| d["metadata"]["name"] == "source-controller")
            .unwrap();
        assert_eq!(
            source["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example.com:5000/driftless/source-controller@sha256:abc"
        );
    }

    #[test]
    fn flux_component_names_resolve_and_unknown_ones_are_refused() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let resolved = resolve(
            &names(&DEFAULT),
            &names(&["image-reflector-controller", "image-automation-controller"]),
        )
        .unwrap();
        assert_eq!(resolved.len(), 5);
        assert_eq!(resolved[4], "image-automation-controller");
        let error = resolve(&names(&["source-controller", "tf-controller"]), &[])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("\"tf-controller\""), "{error}");
        assert!(
            error.contains("source-controller, kustomize-controller"),
            "{error}"
        );
    }
}
