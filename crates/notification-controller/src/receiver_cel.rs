//! The CEL expressions of a Receiver, compiled together so that the reconciler can stall a
//! Receiver whose expressions do not compile and the webhook server can evaluate them:
//! - `resourceFilter` and each resource's `filter`, over `res` (the object's metadata),
//!   `req` (the JSON body) and, for generic-oidc, `claims`: an object is reconciled only when
//!   they all return true;
//! - for each generic-oidc issuer, `variables` (evaluated in order over `claims` and the
//!   earlier ones as `vars.<name>`) and `validations` (all must hold).

use driftless_api::notification::ReceiverSpec;
use driftless_runtime::cel::{Expression, context_with, on_large_stack};
use serde_json::Value;

pub struct OidcExpressions {
    variables: Vec<(String, Expression)>,
    validations: Vec<(Expression, String)>,
}

pub struct ReceiverExpressions {
    resource_filter: Option<Expression>,
    /// Per entry of `spec.resources`.
    resource_filters: Vec<Option<Expression>>,
    /// Per entry of `spec.oidcProviders`.
    pub oidc: Vec<OidcExpressions>,
}

fn compile_optional(source: Option<&str>, what: &str) -> Result<Option<Expression>, String> {
    source
        .filter(|s| !s.trim().is_empty())
        .map(|s| Expression::compile(s).map_err(|e| format!("invalid {what}: {e}")))
        .transpose()
}

impl ReceiverExpressions {
    pub fn compile(spec: &ReceiverSpec) -> Result<ReceiverExpressions, String> {
        let resource_filter = compile_optional(spec.resource_filter.as_deref(), "resourceFilter")?;
        let resource_filters = spec
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| compile_optional(r.filter.as_deref(), &format!("resources[{i}].filter")))
            .collect::<Result<_, _>>()?;
        let mut oidc = Vec::with_capacity(spec.oidc_providers.len());
        for (i, provider) in spec.oidc_providers.iter().enumerate() {
            let mut variables = Vec::with_capacity(provider.variables.len());
            for (j, variable) in provider.variables.iter().enumerate() {
                let expression = Expression::compile(&variable.expression)
                    .map_err(|e| format!("invalid oidcProviders[{i}].variables[{j}]: {e}"))?;
                variables.push((variable.name.clone(), expression));
            }
            if provider.validations.is_empty() {
                // Without one, any token of the issuer for the audience would do.
                return Err(format!(
                    "invalid oidcProviders[{i}]: at least one validation is required"
                ));
            }
            let mut validations = Vec::with_capacity(provider.validations.len());
            for (j, validation) in provider.validations.iter().enumerate() {
                let expression = Expression::compile(&validation.expression)
                    .map_err(|e| format!("invalid oidcProviders[{i}].validations[{j}]: {e}"))?;
                let message = if validation.message.is_empty() {
                    format!("'{}' does not hold", validation.expression)
                } else {
                    validation.message.clone()
                };
                validations.push((expression, message));
            }
            oidc.push(OidcExpressions {
                variables,
                validations,
            });
        }
        Ok(ReceiverExpressions {
            resource_filter,
            resource_filters,
            oidc,
        })
    }

    /// Whether objects of `spec.resources[index]` are filtered (and so their metadata needed).
    pub fn filters(&self, index: usize) -> bool {
        self.resource_filter.is_some()
            || self
                .resource_filters
                .get(index)
                .is_some_and(Option::is_some)
    }

    /// Whether each object of `resources` (of `spec.resources[index]`) is to be reconciled,
    /// evaluated together on one thread.
    pub fn admit_all(
        &self,
        index: usize,
        resources: &[Value],
        req: &Value,
        claims: Option<&Value>,
    ) -> Vec<Result<bool, String>> {
        let filters: Vec<&Expression> = [
            self.resource_filter.as_ref(),
            self.resource_filters.get(index).and_then(Option::as_ref),
        ]
        .into_iter()
        .flatten()
        .collect();
        let empty = Value::Object(Default::default());
        let claims = claims.unwrap_or(&empty);
        let evaluated = on_large_stack(|| {
            resources
                .iter()
                .map(|res| {
                    let context = context_with(&[("res", res), ("req", req), ("claims", claims)])?;
                    for filter in &filters {
                        if !filter.holds(&context)? {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                })
                .collect::<Vec<_>>()
        });
        match evaluated {
            Ok(verdicts) => verdicts,
            Err(error) => resources.iter().map(|_| Err(error.clone())).collect(),
        }
    }

    /// Whether the object `res` of `spec.resources[index]` is to be reconciled.
    pub fn admits(
        &self,
        index: usize,
        res: &Value,
        req: &Value,
        claims: Option<&Value>,
    ) -> Result<bool, String> {
        self.admit_all(index, std::slice::from_ref(res), req, claims)
            .pop()
            .unwrap_or(Ok(false))
    }
}

impl OidcExpressions {
    /// Evaluates the variables, then every validation over `claims`; the messages of those that
    /// fail, joined.
    pub fn validate(&self, claims: &Value) -> Result<(), String> {
        let mut vars = serde_json::Map::new();
        for (name, expression) in &self.variables {
            let current = Value::Object(vars.clone());
            let value = expression.json_with(&[("claims", claims), ("vars", &current)])?;
            vars.insert(name.clone(), value);
        }
        let vars = Value::Object(vars);
        let mut failed = Vec::new();
        for (expression, message) in &self.validations {
            match expression.holds_with(&[("claims", claims), ("vars", &vars)]) {
                Ok(true) => {}
                Ok(false) => failed.push(message.clone()),
                Err(error) => failed.push(error),
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("token validation failed: {}", failed.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: Value) -> ReceiverSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn filters_select_objects_by_metadata_and_body() {
        let expressions = ReceiverExpressions::compile(&spec(serde_json::json!({
            "type": "generic", "secretRef": { "name": "s" },
            "resourceFilter": "req.tag.contains(res.metadata.name)",
            "resources": [
                { "kind": "ImageRepository", "name": "*", "matchLabels": { "a": "b" } },
                { "kind": "GitRepository", "name": "app", "filter": "has(res.metadata.labels) && res.metadata.labels.team == 'shop'" },
            ],
        })))
        .unwrap();
        let req = serde_json::json!({ "tag": "podinfo:6.5.0" });
        let podinfo = serde_json::json!({ "metadata": { "name": "podinfo" } });
        let other = serde_json::json!({ "metadata": { "name": "other" } });
        assert!(expressions.admits(0, &podinfo, &req, None).unwrap());
        assert!(!expressions.admits(0, &other, &req, None).unwrap());
        let shop =
            serde_json::json!({ "metadata": { "name": "podinfo", "labels": { "team": "shop" } } });
        assert!(expressions.admits(1, &shop, &req, None).unwrap());
        assert!(
            !expressions.admits(1, &podinfo, &req, None).unwrap(),
            "both filters must hold"
        );
        // A body without the field is an evaluation error, not a silent match.
        assert!(
            expressions
                .admits(0, &podinfo, &serde_json::json!({}), None)
                .is_err()
        );
        let error = ReceiverExpressions::compile(&spec(serde_json::json!({
            "type": "generic", "secretRef": { "name": "s" }, "resources": [],
            "resourceFilter": "res.metadata.(",
        })))
        .err()
        .unwrap();
        assert!(
            error.starts_with("invalid resourceFilter: failed to parse the CEL expression"),
            "{error}"
        );
    }

    #[test]
    fn oidc_variables_feed_validations() {
        let expressions = ReceiverExpressions::compile(&spec(serde_json::json!({
            "type": "generic-oidc", "resources": [],
            "oidcProviders": [{
                "issuerURL": "https://token.actions.githubusercontent.com",
                "variables": [
                    { "name": "owner", "expression": "claims.repository.split('/')[0]" },
                    { "name": "main", "expression": "claims.ref == 'refs/heads/main'" },
                ],
                "validations": [
                    { "expression": "vars.owner == 'org'", "message": "wrong owner" },
                    { "expression": "vars.main", "message": "not the main branch" },
                ],
            }],
        })))
        .unwrap();
        let oidc = &expressions.oidc[0];
        assert_eq!(
            oidc.validate(
                &serde_json::json!({ "repository": "org/app", "ref": "refs/heads/main" })
            ),
            Ok(())
        );
        assert_eq!(
            oidc.validate(
                &serde_json::json!({ "repository": "other/app", "ref": "refs/heads/dev" })
            ),
            Err("token validation failed: wrong owner; not the main branch".into())
        );
        assert!(
            oidc.validate(&serde_json::json!({ "ref": "x" })).is_err(),
            "a missing claim fails"
        );
    }
}
