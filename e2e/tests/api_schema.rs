//! The Toolkit CRDs served by a real kube-apiserver accept Flux-shaped objects field for
//! field and reject invalid ones by schema validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use driftless_api::{helm, image, kustomize, notification, source};
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Discovery;
use serde_json::Value;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/api")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

async fn api_for(
    client: &kube::Client,
    discovery: &Discovery,
    object: &Value,
    namespace: &str,
) -> (Api<DynamicObject>, ApiResource) {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let kind = object["kind"].as_str().expect("kind");
    let (group, version) = api_version.split_once('/').expect("group/version");
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, _) = discovery
        .resolve_gvk(&gvk)
        .unwrap_or_else(|| panic!("{api_version} {kind} is not served"));
    (
        Api::namespaced_with(client.clone(), namespace, &resource),
        resource,
    )
}

/// Every leaf of `sent` is present, unchanged, in `got` (which may hold more: defaults).
fn assert_contains(sent: &Value, got: &Value, path: &str) {
    contains(sent, got, path, false);
}

/// Like [`assert_contains`], but a zero value (`false`, `""`, `[]`, `{}`) may be absent in
/// `got`: Flux's Go types omit those (`omitempty`) and so do ours.
fn assert_contains_omitting_zero_values(sent: &Value, got: &Value, path: &str) {
    contains(sent, got, path, true);
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn contains(sent: &Value, got: &Value, path: &str, omit_zero: bool) {
    match (sent, got) {
        (Value::Object(s), Value::Object(g)) => {
            for (key, value) in s {
                let child = format!("{path}.{key}");
                match g.get(key) {
                    Some(got_value) => contains(value, got_value, &child, omit_zero),
                    None if omit_zero && is_zero(value) => {}
                    None => panic!("{child} was dropped (got {got})"),
                }
            }
        }
        (Value::Array(s), Value::Array(g)) => {
            assert_eq!(s.len(), g.len(), "{path} length");
            for (i, (s, g)) in s.iter().zip(g).enumerate() {
                contains(s, g, &format!("{path}[{i}]"), omit_zero);
            }
        }
        _ => assert_eq!(sent, got, "{path}"),
    }
}

/// Deserialises into the Rust type for the kind and serialises back.
fn through_rust_type(object: &Value) -> Value {
    fn via<K: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Value {
        let typed: K = serde_json::from_value(v.clone()).unwrap_or_else(|e| {
            panic!(
                "{} does not deserialise: {e}\n{v}",
                std::any::type_name::<K>()
            )
        });
        serde_json::to_value(typed).unwrap()
    }
    match object["kind"].as_str().unwrap_or_default() {
        "GitRepository" => via::<source::GitRepository>(object),
        "OCIRepository" => via::<source::OCIRepository>(object),
        "Bucket" => via::<source::Bucket>(object),
        "HelmRepository" => via::<source::HelmRepository>(object),
        "HelmChart" => via::<source::HelmChart>(object),
        "HelmRelease" => via::<helm::HelmRelease>(object),
        "Kustomization" => via::<kustomize::Kustomization>(object),
        "ImageRepository" => via::<image::ImageRepository>(object),
        "ImagePolicy" => via::<image::ImagePolicy>(object),
        "ImageUpdateAutomation" => via::<image::ImageUpdateAutomation>(object),
        "Provider" => via::<notification::Provider>(object),
        "Alert" => via::<notification::Alert>(object),
        "Receiver" => via::<notification::Receiver>(object),
        other => panic!("no Rust type for kind {other}"),
    }
}

#[tokio::test]
async fn valid_examples_of_every_kind_are_stored_field_for_field() {
    let plane = driftless_testenv::shared()
        .await
        .expect("test control plane");
    let client = plane.client().await.unwrap();
    let namespace = plane.namespace("api-valid").await.unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();

    let mut kinds_seen = BTreeMap::new();
    for path in fixtures("valid") {
        for object in documents(&path) {
            let (api, resource) = api_for(&client, &discovery, &object, &namespace).await;
            let mut to_create = object.clone();
            to_create["metadata"]["namespace"] = namespace.clone().into();
            let request: DynamicObject = serde_json::from_value(to_create).unwrap();
            let created = api
                .create(&PostParams::default(), &request)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: creating {}: {e}",
                        path.display(),
                        object["metadata"]["name"]
                    )
                });
            let stored = serde_json::to_value(&created).unwrap();
            // Fields unknown to the schema would be pruned silently: nothing may go missing.
            assert_contains(
                &object["spec"],
                &stored["spec"],
                &format!("{}: spec", path.display()),
            );
            // And the Rust type carries every field the server stored.
            let round_tripped = through_rust_type(&stored);
            assert_contains_omitting_zero_values(
                &stored["spec"],
                &round_tripped["spec"],
                &format!("{} via Rust: spec", path.display()),
            );
            if resource.kind != "Provider" && resource.kind != "Alert" {
                assert_eq!(
                    stored["status"]["observedGeneration"],
                    -1,
                    "{}: new objects start unobserved",
                    path.display()
                );
            }
            *kinds_seen.entry(resource.kind.clone()).or_insert(0) += 1;
        }
    }
    let expected = [
        "Alert",
        "Bucket",
        "GitRepository",
        "HelmChart",
        "HelmRelease",
        "HelmRepository",
        "ImagePolicy",
        "ImageRepository",
        "ImageUpdateAutomation",
        "Kustomization",
        "OCIRepository",
        "Provider",
        "Receiver",
    ];
    assert_eq!(
        kinds_seen.keys().collect::<Vec<_>>(),
        expected,
        "an example for every kind"
    );
}

#[tokio::test]
async fn invalid_specs_are_rejected_by_the_schema() {
    let plane = driftless_testenv::shared()
        .await
        .expect("test control plane");
    let client = plane.client().await.unwrap();
    let namespace = plane.namespace("api-invalid").await.unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();

    let files = fixtures("invalid");
    assert!(
        files.len() >= 30,
        "at least three invalid examples per kind"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()))
            .trim()
            .to_owned();
        let [object] = documents(&path)
            .try_into()
            .expect("one object per invalid fixture");
        let (api, _) = api_for(&client, &discovery, &object, &namespace).await;
        let mut to_create = object.clone();
        to_create["metadata"]["namespace"] = namespace.clone().into();
        let request: DynamicObject = serde_json::from_value(to_create).unwrap();
        match api.create(&PostParams::default(), &request).await {
            Ok(_) => panic!("{} was accepted", path.display()),
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{}: {}", path.display(), status.message);
                assert!(
                    status.message.contains(&expected),
                    "{}: expected {expected:?} in {:?}",
                    path.display(),
                    status.message
                );
            }
            Err(other) => panic!("{}: {other}", path.display()),
        }
    }
}

#[tokio::test]
async fn kubectl_columns_and_short_names_match_flux() {
    let plane = driftless_testenv::shared()
        .await
        .expect("test control plane");
    let client = plane.client().await.unwrap();
    let namespace = plane.namespace("api-columns").await.unwrap();

    let mut short_names = BTreeMap::new();
    for group_version in [
        "source.toolkit.fluxcd.io/v1",
        "kustomize.toolkit.fluxcd.io/v1",
        "image.toolkit.fluxcd.io/v1",
    ] {
        let list = client
            .list_api_group_resources(group_version)
            .await
            .unwrap();
        for resource in list.resources.into_iter().filter(|r| !r.name.contains('/')) {
            short_names.insert(resource.kind, resource.short_names.unwrap_or_default());
        }
    }
    assert_eq!(short_names["GitRepository"], ["gitrepo"]);
    assert_eq!(short_names["Kustomization"], ["ks"]);
    assert_eq!(short_names["ImageUpdateAutomation"].len(), 3);

    // What `kubectl get gitrepositories` and `kubectl get kustomizations` print.
    for (path, expected) in [
        (
            "/apis/source.toolkit.fluxcd.io/v1/namespaces/{ns}/gitrepositories",
            vec!["Name", "URL", "Age", "Ready", "Status"],
        ),
        (
            "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{ns}/kustomizations",
            vec!["Name", "Age", "Ready", "Status"],
        ),
    ] {
        let request = http::Request::get(path.replace("{ns}", &namespace))
            .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            .body(Vec::new())
            .unwrap();
        let table: Value = client.request(request).await.unwrap();
        let columns: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(columns, expected, "{path}");
    }
}

/// Flux v2.9 serves one version per CRD: it removed the `v1beta1` versions in v2.7, the source
/// and kustomize `v1beta2` ones in v2.8, the image and notification `v1beta2` ones in v2.9.
/// Manifests of removed versions are refused as by Flux, and accepted once `flux migrate -f`
/// has rewritten their `apiVersion`.
#[tokio::test]
async fn only_the_versions_flux_2_9_serves_are_served() {
    let plane = driftless_testenv::shared()
        .await
        .expect("test control plane");
    let client = plane.client().await.unwrap();
    let namespace = plane.namespace("api-versions").await.unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();

    let mut served = BTreeMap::new();
    for group in discovery
        .groups()
        .filter(|g| g.name().ends_with(".toolkit.fluxcd.io"))
    {
        for version in group.versions() {
            for (resource, _) in group.versioned_resources(version) {
                served.insert(resource.kind, resource.api_version);
            }
        }
    }
    let expected: BTreeMap<String, String> = [
        ("Alert", "notification.toolkit.fluxcd.io/v1beta3"),
        ("Bucket", "source.toolkit.fluxcd.io/v1"),
        ("ExternalArtifact", "source.toolkit.fluxcd.io/v1"),
        ("GitRepository", "source.toolkit.fluxcd.io/v1"),
        ("HelmChart", "source.toolkit.fluxcd.io/v1"),
        ("HelmRelease", "helm.toolkit.fluxcd.io/v2"),
        ("HelmRepository", "source.toolkit.fluxcd.io/v1"),
        ("ImagePolicy", "image.toolkit.fluxcd.io/v1"),
        ("ImageRepository", "image.toolkit.fluxcd.io/v1"),
        ("ImageUpdateAutomation", "image.toolkit.fluxcd.io/v1"),
        ("Kustomization", "kustomize.toolkit.fluxcd.io/v1"),
        ("OCIRepository", "source.toolkit.fluxcd.io/v1"),
        ("Provider", "notification.toolkit.fluxcd.io/v1beta3"),
        ("Receiver", "notification.toolkit.fluxcd.io/v1"),
    ]
    .into_iter()
    .map(|(kind, api_version)| (kind.to_owned(), api_version.to_owned()))
    .collect();
    assert_eq!(served, expected);

    // Examples from Flux's docs for the removed versions.
    let old_manifests = [
        (
            "ocirepositories",
            serde_json::json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1beta2",
                "kind": "OCIRepository",
                "metadata": {"name": "podinfo"},
                "spec": {
                    "interval": "5m0s",
                    "url": "oci://ghcr.io/stefanprodan/manifests/podinfo",
                    "ref": {"tag": "latest"}
                }
            }),
        ),
        (
            "helmrepositories",
            serde_json::json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1beta1",
                "kind": "HelmRepository",
                "metadata": {"name": "podinfo"},
                "spec": {"interval": "1m", "url": "https://stefanprodan.github.io/podinfo"}
            }),
        ),
    ];
    for (plural, manifest) in old_manifests {
        let api_version = manifest["apiVersion"].as_str().unwrap();
        let kind = manifest["kind"].as_str().unwrap();
        let (group, version) = api_version.split_once('/').unwrap();
        let removed =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &removed);
        let object: DynamicObject = serde_json::from_value(manifest.clone()).unwrap();
        match api.create(&PostParams::default(), &object).await {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 404, "{api_version}"),
            other => panic!("{api_version} {kind} was not refused: {other:?}"),
        }

        let mut migrated = manifest.clone();
        migrated["apiVersion"] = format!("{group}/v1").into();
        let (api, _) = api_for(&client, &discovery, &migrated, &namespace).await;
        let object: DynamicObject = serde_json::from_value(migrated.clone()).unwrap();
        let created = api.create(&PostParams::default(), &object).await.unwrap();
        assert_contains(
            &migrated["spec"],
            &serde_json::to_value(&created).unwrap()["spec"],
            kind,
        );
    }
}
