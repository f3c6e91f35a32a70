//! Post-build variable substitution (`spec.postBuild`), as Flux's envsubst does it: on each
//! object's YAML text, `${var}` and its bash-like forms are replaced, `$$` is a literal `$`,
//! `$var` without braces is left alone; the result is read back as YAML, so types follow the
//! substituted text.

use std::collections::BTreeMap;

use serde_json::Value;

pub const DISABLE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubstituteError {
    #[error("'{0}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'")]
    InvalidName(String),
    #[error("variable not set (strict mode): \"{0}\"")]
    NotSet(String),
    #[error("envsubst error: variable substitution failed: {0}")]
    Syntax(String),
    #[error("YAMLToJSON: {0}")]
    Yaml(String),
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Checks names and strips newlines from values, as Flux prepares them.
pub fn prepare(
    vars: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SubstituteError> {
    vars.into_iter()
        .map(|(k, v)| {
            if valid_name(&k) {
                Ok((k, v.replace('\n', "")))
            } else {
                Err(SubstituteError::InvalidName(k))
            }
        })
        .collect()
}

/// Whether an object opted out with the label or annotation `…/substitute: disabled`.
pub fn disabled(object: &Value) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        object
            .pointer(&format!(
                "/metadata/{field}/{}",
                DISABLE_KEY.replace('/', "~1")
            ))
            .and_then(Value::as_str)
            == Some("disabled")
    })
}

/// Substitutes `vars` into one object.
pub fn substitute_object(
    object: &Value,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Value, SubstituteError> {
    let text = serde_yaml::to_string(object).map_err(|e| SubstituteError::Yaml(e.to_string()))?;
    let replaced = substitute(&text, vars, strict)?;
    serde_yaml::from_str(&replaced).map_err(|e| SubstituteError::Yaml(e.to_string()))
}

/// Substitutes `vars` into `text`.
pub fn substitute(
    text: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, SubstituteError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let close = matching_brace(tail)
                .ok_or_else(|| SubstituteError::Syntax("missing closing brace".to_owned()))?;
            out.push_str(&expand(&tail[..close], vars, strict)?);
            rest = &tail[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` closing an expression (nested `${…}` in defaults allowed).
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn expand(
    expression: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, SubstituteError> {
    if let Some(name) = expression.strip_prefix('#') {
        return Ok(lookup(name, vars, strict)?.chars().count().to_string());
    }
    let name_len = expression
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(expression.len());
    let (name, operation) = expression.split_at(name_len);
    if !valid_name(name) {
        return Err(SubstituteError::Syntax(format!(
            "unable to parse variable name in '${{{expression}}}'"
        )));
    }
    if operation.is_empty() {
        return lookup(name, vars, strict);
    }
    // Defaults: used when the variable is unset or empty, whatever the operator.
    for operator in [":=", ":-", "=", "-", ":+", "+", ":?", "?"] {
        if let Some(default) = operation.strip_prefix(operator) {
            let value = vars.get(name).cloned().unwrap_or_default();
            return if value.is_empty() {
                substitute(default, vars, strict)
            } else {
                Ok(value)
            };
        }
    }
    let value = lookup(name, vars, strict)?;
    let op = operation;
    Ok(match op {
        "^" => upper_first(&value),
        "^^" => value.to_uppercase(),
        "," => lower_first(&value),
        ",," => value.to_lowercase(),
        _ if op.starts_with("//") => replace(&value, &op[2..], true)?,
        _ if op.starts_with("/#") => {
            let (pattern, replacement) = op[2..].split_once('/').unwrap_or((&op[2..], ""));
            match value.strip_prefix(pattern) {
                Some(tail) => format!("{replacement}{tail}"),
                None => value,
            }
        }
        _ if op.starts_with("/%") => {
            let (pattern, replacement) = op[2..].split_once('/').unwrap_or((&op[2..], ""));
            match value.strip_suffix(pattern) {
                Some(head) => format!("{head}{replacement}"),
                None => value,
            }
        }
        _ if op.starts_with('/') => replace(&value, &op[1..], false)?,
        _ if op.starts_with("##") => trim_prefix(&value, &op[2..], true),
        _ if op.starts_with('#') => trim_prefix(&value, &op[1..], false),
        _ if op.starts_with("%%") => trim_suffix(&value, &op[2..], true),
        _ if op.starts_with('%') => trim_suffix(&value, &op[1..], false),
        _ if op.starts_with(':') => substring(&value, &op[1..])?,
        _ => {
            return Err(SubstituteError::Syntax(format!(
                "bad substitution '${{{expression}}}'"
            )));
        }
    })
}

fn lookup(
    name: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, SubstituteError> {
    match vars.get(name) {
        Some(value) => Ok(value.clone()),
        None if strict => Err(SubstituteError::NotSet(name.to_owned())),
        None => Ok(String::new()),
    }
}

fn upper_first(value: &str) -> String {
    let mut chars = value.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn lower_first(value: &str) -> String {
    let mut chars = value.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

fn replace(value: &str, spec: &str, all: bool) -> Result<String, SubstituteError> {
    let (pattern, replacement) = spec.split_once('/').unwrap_or((spec, ""));
    if pattern.is_empty() {
        return Ok(value.to_owned());
    }
    Ok(if all {
        value.replace(pattern, replacement)
    } else {
        value.replacen(pattern, replacement, 1)
    })
}

/// A shell glob (`*`, `?`) as an anchored regular expression.
fn glob(pattern: &str) -> Option<regex::Regex> {
    let mut re = String::from("^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*?"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).ok()
}

fn trim_prefix(value: &str, pattern: &str, longest: bool) -> String {
    let Some(re) = glob(pattern) else {
        return value.to_owned();
    };
    let ends: Vec<usize> = value
        .char_indices()
        .map(|(i, _)| i)
        .chain([value.len()])
        .collect();
    let candidates: Box<dyn Iterator<Item = &usize>> = if longest {
        Box::new(ends.iter().rev())
    } else {
        Box::new(ends.iter())
    };
    for &end in candidates {
        if re.is_match(&value[..end]) {
            return value[end..].to_owned();
        }
    }
    value.to_owned()
}

fn trim_suffix(value: &str, pattern: &str, longest: bool) -> String {
    let Some(re) = glob(pattern) else {
        return value.to_owned();
    };
    let starts: Vec<usize> = value
        .char_indices()
        .map(|(i, _)| i)
        .chain([value.len()])
        .collect();
    let candidates: Box<dyn Iterator<Item = &usize>> = if longest {
        Box::new(starts.iter())
    } else {
        Box::new(starts.iter().rev())
    };
    for &start in candidates {
        if re.is_match(&value[start..]) {
            return value[..start].to_owned();
        }
    }
    value.to_owned()
}

fn substring(value: &str, spec: &str) -> Result<String, SubstituteError> {
    let chars: Vec<char> = value.chars().collect();
    let len = chars.len() as i64;
    let bad = || SubstituteError::Syntax(format!("bad substring ':{spec}'"));
    let (offset, length) = match spec.split_once(':') {
        Some((o, l)) => (
            o.trim().parse::<i64>().map_err(|_| bad())?,
            Some(l.trim().parse::<i64>().map_err(|_| bad())?),
        ),
        None => (spec.trim().parse::<i64>().map_err(|_| bad())?, None),
    };
    let start = if offset < 0 {
        (len + offset).max(0)
    } else {
        offset.min(len)
    };
    let end = match length {
        None => len,
        Some(l) if l < 0 => (len + l).max(start),
        Some(l) => (start + l).min(len),
    };
    Ok(chars[start as usize..end as usize].iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn braces_defaults_and_escapes() {
        let v = vars(&[("region", "eu-west-1"), ("empty", "")]);
        assert_eq!(
            substitute("r=${region} $region $${region}", &v, false).unwrap(),
            "r=eu-west-1 $region ${region}"
        );
        assert_eq!(
            substitute(
                "${missing:=us} ${empty:-x} ${missing=y} ${region:-z}",
                &v,
                false
            )
            .unwrap(),
            "us x y eu-west-1"
        );
        assert_eq!(
            substitute("${missing:=${region}}", &v, false).unwrap(),
            "eu-west-1"
        );
        assert_eq!(substitute("${missing}", &v, false).unwrap(), "");
        assert_eq!(substitute("a $$ b", &v, false).unwrap(), "a $ b");
    }

    #[test]
    fn strict_mode_refuses_unset_variables_without_defaults() {
        let v = vars(&[]);
        assert_eq!(
            substitute("${nope}", &v, true),
            Err(SubstituteError::NotSet("nope".into()))
        );
        assert_eq!(substitute("${nope:=ok}", &v, true).unwrap(), "ok");
        assert!(substitute("${unterminated", &v, false).is_err());
    }

    #[test]
    fn bash_like_operations() {
        let v = vars(&[("name", "podinfo-app.yaml"), ("word", "hello")]);
        assert_eq!(
            substitute(
                "${#word} ${word^} ${word^^} ${name:0:7} ${name: -4}",
                &v,
                false
            )
            .unwrap(),
            "5 Hello HELLO podinfo yaml"
        );
        assert_eq!(
            substitute("${name%.*} ${name#*-} ${name//p/P} ${name/p/P}", &v, false).unwrap(),
            "podinfo-app app.yaml Podinfo-aPP.yaml Podinfo-app.yaml"
        );
    }

    #[test]
    fn names_are_checked_and_newlines_dropped() {
        assert!(prepare(vars(&[("1bad", "x")])).is_err());
        assert_eq!(prepare(vars(&[("ok", "a\nb")])).unwrap()["ok"], "ab");
    }

    #[test]
    fn objects_are_retyped_after_substitution() {
        let object = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-${env}"}, "spec": {"replicas": "${replicas}"}});
        let out = substitute_object(&object, &vars(&[("env", "prod"), ("replicas", "3")]), false)
            .unwrap();
        assert_eq!(out["metadata"]["name"], "web-prod");
        // As in Flux: the substituted text is read as YAML, so a number is a number.
        assert_eq!(out["spec"]["replicas"], 3);
        assert!(disabled(
            &serde_json::json!({"metadata": {"labels": {DISABLE_KEY: "disabled"}}})
        ));
    }
}
