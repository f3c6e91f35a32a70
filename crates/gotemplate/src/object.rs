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
    fields: Vec<(String, Value, bool)>,
    methods: BTreeMap<String, (Arity, Method)>,
    string: Option<String>,
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
        self.fields.push((name.into(), value.into(), false));
        self
    }

    /// An embedded struct: its fields and methods are promoted, as in Go.
    pub fn embed(mut self, name: impl Into<String>, value: Struct) -> Self {
        self.fields.push((name.into(), Value::object(value), true));
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
        self.fields.iter().filter_map(|(_, v, e)| match v {
            Value::Object(o) if *e => Some(o),
            _ => None,
        })
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
        if let Some((_, v, _)) = self.fields.iter().find(|(n, _, _)| n == name) {
            return Some(v.clone());
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
            .map(|(n, v, _)| (n.clone(), v.clone()))
            .collect()
    }

    fn to_go_string(&self) -> Option<String> {
        self.string.clone()
    }
}
