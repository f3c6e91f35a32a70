//! Matching a Kubernetes `LabelSelector` (`matchLabels` and `matchExpressions`) against an
//! object's labels, as the API server's selector semantics define it, for selectors that
//! live in a spec (ImageUpdateAutomation's `policySelector`) rather than in a list request.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("{0:?} is not a valid label selector operator")]
    Operator(String),
    #[error("for 'in' and 'notin' operators, values set can't be empty (key {0:?})")]
    EmptyValues(String),
    #[error("values set must be empty for 'exists' and 'doesnotexist' (key {0:?})")]
    UnexpectedValues(String),
}

/// Whether `labels` satisfy every requirement of `selector`; an empty selector matches all.
pub fn matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, SelectorError> {
    validate(selector)?;
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let expressions_match = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            _ => value.is_none(),
        }
    });
    Ok(labels_match && expressions_match)
}

/// Rejects operators and value sets the API server would reject.
pub fn validate(selector: &LabelSelector) -> Result<(), SelectorError> {
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(SelectorError::EmptyValues(e.key.clone()));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(SelectorError::UnexpectedValues(e.key.clone()));
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => return Err(SelectorError::Operator(other.to_owned())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(json: serde_json::Value) -> LabelSelector {
        serde_json::from_value(json).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn labels_and_expressions_must_all_hold() {
        let s = selector(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "staging"]},
                {"key": "skip", "operator": "DoesNotExist"},
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
                {"key": "team", "operator": "Exists"}
            ]
        }));
        let good = labels(&[("app", "web"), ("env", "prod"), ("team", "a")]);
        assert_eq!(matches(&s, &good), Ok(true));
        let mut bad = good.clone();
        bad.insert("skip".into(), "yes".into());
        assert_eq!(matches(&s, &bad), Ok(false));
        let mut db = good.clone();
        db.insert("tier".into(), "db".into());
        assert_eq!(matches(&s, &db), Ok(false));
        assert_eq!(
            matches(&s, &labels(&[("app", "web"), ("team", "a")])),
            Ok(false)
        );
        assert_eq!(
            matches(&LabelSelector::default(), &BTreeMap::new()),
            Ok(true)
        );
    }

    #[test]
    fn invalid_selectors_are_errors() {
        let unknown = selector(
            serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}),
        );
        assert_eq!(
            matches(&unknown, &BTreeMap::new()),
            Err(SelectorError::Operator("Equals".into()))
        );
        let empty =
            selector(serde_json::json!({"matchExpressions": [{"key": "a", "operator": "In"}]}));
        assert!(matches!(
            validate(&empty),
            Err(SelectorError::EmptyValues(_))
        ));
        let extra = selector(
            serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
        );
        assert!(matches!(
            validate(&extra),
            Err(SelectorError::UnexpectedValues(_))
        ));
    }
}
