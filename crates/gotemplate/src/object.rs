//! [`Struct`]: a ready-made [`Object`] for callers exposing Go structs (fields, embedded
//! structs whose fields are promoted, methods with arguments, `String()`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::funcs::{Arity, FuncError, arity_message};
use crate::value::{Object, Value};

type Method = Arc<dyn Fn(Vec<Value>) -> Result<Value, FuncError> + Send + Sync>;

/// A Go struct value: `Struct::new("types.NamespacedName").field("Name", "x".into())`.
#[derive(Clone, Default)]
pub struct Struct {
    type_name: String,
    fields: Vec<Field>,
    methods: BTreeMap<String, (Arity, Method)>,
    string: Option<String>,
}

#[derive(Clone, Debug)]
struct Field {
    name: String,
    value: Value,
    embedded: bool,
    json: Option<JsonTag>,
}

/// A field's `json:"name,omitempty"` tag.
#[derive(Clone, Debug)]
struct JsonTag {
    name: String,
    omit_empty: bool,
}

impl JsonTag {
    fn parse(tag: &str) -> Self {
        let mut parts = tag.split(',');
        let name = parts.next().unwrap_or_default().to_owned();
        JsonTag {
            name,
            omit_empty: parts.any(|option| option == "omitempty"),
        }
    }
}

impl fmt::Debug for Struct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Struct")
            .field("type_name", &self.type_name)
            .field("fields", &self.fields)
            .field("methods", &self.methods.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Struct {
    pub fn new(type_name: impl Into<String>) -> Self {
        Self {
            type_name: type_name.into(),
            ..Self::default()
        }
    }

    /// A named field, in declaration order.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.fields.push(Field {
            name: name.into(),
            value: value.into(),
            embedded: false,
            json: None,
        });
        self
    }

    /// A named field with a Go `json` struct tag (`"home,omitempty"`): the name and the
    /// omission `encoding/json` (and so `toJson` and `toYaml`) use.
    pub fn tagged_field(
        mut self,
        name: impl Into<String>,
        json_tag: &str,
        value: impl Into<Value>,
    ) -> Self {
        self.fields.push(Field {
            name: name.into(),
            value: value.into(),
            embedded: false,
            json: Some(JsonTag::parse(json_tag)),
        });
        self
    }

    /// An embedded struct: its fields and methods are promoted, as in Go (and its JSON
    /// fields are written inline, as `encoding/json` writes them).
    pub fn embed(mut self, name: impl Into<String>, value: Struct) -> Self {
        self.fields.push(Field {
            name: name.into(),
            value: Value::object(value),
            embedded: true,
            json: None,
        });
        self
    }

    /// A method; Go checks the argument count before calling it.
    pub fn method(
        mut self,
        name: impl Into<String>,
        arity: Arity,
        f: impl Fn(Vec<Value>) -> Result<Value, FuncError> + Send + Sync + 'static,
    ) -> Self {
        self.methods.insert(name.into(), (arity, Arc::new(f)));
        self
    }

    /// Go's `String() string`: what `{{ . }}`, `%v` and `%s` print.
    pub fn stringer(mut self, text: impl Into<String>) -> Self {
        self.string = Some(text.into());
        self
    }

    pub fn into_value(self) -> Value {
        Value::object(self)
    }

    fn embedded(&self) -> impl Iterator<Item = &Arc<dyn Object>> {
        self.fields.iter().filter_map(|f| match &f.value {
            Value::Object(o) if f.embedded => Some(o),
            _ => None,
        })
    }
}

/// `encoding/json`'s `isEmptyValue`: what `omitempty` leaves out (a struct never is).
fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Missing | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i) | Value::Int64(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.read().is_empty(),
        Value::Object(o) => o.range_items().is_some_and(|items| items.is_empty()),
        Value::Func(_) => false,
    }
}

impl From<Struct> for Value {
    fn from(s: Struct) -> Self {
        s.into_value()
    }
}

impl Object for Struct {
    fn type_name(&self) -> String {
        self.type_name.clone()
    }

    fn field(&self, name: &str) -> Option<Value> {
        if let Some(f) = self.fields.iter().find(|f| f.name == name) {
            return Some(f.value.clone());
        }
        self.embedded().find_map(|o| o.field(name))
    }

    fn has_method(&self, name: &str) -> bool {
        self.methods.contains_key(name) || self.embedded().any(|o| o.has_method(name))
    }

    fn call_method(&self, name: &str, args: Vec<Value>) -> Result<Value, FuncError> {
        if let Some((arity, f)) = self.methods.get(name) {
            if let Some(m) = arity_message(name, *arity, args.len()) {
                return Err(FuncError::Plain(m));
            }
            return f(args);
        }
        match self.embedded().find(|o| o.has_method(name)) {
            Some(o) => o.call_method(name, args),
            None => Err(FuncError::Call(format!("no method {name}"))),
        }
    }

    fn fields(&self) -> Vec<(String, Value)> {
        self.fields
            .iter()
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect()
    }

    fn json_fields(&self) -> Vec<(String, Value)> {
        let mut out = Vec::with_capacity(self.fields.len());
        for f in &self.fields {
            match (&f.value, &f.json) {
                (Value::Object(inner), None) if f.embedded => out.extend(inner.json_fields()),
                (_, Some(tag)) if tag.name == "-" => {}
                (value, Some(tag)) if tag.omit_empty && is_empty_value(value) => {}
                (value, Some(tag)) if !tag.name.is_empty() => {
                    out.push((tag.name.clone(), value.clone()))
                }
                (value, _) => out.push((f.name.clone(), value.clone())),
            }
        }
        out
    }

    fn to_go_string(&self) -> Option<String> {
        self.string.clone()
    }
}
