//! Sprig's list and dict functions.

use std::sync::Arc;

use super::{NIL_DEREF, add, empty, fail, kind, strval, to_int64};
use crate::funcs::{Arity, FuncError, FuncMap, arg_int, arg_map, arg_str};
use crate::value::{Map, MapRef, Value};

type R = Result<Value, FuncError>;

/// The list argument of a list function, or Sprig's error naming the kind.
fn list_of(v: &Value, what: &str) -> Result<Arc<Vec<Value>>, FuncError> {
    match v {
        Value::List(l) => Ok(l.clone()),
        Value::Nil | Value::Missing => fail(NIL_DEREF),
        other => fail(format!("Cannot {what} type {}", kind(other))),
    }
}

fn list(v: Vec<Value>) -> R {
    Ok(Value::list(v))
}

fn both(m: &mut FuncMap, name: &str, arity: Arity, f: fn(Vec<Value>) -> R) {
    add(m, name, arity, f);
    let must = format!("must{}{}", name[..1].to_uppercase(), &name[1..]);
    add(m, &must, arity, f);
}

pub(super) fn register(m: &mut FuncMap) {
    use Arity::{AtLeast, Exact};
    add(m, "list", AtLeast(0), list);
    add(m, "tuple", AtLeast(0), list);
    for name in ["append", "push", "mustAppend", "mustPush"] {
        add(m, name, Exact(2), |a| {
            let mut l = list_of(&a[0], "push on")?.to_vec();
            l.push(a[1].clone());
            list(l)
        });
    }
    both(m, "prepend", Exact(2), |a| {
        let mut l = list_of(&a[0], "prepend on")?.to_vec();
        l.insert(0, a[1].clone());
        list(l)
    });
    both(m, "first", Exact(1), |a| {
        Ok(list_of(&a[0], "find first on")?
            .first()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    both(m, "last", Exact(1), |a| {
        Ok(list_of(&a[0], "find last on")?
            .last()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    both(m, "rest", Exact(1), |a| {
        let l = list_of(&a[0], "find rest on")?;
        if l.is_empty() {
            return list(Vec::new());
        }
        list(l[1..].to_vec())
    });
    both(m, "initial", Exact(1), |a| {
        let l = list_of(&a[0], "find initial on")?;
        if l.is_empty() {
            return list(Vec::new());
        }
        list(l[..l.len() - 1].to_vec())
    });
    both(m, "reverse", Exact(1), |a| {
        let mut l = list_of(&a[0], "find reverse on")?.to_vec();
        l.reverse();
        list(l)
    });
    both(m, "compact", Exact(1), |a| {
        list(
            list_of(&a[0], "compact on")?
                .iter()
                .filter(|v| !empty(v))
                .cloned()
                .collect(),
        )
    });
    both(m, "uniq", Exact(1), |a| {
        let mut out: Vec<Value> = Vec::new();
        for v in list_of(&a[0], "find uniq on")?.iter() {
            if !out.iter().any(|o| o.deep_equal(v)) {
                out.push(v.clone());
            }
        }
        list(out)
    });
    both(m, "without", AtLeast(1), |a| {
        let l = list_of(&a[0], "find without on")?;
        list(
            l.iter()
                .filter(|v| !a[1..].iter().any(|o| o.deep_equal(v)))
                .cloned()
                .collect(),
        )
    });
    both(m, "has", Exact(2), |a| match &a[1] {
        Value::Nil | Value::Missing => Ok(Value::Bool(false)),
        Value::List(l) => Ok(Value::Bool(l.iter().any(|v| v.deep_equal(&a[0])))),
        other => fail(format!("Cannot find has on type {}", kind(other))),
    });
    both(m, "slice", AtLeast(1), |a| {
        let l = match &a[0] {
            Value::List(l) => l.clone(),
            Value::Nil | Value::Missing => return fail(NIL_DEREF),
            other => {
                return fail(format!(
                    "list should be type of slice or array but {}",
                    kind(other)
                ));
            }
        };
        if l.is_empty() {
            return Ok(Value::Nil);
        }
        let start = a.get(1).map_or(0, to_int64);
        let end = a.get(2).map_or(l.len() as i64, to_int64);
        if start < 0 || end < start || end as usize > l.len() {
            return fail("reflect.Value.Slice: slice index out of bounds");
        }
        list(l[start as usize..end as usize].to_vec())
    });
    add(m, "concat", AtLeast(0), |a| {
        let mut out = Vec::new();
        for v in &a {
            match v {
                Value::List(l) => out.extend(l.iter().cloned()),
                Value::Nil | Value::Missing => return fail(NIL_DEREF),
                other => return fail(format!("Cannot concat type {} as list", kind(other))),
            }
        }
        list(out)
    });
    both(m, "chunk", Exact(2), |a| {
        let size = arg_int(&a, 0)?;
        let l = list_of(&a[1], "chunk")?;
        if size <= 0 {
            return fail("runtime error: makeslice: len out of range");
        }
        list(
            l.chunks(size as usize)
                .map(|c| Value::list(c.to_vec()))
                .collect(),
        )
    });

    // Dicts.
    add(m, "dict", AtLeast(0), |a| {
        let mut d = Map::new();
        for pair in a.chunks(2) {
            let key = strval(&pair[0]);
            d.insert(
                key,
                pair.get(1)
                    .cloned()
                    .unwrap_or_else(|| Value::String(String::new())),
            );
        }
        Ok(Value::map(d))
    });
    add(m, "get", Exact(2), |a| {
        let (d, k) = (arg_map(&a, 0)?, arg_str(&a, 1)?);
        let v = d.read().get(&k).cloned();
        Ok(v.unwrap_or_else(|| Value::String(String::new())))
    });
    add(m, "set", Exact(3), |a| {
        let (d, k) = (arg_map(&a, 0)?, arg_str(&a, 1)?);
        d.write().insert(k, a[2].clone());
        Ok(Value::Map(d))
    });
    add(m, "unset", Exact(2), |a| {
        let (d, k) = (arg_map(&a, 0)?, arg_str(&a, 1)?);
        d.write().remove(&k);
        Ok(Value::Map(d))
    });
    add(m, "hasKey", Exact(2), |a| {
        let (d, k) = (arg_map(&a, 0)?, arg_str(&a, 1)?);
        Ok(Value::Bool(d.read().contains_key(&k)))
    });
    add(m, "pluck", AtLeast(1), |a| {
        let k = arg_str(&a, 0)?;
        let mut out = Vec::new();
        for i in 1..a.len() {
            if let Some(v) = arg_map(&a, i)?.read().get(&k) {
                out.push(v.clone());
            }
        }
        list(out)
    });
    add(m, "keys", AtLeast(0), |a| {
        let mut out = Vec::new();
        for i in 0..a.len() {
            for (k, _) in arg_map(&a, i)?.read().iter() {
                out.push(k.clone());
            }
        }
        list(out)
    });
    add(m, "values", Exact(1), |a| {
        list(
            arg_map(&a, 0)?
                .read()
                .iter()
                .map(|(_, v)| v.clone())
                .collect(),
        )
    });
    add(m, "pick", AtLeast(1), |a| {
        let d = arg_map(&a, 0)?;
        let d = d.read();
        let mut out = Map::new();
        for i in 1..a.len() {
            let k = arg_str(&a, i)?;
            if let Some(v) = d.get(&k) {
                out.insert(k, v.clone());
            }
        }
        Ok(Value::map(out))
    });
    add(m, "omit", AtLeast(1), |a| {
        let d = arg_map(&a, 0)?;
        let mut drop = Vec::new();
        for i in 1..a.len() {
            drop.push(Value::String(arg_str(&a, i)?));
        }
        let mut out = Map::new();
        for (k, v) in d.read().iter() {
            if !drop.iter().any(|x| x.deep_equal(k)) {
                out.insert_key(k.clone(), v.clone());
            }
        }
        Ok(Value::map(out))
    });
    for (name, overwrite) in [
        ("merge", false),
        ("mustMerge", false),
        ("mergeOverwrite", true),
        ("mustMergeOverwrite", true),
    ] {
        add(m, name, AtLeast(1), move |a| {
            let dst = arg_map(&a, 0)?;
            for i in 1..a.len() {
                let src = arg_map(&a, i)?;
                merge(&dst, &src, overwrite);
            }
            Ok(Value::Map(dst))
        });
    }
    for name in ["deepCopy", "mustDeepCopy"] {
        add(m, name, Exact(1), |a| Ok(a[0].deep_copy()));
    }
    add(m, "dig", AtLeast(0), |a| {
        if a.len() < 3 {
            return fail("dig needs at least three arguments");
        }
        let n = a.len();
        let Value::Map(mut d) = a[n - 1].clone() else {
            return fail(format!(
                "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                a[n - 1].type_name()
            ));
        };
        let default = a[n - 2].clone();
        let keys = &a[..n - 2];
        for (i, k) in keys.iter().enumerate() {
            let Value::String(k) = k else {
                return fail(format!(
                    "interface conversion: interface {{}} is {}, not string",
                    k.type_name()
                ));
            };
            let step = d.read().get(k).cloned();
            let Some(step) = step else { return Ok(default) };
            if i == keys.len() - 1 {
                return Ok(step);
            }
            match step {
                Value::Map(next) => d = next,
                other => {
                    return fail(format!(
                        "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                        other.type_name()
                    ));
                }
            }
        }
        Ok(default)
    });
}

/// mergo's `Merge` (fill empty or missing keys) and `MergeWithOverwrite`, recursing into maps.
fn merge(dst: &MapRef, src: &MapRef, overwrite: bool) {
    if std::sync::Arc::ptr_eq(&dst.0, &src.0) {
        return;
    }
    for (k, sv) in src.snapshot() {
        let dv = dst.read().get_key(&k).cloned();
        match (dv, &sv) {
            (Some(Value::Map(d)), Value::Map(s)) => merge(&d, s, overwrite),
            (None, _) => {
                dst.write().insert_key(k, sv);
            }
            (Some(d), _) => {
                if overwrite || empty(&d) {
                    dst.write().insert_key(k, sv);
                }
            }
        }
    }
}
