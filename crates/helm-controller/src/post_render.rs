//! What the controller does to rendered objects before they are stored and applied, as
//! Flux's post-renderer chain: `postRenderers` (kustomize patches and images, built with
//! `crates/kustomize`), then the origin labels naming the HelmRelease and `commonMetadata`;
//! then, for the apply only, Helm's ownership metadata so `helm` sees the objects as the
//! release's.

use std::collections::BTreeMap;

use driftless_api::helm::{
    KustomizePostRenderer, NAME_LABEL, NAMESPACE_LABEL, PostRenderStrategy, PostRenderer,
};
use driftless_api::kustomize::CommonMetadata;
use driftless_helm::manifests::{Hook, Manifest};
use driftless_runtime::apply::set_metadata;
use serde_json::Value;

/// Helm's ownership label and annotations (`pkg/action/validate.go`).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
pub const RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";
/// `keep`: the object outlives its release (not deleted on upgrade or uninstall).
pub const RESOURCE_POLICY_ANNOTATION: &str = "helm.sh/resource-policy";
/// Marks a document as a hook (and names its events).
const HOOK_ANNOTATION: &str = "helm.sh/hook";

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ParseError {
    pub path: String,
    pub message: String,
}

/// One rendered object: the template it came from and the object.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub path: String,
    pub object: Value,
}

/// Parses the rendered manifests, runs the `postRenderers` over them, and sets the origin
/// labels and `commonMetadata` on each (Flux's post-renderer chain, in its order).
pub fn post_render(
    manifests: &[Manifest],
    owner_name: &str,
    owner_namespace: &str,
    common: Option<&CommonMetadata>,
    renderers: &[PostRenderer],
) -> Result<Vec<Rendered>, ParseError> {
    let mut rendered = Vec::with_capacity(manifests.len());
    for manifest in manifests {
        let node = driftless_yaml::parse_one(&manifest.content).map_err(|error| ParseError {
            path: manifest.path.clone(),
            message: error.to_string(),
        })?;
        // As Helm's client decodes manifests: YAML 1.1 (`on`, `yes` are booleans).
        let object = driftless_helm::values::yaml11_json(&node);
        if object.is_object() {
            rendered.push(Rendered {
                path: manifest.path.clone(),
                object,
            });
        }
    }
    for renderer in renderers {
        if let Some(kustomize) = &renderer.kustomize {
            rendered = kustomized(rendered, kustomize)?;
        }
    }
    for Rendered { object, .. } in &mut rendered {
        let mut labels = BTreeMap::new();
        let mut annotations = BTreeMap::new();
        if let Some(common) = common {
            labels.extend(common.labels.clone());
            annotations.extend(common.annotations.clone());
        }
        labels.insert(NAME_LABEL.to_owned(), owner_name.to_owned());
        labels.insert(NAMESPACE_LABEL.to_owned(), owner_namespace.to_owned());
        set_metadata(object, "labels", labels);
        set_metadata(object, "annotations", annotations);
    }
    Ok(rendered)
}

/// The post-render chain over a whole release, with the chart's hooks handled as
/// `postRenderStrategy` says: left out (`nohooks`, Helm 3), rendered together with the
/// templates (`combined`, Helm 4's default) or in a run of their own (`separate`). Returns
/// the objects, and the hooks as they are to be run and recorded.
pub fn post_render_release(
    manifests: &[Manifest],
    hooks: &[Hook],
    strategy: PostRenderStrategy,
    owner: (&str, &str),
    common: Option<&CommonMetadata>,
    renderers: &[PostRenderer],
) -> Result<(Vec<Rendered>, Vec<Hook>), ParseError> {
    let chain =
        |documents: &[Manifest]| post_render(documents, owner.0, owner.1, common, renderers);
    let hook_manifests: Vec<Manifest> = hooks.iter().map(|h| h.manifest.clone()).collect();
    match strategy {
        PostRenderStrategy::Nohooks => Ok((chain(manifests)?, hooks.to_vec())),
        PostRenderStrategy::Combined => {
            let mut all = manifests.to_vec();
            all.extend(hook_manifests);
            let (hooks, objects): (Vec<Rendered>, Vec<Rendered>) =
                chain(&all)?.into_iter().partition(is_hook);
            Ok((objects, hooks_of(&hooks)?))
        }
        PostRenderStrategy::Separate => {
            let objects = chain(manifests)?;
            if hook_manifests.is_empty() {
                return Ok((objects, Vec::new()));
            }
            Ok((objects, hooks_of(&chain(&hook_manifests)?)?))
        }
    }
}

fn is_hook(rendered: &Rendered) -> bool {
    rendered
        .object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(HOOK_ANNOTATION))
}

/// Post-rendered hook objects as hooks again: their events and weights read anew from
/// their annotations, which a post-renderer may have changed.
fn hooks_of(rendered: &[Rendered]) -> Result<Vec<Hook>, ParseError> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for Rendered { path, object } in rendered {
        let document = driftless_helm::yaml::to_yaml(object);
        let file = files.entry(path.clone()).or_default();
        if !file.is_empty() {
            file.push_str("\n---\n");
        }
        file.push_str(&document);
    }
    let (hooks, _) = driftless_helm::manifests::sort(&files).map_err(|e| ParseError {
        path: e.path,
        message: e.message,
    })?;
    Ok(hooks)
}

/// The chart's `crds/` files, (path, content), as objects with the origin labels: no
/// post-renderer or common metadata touches them, as in Flux.
pub fn crd_objects(
    crds: &[(String, String)],
    owner_name: &str,
    owner_namespace: &str,
) -> Result<Vec<Rendered>, ParseError> {
    let manifests: Vec<Manifest> = crds
        .iter()
        .map(|(path, content)| Manifest {
            path: path.clone(),
            content: content.clone(),
            kind: "CustomResourceDefinition".into(),
            name: String::new(),
        })
        .collect();
    post_render(&manifests, owner_name, owner_namespace, None, &[])
}

/// One kustomize post-renderer: the objects as the resources of a kustomization with its
/// patches and images, built in memory. Objects keep the template they came from.
fn kustomized(
    rendered: Vec<Rendered>,
    renderer: &KustomizePostRenderer,
) -> Result<Vec<Rendered>, ParseError> {
    use driftless_kustomize::fs::MemFs;
    let error = |message: String| ParseError {
        path: "post-renderer".into(),
        message,
    };
    let mut resources = String::new();
    for object in &rendered {
        resources.push_str("---\n");
        resources.push_str(&driftless_helm::yaml::to_yaml(&object.object));
    }
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["resources.yaml"],
        "patches": renderer.patches,
        "images": renderer.images,
    });
    let mut tree = MemFs::new();
    tree.add_file("/render/resources.yaml", resources);
    tree.add_file(
        "/render/kustomization.yaml",
        driftless_helm::yaml::to_yaml(&kustomization),
    );
    let built = driftless_kustomize::build(
        &tree,
        std::path::Path::new("/render"),
        &driftless_kustomize::BuildOptions::default(),
    )
    .map_err(|e| error(e.to_string()))?;
    let key = |object: &Value| {
        let field = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        (
            field("/kind"),
            field("/metadata/name"),
            field("/metadata/namespace"),
        )
    };
    Ok(built
        .iter()
        .map(|resource| {
            let object = driftless_kustomize::build::output_node(resource).to_json();
            let path = rendered
                .iter()
                .find(|r| key(&r.object) == key(&object))
                .map(|r| r.path.clone())
                .unwrap_or_default();
            Rendered { path, object }
        })
        .collect())
}

/// The objects as the release's manifest stores them (`---\n# Source: …`), in the format
/// of [`driftless_helm::release::manifest_text`].
pub fn manifest_text(rendered: &[Rendered]) -> String {
    let field = |object: &Value, pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let manifests: Vec<Manifest> = rendered
        .iter()
        .map(|r| Manifest {
            path: r.path.clone(),
            content: driftless_helm::yaml::to_yaml(&r.object)
                .trim_end()
                .to_owned(),
            kind: field(&r.object, "/kind"),
            name: field(&r.object, "/metadata/name"),
        })
        .collect();
    driftless_helm::release::manifest_text(&manifests)
}

/// The objects of a stored manifest (unreadable documents are left out).
pub fn manifest_objects(manifest: &str) -> Vec<Value> {
    driftless_yaml::parse_documents(manifest)
        .map(|documents| {
            documents
                .iter()
                .map(driftless_helm::values::yaml11_json)
                .filter(Value::is_object)
                .collect()
        })
        .unwrap_or_default()
}

/// The objects of a stored manifest, to be applied (or compared) again: a rollback's target,
/// the deployed revision drift detection looks at.
pub fn stored_objects(manifest: &str) -> Vec<Rendered> {
    manifest_objects(manifest)
        .into_iter()
        .map(|object| Rendered {
            path: String::new(),
            object,
        })
        .collect()
}

/// `object` with Helm's ownership metadata for release `name` in `namespace`, as applied.
pub fn owned(object: &Value, name: &str, namespace: &str) -> Value {
    let mut object = object.clone();
    set_metadata(
        &mut object,
        "labels",
        BTreeMap::from([(MANAGED_BY_LABEL.to_owned(), "Helm".to_owned())]),
    );
    set_metadata(
        &mut object,
        "annotations",
        BTreeMap::from([
            (RELEASE_NAME_ANNOTATION.to_owned(), name.to_owned()),
            (
                RELEASE_NAMESPACE_ANNOTATION.to_owned(),
                namespace.to_owned(),
            ),
        ]),
    );
    object
}

/// Whether the object asks to outlive its release (`helm.sh/resource-policy: keep`).
pub fn kept(object: &Value) -> bool {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(RESOURCE_POLICY_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|policy| policy.trim().eq_ignore_ascii_case("keep"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(content: &str) -> Manifest {
        Manifest {
            path: "web/templates/cm.yaml".into(),
            content: content.into(),
            kind: "ConfigMap".into(),
            name: "cm".into(),
        }
    }

    #[test]
    fn origin_labels_and_common_metadata_are_set_and_stored() {
        let common = CommonMetadata {
            labels: BTreeMap::from([("team".into(), "a".into())]),
            annotations: BTreeMap::from([("note".into(), "x".into())]),
        };
        let rendered = post_render(
            &[manifest(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels:\n    team: b\n",
            )],
            "web",
            "apps",
            Some(&common),
            &[],
        )
        .unwrap();
        assert_eq!(
            rendered[0].object["metadata"],
            json!({
                "name": "cm",
                "labels": {"team": "a", "helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "apps"},
                "annotations": {"note": "x"}
            })
        );
        let text = manifest_text(&rendered);
        assert!(
            text.starts_with("---\n# Source: web/templates/cm.yaml\napiVersion: v1\n"),
            "{text}"
        );
        assert_eq!(manifest_objects(&text), vec![rendered[0].object.clone()]);
    }

    #[test]
    fn kustomize_post_renderers_patch_and_retag() {
        let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ghcr.io/stefanprodan/podinfo:6.5.0\n";
        let renderer: PostRenderer = serde_json::from_value(json!({"kustomize": {
            "patches": [{"target": {"kind": "Deployment"}, "patch": "- op: add\n  path: /spec/replicas\n  value: 3\n"}],
            "images": [{"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.6.0"}]
        }}))
        .unwrap();
        let rendered = post_render(
            &[Manifest {
                path: "web/templates/deployment.yaml".into(),
                content: deployment.into(),
                kind: "Deployment".into(),
                name: "web".into(),
            }],
            "web",
            "apps",
            None,
            &[renderer],
        )
        .unwrap();
        assert_eq!(rendered[0].path, "web/templates/deployment.yaml");
        assert_eq!(rendered[0].object["spec"]["replicas"], 3);
        assert_eq!(
            rendered[0].object["spec"]["template"]["spec"]["containers"][0]["image"],
            "ghcr.io/stefanprodan/podinfo:6.6.0"
        );
        assert_eq!(
            rendered[0].object["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"],
            "web"
        );
    }

    #[test]
    fn ownership_is_helms_and_keep_is_honoured() {
        let object = json!({"kind": "Secret", "metadata": {"name": "s", "annotations": {"helm.sh/resource-policy": "keep"}}});
        let applied = owned(&object, "web", "apps");
        assert_eq!(
            applied["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "Helm"
        );
        assert_eq!(
            applied["metadata"]["annotations"]["meta.helm.sh/release-name"],
            "web"
        );
        assert_eq!(
            applied["metadata"]["annotations"]["meta.helm.sh/release-namespace"],
            "apps"
        );
        assert!(kept(&object));
        assert!(!kept(&json!({"metadata": {}})));
    }

    #[test]
    fn unparsable_output_names_its_template() {
        let error = post_render(&[manifest("a: [")], "web", "apps", None, &[]).unwrap_err();
        assert_eq!(error.path, "web/templates/cm.yaml");
    }

    fn hook(content: &str) -> Hook {
        Hook {
            manifest: Manifest {
                path: "web/templates/hook.yaml".into(),
                content: content.into(),
                kind: "ConfigMap".into(),
                name: "pre".into(),
            },
            events: vec!["pre-install".into()],
            weight: 0,
        }
    }

    fn labelling_patch() -> PostRenderer {
        serde_json::from_value(json!({"kustomize": {"patches": [{
            "target": {"kind": "ConfigMap"},
            "patch": "- op: add\n  path: /metadata/labels/patched\n  value: \"yes\"\n",
        }]}}))
        .unwrap()
    }

    fn release_with(strategy: PostRenderStrategy) -> (Vec<Rendered>, Vec<Hook>) {
        post_render_release(
            &[manifest("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels: {a: b}\n")],
            &[hook("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pre\n  labels: {a: b}\n  annotations:\n    helm.sh/hook: pre-install\n    helm.sh/hook-weight: \"5\"\n")],
            strategy,
            ("web", "apps"),
            None,
            &[labelling_patch()],
        )
        .unwrap()
    }

    fn hook_labels(hooks: &[Hook]) -> Value {
        let node = driftless_yaml::parse_one(&hooks[0].manifest.content).unwrap();
        driftless_helm::values::yaml11_json(&node)["metadata"]["labels"].clone()
    }

    #[test]
    fn combined_post_renders_hooks_with_the_templates() {
        let (objects, hooks) = release_with(PostRenderStrategy::Combined);
        assert_eq!(objects.len(), 1, "hooks are not objects of the release");
        assert_eq!(objects[0].object["metadata"]["labels"]["patched"], "yes");
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].events, ["pre-install"]);
        assert_eq!(hooks[0].weight, 5);
        assert_eq!(
            hook_labels(&hooks),
            json!({"a": "b", "patched": "yes", "helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "apps"})
        );
    }

    #[test]
    fn separate_post_renders_hooks_on_their_own_and_nohooks_leaves_them() {
        let (objects, hooks) = release_with(PostRenderStrategy::Separate);
        assert_eq!(objects.len(), 1);
        assert_eq!(hook_labels(&hooks)["patched"], "yes");
        let (objects, hooks) = release_with(PostRenderStrategy::Nohooks);
        assert_eq!(objects[0].object["metadata"]["labels"]["patched"], "yes");
        assert_eq!(hook_labels(&hooks), json!({"a": "b"}));
    }
}
