//! What a Kustomization's reconcile reads before building: the source artifact, its
//! dependencies' readiness, the decryption keys and the substitution variables.

use std::collections::BTreeMap;

use driftless_api::conditions::{ARTIFACT_FAILED, BUILD_FAILED_REASON, DEPENDENCY_NOT_READY};
use driftless_api::kustomize::{Kustomization, PostBuild, SourceKind, SubstituteKind};
use driftless_api::meta::Artifact;
use driftless_runtime::conditions as cond;
use driftless_runtime::go_duration;
use driftless_runtime::kube_errors::{self, is_not_found};
use driftless_runtime::reconcile::Outcome;
use driftless_runtime::secrets::secret_data;
use driftless_sops::Identities;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::{Resource, ResourceExt};

use super::Reconciler;
use super::outcome::{failure, retry_interval, waiting};

fn source_resource(kind: SourceKind) -> ApiResource {
    let (kind, plural) = match kind {
        SourceKind::GitRepository => ("GitRepository", "gitrepositories"),
        SourceKind::OciRepository => ("OCIRepository", "ocirepositories"),
        SourceKind::Bucket => ("Bucket", "buckets"),
        SourceKind::ExternalArtifact => ("ExternalArtifact", "externalartifacts"),
    };
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", kind),
        plural,
    )
}

impl Reconciler {
    pub(super) async fn source_artifact(
        &self,
        object: &Kustomization,
    ) -> Result<Artifact, Outcome> {
        let reference = &object.spec.source_ref;
        let own = object.namespace().unwrap_or_default();
        let namespace = reference.namespace.clone().unwrap_or_else(|| own.clone());
        let name = format!(
            "{}/{}/{}",
            reference.kind.as_str(),
            namespace,
            reference.name
        );
        if reference.kind == SourceKind::ExternalArtifact && !self.settings.external_artifacts {
            return Err(Outcome::configuration_error(
                driftless_api::conditions::FEATURE_GATE_DISABLED,
                "sourceRef of kind ExternalArtifact needs the ExternalArtifact feature gate \
                 (--feature-gates=ExternalArtifact=true)",
            ));
        }
        if self.settings.no_cross_namespace_refs && namespace != own {
            return Err(failure(
                object,
                driftless_api::conditions::ACCESS_DENIED,
                format!("can't access '{name}', cross-namespace references have been blocked"),
            ));
        }
        match self
            .sources
            .artifact(reference.kind, &namespace, &reference.name)
        {
            Some(Some(artifact)) => return Ok(artifact),
            Some(None) => return Err(self.no_artifact_yet()),
            None => {}
        }
        let resource = source_resource(reference.kind);
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.runtime.client.clone(), &namespace, &resource);
        let source = api.get_opt(&reference.name).await.map_err(|e| {
            failure(
                object,
                ARTIFACT_FAILED,
                format!(
                    "unable to get source '{namespace}/{}': {}",
                    reference.name,
                    kube_errors::message(&e)
                ),
            )
        })?;
        let Some(source) = source else {
            return Err(waiting(
                ARTIFACT_FAILED,
                format!("{name} not found"),
                retry_interval(object),
            ));
        };
        let artifact = source
            .data
            .pointer("/status/artifact")
            .cloned()
            .and_then(|a| serde_json::from_value::<Artifact>(a).ok());
        artifact.ok_or_else(|| self.no_artifact_yet())
    }

    fn no_artifact_yet(&self) -> Outcome {
        waiting(
            ARTIFACT_FAILED,
            format!(
                "Source artifact not found, retrying in {}",
                go_duration(self.settings.requeue_dependency)
            ),
            self.settings.requeue_dependency,
        )
    }

    /// `dependsOn`: every dependency Ready at its latest generation, and at this revision when
    /// it builds from the same source.
    pub(super) async fn check_dependencies(
        &self,
        object: &Kustomization,
        artifact: &Artifact,
    ) -> Result<(), Outcome> {
        let own = object.namespace().unwrap_or_default();
        let not_ready = |message: String| {
            waiting(
                DEPENDENCY_NOT_READY,
                message,
                self.settings.requeue_dependency,
            )
        };
        for dependency in &object.spec.depends_on {
            let namespace = dependency.namespace.clone().unwrap_or_else(|| own.clone());
            let name = format!("{namespace}/{}", dependency.name);
            let api: Api<Kustomization> = Api::namespaced(self.runtime.client.clone(), &namespace);
            let found = api.get_opt(&dependency.name).await.map_err(|e| {
                not_ready(format!(
                    "dependency '{name}' not found: {}",
                    kube_errors::message(&e)
                ))
            })?;
            let Some(found) = found else {
                return Err(not_ready(format!(
                    "dependency '{name}' not found: kustomizations.kustomize.toolkit.fluxcd.io \"{}\" not found",
                    dependency.name
                )));
            };
            let status = found.status.clone().unwrap_or_default();
            let ready = cond::is_true(&status.conditions, driftless_api::conditions::READY);
            if !ready || status.observed_generation != found.meta().generation {
                return Err(not_ready(format!("dependency '{name}' is not ready")));
            }
            let same_source = found.spec.source_ref.kind == object.spec.source_ref.kind
                && found.spec.source_ref.name == object.spec.source_ref.name
                && found
                    .spec
                    .source_ref
                    .namespace
                    .clone()
                    .unwrap_or_else(|| namespace.clone())
                    == object
                        .spec
                        .source_ref
                        .namespace
                        .clone()
                        .unwrap_or_else(|| own.clone());
            if same_source
                && status.last_applied_revision.as_deref() != Some(artifact.revision.as_str())
            {
                return Err(not_ready(format!(
                    "dependency '{name}' revision is not up to date"
                )));
            }
        }
        Ok(())
    }

    /// The age identities of `spec.decryption`: the `*.agekey` entries of its Secret, or of
    /// the controller's `--sops-age-secret` when it names none. `None` without decryption.
    pub(super) async fn decryption_identities(
        &self,
        object: &Kustomization,
    ) -> Result<Option<Identities>, Outcome> {
        let Some(decryption) = &object.spec.decryption else {
            return Ok(None);
        };
        let failed = |message: String| failure(object, BUILD_FAILED_REASON, message);
        let (namespace, name, what) = match &decryption.secret_ref {
            Some(reference) => (
                object.namespace().unwrap_or_default(),
                reference.name.clone(),
                "sops decryption Secret",
            ),
            None => match &self.settings.sops_age_secret {
                Some(name) => (
                    self.runtime.runtime_namespace.clone(),
                    name.clone(),
                    "sops SOPS age decryption Secret",
                ),
                None => return Ok(Some(Identities::new())),
            },
        };
        let data = secret_data(&self.runtime.client, &namespace, &name)
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    failed(format!("secrets \"{name}\" not found"))
                } else {
                    failed(format!(
                        "cannot get {what} '{namespace}/{name}': {}",
                        kube_errors::message(&e)
                    ))
                }
            })?;
        let mut identities = Identities::new();
        for (key, value) in data {
            if !key.ends_with(".agekey") {
                continue;
            }
            let text = String::from_utf8_lossy(&value);
            identities.add_key_file(&text).map_err(|e| {
                failed(format!(
                    "failed to import '{key}' data from {what} '{namespace}/{name}': {e}"
                ))
            })?;
        }
        Ok(Some(identities))
    }

    /// `substituteFrom` in order (later entries win), then `substitute` over all.
    pub(super) async fn substitution_variables(
        &self,
        object: &Kustomization,
        post_build: &PostBuild,
    ) -> Result<BTreeMap<String, String>, String> {
        let namespace = object.namespace().unwrap_or_default();
        let mut vars = BTreeMap::new();
        for reference in &post_build.substitute_from {
            let (kind, found) = match reference.kind {
                SubstituteKind::ConfigMap => {
                    let api: Api<ConfigMap> =
                        Api::namespaced(self.runtime.client.clone(), &namespace);
                    (
                        "ConfigMap",
                        api.get_opt(&reference.name)
                            .await
                            .map(|c| c.map(|c| c.data.unwrap_or_default())),
                    )
                }
                SubstituteKind::Secret => {
                    let data = match secret_data(&self.runtime.client, &namespace, &reference.name)
                        .await
                    {
                        Ok(data) => Ok(Some(
                            data.into_iter()
                                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                                .collect::<BTreeMap<_, _>>(),
                        )),
                        Err(e) if is_not_found(&e) => Ok(None),
                        Err(e) => Err(e),
                    };
                    ("Secret", data)
                }
            };
            match found {
                Ok(Some(data)) => vars.extend(data),
                Ok(None) if reference.optional => {}
                Ok(None) => {
                    return Err(format!(
                        "substitute from '{kind}/{}' error: {kind} \"{}\" not found",
                        reference.name, reference.name
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "substitute from '{kind}/{}' error: {}",
                        reference.name,
                        kube_errors::message(&e)
                    ));
                }
            }
        }
        vars.extend(post_build.substitute.clone());
        crate::substitute::prepare(vars).map_err(|e| e.to_string())
    }
}
