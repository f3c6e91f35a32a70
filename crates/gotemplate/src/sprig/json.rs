//! Sprig's JSON functions, encoding as Go's `encoding/json` does.

use super::{add, fail};
use crate::funcs::{Arity, FuncMap, arg_str};
use crate::value::Value;

pub(super) fn register(m: &mut FuncMap) {
    use Arity::Exact;
    add(m, "fromJson", Exact(1), |a| {
        let s = arg_str(&a, 0)?;
        Ok(serde_json::from_str::<serde_json::Value>(&s)
            .map_or(Value::Nil, |j| Value::from_json(&j)))
    });
    add(m, "mustFromJson", Exact(1), |a| {
        let s = arg_str(&a, 0)?;
        match serde_json::from_str::<serde_json::Value>(&s) {
            Ok(j) => Ok(Value::from_json(&j)),
            Err(e) => fail(e.to_string()),
        }
    });
    for (name, html, indent) in [
        ("toJson", true, false),
        ("mustToJson", true, false),
        ("toPrettyJson", true, true),
        ("mustToPrettyJson", true, true),
        ("toRawJson", false, false),
        ("mustToRawJson", false, false),
    ] {
        add(m, name, Exact(1), move |a| {
            let mut out = String::new();
            encode(&mut out, &a[0], html, if indent { Some(0) } else { None });
            Ok(Value::String(out))
        });
    }
}

fn newline(out: &mut String, level: Option<usize>) {
    if let Some(l) = level {
        out.push('\n');
        for _ in 0..l {
            out.push_str("  ");
        }
    }
}

/// Go's `json.Marshal` (or `MarshalIndent` with two spaces when `level` is Some).
pub(crate) fn encode(out: &mut String, v: &Value, html: bool, level: Option<usize>) {
    match v {
        Value::Missing | Value::Nil | Value::Func(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&float(*f)),
        Value::String(s) => string(out, s, html),
        Value::List(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level.map(|l| l + 1));
                encode(out, x, html, level.map(|l| l + 1));
            }
            newline(out, level);
            out.push(']');
        }
        Value::Map(m) => {
            let entries = m.snapshot();
            object(
                out,
                entries.iter().map(|(k, v)| (super::strval(k), v)),
                html,
                level,
            );
        }
        Value::Object(o) if o.range_items().is_some() => {
            encode(out, &Value::from_json(&v.to_json()), html, level);
        }
        Value::Object(o) => {
            if let Some(s) = o.to_go_string()
                && o.fields().is_empty()
            {
                string(out, &s, html);
                return;
            }
            let fields = o.json_fields();
            object(out, fields.iter().map(|(k, v)| (k.clone(), v)), html, level);
        }
    }
}

fn object<'a>(
    out: &mut String,
    entries: impl Iterator<Item = (String, &'a Value)>,
    html: bool,
    level: Option<usize>,
) {
    let entries: Vec<_> = entries.collect();
    if entries.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push('{');
    for (i, (k, x)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, level.map(|l| l + 1));
        string(out, k, html);
        out.push(':');
        if level.is_some() {
            out.push(' ');
        }
        encode(out, x, html, level.map(|l| l + 1));
    }
    newline(out, level);
    out.push('}');
}

fn float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: 'e' format with a two-digit exponent minimum trimmed to one ("1e-07" → "1e-7").
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let s = format!("{f}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

fn string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
