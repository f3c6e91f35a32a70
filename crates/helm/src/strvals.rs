//! `--set` and `--set-string` (Helm's `strvals`): `a.b[0].c=v,d={x,y}` into a values map.

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("failed parsing --set data: {0}")]
pub struct StrvalsError(pub String);

/// One `--set` argument parsed into `into` (values typed: bools, `null`, int64, strings).
pub fn parse_into(text: &str, into: &mut Map<String, Value>) -> Result<(), StrvalsError> {
    parse(text, into, false)
}

/// One `--set-string` argument: every value a string.
pub fn parse_string_into(text: &str, into: &mut Map<String, Value>) -> Result<(), StrvalsError> {
    parse(text, into, true)
}

/// Sets `value` at a `--set`-style key path (`a.b[0].c`): what `--set-json` and `--set-file`
/// do with the JSON or file content they read.
pub fn set_at(key: &str, value: Value, into: &mut Map<String, Value>) -> Result<(), StrvalsError> {
    let chars: Vec<char> = format!("{key}=").chars().collect();
    let (path, _) = read_key(&chars, 0)?;
    set_path(into, &path, value)
}

fn parse(text: &str, into: &mut Map<String, Value>, strings: bool) -> Result<(), StrvalsError> {
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    while at < chars.len() {
        let (path, next) = read_key(&chars, at)?;
        at = next;
        let value = if chars.get(at) == Some(&'{') {
            let (items, next) = read_list(&chars, at + 1, strings)?;
            at = next;
            Value::Array(items)
        } else {
            let (raw, next) = read_until(&chars, at, &[','])?;
            at = next;
            typed(&raw, strings)
        };
        set_path(into, &path, value)?;
        match chars.get(at) {
            None => break,
            Some(',') => at += 1,
            Some(c) => return Err(StrvalsError(format!("unexpected character {c:?}"))),
        }
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// The key up to `=`: dotted names, `[n]` indexes, `\.` for a literal dot.
fn read_key(chars: &[char], mut at: usize) -> Result<(Vec<Segment>, usize), StrvalsError> {
    let mut path = Vec::new();
    let mut current = String::new();
    loop {
        match chars.get(at) {
            None => {
                return Err(StrvalsError(format!(
                    "key {:?} has no value",
                    chars.iter().collect::<String>()
                )));
            }
            Some('\\') => {
                if let Some(c) = chars.get(at + 1) {
                    current.push(*c);
                }
                at += 2;
            }
            Some('.') => {
                if !current.is_empty() {
                    path.push(Segment::Key(std::mem::take(&mut current)));
                }
                at += 1;
            }
            Some('[') => {
                if !current.is_empty() {
                    path.push(Segment::Key(std::mem::take(&mut current)));
                }
                let close = chars[at..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or_else(|| StrvalsError("missing ] in list index".into()))?;
                let digits: String = chars[at + 1..at + close].iter().collect();
                let index: usize = digits
                    .parse()
                    .map_err(|_| StrvalsError(format!("invalid list index {digits:?}")))?;
                const MAX_INDEX: usize = 65536;
                if index > MAX_INDEX {
                    return Err(StrvalsError(format!(
                        "index of {index} is greater than maximum supported index of {MAX_INDEX}"
                    )));
                }
                path.push(Segment::Index(index));
                at += close + 1;
            }
            Some('=') => {
                if !current.is_empty() {
                    path.push(Segment::Key(current));
                }
                if path.is_empty() {
                    return Err(StrvalsError("key has no name".into()));
                }
                return Ok((path, at + 1));
            }
            Some(',') => {
                return Err(StrvalsError(format!(
                    "key {current:?} has no value (cannot end with ,)"
                )));
            }
            Some(c) => {
                current.push(*c);
                at += 1;
            }
        }
    }
}

/// Text up to an unescaped stop character.
fn read_until(
    chars: &[char],
    mut at: usize,
    stops: &[char],
) -> Result<(String, usize), StrvalsError> {
    let mut text = String::new();
    while let Some(c) = chars.get(at) {
        if stops.contains(c) {
            break;
        }
        if *c == '\\' {
            if let Some(next) = chars.get(at + 1) {
                text.push(*next);
            }
            at += 2;
            continue;
        }
        text.push(*c);
        at += 1;
    }
    Ok((text, at))
}

/// `{a,b,c}` after its opening brace.
fn read_list(
    chars: &[char],
    mut at: usize,
    strings: bool,
) -> Result<(Vec<Value>, usize), StrvalsError> {
    let mut items = Vec::new();
    loop {
        let (raw, next) = read_until(chars, at, &[',', '}'])?;
        at = next;
        match chars.get(at) {
            Some(',') => {
                items.push(typed(&raw, strings));
                at += 1;
            }
            Some('}') => {
                if !(raw.is_empty() && items.is_empty()) {
                    items.push(typed(&raw, strings));
                }
                return Ok((items, at + 1));
            }
            _ => return Err(StrvalsError("list must terminate with '}'".into())),
        }
    }
}

/// `strvals.typedVal`.
fn typed(raw: &str, strings: bool) -> Value {
    if strings {
        return Value::String(raw.to_owned());
    }
    if raw.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if raw.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if raw.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if raw == "0" {
        return Value::from(0i64);
    }
    if !raw.is_empty()
        && !raw.starts_with('0')
        && let Ok(i) = raw.parse::<i64>()
        && !raw.starts_with('+')
    {
        return Value::from(i);
    }
    Value::String(raw.to_owned())
}

fn set_path(
    into: &mut Map<String, Value>,
    path: &[Segment],
    value: Value,
) -> Result<(), StrvalsError> {
    let Some((Segment::Key(first), rest)) = path.split_first() else {
        return Err(StrvalsError("a key must start with a name".into()));
    };
    let slot = into.entry(first.clone()).or_insert(Value::Null);
    set_in(slot, rest, value);
    Ok(())
}

fn set_in(slot: &mut Value, path: &[Segment], value: Value) {
    let Some((segment, rest)) = path.split_first() else {
        *slot = value;
        return;
    };
    match segment {
        Segment::Key(key) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(map) = slot {
                let child = map.entry(key.clone()).or_insert(Value::Null);
                set_in(child, rest, value);
            }
        }
        Segment::Index(index) => {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            if let Value::Array(items) = slot {
                if items.len() <= *index {
                    items.resize(index + 1, Value::Null);
                }
                set_in(&mut items[*index], rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(text: &str) -> Value {
        let mut map = Map::new();
        parse_into(text, &mut map).unwrap();
        Value::Object(map)
    }

    #[test]
    fn values_are_typed_as_helm_types_them() {
        assert_eq!(
            set("a=1,b=true,c=null,d=007,e=x,f=,g=1.5"),
            json!({"a": 1, "b": true, "c": null, "d": "007", "e": "x", "f": "", "g": "1.5"})
        );
        let mut map = Map::new();
        parse_string_into("a=1", &mut map).unwrap();
        assert_eq!(map["a"], json!("1"));
    }

    #[test]
    fn paths_lists_and_escapes() {
        assert_eq!(
            set(r"a.b.c=1,list={x,2},idx[1].name=n,dotted\.key=v,comma=a\,b"),
            json!({
                "a": {"b": {"c": 1}},
                "list": ["x", 2],
                "idx": [null, {"name": "n"}],
                "dotted.key": "v",
                "comma": "a,b"
            })
        );
        let mut map = Map::new();
        parse_into("a.b=1", &mut map).unwrap();
        parse_into("a.c=2", &mut map).unwrap();
        assert_eq!(Value::Object(map), json!({"a": {"b": 1, "c": 2}}));
    }

    #[test]
    fn values_set_at_a_key_path() {
        let mut map = Map::new();
        set_at("a.b[1]", json!({"x": [1]}), &mut map).unwrap();
        set_at("a.c", json!("file\ncontent"), &mut map).unwrap();
        assert_eq!(
            Value::Object(map),
            json!({"a": {"b": [null, {"x": [1]}], "c": "file\ncontent"}})
        );
    }

    #[test]
    fn malformed_input_is_refused() {
        let mut map = Map::new();
        assert!(parse_into("novalue", &mut map).is_err());
        assert!(parse_into("a={x", &mut map).is_err());
        assert!(parse_into("a[x]=1", &mut map).is_err());
    }
}
