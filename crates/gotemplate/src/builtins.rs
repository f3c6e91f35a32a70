//! Go's predefined template functions.

use std::sync::OnceLock;

use crate::funcs::{Arity, Func, FuncError, FuncMap, Kind};
use crate::print::{sprint, sprint_value, sprintf, sprintln};
use crate::value::Value;

/// The builtins, built once.
pub(crate) fn builtins() -> &'static FuncMap {
    static MAP: OnceLock<FuncMap> = OnceLock::new();
    MAP.get_or_init(build)
}

fn call_err<T>(m: impl Into<String>) -> Result<T, FuncError> {
    Err(FuncError::Call(m.into()))
}

fn build() -> FuncMap {
    let mut m = FuncMap::default();
    let mut add = |name: &str, f: Func| {
        m.insert(name.to_string(), f);
    };
    add(
        "and",
        Func::new(Arity::AtLeast(1), |_| Ok(Value::Nil)).special(Kind::And),
    );
    add(
        "or",
        Func::new(Arity::AtLeast(1), |_| Ok(Value::Nil)).special(Kind::Or),
    );
    add(
        "not",
        Func::new(Arity::Exact(1), |a| Ok(Value::Bool(!a[0].truthy()))),
    );
    add(
        "len",
        Func::new(Arity::Exact(1), |a| length(&a[0]).map(Value::Int)),
    );
    add(
        "index",
        Func::new(Arity::AtLeast(1), |a| index(&a[0], &a[1..])),
    );
    add(
        "slice",
        Func::new(Arity::AtLeast(1), |a| slice(&a[0], &a[1..])),
    );
    add(
        "print",
        Func::new(Arity::AtLeast(0), |a| Ok(Value::String(sprint(&a)))),
    );
    add(
        "println",
        Func::new(Arity::AtLeast(0), |a| Ok(Value::String(sprintln(&a)))),
    );
    add(
        "printf",
        Func::new(Arity::AtLeast(1), |a| {
            let f = crate::funcs::arg_str(&a, 0)?;
            Ok(Value::String(sprintf(&f, &a[1..])))
        }),
    );
    add(
        "html",
        Func::new(Arity::AtLeast(0), |a| {
            Ok(Value::String(html_escape(&eval_args(&a))))
        }),
    );
    add(
        "js",
        Func::new(Arity::AtLeast(0), |a| {
            Ok(Value::String(js_escape(&eval_args(&a))))
        }),
    );
    add(
        "urlquery",
        Func::new(Arity::AtLeast(0), |a| {
            Ok(Value::String(query_escape(&eval_args(&a))))
        }),
    );
    add(
        "eq",
        Func::new(Arity::AtLeast(1), |a| eq(&a[0], &a[1..]).map(Value::Bool)),
    );
    add(
        "ne",
        Func::new(Arity::Exact(2), |a| {
            eq(&a[0], &a[1..2]).map(|b| Value::Bool(!b))
        }),
    );
    add(
        "lt",
        Func::new(Arity::Exact(2), |a| lt(&a[0], &a[1]).map(Value::Bool)),
    );
    add(
        "le",
        Func::new(Arity::Exact(2), |a| {
            Ok(Value::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1..2])?))
        }),
    );
    add(
        "gt",
        Func::new(Arity::Exact(2), |a| {
            Ok(Value::Bool(!(lt(&a[0], &a[1])? || eq(&a[0], &a[1..2])?)))
        }),
    );
    add(
        "ge",
        Func::new(Arity::Exact(2), |a| Ok(Value::Bool(!lt(&a[0], &a[1])?))),
    );
    add(
        "call",
        Func::with_context(Arity::AtLeast(1), |ctx, mut a| {
            let name = match a.remove(0) {
                Value::String(s) => s,
                _ => String::new(),
            };
            if a.is_empty() {
                return call_err("wrong number of args for call: want at least 1 got 0");
            }
            let f = a.remove(0);
            match f {
                Value::Func(f) => f.call(ctx, a),
                Value::Nil | Value::Missing => call_err("call of nil"),
                other => call_err(format!("non-function {name} of type {}", other.type_name())),
            }
        })
        .special(Kind::Call),
    );
    m
}

/// Go's `evalArgs`: a lone string as is, otherwise `fmt.Sprint`.
fn eval_args(a: &[Value]) -> String {
    if let [Value::String(s)] = a {
        return s.clone();
    }
    sprint(a)
}

fn length(v: &Value) -> Result<i64, FuncError> {
    Ok(match v {
        Value::String(s) => s.len() as i64,
        Value::List(l) => l.len() as i64,
        Value::Map(m) => m.read().len() as i64,
        Value::Object(o) if o.range_items().is_some() => {
            o.range_items().map_or(0, |items| items.len() as i64)
        }
        Value::Nil | Value::Missing => {
            return call_err("reflect: call of reflect.Value.Type on zero Value");
        }
        other => return call_err(format!("len of type {}", other.type_name())),
    })
}

fn index_of(i: &Value, len: usize, cap: usize) -> Result<usize, FuncError> {
    let n = match i {
        Value::Int(n) | Value::Int64(n) => *n,
        Value::Nil | Value::Missing => return call_err("cannot index slice/array with nil"),
        other => {
            return call_err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if n < 0 || n as u64 > cap as u64 {
        return call_err(format!("index out of range: {n}"));
    }
    let _ = len;
    Ok(n as usize)
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, FuncError> {
    let mut item = item.clone();
    for i in indexes {
        item = match &item {
            Value::Nil | Value::Missing => return call_err("index of untyped nil"),
            Value::List(l) => {
                let x = index_of(i, l.len(), l.len())?;
                match l.get(x) {
                    Some(v) => v.clone(),
                    None => return call_err(format!("index out of range: {x}")),
                }
            }
            Value::String(s) => {
                let x = index_of(i, s.len(), s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Int(i64::from(*b)),
                    None => return call_err(format!("index out of range: {x}")),
                }
            }
            Value::Map(m) => {
                let m = m.read();
                if m.string_keys() && !matches!(i, Value::String(_)) {
                    if i.is_nil() {
                        return call_err("value is nil; should be of type string");
                    } else {
                        return call_err(format!(
                            "value has type {}; should be string",
                            i.type_name()
                        ));
                    }
                } else {
                    m.get_key(i).cloned().unwrap_or(Value::Nil)
                }
            }
            other => return call_err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, FuncError> {
    if indexes.len() > 3 {
        return call_err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::Nil | Value::Missing => return call_err("slice of untyped nil"),
        Value::String(s) => {
            if indexes.len() == 3 {
                return call_err("cannot 3-index slice a string");
            }
            s.len()
        }
        Value::List(l) => l.len(),
        other => return call_err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len];
    for (k, i) in indexes.iter().take(2).enumerate() {
        idx[k] = index_of(i, len, len)?;
    }
    if let Some(c) = indexes.get(2) {
        let c = index_of(c, len, len)?;
        if idx[1] > c {
            return call_err(format!("invalid slice index: {} > {}", idx[1], c));
        }
    }
    if idx[0] > idx[1] {
        return call_err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    Ok(match item {
        Value::String(s) => match s.get(idx[0]..idx[1]) {
            Some(sub) => Value::String(sub.to_string()),
            None => {
                Value::String(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned())
            }
        },
        Value::List(l) => Value::list(l[idx[0]..idx[1]].to_vec()),
        _ => Value::Nil,
    })
}

fn basic_kind(v: &Value) -> Option<u8> {
    match v {
        Value::Bool(_) => Some(0),
        Value::Int(_) | Value::Int64(_) => Some(1),
        Value::Float(_) => Some(2),
        Value::String(_) => Some(3),
        _ => None,
    }
}

/// Go's `eq`: true if `a` equals any of `others`.
pub(crate) fn eq(a: &Value, others: &[Value]) -> Result<bool, FuncError> {
    if others.is_empty() {
        return call_err("missing argument for comparison");
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if !a.is_nil() && !b.is_nil() {
                return call_err(format!(
                    "incompatible types for comparison: {} and {}",
                    a.type_name(),
                    b.type_name()
                ));
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                _ => {
                    if a.is_nil() || b.is_nil() {
                        a.is_nil() == b.is_nil()
                    } else if matches!(b, Value::List(_) | Value::Map(_) | Value::Func(_)) {
                        return call_err(format!(
                            "non-comparable type {}: {}",
                            sprintf("%s", std::slice::from_ref(b)),
                            b.type_name()
                        ));
                    } else if matches!(a, Value::List(_) | Value::Map(_) | Value::Func(_)) {
                        return call_err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            sprintf("%s", std::slice::from_ref(a)),
                            a.type_name(),
                            b.type_name(),
                            sprint_value(b)
                        ));
                    } else {
                        a.deep_equal(b)
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
pub(crate) fn lt(a: &Value, b: &Value) -> Result<bool, FuncError> {
    let (Some(k1), Some(k2)) = (basic_kind(a), basic_kind(b)) else {
        return call_err("invalid type for comparison");
    };
    if k1 != k2 {
        return call_err(format!(
            "incompatible types for comparison: {} and {}",
            a.type_name(),
            b.type_name()
        ));
    }
    Ok(match (a, b) {
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::String(x), Value::String(y)) => x < y,
        _ => return call_err("invalid type for comparison"),
    })
}

/// Go's `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_ascii() => out.push(c),
            c if !crate::print::is_print(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
