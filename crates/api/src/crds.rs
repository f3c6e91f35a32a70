//! CustomResourceDefinitions for every kind, with the Flux touches the derive macro cannot
//! express: the `substitute: disabled` annotation and the `observedGeneration: -1` status default.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSON,
};
use kube::CustomResourceExt;

use crate::{helm, image, kustomize, notification, source};

/// Annotation that stops kustomize-controller's post-build substitution from rewriting the CRDs.
const SUBSTITUTE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";
const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// All Toolkit CRDs, sorted by name.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut all = vec![
        finish(source::GitRepository::crd()),
        finish(source::OCIRepository::crd()),
        finish(source::Bucket::crd()),
        finish(source::HelmRepository::crd()),
        finish(source::HelmChart::crd()),
        finish(source::ExternalArtifact::crd()),
        finish(kustomize::Kustomization::crd()),
        finish(helm::HelmRelease::crd()),
        finish(image::ImageRepository::crd()),
        finish(image::ImagePolicy::crd()),
        finish(image::ImageUpdateAutomation::crd()),
        finish(notification::Provider::crd()),
        finish(notification::Alert::crd()),
        finish(notification::Receiver::crd()),
    ];
    all.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    all
}

fn finish(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    strip_nullable(&mut crd);
    // As Flux labels its CRDs: the flux CLI (`flux check`) lists them by `part-of`.
    let component = match crd.spec.group.split('.').next().unwrap_or_default() {
        "source" => "source-controller",
        "kustomize" => "kustomize-controller",
        "helm" => "helm-controller",
        "image" => "image-automation-controller",
        _ => "notification-controller",
    };
    let labels = crd.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(PART_OF_LABEL.into(), "flux".into());
    labels.insert(COMPONENT_LABEL.into(), component.into());
    crd.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(SUBSTITUTE_ANNOTATION.into(), "disabled".into());
    for version in &mut crd.spec.versions {
        let has_status = version
            .subresources
            .as_ref()
            .is_some_and(|s| s.status.is_some());
        let status_schema = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("status"));
        let reports_generation = status_schema
            .as_ref()
            .and_then(|s| s.properties.as_ref())
            .is_some_and(|p| p.contains_key("observedGeneration"));
        if let (true, true, Some(status)) = (has_status, reports_generation, status_schema) {
            // Like Flux: a fresh object reports observedGeneration -1 until first reconciled.
            status.default = Some(JSON(serde_json::json!({ "observedGeneration": -1 })));
        }
    }
    crd
}

/// Removes `nullable: true` and `null` enum members that the derive adds for `Option` fields.
/// Flux's CRDs have neither; without them the API server drops an explicit `null` and applies
/// the field's default, as it does for Flux.
fn strip_nullable(crd: &mut CustomResourceDefinition) {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if map.get("nullable") == Some(&serde_json::Value::Bool(true)) {
                    map.remove("nullable");
                }
                if let Some(serde_json::Value::Array(members)) = map.get_mut("enum") {
                    members.retain(|m| !m.is_null());
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    for version in &mut crd.spec.versions {
        let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        // JSONSchemaProps round-trips through JSON losslessly, and walking JSON reaches every
        // nested schema (properties, items, additionalProperties) without listing them.
        if let Ok(mut json) = serde_json::to_value(&*schema) {
            walk(&mut json);
            if let Ok(clean) = serde_json::from_value(json) {
                *schema = clean;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionVersion;

    /// The versions Flux v2.9's CRD bases serve, per CRD. Flux removed the `v1beta1`
    /// versions in v2.7, the source and kustomize `v1beta2` ones in v2.8, and the image and
    /// notification `v1beta2` ones in v2.9: every CRD now serves only its storage version,
    /// and Alert and Provider are still at `v1beta3`.
    const FLUX_2_9_VERSIONS: &[(&str, &[&str])] = &[
        ("alerts.notification.toolkit.fluxcd.io", &["v1beta3"]),
        ("buckets.source.toolkit.fluxcd.io", &["v1"]),
        ("externalartifacts.source.toolkit.fluxcd.io", &["v1"]),
        ("gitrepositories.source.toolkit.fluxcd.io", &["v1"]),
        ("helmcharts.source.toolkit.fluxcd.io", &["v1"]),
        ("helmreleases.helm.toolkit.fluxcd.io", &["v2"]),
        ("helmrepositories.source.toolkit.fluxcd.io", &["v1"]),
        ("imagepolicies.image.toolkit.fluxcd.io", &["v1"]),
        ("imagerepositories.image.toolkit.fluxcd.io", &["v1"]),
        ("imageupdateautomations.image.toolkit.fluxcd.io", &["v1"]),
        ("kustomizations.kustomize.toolkit.fluxcd.io", &["v1"]),
        ("ocirepositories.source.toolkit.fluxcd.io", &["v1"]),
        ("providers.notification.toolkit.fluxcd.io", &["v1beta3"]),
        ("receivers.notification.toolkit.fluxcd.io", &["v1"]),
    ];

    #[test]
    fn served_versions_match_flux_2_9() {
        let crds = crds();
        let names: Vec<&str> = crds
            .iter()
            .filter_map(|c| c.metadata.name.as_deref())
            .collect();
        let expected: Vec<&str> = FLUX_2_9_VERSIONS.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, expected);
        for (crd, (name, flux_versions)) in crds.iter().zip(FLUX_2_9_VERSIONS) {
            let version_names = |keep: fn(&CustomResourceDefinitionVersion) -> bool| {
                let kept = crd.spec.versions.iter().filter(|v| keep(v));
                kept.map(|v| v.name.as_str()).collect::<Vec<_>>()
            };
            let served = version_names(|v| v.served);
            assert_eq!(&served, flux_versions, "{name}");
            let storage = version_names(|v| v.storage);
            // Flux's storage version is its newest one, listed first here.
            assert_eq!(storage, [flux_versions[0]], "{name}");
            // Like Flux: no conversion webhook; an absent strategy is `None`.
            let strategy = crd.spec.conversion.as_ref().map(|c| c.strategy.as_str());
            assert!(matches!(strategy, None | Some("None")), "{name}");
        }
    }

    #[test]
    fn crds_are_labelled_as_flux_labels_its_own() {
        for crd in crds() {
            let labels = crd.metadata.labels.clone().unwrap_or_default();
            assert_eq!(labels[PART_OF_LABEL], "flux", "{:?}", crd.metadata.name);
            let component = &labels[COMPONENT_LABEL];
            let group = crd.spec.group.as_str();
            let expected = match group {
                "source.toolkit.fluxcd.io" => "source-controller",
                "kustomize.toolkit.fluxcd.io" => "kustomize-controller",
                "helm.toolkit.fluxcd.io" => "helm-controller",
                "image.toolkit.fluxcd.io" => "image-automation-controller",
                _ => "notification-controller",
            };
            assert_eq!(component, expected, "{group}");
        }
    }

    #[test]
    fn schemas_have_no_nullable_fields_or_null_enum_members() {
        for crd in crds() {
            let json = serde_json::to_string(&crd).unwrap_or_default();
            assert!(!json.contains("\"nullable\""), "{:?}", crd.metadata.name);
            assert!(
                !json.contains("null]") && !json.contains("null,"),
                "{:?}",
                crd.metadata.name
            );
        }
    }

    #[test]
    fn status_defaults_to_unobserved_generation() {
        for crd in crds() {
            let version = &crd.spec.versions[0];
            let status = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .and_then(|s| s.properties.as_ref())
                .and_then(|p| p.get("status"));
            match (crd.spec.names.kind.as_str(), status) {
                ("Provider" | "Alert", None) => {}
                // Its producer reports no generation, and Flux sets no default.
                ("ExternalArtifact", Some(status)) => assert_eq!(status.default, None),
                (kind, Some(status)) => assert_eq!(
                    status.default.as_ref().map(|d| &d.0),
                    Some(&serde_json::json!({"observedGeneration": -1})),
                    "{kind}"
                ),
                (kind, None) => panic!("{kind} has no status schema"),
            }
        }
    }
}
