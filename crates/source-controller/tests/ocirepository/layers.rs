//! `layerSelector`: a layer chosen by media type is extracted or copied as it is; a media type
//! the artifact lacks fails without touching the stored artifact.

use driftless_api::source::OCIRepository;
use driftless_testenv::registry::{Registry, RegistryOptions};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::*;
use crate::support::*;

const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

#[tokio::test(flavor = "multi_thread")]
async fn selected_layers_are_extracted_or_copied() {
    let (plane, namespace, client) = setup("oci-layers").await;
    let registry = Registry::start(RegistryOptions::default()).expect("registry");
    let chart = tar_gz(&[("podinfo/Chart.yaml", "name: podinfo\nversion: 6.7.0\n")]);
    let manifests = tar_gz(&[("all.yaml", "kind: Namespace\n")]);
    push(
        &registry,
        "bundle",
        "v1",
        registry::Artifact {
            config_media_type: FLUX_CONFIG_MEDIA_TYPE.to_owned(),
            layers: vec![
                Layer {
                    media_type: "text/plain".to_owned(),
                    data: b"read me".to_vec(),
                },
                Layer {
                    media_type: HELM_CHART.to_owned(),
                    data: chart.clone(),
                },
                Layer {
                    media_type: FLUX_CONTENT_MEDIA_TYPE.to_owned(),
                    data: manifests,
                },
            ],
            annotations: Default::default(),
        },
    )
    .await;
    let controller = SourceController::start(plane, &namespace, &[]);
    let api: Api<OCIRepository> = Api::namespaced(client.clone(), &namespace);
    let bundle = url(&registry, "bundle");
    create_oci(
        &api,
        "extract",
        json!({ "url": bundle, "insecure": true, "ref": { "tag": "v1" },
                "layerSelector": { "mediaType": FLUX_CONTENT_MEDIA_TYPE } }),
    )
    .await;
    create_oci(
        &api,
        "copy",
        json!({ "url": bundle, "insecure": true, "ref": { "tag": "v1" },
                "layerSelector": { "mediaType": HELM_CHART, "operation": "copy" } }),
    )
    .await;

    let extracted = wait_ready(&api, "extract", &controller).await;
    let (_, tree) = download(&extracted).await;
    assert_eq!(files(&tree), ["all.yaml"]);
    let copied = wait_ready(&api, "copy", &controller).await;
    let (bytes, tree) = download(&copied).await;
    assert_eq!(bytes, chart, "the layer is stored byte for byte");
    assert_eq!(files(&tree), ["podinfo/Chart.yaml"]);
    assert_eq!(
        copied
            .status
            .as_ref()
            .and_then(|s| s.observed_layer_selector.clone()),
        copied.spec.layer_selector
    );

    // A media type the artifact does not have: the step fails, the artifact stays served.
    let good = artifact(&extracted);
    let patch = json!({ "spec": { "layerSelector": { "mediaType": "application/x-missing" } } });
    api.patch("extract", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let failed = wait_not_ready(
        &api,
        "extract",
        &controller,
        "OCIArtifactLayerOperationFailed",
    )
    .await;
    assert_eq!(
        ready_message(&failed),
        "failed to find layer with media type 'application/x-missing' in artifact"
    );
    assert_eq!(artifact(&failed).digest, good.digest);
    assert_eq!(reqwest::get(&good.url).await.unwrap().status(), 200);
}
