//! The values a template sees: Go's dynamic values as far as templates can tell them apart.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::funcs::{Func, FuncError};

/// A value: Go's `interface{}` as templates see it.
///
/// Numbers decoded from JSON are `Float` (Go's `encoding/json` makes them `float64`), number
/// constants in a template are `Int` or `Float` by their syntax, as in Go.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Go's invalid `reflect.Value`: a missing map key, or no data at all. Prints `<no value>`;
    /// selecting a field of it gives `Missing` again (or an error with `missingkey=error`).
    #[default]
    Missing,
    /// A nil interface (JSON `null`). Selecting a field of it is a "nil pointer" error.
    Nil,
    Bool(bool),
    /// Go's `int` (lengths, indexes, `atoi`, Go template literals).
    Int(i64),
    /// Go's `int64`: Sprig's arithmetic and Helm's `--set` integers. Compares and prints as
    /// `Int` does; only its type name (and `deepEqual` against an `int`) tell it apart.
    Int64(i64),
    Float(f64),
    String(String),
    List(Arc<Vec<Value>>),
    /// A map shared by reference, as Go maps are: Sprig's `set` on it is seen by every holder.
    Map(MapRef),
    /// A struct-like value supplied by the caller.
    Object(Arc<dyn Object>),
    /// A function value, for the `call` builtin.
    Func(Func),
}

/// Struct-like data with fields and methods (methods may take arguments, as
/// `.Capabilities.APIVersions.Has "apps/v1"` does in Helm).
pub trait Object: Send + Sync + fmt::Debug {
    /// Go's type name, for messages and `typeOf` (e.g. `types.NamespacedName`).
    fn type_name(&self) -> String;
    /// Go's `reflect.Kind` name for `kindOf`.
    fn kind(&self) -> &'static str {
        "struct"
    }
    /// The exported field `name`, or None if there is none.
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    /// Whether `name` is a method (looked up before fields, as Go does).
    fn has_method(&self, _name: &str) -> bool {
        false
    }
    /// Calls method `name` (only asked when `has_method(name)`); check the argument count with
    /// [`crate::funcs::check_arity`].
    fn call_method(&self, name: &str, _args: Vec<Value>) -> Result<Value, FuncError> {
        Err(FuncError::Call(format!("no method {name}")))
    }
    /// The fields in declaration order: printed by `%v` (`{a b}`) and used to order map keys.
    fn fields(&self) -> Vec<(String, Value)> {
        Vec::new()
    }
    /// The fields as `encoding/json` writes them (JSON names, `omitempty`, embedded structs
    /// inline); the Go names of [`Object::fields`] unless the object says otherwise.
    fn json_fields(&self) -> Vec<(String, Value)> {
        self.fields()
    }
    /// Go's `fmt.Stringer`: when Some, `%v`/`%s` and template output print this.
    fn to_go_string(&self) -> Option<String> {
        None
    }
    /// For a named map or slice type (Helm's `.Files`, `.Capabilities.APIVersions`): the
    /// entries `range`, `len` and JSON see (keys, or indexes for a slice), in Go's order.
    fn range_items(&self) -> Option<Vec<(Value, Value)>> {
        None
    }
}

/// A map with keys in Go's `fmtsort` order (the order `range` and `%v` use).
#[derive(Clone, Debug, Default)]
pub struct Map {
    entries: BTreeMap<Key, Value>,
}

/// A map key: any value, ordered as Go's `internal/fmtsort` orders keys.
#[derive(Clone, Debug)]
pub struct Key(pub Value);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        key_order(&self.0, &other.0)
    }
}

/// A key as the map compares it, so a `&str` can look up an entry without allocating a
/// `Value::String` (a map is read on every `.Values.x` step).
trait KeyView {
    fn view(&self) -> KeyRef<'_>;
}

enum KeyRef<'a> {
    Str(&'a str),
    Other(&'a Value),
}

impl KeyView for Key {
    fn view(&self) -> KeyRef<'_> {
        match &self.0 {
            Value::String(s) => KeyRef::Str(s),
            other => KeyRef::Other(other),
        }
    }
}

struct StrKey<'a>(&'a str);

impl KeyView for StrKey<'_> {
    fn view(&self) -> KeyRef<'_> {
        KeyRef::Str(self.0)
    }
}

impl<'a> std::borrow::Borrow<dyn KeyView + 'a> for Key {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for dyn KeyView + '_ {}
impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
/// Must agree with [`key_order`] (strings by bytes, other kinds by rank first).
impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.view(), other.view()) {
            (KeyRef::Str(a), KeyRef::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (KeyRef::Str(_), KeyRef::Other(b)) => STRING_RANK.cmp(&rank(b)),
            (KeyRef::Other(a), KeyRef::Str(_)) => rank(a).cmp(&STRING_RANK),
            (KeyRef::Other(a), KeyRef::Other(b)) => key_order(a, b),
        }
    }
}

/// [`rank`] of a string.
const STRING_RANK: u8 = 3;

fn rank(v: &Value) -> u8 {
    match v {
        Value::Missing | Value::Nil => 0,
        Value::Bool(_) => 1,
        Value::Int(_) | Value::Int64(_) | Value::Float(_) => 2,
        Value::String(_) => STRING_RANK,
        Value::List(_) => 4,
        Value::Map(_) => 5,
        Value::Object(_) => 6,
        Value::Func(_) => 7,
    }
}

/// Go's `fmtsort` order: numbers by value (NaN first), strings by bytes, false before true,
/// structs field by field.
pub fn key_order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x.cmp(y),
        (
            Value::Int(_) | Value::Int64(_) | Value::Float(_),
            Value::Int(_) | Value::Int64(_) | Value::Float(_),
        ) => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            match (x.is_nan(), y.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            }
        }
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::List(x), Value::List(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                let o = key_order(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let o = x.type_name().cmp(&y.type_name());
            if o != Ordering::Equal {
                return o;
            }
            let (fx, fy) = (x.fields(), y.fields());
            for ((_, p), (_, q)) in fx.iter().zip(fy.iter()) {
                let o = key_order(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            fx.len().cmp(&fy.len())
        }
        (Value::Map(x), Value::Map(y)) if Arc::ptr_eq(&x.0, &y.0) => Ordering::Equal,
        _ => rank(a).cmp(&rank(b)),
    }
}

impl Map {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The value under a string key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(&StrKey(key) as &dyn KeyView)
    }
    pub fn get_key(&self, key: &Value) -> Option<&Value> {
        self.entries.get(&Key(key.clone()))
    }
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        self.entries.insert(Key(Value::String(key.into())), value)
    }
    pub fn insert_key(&mut self, key: Value, value: Value) -> Option<Value> {
        self.entries.insert(Key(key), value)
    }
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.entries.remove(&StrKey(key) as &dyn KeyView)
    }
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// Entries in Go's sorted key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.entries.iter().map(|(k, v)| (&k.0, v))
    }
    /// Whether every key is a string (Go's `map[string]interface{}`).
    pub fn string_keys(&self) -> bool {
        // Keys are ordered by kind first, so the smallest and largest keys bound every kind
        // present: asked on every field access, this must not walk the map.
        let is_string = |entry: Option<(&Key, &Value)>| {
            entry.is_none_or(|(k, _)| matches!(k.0, Value::String(_)))
        };
        is_string(self.entries.first_key_value()) && is_string(self.entries.last_key_value())
    }
}

impl FromIterator<(String, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut map = Map::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

/// A shared, mutable map (Go maps are references).
#[derive(Clone, Debug, Default)]
pub struct MapRef(pub Arc<RwLock<Map>>);

impl MapRef {
    pub fn new(map: Map) -> Self {
        Self(Arc::new(RwLock::new(map)))
    }
    pub fn read(&self) -> RwLockReadGuard<'_, Map> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
    pub fn write(&self) -> RwLockWriteGuard<'_, Map> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
    /// A copy of the entries, so that a template may change the map while ranging over it.
    pub fn snapshot(&self) -> Vec<(Value, Value)> {
        self.read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl Value {
    pub fn string(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }
    pub fn list(items: Vec<Value>) -> Self {
        Value::List(Arc::new(items))
    }
    pub fn map(map: Map) -> Self {
        Value::Map(MapRef::new(map))
    }
    pub fn object(o: impl Object + 'static) -> Self {
        Value::Object(Arc::new(o))
    }

    /// Converts JSON as Go's `encoding/json` decodes into `interface{}`: numbers become
    /// `float64`.
    pub fn from_json(json: &serde_json::Value) -> Self {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Nil,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            J::String(s) => Value::String(s.clone()),
            J::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            J::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to JSON as Go's `encoding/json` encodes (objects through their fields).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Missing | Value::Nil | Value::Func(_) => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) | Value::Int64(i) => J::from(*i),
            Value::Float(f) => {
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    J::from(*f as i64)
                } else {
                    serde_json::Number::from_f64(*f).map_or(J::Null, J::Number)
                }
            }
            Value::String(s) => J::String(s.clone()),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(
                m.read()
                    .iter()
                    .map(|(k, v)| (crate::print::sprint_value(k), v.to_json()))
                    .collect(),
            ),
            Value::Object(o) if o.range_items().is_some() => {
                let items = o.range_items().unwrap_or_default();
                if o.kind() == "slice" {
                    J::Array(items.iter().map(|(_, v)| v.to_json()).collect())
                } else {
                    J::Object(
                        items
                            .iter()
                            .map(|(k, v)| (crate::print::sprint_value(k), v.to_json()))
                            .collect(),
                    )
                }
            }
            Value::Object(o) => J::Object(
                o.json_fields()
                    .into_iter()
                    .map(|(k, v)| (k, v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Go's `truth`: false for zero numbers, empty strings, lists and maps, nil.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.read().is_empty(),
            Value::Object(o) => o.range_items().is_none_or(|items| !items.is_empty()),
            Value::Func(_) => true,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Missing | Value::Nil)
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) | Value::Int64(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Go's type name (`%T`, `typeOf`).
    pub fn type_name(&self) -> String {
        match self {
            Value::Missing | Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Int64(_) => "int64".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(m) => {
                if m.read().string_keys() {
                    "map[string]interface {}".into()
                } else {
                    "map[interface {}]interface {}".into()
                }
            }
            Value::Object(o) => o.type_name(),
            Value::Func(_) => "func(...interface {}) (interface {}, error)".into(),
        }
    }

    /// Go's `reflect.Kind` name (`kindOf`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(o) => o.kind(),
            Value::Func(_) => "func",
        }
    }

    /// A deep copy (maps are copied, not shared).
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::List(l) => Value::list(l.iter().map(Value::deep_copy).collect()),
            Value::Map(m) => {
                let mut out = Map::new();
                for (k, v) in m.read().iter() {
                    out.insert_key(k.clone(), v.deep_copy());
                }
                Value::map(out)
            }
            other => other.clone(),
        }
    }

    /// Go's `reflect.DeepEqual` over these values.
    pub fn deep_equal(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Missing | Value::Nil, Value::Missing | Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) | (Value::Int64(a), Value::Int64(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.deep_equal(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                if Arc::ptr_eq(&a.0, &b.0) {
                    return true;
                }
                let (a, b) = (a.read(), b.read());
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get_key(k).is_some_and(|w| v.deep_equal(w)))
            }
            (Value::Object(a), Value::Object(b)) => {
                a.type_name() == b.type_name() && key_order(self, other) == Ordering::Equal
            }
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Self {
        Value::list(l)
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::map(m)
    }
}
impl From<&serde_json::Value> for Value {
    fn from(j: &serde_json::Value) -> Self {
        Value::from_json(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthiness_follows_go() {
        assert!(!Value::from_json(&serde_json::json!({})).truthy());
        assert!(!Value::from("").truthy());
        assert!(!Value::Int(0).truthy());
        assert!(Value::from_json(&serde_json::json!([0])).truthy());
    }

    #[test]
    fn map_keys_sort_as_go() {
        let mut m = Map::new();
        m.insert_key(Value::Int(10), Value::Nil);
        m.insert_key(Value::Float(2.5), Value::Nil);
        m.insert_key(Value::Int(-1), Value::Nil);
        let keys: Vec<_> = m.iter().map(|(k, _)| k.as_f64()).collect();
        assert_eq!(keys, vec![Some(-1.0), Some(2.5), Some(10.0)]);
    }

    #[test]
    fn string_lookups_find_string_keys_among_keys_of_every_kind() {
        let mut m = Map::new();
        assert!(
            m.string_keys(),
            "an empty map is a map[string]interface{{}}"
        );
        m.insert("b", Value::Int(2));
        m.insert("a", Value::Int(1));
        assert!(m.string_keys());
        m.insert_key(Value::Bool(true), Value::Int(3));
        m.insert_key(Value::Int(7), Value::Int(4));
        m.insert_key(Value::from_json(&serde_json::json!([1])), Value::Int(5));
        assert!(
            !m.string_keys(),
            "keys of other kinds before and after the strings"
        );
        assert_eq!(m.get("a").and_then(Value::as_f64), Some(1.0));
        assert_eq!(m.get("b").and_then(Value::as_f64), Some(2.0));
        assert!(m.get("true").is_none() && m.get("7").is_none() && m.get("").is_none());
        assert_eq!(m.remove("a").and_then(|v| v.as_f64()), Some(1.0));
        assert!(!m.contains_key("a") && m.contains_key("b"));
        assert_eq!(m.len(), 4);
        let mut only_bool = Map::new();
        only_bool.insert_key(Value::Bool(false), Value::Nil);
        assert!(!only_bool.string_keys());
    }
}
