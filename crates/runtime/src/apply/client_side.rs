//! Client-side apply, as Helm 3 writes objects: created when missing, otherwise patched
//! with a patch the caller computes from the live object (Helm's three-way merge), or
//! replaced whole with `force`. The caller decides the patch; this only writes it.

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::Value;

use super::{Action, Applier, ApplyError, Change, object_id};
use crate::kube_errors;

/// How a client-side patch is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientPatch {
    /// `application/strategic-merge-patch+json` (kinds built into Kubernetes).
    Strategic,
    /// `application/merge-patch+json` (custom resources).
    Merge,
}

impl Applier {
    /// Writes `object` client-side: a create when it does not exist; otherwise the patch
    /// `patch_for(live)` returns (nothing when it returns `None`), or with `force` a replace
    /// that is turned into delete-and-create when the API server refuses it (an immutable
    /// field), as `helm upgrade --force` does.
    pub async fn apply_client_side(
        &self,
        object: &Value,
        force: bool,
        patch_for: impl FnOnce(&Value) -> Option<(Value, ClientPatch)>,
    ) -> Result<Change, ApplyError> {
        let Some(id) = object_id(object) else {
            return Err(ApplyError::Invalid {
                object: object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned(),
                message: "missing apiVersion, kind or metadata.name".to_owned(),
            });
        };
        let kind = self.kind(&id).await?;
        let api = self.api(&kind, if kind.namespaced { &id.namespace } else { "" });
        let failed = |e: kube::Error| ApplyError::Apply {
            object: id.display(),
            message: kube_errors::message(&e),
        };
        let typed = || -> Result<kube::api::DynamicObject, ApplyError> {
            serde_json::from_value(object.clone()).map_err(|e| ApplyError::Invalid {
                object: id.display(),
                message: e.to_string(),
            })
        };
        let post = PostParams {
            field_manager: Some(self.field_manager.clone()),
            ..PostParams::default()
        };
        let Some(live) = api.get_opt(&id.name).await.map_err(failed)? else {
            api.create(&post, &typed()?).await.map_err(failed)?;
            return Ok(Change::new(&id, Action::Created));
        };
        let live = serde_json::to_value(&live).unwrap_or(Value::Null);
        if force {
            let mut replacement = typed()?;
            replacement.metadata.resource_version = live
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match api.replace(&id.name, &post, &replacement).await {
                Ok(_) => return Ok(Change::new(&id, Action::Configured)),
                Err(kube::Error::Api(status)) if status.code == 422 || status.code == 409 => {
                    api.delete(&id.name, &DeleteParams::background())
                        .await
                        .map_err(failed)?;
                    self.wait_gone(&api, &id.name).await;
                    api.create(&post, &typed()?).await.map_err(failed)?;
                    return Ok(Change::new(&id, Action::Created));
                }
                Err(e) => return Err(failed(e)),
            }
        }
        let Some((patch, patch_type)) = patch_for(&live) else {
            return Ok(Change::new(&id, Action::Unchanged));
        };
        let params = PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..PatchParams::default()
        };
        let patch = match patch_type {
            ClientPatch::Strategic => Patch::Strategic(&patch),
            ClientPatch::Merge => Patch::Merge(&patch),
        };
        api.patch(&id.name, &params, &patch).await.map_err(failed)?;
        Ok(Change::new(&id, Action::Configured))
    }
}
