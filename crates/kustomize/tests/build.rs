//! One build per behaviour, over an in-memory tree: what each transformer does to the
//! output, and the errors bad input gives.

use std::path::Path;

use driftless_kustomize::fs::MemFs;
use driftless_kustomize::{BuildOptions, build, build_yaml};
use driftless_yaml::Node;

fn tree(files: &[(&str, &str)]) -> MemFs {
    let mut fs = MemFs::new();
    for (path, text) in files {
        fs.add_file(Path::new("/app").join(path), text.as_bytes().to_vec());
    }
    fs
}

/// The output documents of building `dir` (relative to the tree).
fn build_in(files: &[(&str, &str)], dir: &str) -> Result<Vec<Node>, String> {
    let fs = tree(files);
    let text = build_yaml(&fs, &Path::new("/app").join(dir), &BuildOptions::default())
        .map_err(|e| e.to_string())?;
    driftless_yaml::parse_documents(&text).map_err(|e| e.to_string())
}

fn build_ok(files: &[(&str, &str)]) -> Vec<Node> {
    build_in(files, ".").unwrap_or_else(|e| panic!("build failed: {e}"))
}

fn build_err(files: &[(&str, &str)]) -> String {
    match build_in(files, ".") {
        Ok(docs) => panic!("expected an error, got {} documents", docs.len()),
        Err(e) => e,
    }
}

fn find<'a>(docs: &'a [Node], kind: &str) -> &'a Node {
    docs.iter()
        .find(|d| d.str_at(&["kind"]) == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} in output"))
}

fn at<'a>(node: &'a Node, path: &str) -> &'a str {
    let mut current = node;
    for part in path.split('.') {
        current = match part.parse::<usize>() {
            Ok(i) => &current
                .as_seq()
                .unwrap_or_else(|| panic!("{path}: not a list at {part}"))[i],
            Err(_) => current
                .get(part)
                .unwrap_or_else(|| panic!("{path}: missing {part}")),
        };
    }
    current
        .as_str()
        .unwrap_or_else(|| panic!("{path}: not a string"))
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      serviceAccountName: runner
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: settings
        volumeMounts:
        - name: config
          mountPath: /etc/web
      initContainers:
      - name: init
        image: busybox
      volumes:
      - name: config
        configMap:
          name: settings
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
";

#[test]
fn namespace_sets_namespaced_objects_only_and_fixes_default_subjects() {
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "namespace: prod\nresources:\n- all.yaml\n",
        ),
        (
            "all.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: old}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: read}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}\nsubjects:\n- {kind: ServiceAccount, name: default, namespace: other}\n- {kind: ServiceAccount, name: robot, namespace: other}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: elsewhere}\n",
        ),
    ]);
    assert_eq!(
        at(find(&docs, "Namespace"), "metadata.name"),
        "prod",
        "a v1 Namespace takes the name"
    );
    assert!(
        find(&docs, "ClusterRole")
            .get_path(&["metadata", "namespace"])
            .is_none()
    );
    assert_eq!(at(find(&docs, "ConfigMap"), "metadata.namespace"), "prod");
    let binding = find(&docs, "ClusterRoleBinding");
    assert_eq!(
        at(binding, "subjects.0.namespace"),
        "prod",
        "the default service account follows"
    );
    assert_eq!(
        at(binding, "subjects.1.namespace"),
        "other",
        "other subjects are left alone"
    );
}

#[test]
fn prefix_and_suffix_rename_and_update_references() {
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "namePrefix: p-\nnameSuffix: -s\nresources:\n- deploy.yaml\n- sa.yaml\nconfigMapGenerator:\n- name: settings\n  literals: [A=1]\n",
        ),
        ("deploy.yaml", DEPLOYMENT),
        (
            "sa.yaml",
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: runner}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n",
        ),
    ]);
    let config_map = at(find(&docs, "ConfigMap"), "metadata.name").to_owned();
    assert!(
        config_map.starts_with("p-settings-s-") && config_map.len() == "p-settings-s-".len() + 10,
        "{config_map}"
    );
    let deployment = find(&docs, "Deployment");
    assert_eq!(at(deployment, "metadata.name"), "p-web-s");
    assert_eq!(
        at(deployment, "spec.template.spec.serviceAccountName"),
        "p-runner-s"
    );
    assert_eq!(
        at(deployment, "spec.template.spec.volumes.0.configMap.name"),
        config_map
    );
    assert_eq!(
        at(
            deployment,
            "spec.template.spec.containers.0.envFrom.0.configMapRef.name"
        ),
        config_map
    );
    assert_eq!(
        at(find(&docs, "CustomResourceDefinition"), "metadata.name"),
        "widgets.example.com",
        "CRDs keep their name"
    );
}

#[test]
fn common_labels_reach_selectors_but_labels_do_not_by_default() {
    let common = build_ok(&[
        (
            "kustomization.yaml",
            "commonLabels:\n  team: a\nresources:\n- d.yaml\n- s.yaml\n",
        ),
        ("d.yaml", DEPLOYMENT),
        ("s.yaml", SERVICE),
    ]);
    assert_eq!(
        at(
            find(&common, "Deployment"),
            "spec.selector.matchLabels.team"
        ),
        "a"
    );
    assert_eq!(
        at(
            find(&common, "Deployment"),
            "spec.template.metadata.labels.team"
        ),
        "a"
    );
    assert_eq!(at(find(&common, "Service"), "spec.selector.team"), "a");

    let labels = build_ok(&[
        (
            "kustomization.yaml",
            "labels:\n- pairs: {team: a}\n  includeTemplates: true\nresources:\n- d.yaml\n",
        ),
        ("d.yaml", DEPLOYMENT),
    ]);
    let deployment = find(&labels, "Deployment");
    assert_eq!(at(deployment, "metadata.labels.team"), "a");
    assert_eq!(at(deployment, "spec.template.metadata.labels.team"), "a");
    assert!(
        deployment
            .get_path(&["spec", "selector", "matchLabels", "team"])
            .is_none(),
        "selectors are immutable: left alone"
    );
}

#[test]
fn common_annotations_are_strings_on_objects_and_templates() {
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "commonAnnotations:\n  build: \"7\"\nresources:\n- d.yaml\n",
        ),
        ("d.yaml", DEPLOYMENT),
    ]);
    let deployment = find(&docs, "Deployment");
    let value = deployment
        .get_path(&["spec", "template", "metadata", "annotations", "build"])
        .unwrap()
        .as_scalar()
        .unwrap();
    assert_eq!(
        (value.value.as_str(), value.kind()),
        ("7", driftless_yaml::ScalarKind::Str)
    );
}

#[test]
fn images_change_name_tag_and_digest_in_every_container_list() {
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "resources:\n- d.yaml\nimages:\n- name: nginx\n  newName: registry.local:5000/nginx\n  newTag: \"1.27\"\n- name: busybox\n  digest: sha256:abc\n",
        ),
        ("d.yaml", DEPLOYMENT),
    ]);
    let deployment = find(&docs, "Deployment");
    assert_eq!(
        at(deployment, "spec.template.spec.containers.0.image"),
        "registry.local:5000/nginx:1.27"
    );
    assert_eq!(
        at(deployment, "spec.template.spec.initContainers.0.image"),
        "busybox@sha256:abc"
    );
}

#[test]
fn replicas_set_counts_and_unknown_names_fail() {
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "resources:\n- d.yaml\nreplicas:\n- name: web\n  count: 3\n",
        ),
        ("d.yaml", DEPLOYMENT),
    ]);
    let replicas = find(&docs, "Deployment")
        .get_path(&["spec", "replicas"])
        .unwrap()
        .as_scalar()
        .unwrap()
        .clone();
    assert_eq!(
        (replicas.value.as_str(), replicas.kind()),
        ("3", driftless_yaml::ScalarKind::Int)
    );
    let error = build_err(&[
        (
            "kustomization.yaml",
            "resources:\n- d.yaml\nreplicas:\n- name: nope\n  count: 3\n",
        ),
        ("d.yaml", DEPLOYMENT),
    ]);
    assert!(
        error.contains("resource with name nope does not match"),
        "{error}"
    );
}

#[test]
fn generators_hash_content_and_overlays_merge_or_replace() {
    let base = (
        "base/kustomization.yaml",
        "configMapGenerator:\n- name: settings\n  literals: [A=1, B=2]\n",
    );
    let merged = build_in(
        &[base, ("overlay/kustomization.yaml", "resources: [../base]\nconfigMapGenerator:\n- name: settings\n  behavior: merge\n  literals: [B=3, C=4]\n")],
        "overlay",
    )
    .unwrap();
    let cm = find(&merged, "ConfigMap");
    assert_eq!(
        (at(cm, "data.A"), at(cm, "data.B"), at(cm, "data.C")),
        ("1", "3", "4")
    );
    let replaced = build_in(
        &[base, ("overlay/kustomization.yaml", "resources: [../base]\nconfigMapGenerator:\n- name: settings\n  behavior: replace\n  literals: [Z=9]\n")],
        "overlay",
    )
    .unwrap();
    let cm2 = find(&replaced, "ConfigMap");
    assert!(cm2.get_path(&["data", "A"]).is_none() && at(cm2, "data.Z") == "9");
    assert_ne!(
        at(cm, "metadata.name"),
        at(cm2, "metadata.name"),
        "different content, different hash"
    );

    let error = build_in(
        &[(
            "kustomization.yaml",
            "configMapGenerator:\n- name: x\n  behavior: merge\n  literals: [A=1]\n",
        )],
        ".",
    )
    .unwrap_err();
    assert!(
        error.contains("does not exist; cannot merge or replace"),
        "{error}"
    );
    let unhashed = build_ok(&[(
        "kustomization.yaml",
        "generatorOptions:\n  disableNameSuffixHash: true\nsecretGenerator:\n- name: s\n  literals: [A=1]\n",
    )]);
    let secret = find(&unhashed, "Secret");
    assert_eq!(
        (
            at(secret, "metadata.name"),
            at(secret, "data.A"),
            at(secret, "type")
        ),
        ("s", "MQ==", "Opaque")
    );
}

#[test]
fn strategic_merge_and_json_patches_by_target() {
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "resources:\n- d.yaml\n- s.yaml\npatches:\n- target: {kind: Deployment, labelSelector: \"tier!=db\"}\n  patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: any}\n    spec:\n      template:\n        spec:\n          containers:\n          - name: web\n            image: patched\n- target: {kind: Service, name: we.}\n  patch: '[{\"op\": \"replace\", \"path\": \"/spec/ports/0/port\", \"value\": 8080}]'\n",
        ),
        ("d.yaml", DEPLOYMENT),
        ("s.yaml", SERVICE),
    ]);
    let deployment = find(&docs, "Deployment");
    assert_eq!(
        at(deployment, "spec.template.spec.containers.0.image"),
        "patched"
    );
    assert_eq!(
        at(
            deployment,
            "spec.template.spec.containers.0.volumeMounts.0.mountPath"
        ),
        "/etc/web",
        "merged, not replaced"
    );
    assert_eq!(
        at(deployment, "metadata.name"),
        "web",
        "the patch's own name does not rename"
    );
    assert_eq!(at(find(&docs, "Service"), "spec.ports.0.port"), "8080");
}

#[test]
fn a_delete_patch_removes_the_object_and_a_missing_target_fails() {
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "resources:\n- d.yaml\n- s.yaml\npatchesStrategicMerge:\n- |\n  apiVersion: v1\n  kind: Service\n  metadata: {name: web}\n  $patch: delete\n",
        ),
        ("d.yaml", DEPLOYMENT),
        ("s.yaml", SERVICE),
    ]);
    assert_eq!(docs.len(), 1);
    let error = build_err(&[
        (
            "kustomization.yaml",
            "resources:\n- d.yaml\npatchesStrategicMerge:\n- p.yaml\n",
        ),
        ("d.yaml", DEPLOYMENT),
        (
            "p.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: ghost}\nspec: {}\n",
        ),
    ]);
    assert!(error.contains("ghost"), "{error}");
}

#[test]
fn replacements_copy_values_between_objects() {
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "resources:\n- d.yaml\n- s.yaml\nreplacements:\n- source: {kind: Service, name: web, fieldPath: spec.ports.0.port}\n  targets:\n  - select: {kind: Deployment}\n    fieldPaths:\n    - spec.template.spec.containers.[name=web].env.[name=PORT].value\n    options: {create: true}\n",
        ),
        ("d.yaml", DEPLOYMENT),
        ("s.yaml", SERVICE),
    ]);
    assert_eq!(
        at(
            find(&docs, "Deployment"),
            "spec.template.spec.containers.0.env.0.value"
        ),
        "80"
    );
}

#[test]
fn vars_see_the_final_names() {
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "namePrefix: p-\nresources:\n- d.yaml\n- s.yaml\nvars:\n- name: SVC\n  objref: {kind: Service, name: web, apiVersion: v1}\n",
        ),
        ("d.yaml", &DEPLOYMENT.replace("        image: nginx:1.25\n", "        image: nginx:1.25\n        args: [\"--upstream=$(SVC):80\", \"$(UNKNOWN)\"]\n")),
        ("s.yaml", SERVICE),
    ]);
    let deployment = find(&docs, "Deployment");
    assert_eq!(
        at(deployment, "spec.template.spec.containers.0.args.0"),
        "--upstream=p-web:80"
    );
    assert_eq!(
        at(deployment, "spec.template.spec.containers.0.args.1"),
        "$(UNKNOWN)"
    );
}

#[test]
fn components_transform_what_the_parent_accumulated() {
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "resources: [d.yaml]\ncomponents: [comp]\n",
        ),
        ("d.yaml", DEPLOYMENT),
        (
            "comp/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels: {feature: on-call}\n",
        ),
    ]);
    assert_eq!(
        at(find(&docs, "Deployment"), "metadata.labels.feature"),
        "on-call"
    );
    let error = build_err(&[
        ("kustomization.yaml", "resources: [comp]\n"),
        (
            "comp/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nnamePrefix: x-\n",
        ),
    ]);
    assert!(error.contains("expected kind != 'Component'"), "{error}");
}

#[test]
fn output_is_in_legacy_order_unless_fifo_is_asked_for() {
    let files = |sort: &str| {
        vec![
            (
                "kustomization.yaml".to_owned(),
                format!("{sort}resources:\n- d.yaml\n- s.yaml\n- ns.yaml\n"),
            ),
            ("d.yaml".to_owned(), DEPLOYMENT.to_owned()),
            ("s.yaml".to_owned(), SERVICE.to_owned()),
            (
                "ns.yaml".to_owned(),
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n".to_owned(),
            ),
        ]
    };
    let kinds = |sort: &str| {
        let owned = files(sort);
        let refs: Vec<(&str, &str)> = owned
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        build_ok(&refs)
            .iter()
            .map(|d| d.str_at(&["kind"]).unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(""), ["Namespace", "Service", "Deployment"]);
    assert_eq!(
        kinds("sortOptions: {order: fifo}\n"),
        ["Deployment", "Service", "Namespace"]
    );
}

#[test]
fn bad_input_names_the_file_and_the_reason() {
    let missing = build_err(&[("kustomization.yaml", "resources:\n- nowhere.yaml\n")]);
    assert!(missing.contains("nowhere.yaml"), "{missing}");
    let invalid = build_err(&[
        ("kustomization.yaml", "resources:\n- bad.yaml\n"),
        ("bad.yaml", "kind: ConfigMap\nmetadata:\n  name: [x\n"),
    ]);
    assert!(
        invalid.contains("bad.yaml") && invalid.contains("invalid YAML"),
        "{invalid}"
    );
    let duplicate = build_err(&[
        ("kustomization.yaml", "resources: [a.yaml, b.yaml]\n"),
        ("a.yaml", SERVICE),
        ("b.yaml", SERVICE),
    ]);
    assert!(duplicate.contains("already registered id"), "{duplicate}");
    let cycle = build_err(&[
        ("kustomization.yaml", "resources: [sub]\n"),
        ("sub/kustomization.yaml", "resources: [..]\n"),
    ]);
    assert!(cycle.contains("cycle detected"), "{cycle}");
    let remote = build_err(&[(
        "kustomization.yaml",
        "resources:\n- https://github.com/org/repo//deploy?ref=v1\n",
    )]);
    assert!(remote.contains("remote"), "{remote}");
    let unknown = build_err(&[("kustomization.yaml", "resourcez: [a.yaml]\n")]);
    assert!(
        unknown.contains("unknown field") && unknown.contains("resourcez"),
        "{unknown}"
    );
    let outside = build_in(
        &[
            ("app/kustomization.yaml", "resources: [../secret.yaml]\n"),
            ("secret.yaml", SERVICE),
        ],
        "app",
    )
    .unwrap_err();
    assert!(outside.contains("is not in or below"), "{outside}");
    let no_kustomization = build_err(&[("x.yaml", SERVICE)]);
    assert!(
        no_kustomization.contains("unable to find one of 'kustomization.yaml'"),
        "{no_kustomization}"
    );
}

#[test]
fn in_memory_and_disk_builds_agree() {
    let files = [
        (
            "kustomization.yaml",
            "namePrefix: p-\nresources: [d.yaml, s.yaml]\n",
        ),
        ("d.yaml", DEPLOYMENT),
        ("s.yaml", SERVICE),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let on_disk = build_yaml(
        &driftless_kustomize::fs::DiskFs,
        dir.path(),
        &BuildOptions::default(),
    )
    .unwrap();
    let in_memory = build_yaml(&tree(&files), Path::new("/app"), &BuildOptions::default()).unwrap();
    assert_eq!(on_disk, in_memory);
    let resources = build(&tree(&files), Path::new("/app"), &BuildOptions::default()).unwrap();
    assert_eq!(
        resources
            .iter()
            .map(|r| r.name().to_owned())
            .collect::<Vec<_>>(),
        ["p-web", "p-web"]
    );
}

/// Remote files and repositories from memory, recording what was asked for.
struct FakeRemote {
    files: Vec<(String, String)>,
    repositories: Vec<(String, MemFs)>,
    asked: std::cell::RefCell<Vec<String>>,
}

impl driftless_kustomize::remote::Remote for FakeRemote {
    fn fetch_file(&self, url: &str) -> Result<Vec<u8>, String> {
        self.asked.borrow_mut().push(url.to_owned());
        self.files
            .iter()
            .find(|(u, _)| u == url)
            .map(|(_, text)| text.as_bytes().to_vec())
            .ok_or_else(|| "HTTP 404".to_owned())
    }

    fn fetch_repository(
        &self,
        repository: &driftless_kustomize::remote::RepoSpec,
    ) -> Result<
        (
            std::rc::Rc<dyn driftless_kustomize::fs::FileSystem>,
            std::path::PathBuf,
        ),
        String,
    > {
        self.asked
            .borrow_mut()
            .push(format!("{}@{}", repository.clone_url(), repository.git_ref));
        let (_, fs) = self
            .repositories
            .iter()
            .find(|(u, _)| *u == repository.clone_url())
            .ok_or("repository not found")?;
        Ok((
            std::rc::Rc::new(fs.clone()),
            std::path::PathBuf::from("/checkout"),
        ))
    }
}

#[test]
fn remote_files_and_git_bases_are_read_only_when_enabled() {
    let files = [(
        "kustomization.yaml",
        "namePrefix: p-\nresources:\n- https://example.com/svc.yaml\n- github.com/org/app//deploy?ref=v1\n",
    )];
    let disabled = build_err(&files);
    assert!(
        disabled.contains("remote resources are not enabled"),
        "{disabled}"
    );

    let mut repository = MemFs::new();
    repository.add_file(
        "/checkout/deploy/kustomization.yaml",
        b"resources: [d.yaml, ../common]\n".to_vec(),
    );
    repository.add_file("/checkout/deploy/d.yaml", DEPLOYMENT.as_bytes().to_vec());
    repository.add_file(
        "/checkout/common/kustomization.yaml",
        b"configMapGenerator:\n- name: settings\n  literals: [A=1]\n".to_vec(),
    );
    let remote = std::rc::Rc::new(FakeRemote {
        files: vec![("https://example.com/svc.yaml".into(), SERVICE.into())],
        repositories: vec![("https://github.com/org/app".into(), repository)],
        asked: Default::default(),
    });
    let options = BuildOptions {
        remote: Some(remote.clone()),
        ..Default::default()
    };
    let text = build_yaml(&tree(&files), Path::new("/app"), &options).unwrap();
    let docs = driftless_yaml::parse_documents(&text).unwrap();
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d.str_at(&["metadata", "name"]).unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names.contains(&"p-web") && names.iter().any(|n| n.starts_with("p-settings-")),
        "{names:?}"
    );
    assert_eq!(
        *remote.asked.borrow(),
        [
            "https://example.com/svc.yaml",
            "https://github.com/org/app@v1"
        ]
    );

    // A base inside a fetched repository may not leave it.
    let mut escaping = MemFs::new();
    escaping.add_file(
        "/checkout/deploy/kustomization.yaml",
        b"resources: [../../outside]\n".to_vec(),
    );
    escaping.add_file("/outside/kustomization.yaml", b"resources: []\n".to_vec());
    let remote = std::rc::Rc::new(FakeRemote {
        files: vec![],
        repositories: vec![("https://github.com/org/app".into(), escaping)],
        asked: Default::default(),
    });
    let error = build_yaml(
        &tree(&[(
            "kustomization.yaml",
            "resources:\n- github.com/org/app//deploy\n",
        )]),
        Path::new("/app"),
        &BuildOptions {
            remote: Some(remote),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("must be within the repo"), "{error}");
}

#[test]
fn crd_definitions_add_name_references_for_custom_kinds() {
    let definitions = r#"{
  "example.com/v1.Bee": {"Schema": {"properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"$ref": "meta.ObjectMeta"}}}},
  "example.com/v1.Hive": {"Schema": {"properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"$ref": "meta.ObjectMeta"},
    "spec": {"$ref": "example.com/v1.HiveSpec"}}}},
  "example.com/v1.HiveSpec": {"Schema": {"properties": {
    "queen": {"x-kubernetes-object-ref-api-version": "v1", "x-kubernetes-object-ref-kind": "Bee", "$ref": "example.com/v1.Bee"},
    "tags": {"x-kubernetes-label-selector": "true"}}}}
}"#;
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "namePrefix: p-\ncommonLabels: {team: bees}\ncrds: [definitions.json]\nresources: [objects.yaml]\n",
        ),
        ("definitions.json", definitions),
        (
            "objects.yaml",
            "apiVersion: example.com/v1\nkind: Bee\nmetadata: {name: ada}\n---\napiVersion: example.com/v1\nkind: Hive\nmetadata: {name: h}\nspec:\n  queen: {name: ada}\n  tags: {}\n",
        ),
    ]);
    let hive = find(&docs, "Hive");
    assert_eq!(
        at(hive, "spec.queen.name"),
        "p-ada",
        "the reference follows the renamed Bee"
    );
    assert_eq!(
        at(hive, "spec.tags.team"),
        "bees",
        "labels go where the schema says"
    );
}

#[test]
fn hash_transformer_in_transformers_hashes_generated_names_once_more_as_kustomize_does() {
    // kubectl kustomize (v5.5.0) prints cfg-h29d89cmmt-h29d89cmmt here: the plugin hashes,
    // and the build's own hashing runs again at the end.
    let docs = build_ok(&[(
        "kustomization.yaml",
        "configMapGenerator:\n- name: cfg\n  literals: [a=1]\ntransformers:\n- |-\n  apiVersion: builtin\n  kind: HashTransformer\n  metadata:\n    name: h\n",
    )]);
    assert_eq!(
        at(find(&docs, "ConfigMap"), "metadata.name"),
        "cfg-h29d89cmmt-h29d89cmmt"
    );
}

#[test]
fn build_metadata_names_the_plugin_objects_namespace() {
    // As kubectl kustomize (v5.5.0) prints it.
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "resources: [r.yaml]\ntransformers: [t.yaml]\nbuildMetadata: [transformerAnnotations, originAnnotations]\n",
        ),
        (
            "r.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
        ),
        (
            "t.yaml",
            "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: lt\n  namespace: someNs\nlabels:\n  a: b\nfieldSpecs:\n- path: metadata/labels\n  create: true\n",
        ),
    ]);
    let annotations = find(&docs, "ConfigMap")
        .get_path(&["metadata", "annotations"])
        .and_then(|a| a.get("alpha.config.kubernetes.io/transformations"))
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        annotations,
        "- configuredIn: t.yaml\n  configuredBy:\n    apiVersion: builtin\n    kind: LabelTransformer\n    name: lt\n    namespace: someNs\n"
    );
}

#[test]
fn a_kind_scoped_configuration_replaces_the_default_spec_of_the_same_path() {
    // kubectl kustomize (v5.5.0): only the Foo is prefixed, once. kustomize merges the
    // defaults into the configured spec, and the kind-less default is "already there".
    let files = [
        (
            "kustomization.yaml",
            "namePrefix: p-\nconfigurations: [c.yaml]\nresources: [r.yaml]\n",
        ),
        (
            "c.yaml",
            "namePrefix:\n- path: metadata/name\n  kind: Foo\n",
        ),
        (
            "r.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n---\napiVersion: x/v1\nkind: Foo\nmetadata:\n  name: foo\n",
        ),
    ];
    let docs = build_ok(&files);
    assert_eq!(at(find(&docs, "ConfigMap"), "metadata.name"), "cm");
    assert_eq!(at(find(&docs, "Foo"), "metadata.name"), "p-foo");

    // The same path with another `create` is kustomize's conflict.
    let mut conflicting = files;
    conflicting[0].1 = "nameSuffix: -s\nconfigurations: [c.yaml]\nresources: [r.yaml]\n";
    conflicting[1].1 = "nameSuffix:\n- path: metadata/name\n  kind: Foo\n  create: true\n";
    assert!(build_err(&conflicting).contains("conflicting fieldspecs"));
}

#[test]
fn replacement_targets_select_and_reject_by_regular_expression() {
    // kustomize's SelectorRegex (api v0.21, the library Flux builds with).
    let docs = build_ok(&[
        (
            "kustomization.yaml",
            "resources: [r.yaml]\nreplacements:\n- source: {kind: ConfigMap, name: src, fieldPath: data.v}\n  targets:\n  - select: {kind: Deployment|StatefulSet}\n    reject: [{name: .*-2}]\n    fieldPaths: [metadata.annotations.v]\n    options: {create: true}\n",
        ),
        (
            "r.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: src\ndata:\n  v: x\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-1\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db-1\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-2\n",
        ),
    ]);
    let annotated: Vec<&str> = docs
        .iter()
        .filter(|d| d.get_path(&["metadata", "annotations", "v"]).is_some())
        .map(|d| d.str_at(&["metadata", "name"]).unwrap_or_default())
        .collect();
    assert_eq!(annotated, ["app-1", "db-1"]);
}
