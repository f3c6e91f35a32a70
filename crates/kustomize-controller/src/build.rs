//! From an unpacked artifact to the objects to apply: the kustomization at `spec.path`
//! (generated over all manifests when there is none), with the Kustomization's own
//! `namespace`, name affixes, patches, images and components written into it as Flux does,
//! built in memory.

use std::path::{Path, PathBuf};

use driftless_api::kustomize::KustomizationSpec;
use driftless_artifact::Tree;
use driftless_kustomize::fs::{FileSystem, MemFs, normalize};
use driftless_kustomize::{BuildOptions, build};
use driftless_sops::Identities;
use driftless_yaml::{self as yaml, Mapping, Node};
use serde_json::Value;

const ROOT: &str = "/source";
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("kustomization path not found: {0}")]
    PathNotFound(String),
    #[error("failed to decode Kubernetes YAML from {path}: {message}")]
    Decode { path: String, message: String },
    #[error("kustomize build failed: {0}")]
    Kustomize(String),
    #[error("component path '{0}' must be local and relative")]
    Component(String),
    #[error("error decrypting sources: {0}")]
    DecryptSources(String),
    /// Already carries Flux's `decryption failed for '<gvk>/<name>'` prefix.
    #[error("{0}")]
    Decrypt(String),
}

/// The artifact as a file system.
pub fn tree_fs(tree: &Tree) -> MemFs {
    let mut fs = MemFs::new();
    fs.add_dir(ROOT);
    for (path, file) in tree {
        fs.add_file(Path::new(ROOT).join(path), file.data.clone());
    }
    fs
}

/// Builds `spec.path` of the tree into the objects to apply, in kustomize's output order.
/// With `identities` (`spec.decryption` set), SOPS-encrypted inputs and objects are decrypted.
pub fn build_objects(
    fs: &mut MemFs,
    spec: &KustomizationSpec,
    identities: Option<&Identities>,
) -> Result<Vec<Value>, BuildError> {
    let relative = spec.path.as_deref().unwrap_or("").trim_start_matches("./");
    let dir = normalize(&Path::new(ROOT).join(relative));
    if !dir.starts_with(ROOT) || !fs.is_dir(&dir) {
        return Err(BuildError::PathNotFound(format!(
            "{} does not exist in the artifact",
            spec.path.as_deref().unwrap_or("./")
        )));
    }
    let existing = KUSTOMIZATION_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| fs.is_file(p));
    let (file, mut kustomization) = match existing {
        Some(file) => {
            let text = fs
                .read(&file)
                .map_err(|e| BuildError::Kustomize(e.to_string()))?;
            let text = String::from_utf8(text)
                .map_err(|_| BuildError::Kustomize(format!("{}: not UTF-8", file.display())))?;
            let node = yaml::parse_one_last_key_wins(&text)
                .map_err(|e| BuildError::Kustomize(format!("{}: {e}", file.display())))?;
            (file, node.as_map().cloned().unwrap_or_default())
        }
        None => (dir.join("kustomization.yaml"), generate(fs, &dir)?),
    };
    merge_spec(&mut kustomization, spec)?;
    fs.add_file(
        &file,
        yaml::to_string(&Node::Map(kustomization)).into_bytes(),
    );
    if let Some(identities) = identities {
        crate::decrypt::decrypt_sources(fs, Path::new(ROOT), &dir, identities)
            .map_err(BuildError::DecryptSources)?;
    }
    // Like Flux: any file of the artifact may be referenced, not only those under the path;
    // and, like Flux, `helmCharts` are refused (HelmRelease is how charts are installed).
    let options = BuildOptions {
        restrict_to_root: false,
        remote: None,
        helm: Default::default(),
    };
    let resources = build(fs, &dir, &options).map_err(|e| BuildError::Kustomize(e.to_string()))?;
    let mut objects = Vec::with_capacity(resources.len());
    for resource in &resources {
        let mut node = driftless_kustomize::build::output_node(resource);
        if let Some(identities) = identities {
            crate::decrypt::decrypt_resource(&mut node, identities).map_err(BuildError::Decrypt)?;
        }
        objects.push(node.to_json());
    }
    Ok(objects)
}

/// A kustomization over every manifest under `dir`: `.yaml`/`.yml` files, and
/// subdirectories that are kustomizations themselves.
fn generate(fs: &MemFs, dir: &Path) -> Result<Mapping, BuildError> {
    let mut resources = Vec::new();
    collect(fs, dir, dir, &mut resources)?;
    let mut kustomization = Mapping::new();
    kustomization.insert(
        "apiVersion",
        Node::string("kustomize.config.k8s.io/v1beta1"),
    );
    kustomization.insert("kind", Node::string("Kustomization"));
    if resources.is_empty() {
        // kustomize refuses an empty kustomization; Flux gives it a placeholder namespace.
        kustomization.insert("namespace", Node::string("_placeholder"));
    } else {
        kustomization.insert(
            "resources",
            Node::Seq(resources.into_iter().map(Node::string).collect()),
        );
    }
    Ok(kustomization)
}

fn collect(fs: &MemFs, root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), BuildError> {
    let names = fs
        .read_dir(dir)
        .map_err(|e| BuildError::Kustomize(e.to_string()))?;
    for name in names {
        let path: PathBuf = dir.join(&name);
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if fs.is_dir(&path) {
            if KUSTOMIZATION_FILES
                .iter()
                .any(|k| fs.is_file(&path.join(k)))
            {
                out.push(format!("./{relative}"));
            } else {
                collect(fs, root, &path, out)?;
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            let text = fs
                .read(&path)
                .map_err(|e| BuildError::Kustomize(e.to_string()))?;
            let text = String::from_utf8_lossy(&text);
            driftless_kustomize::resource::resources_from_yaml(&text, &relative).map_err(|e| {
                BuildError::Decode {
                    path: relative.clone(),
                    message: e.to_string(),
                }
            })?;
            out.push(format!("./{relative}"));
        }
    }
    Ok(())
}

/// The Kustomization's fields written into the kustomization file, replacing its
/// namespace and affixes, appending patches and components, merging images by name.
fn merge_spec(kustomization: &mut Mapping, spec: &KustomizationSpec) -> Result<(), BuildError> {
    if let Some(namespace) = spec.target_namespace.as_ref().filter(|n| !n.is_empty()) {
        kustomization.insert("namespace", Node::string(namespace));
    }
    if let Some(prefix) = spec.name_prefix.as_ref().filter(|p| !p.is_empty()) {
        kustomization.insert("namePrefix", Node::string(prefix));
    }
    if let Some(suffix) = spec.name_suffix.as_ref().filter(|s| !s.is_empty()) {
        kustomization.insert("nameSuffix", Node::string(suffix));
    }
    if !spec.patches.is_empty() {
        let patches = kustomization.entry_or_insert_with("patches", || Node::Seq(Vec::new()));
        if let Node::Seq(list) = patches {
            for patch in &spec.patches {
                let mut entry = Mapping::new();
                entry.insert("patch", Node::string(&patch.patch));
                if let Some(target) = &patch.target {
                    let mut selector = Mapping::new();
                    for (key, value) in [
                        ("group", &target.group),
                        ("version", &target.version),
                        ("kind", &target.kind),
                        ("name", &target.name),
                        ("namespace", &target.namespace),
                        ("labelSelector", &target.label_selector),
                        ("annotationSelector", &target.annotation_selector),
                    ] {
                        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                            selector.insert(key, Node::string(value));
                        }
                    }
                    entry.insert("target", Node::Map(selector));
                }
                list.push(Node::Map(entry));
            }
        }
    }
    if !spec.images.is_empty() {
        let images = kustomization.entry_or_insert_with("images", || Node::Seq(Vec::new()));
        if let Node::Seq(list) = images {
            for image in &spec.images {
                let mut entry = Mapping::new();
                entry.insert("name", Node::string(&image.name));
                for (key, value) in [
                    ("newName", &image.new_name),
                    ("newTag", &image.new_tag),
                    ("digest", &image.digest),
                ] {
                    if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                        entry.insert(key, Node::string(value));
                    }
                }
                match list
                    .iter_mut()
                    .find(|i| i.str_at(&["name"]) == Some(image.name.as_str()))
                {
                    Some(existing) => *existing = Node::Map(entry),
                    None => list.push(Node::Map(entry)),
                }
            }
        }
    }
    if !spec.components.is_empty() {
        for component in &spec.components {
            if component.starts_with('/') || driftless_kustomize::loader::is_remote(component) {
                return Err(BuildError::Component(component.clone()));
            }
        }
        let components = kustomization.entry_or_insert_with("components", || Node::Seq(Vec::new()));
        if let Node::Seq(list) = components {
            list.extend(spec.components.iter().map(Node::string));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::kustomize::KustomizationSpec;

    const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1\n";

    fn spec(yaml_text: &str) -> KustomizationSpec {
        let node = yaml::parse_one(yaml_text).unwrap();
        serde_json::from_value(node.to_json()).unwrap()
    }

    fn names(objects: &[Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn a_path_without_kustomization_gets_every_manifest() {
        let mut fs = MemFs::new();
        fs.add_file("/source/apps/web/deploy.yaml", DEPLOYMENT);
        fs.add_file("/source/apps/web/notes.txt", "not a manifest");
        fs.add_file(
            "/source/apps/db/kustomization.yaml",
            "resources: [cm.yaml]\n",
        );
        fs.add_file(
            "/source/apps/db/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\n",
        );
        let objects = build_objects(&mut fs, &spec("interval: 1m\npath: ./apps\nprune: true\nsourceRef: {kind: GitRepository, name: s}\ntargetNamespace: prod\nnamePrefix: p-\nimages:\n- name: nginx\n  newTag: \"2\"\n"), None).unwrap();
        assert_eq!(names(&objects), ["ConfigMap/p-db", "Deployment/p-web"]);
        assert!(objects.iter().all(|o| o["metadata"]["namespace"] == "prod"));
        assert_eq!(
            objects[1]["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
    }

    #[test]
    fn spec_fields_are_written_into_an_existing_kustomization() {
        let mut fs = MemFs::new();
        fs.add_file(
            "/source/kustomization.yaml",
            "namePrefix: base-\nresources: [deploy.yaml]\n",
        );
        fs.add_file("/source/deploy.yaml", DEPLOYMENT);
        let objects = build_objects(
            &mut fs,
            &spec("interval: 1m\nprune: false\nsourceRef: {kind: GitRepository, name: s}\nnamePrefix: flux-\npatches:\n- target: {kind: Deployment}\n  patch: |\n    - op: add\n      path: /spec/replicas\n      value: 2\n"),
            None,
        )
        .unwrap();
        assert_eq!(
            names(&objects),
            ["Deployment/flux-web"],
            "the spec's prefix replaces the file's"
        );
        assert_eq!(objects[0]["spec"]["replicas"], 2);
    }

    #[test]
    fn bad_paths_and_manifests_are_build_errors() {
        let mut fs = MemFs::new();
        fs.add_file("/source/a/broken.yaml", "kind: [");
        let base = "interval: 1m\nprune: false\nsourceRef: {kind: GitRepository, name: s}\n";
        assert!(matches!(
            build_objects(&mut fs, &spec(&format!("{base}path: ./missing\n")), None),
            Err(BuildError::PathNotFound(_))
        ));
        assert!(matches!(
            build_objects(&mut fs, &spec(&format!("{base}path: ../..\n")), None),
            Err(BuildError::PathNotFound(_))
        ));
        assert!(matches!(
            build_objects(&mut fs, &spec(&format!("{base}path: ./a\n")), None),
            Err(BuildError::Decode { .. })
        ));
    }
}
