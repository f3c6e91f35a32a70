//! Sprig v3's text functions.
//!
//! [`hermetic`] (`HermeticTxtFuncMap`, for commit messages): strings, conversions, numbers,
//! defaults and flow, JSON, encodings and hashes, lists, dicts, regexes, semver, reflection,
//! paths, `duration`/`durationRound`. [`full`] (`TxtFuncMap`, for Helm) adds dates, random
//! values, passwords, keys and certificates and URLs; `env`, `expandenv` and `getHostByName`
//! are left to the caller (Helm removes or replaces them).

mod crypto;
mod dates;
mod decimal;
mod json;
mod lists;
mod misc;
mod random;
mod strings;

use crate::funcs::{Arity, Func, FuncError, FuncMap};
use crate::print::sprint_value;
use crate::value::Value;

/// Sprig's `HermeticTxtFuncMap`, minus what this crate does not implement.
pub fn hermetic() -> FuncMap {
    let mut m = FuncMap::default();
    strings::register(&mut m);
    lists::register(&mut m);
    misc::register(&mut m);
    json::register(&mut m);
    decimal::register(&mut m);
    m
}

/// Sprig's `TxtFuncMap` without `env`, `expandenv` and `getHostByName`: the hermetic
/// functions plus dates, random values, passwords, keys, certificates and URLs.
pub fn full() -> FuncMap {
    let mut m = hermetic();
    dates::register(&mut m);
    random::register(&mut m);
    crypto::register(&mut m);
    m
}

pub(crate) fn add(
    m: &mut FuncMap,
    name: &str,
    arity: Arity,
    f: impl Fn(Vec<Value>) -> Result<Value, FuncError> + Send + Sync + 'static,
) {
    m.insert(name.to_string(), Func::new(arity, f));
}

pub(crate) fn fail<T>(m: impl Into<String>) -> Result<T, FuncError> {
    Err(FuncError::Call(m.into()))
}

/// Sprig's `strval`: strings as is, everything else as `%v`.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => sprint_value(other),
    }
}

/// Sprig's `empty`.
pub(crate) fn empty(v: &Value) -> bool {
    match v {
        Value::Object(_) => false,
        other => !other.truthy(),
    }
}

/// Go's `reflect.Kind` of a value as Sprig's list functions name it in errors.
pub(crate) fn kind(v: &Value) -> &'static str {
    v.kind_name()
}

/// What Go says when Sprig calls `reflect.TypeOf(nil).Kind()`.
pub(crate) const NIL_DEREF: &str =
    "runtime error: invalid memory address or nil pointer dereference";

/// `cast.ToInt64`.
pub(crate) fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => {
            let t = trim_zero_decimal(s);
            parse_go_int(t).unwrap_or(0)
        }
        _ => 0,
    }
}

/// `cast.ToFloat64`.
pub(crate) fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn trim_zero_decimal(s: &str) -> &str {
    match s.split_once('.') {
        Some((int, frac)) if !int.is_empty() && frac.chars().all(|c| c == '0') => int,
        _ => s,
    }
}

/// `strconv.ParseInt(s, 0, 64)`.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, t) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(d) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        (2, d)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let digits = if radix != 10 || t.len() != digits.len() {
        digits.replace('_', "")
    } else {
        digits.to_string()
    };
    let v = i128::from_str_radix(&digits, radix).ok()?;
    i64::try_from(if neg { -v } else { v }).ok()
}

/// Sprig's `strslice` (`toStrings`).
pub(crate) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().filter(|x| !x.is_nil()).map(strval).collect(),
        Value::Nil | Value::Missing => Vec::new(),
        other => vec![strval(other)],
    }
}

pub(crate) fn strings_value(v: Vec<String>) -> Value {
    Value::list(v.into_iter().map(Value::String).collect())
}

/// Executes `text` with [`full`] and no data, for the function tests.
#[cfg(test)]
pub(crate) fn run_full(text: &str) -> String {
    crate::Template::new("t")
        .funcs(full())
        .parse(text)
        .expect("test template parses")
        .execute(&Value::Nil)
        .expect("test template executes")
}
