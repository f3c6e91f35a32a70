//! `spec.healthCheckExprs`: CEL expressions that say when objects of a kind are healthy, for
//! kinds whose status kstatus cannot read. As in Flux: matched by API group and kind (the
//! version is ignored; an entry without a kind covers its whole group), evaluated on the live
//! object with each top-level field (`metadata`, `spec`, `status`, ...) as a variable, in the
//! order `inProgress`, `failed`, `current`, and in progress when none holds.

use crate::cel::{Expression, on_large_stack};
use driftless_api::kustomize::CustomHealthCheck;
use serde_json::Value;

use crate::health::Health;

struct Check {
    group: String,
    /// `None`: every kind of the group.
    kind: Option<String>,
    current: Expression,
    in_progress: Option<Expression>,
    failed: Option<Expression>,
}

/// The compiled `healthCheckExprs` of one Kustomization or HelmRelease.
#[derive(Default)]
pub struct CustomHealthChecks {
    checks: Vec<Check>,
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

fn parse(what: &str, source: &str) -> Result<Expression, String> {
    Expression::compile(source).map_err(|e| format!("failed to parse the expression {what}: {e}"))
}

impl CustomHealthChecks {
    /// Parses every expression. Errors name the entry, as Flux's do; they are configuration
    /// errors that no retry fixes.
    pub fn compile(entries: &[CustomHealthCheck]) -> Result<CustomHealthChecks, String> {
        let mut checks: Vec<Check> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let failed = |e: String| {
                format!("failed to create custom status evaluator for healthchecks[{i}]: {e}")
            };
            if entry.current.trim().is_empty() {
                return Err(failed("expression Current not specified".into()));
            }
            let group = group_of(&entry.api_version).to_owned();
            let kind = entry.kind.clone().filter(|k| !k.is_empty());
            if checks.iter().any(|c| c.group == group && c.kind == kind) {
                return Err(format!(
                    "duplicate custom health check for GroupKind {}.{group} at healthchecks[{i}]",
                    kind.as_deref().unwrap_or("*")
                ));
            }
            let optional = |what: &str, source: &Option<String>| {
                source
                    .as_deref()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| parse(what, s))
                    .transpose()
            };
            checks.push(Check {
                group,
                kind,
                current: parse("Current", &entry.current).map_err(failed)?,
                in_progress: optional("InProgress", &entry.in_progress).map_err(failed)?,
                failed: optional("Failed", &entry.failed).map_err(failed)?,
            });
        }
        Ok(CustomHealthChecks { checks })
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Whether an entry decides the health of objects of `group` and `kind`.
    pub fn covers(&self, group: &str, kind: &str) -> bool {
        self.checks
            .iter()
            .any(|c| c.group == group && c.kind.as_deref().is_none_or(|k| k == kind))
    }

    /// The health of `object` by the entry for its group and kind (an exact kind first),
    /// `None` when no entry covers it.
    pub fn health(&self, object: &Value) -> Option<Health> {
        let group = group_of(object.get("apiVersion")?.as_str()?);
        let kind = object.get("kind")?.as_str()?;
        let check = self
            .checks
            .iter()
            .find(|c| c.group == group && c.kind.as_deref() == Some(kind))
            .or_else(|| {
                self.checks
                    .iter()
                    .find(|c| c.group == group && c.kind.is_none())
            })?;
        Some(on_large_stack(|| evaluate(check, object)).unwrap_or_else(Health::Unknown))
    }
}

fn evaluate(check: &Check, object: &Value) -> Health {
    // A status written for an older generation says nothing about this one.
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = object
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    if let (Some(generation), Some(observed)) = (generation, observed)
        && generation != observed
    {
        return Health::InProgress(format!(
            "status is for generation {observed}, the object is at {generation}"
        ));
    }
    let mut context = crate::cel::context();
    if let Some(fields) = object.as_object() {
        for (name, value) in fields {
            if let Err(error) = context.add_variable(name.as_str(), value) {
                return Health::Unknown(format!("reading field '{name}': {error}"));
            }
        }
    }
    let outcomes = [
        (&check.in_progress, Health::InProgress(String::new())),
        (&check.failed, Health::Failed(String::new())),
    ];
    for (expression, outcome) in outcomes {
        if let Some(expression) = expression {
            match expression.holds(&context) {
                Ok(true) => return outcome,
                Ok(false) => {}
                Err(error) => return Health::Unknown(error),
            }
        }
    }
    match check.current.holds(&context) {
        Ok(true) => Health::Current,
        Ok(false) => Health::InProgress(String::new()),
        Err(error) => Health::Unknown(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(api_version: &str, kind: Option<&str>) -> CustomHealthCheck {
        CustomHealthCheck {
            api_version: api_version.into(),
            kind: kind.map(Into::into),
            current: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
                .into(),
            in_progress: Some(
                "status.conditions.exists(e, e.type == 'Reconciling' && e.status == 'True')".into(),
            ),
            failed: Some(
                "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')".into(),
            ),
        }
    }

    fn object(conditions: Value) -> Value {
        serde_json::json!({
            "apiVersion": "example.com/v2", "kind": "Widget",
            "metadata": { "name": "w", "generation": 2 },
            "status": { "observedGeneration": 2, "conditions": conditions },
        })
    }

    #[test]
    fn expressions_decide_in_flux_order() {
        let checks =
            CustomHealthChecks::compile(&[entry("example.com/v1", Some("Widget"))]).unwrap();
        let ready = serde_json::json!([{ "type": "Ready", "status": "True" }]);
        assert_eq!(checks.health(&object(ready)), Some(Health::Current));
        let failed = serde_json::json!([{ "type": "Ready", "status": "False" }]);
        assert!(matches!(
            checks.health(&object(failed)),
            Some(Health::Failed(_))
        ));
        // inProgress is asked first, even when the object also reads as failed.
        let both = serde_json::json!([
            { "type": "Ready", "status": "False" },
            { "type": "Reconciling", "status": "True" },
        ]);
        assert!(matches!(
            checks.health(&object(both)),
            Some(Health::InProgress(_))
        ));
        // None holds: in progress.
        let unknown = serde_json::json!([{ "type": "Ready", "status": "Unknown" }]);
        assert!(matches!(
            checks.health(&object(unknown)),
            Some(Health::InProgress(_))
        ));
    }

    #[test]
    fn stale_status_missing_fields_and_other_kinds() {
        let checks =
            CustomHealthChecks::compile(&[entry("example.com/v1", Some("Widget"))]).unwrap();
        let mut stale = object(serde_json::json!([{ "type": "Ready", "status": "True" }]));
        stale["metadata"]["generation"] = serde_json::json!(3);
        assert!(matches!(checks.health(&stale), Some(Health::InProgress(_))));
        // A missing field is an evaluation error, not a false.
        let no_status = serde_json::json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" },
        });
        match checks.health(&no_status) {
            Some(Health::Unknown(message)) => {
                assert!(
                    message.starts_with("failed to evaluate the CEL expression"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
        let other_kind = serde_json::json!({ "apiVersion": "example.com/v1", "kind": "Gadget" });
        assert_eq!(checks.health(&other_kind), None);
        let other_group = serde_json::json!({ "apiVersion": "apps/v1", "kind": "Widget" });
        assert_eq!(checks.health(&other_group), None);
    }

    #[test]
    fn a_group_entry_covers_its_kinds_after_exact_ones() {
        let mut group_wide = entry("example.com/v1", None);
        group_wide.current = "true".into();
        group_wide.in_progress = None;
        group_wide.failed = None;
        let checks =
            CustomHealthChecks::compile(&[group_wide, entry("example.com/v1", Some("Widget"))])
                .unwrap();
        let gadget = serde_json::json!({ "apiVersion": "example.com/v1", "kind": "Gadget" });
        assert_eq!(checks.health(&gadget), Some(Health::Current));
        let failed = serde_json::json!([{ "type": "Ready", "status": "False" }]);
        assert!(matches!(
            checks.health(&object(failed)),
            Some(Health::Failed(_))
        ));
    }

    #[test]
    fn configuration_errors_name_the_entry() {
        let mut bad = entry("example.com/v1", Some("Widget"));
        bad.in_progress = Some("foo.".into());
        let error = CustomHealthChecks::compile(&[entry("a.io/v1", Some("A")), bad])
            .err()
            .unwrap();
        assert!(
            error.starts_with("failed to create custom status evaluator for healthchecks[1]: failed to parse the expression InProgress: failed to parse the CEL expression 'foo.'"),
            "{error}"
        );
        let mut empty = entry("example.com/v1", Some("Widget"));
        empty.current = " ".into();
        let error = CustomHealthChecks::compile(&[empty]).err().unwrap();
        assert!(
            error.ends_with("expression Current not specified"),
            "{error}"
        );
        let twice = [
            entry("example.com/v1", Some("Widget")),
            entry("example.com/v2", Some("Widget")),
        ];
        let error = CustomHealthChecks::compile(&twice).err().unwrap();
        assert!(
            error.starts_with("duplicate custom health check"),
            "{error}"
        );
        // A result that is no boolean is an evaluation error.
        let mut number = entry("example.com/v1", Some("Widget"));
        number.current = "1 + 1".into();
        number.in_progress = None;
        number.failed = None;
        let checks = CustomHealthChecks::compile(&[number]).unwrap();
        let ready = serde_json::json!([]);
        assert!(matches!(
            checks.health(&object(ready)),
            Some(Health::Unknown(_))
        ));
    }
}
