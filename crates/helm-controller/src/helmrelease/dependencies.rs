//! `dependsOn`: the HelmReleases that must be ready first, by their Ready condition or their
//! `readyExpr`.

use driftless_api::conditions::{INVALID_CEL_EXPRESSION, READY};
use driftless_api::helm::HelmRelease;
use driftless_runtime::cel::Expression;
use driftless_runtime::conditions as cond;
use driftless_runtime::reconcile::Outcome;
use kube::ResourceExt;
use kube::api::Api;

use super::Reconciler;

impl Reconciler {
    /// The first `dependsOn` HelmRelease that is not ready, described: Ready at its latest
    /// generation, or what its `readyExpr` says (CEL over `self` and `dep`). An expression
    /// that does not compile is a configuration error.
    pub(super) async fn unready_dependency(
        &self,
        object: &HelmRelease,
    ) -> Result<Option<String>, Outcome> {
        let own = object.namespace().unwrap_or_default();
        let this = serde_json::to_value(object).unwrap_or_default();
        for dependency in &object.spec.depends_on {
            let namespace = dependency.namespace.clone().unwrap_or_else(|| own.clone());
            let expression = match dependency.ready_expr.as_deref().filter(|e| !e.is_empty()) {
                Some(source) => Some(Expression::compile(source).map_err(|error| {
                    Outcome::configuration_error(INVALID_CEL_EXPRESSION, error)
                })?),
                None => None,
            };
            let api: Api<HelmRelease> = Api::namespaced(self.runtime.client.clone(), &namespace);
            let Ok(Some(found)) = api.get_opt(&dependency.name).await else {
                return Ok(Some(format!(
                    "dependency '{namespace}/{}' not found",
                    dependency.name
                )));
            };
            let ready = match &expression {
                Some(expression) => {
                    let dep = serde_json::to_value(&found).unwrap_or_default();
                    expression
                        .holds_with(&[("self", &this), ("dep", &dep)])
                        .map_err(|error| {
                            Outcome::configuration_error(INVALID_CEL_EXPRESSION, error)
                        })?
                }
                None => found.status.as_ref().is_some_and(|s| {
                    cond::is_true(&s.conditions, READY)
                        && s.observed_generation == found.metadata.generation
                }),
            };
            if !ready {
                return Ok(Some(format!(
                    "dependency '{namespace}/{}' is not ready",
                    dependency.name
                )));
            }
        }
        Ok(None)
    }
}
