//! A HelmRelease's values: `valuesFrom` in order, then `values` on top, as Flux composes
//! them (`chartutil.ChartValuesFromReferences`). Pure: the ConfigMaps' and Secrets' texts are
//! read by the caller.

use driftless_api::helm::ValuesReference;
use driftless_helm::{strvals, values};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ValuesError {
    /// `object` reads `ConfigMap 'namespace/name'`.
    #[error("could not find {object}")]
    NotFound { object: String },
    #[error("missing key '{key}' in {object}")]
    MissingKey { key: String, object: String },
    #[error("unable to read values from key '{key}' in {object}: {error}")]
    Unreadable {
        key: String,
        object: String,
        error: String,
    },
    #[error(
        "unable to merge value from key '{key}' in {object} into target path '{path}': {error}"
    )]
    TargetPath {
        key: String,
        object: String,
        path: String,
        error: String,
    },
    #[error("spec.values is not a map")]
    InlineNotMap,
}

/// How errors name a ConfigMap or Secret.
pub fn describe(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind} '{namespace}/{name}'")
}

/// One `valuesFrom` entry and what its key held: `None` when the object or the key is
/// missing (an error unless the entry is optional).
pub struct Fetched<'a> {
    pub reference: &'a ValuesReference,
    pub text: Option<String>,
    /// Whether the object itself was found (so a missing key is told apart).
    pub object_found: bool,
}

/// The composed values.
pub fn compose(
    namespace: &str,
    fetched: &[Fetched<'_>],
    inline: Option<&Value>,
) -> Result<Map<String, Value>, ValuesError> {
    let inline = match inline {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(ValuesError::InlineNotMap),
    };
    let mut result = Map::new();
    for entry in fetched {
        let reference = entry.reference;
        let object = describe(&reference.kind, namespace, &reference.name);
        let key = reference.values_key().to_owned();
        let Some(text) = &entry.text else {
            if reference.optional {
                continue;
            }
            return Err(if entry.object_found {
                ValuesError::MissingKey { key, object }
            } else {
                ValuesError::NotFound { object }
            });
        };
        match reference.target_path.as_deref().filter(|p| !p.is_empty()) {
            None => {
                let parsed = values::parse(text).map_err(|error| ValuesError::Unreadable {
                    key,
                    object,
                    error: error.to_string(),
                })?;
                values::merge(&mut result, parsed);
            }
            Some(path) => {
                let set = if reference.literal {
                    strvals::set_at(path, Value::String(text.clone()), &mut result)
                        .map_err(|error| error.to_string())
                } else {
                    set_at_path(path, text, &mut result)
                };
                set.map_err(|error| ValuesError::TargetPath {
                    key,
                    object,
                    path: path.to_owned(),
                    error,
                })?;
            }
        }
    }
    values::merge(&mut result, inline);
    Ok(result)
}

/// `<path>=<text>` in `--set` syntax; a text in quotes is set as the string inside them.
fn set_at_path(path: &str, text: &str, into: &mut Map<String, Value>) -> Result<(), String> {
    let quoted = |quote: char| text.starts_with(quote) && text.ends_with(quote);
    let result = if quoted('\'') || quoted('"') {
        let inner = text.trim_matches(['\'', '"']);
        strvals::parse_string_into(&format!("{path}={inner}"), into)
    } else {
        strvals::parse_into(&format!("{path}={text}"), into)
    };
    result.map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reference(kind: &str, name: &str) -> ValuesReference {
        ValuesReference {
            kind: kind.into(),
            name: name.into(),
            ..ValuesReference::default()
        }
    }

    #[test]
    fn references_merge_in_order_and_inline_values_win() {
        let first = reference("ConfigMap", "base");
        let second = reference("Secret", "override");
        let fetched = [
            Fetched {
                reference: &first,
                text: Some("a: 1\nb:\n  c: 2\n  d: [1, 2]\n".into()),
                object_found: true,
            },
            Fetched {
                reference: &second,
                text: Some("b:\n  c: 3\n  d: [9]\n".into()),
                object_found: true,
            },
        ];
        let inline = json!({"a": "inline"});
        let values = compose("apps", &fetched, Some(&inline)).unwrap();
        assert_eq!(
            Value::Object(values),
            json!({"a": "inline", "b": {"c": 3, "d": [9]}})
        );
    }

    #[test]
    fn a_target_path_sets_the_text_and_inline_values_still_win() {
        let mut message = reference("ConfigMap", "message");
        message.target_path = Some("ui.message".into());
        let mut quoted = reference("Secret", "token");
        quoted.target_path = Some("auth.token".into());
        let fetched = [
            Fetched {
                reference: &message,
                text: Some("hello".into()),
                object_found: true,
            },
            Fetched {
                reference: &quoted,
                text: Some("\"123\"".into()),
                object_found: true,
            },
        ];
        let inline = json!({"ui": {"color": "blue"}});
        let values = compose("apps", &fetched, Some(&inline)).unwrap();
        assert_eq!(
            Value::Object(values),
            json!({"ui": {"message": "hello", "color": "blue"}, "auth": {"token": "123"}})
        );
        let inline = json!({"ui": {"message": "inline"}});
        let values = compose("apps", &fetched, Some(&inline)).unwrap();
        assert_eq!(values["ui"]["message"], "inline");
    }

    #[test]
    fn a_literal_target_path_keeps_the_text_as_it_is() {
        let config = "a=1,b=[2]\nkey: {x: y}\n";
        let mut literal = reference("ConfigMap", "file");
        literal.target_path = Some("config.files[0].content".into());
        literal.literal = true;
        let mut parsed = literal.clone();
        parsed.literal = false;
        let fetched = |reference| {
            [Fetched {
                reference,
                text: Some(config.into()),
                object_found: true,
            }]
        };
        let values = compose("apps", &fetched(&literal), None).unwrap();
        assert_eq!(
            Value::Object(values),
            json!({"config": {"files": [{"content": config}]}})
        );
        // Without `literal` the commas split the text into `--set` assignments.
        let values = compose("apps", &fetched(&parsed), None).unwrap();
        assert_ne!(values["config"]["files"][0]["content"], config);
    }

    #[test]
    fn missing_sources_fail_unless_optional() {
        let mut missing = reference("ConfigMap", "gone");
        let fetched = [Fetched {
            reference: &missing,
            text: None,
            object_found: false,
        }];
        assert_eq!(
            compose("apps", &fetched, None).unwrap_err().to_string(),
            "could not find ConfigMap 'apps/gone'"
        );
        let no_key = [Fetched {
            reference: &missing,
            text: None,
            object_found: true,
        }];
        assert_eq!(
            compose("apps", &no_key, None).unwrap_err().to_string(),
            "missing key 'values.yaml' in ConfigMap 'apps/gone'"
        );
        missing.optional = true;
        let optional = [Fetched {
            reference: &missing,
            text: None,
            object_found: false,
        }];
        assert_eq!(compose("apps", &optional, None).unwrap(), Map::new());
    }

    #[test]
    fn unreadable_values_name_their_source() {
        let bad = reference("Secret", "bad");
        let fetched = [Fetched {
            reference: &bad,
            text: Some("a: [unclosed".into()),
            object_found: true,
        }];
        let error = compose("apps", &fetched, None).unwrap_err().to_string();
        assert!(
            error.starts_with("unable to read values from key 'values.yaml' in Secret 'apps/bad'"),
            "{error}"
        );
    }
}
