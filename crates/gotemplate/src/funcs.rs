//! The function registry: Go's `FuncMap`, open to callers (Helm's `include`, `tpl`,
//! `required`, `toYaml` …), with functions that may execute templates of the running set.

use std::fmt;
use std::sync::Arc;

use crate::error::ExecError;
use crate::template::Template;
use crate::value::Value;

/// What a function body receives besides its arguments: the executing template set.
pub struct Context<'a> {
    pub(crate) set: &'a Template,
    pub(crate) depth: usize,
}

impl Context<'_> {
    /// The template set being executed (for `lookup`, `defined_templates` …).
    pub fn templates(&self) -> &Template {
        self.set
    }

    /// Executes the named template of the running set with `data` (Helm's `include`).
    pub fn execute_template(&mut self, name: &str, data: &Value) -> Result<String, ExecError> {
        self.set.execute_at_depth(name, data, self.depth + 1)
    }

    /// Parses `text` as template `name` into a copy of the running set and executes it
    /// (Helm's `tpl`). Parse errors are returned as execution errors.
    pub fn execute_text(
        &mut self,
        name: &str,
        text: &str,
        data: &Value,
    ) -> Result<String, ExecError> {
        let mut set = self.set.layered();
        set.add(name, text).map_err(|e| ExecError {
            name: name.to_string(),
            message: e.message,
        })?;
        set.execute_at_depth(name, data, self.depth + 1)
    }
}

/// Why a function failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FuncError {
    /// Argument `index` has the wrong type; printed as is (`wrong type for value; …`), at the
    /// argument's node, as Go does when it converts arguments.
    #[error("{message}")]
    Arg { index: usize, message: String },
    /// The function returned an error; printed as `error calling NAME: message`.
    #[error("{0}")]
    Call(String),
    /// Printed as is at the call (Go's "wrong number of args for NAME: want N got M").
    #[error("{0}")]
    Plain(String),
}

/// How many arguments a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    Exact(usize),
    AtLeast(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Normal,
    And,
    Or,
    Call,
}

type Body = dyn Fn(&mut Context<'_>, Vec<Value>) -> Result<Value, FuncError> + Send + Sync;

/// A template function.
#[derive(Clone)]
pub struct Func {
    pub(crate) arity: Arity,
    pub(crate) kind: Kind,
    body: Arc<Body>,
}

impl fmt::Debug for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Func").field("arity", &self.arity).finish()
    }
}

impl Func {
    /// A function of its arguments only.
    pub fn new(
        arity: Arity,
        body: impl Fn(Vec<Value>) -> Result<Value, FuncError> + Send + Sync + 'static,
    ) -> Self {
        Self::with_context(arity, move |_, args| body(args))
    }

    /// A function that also receives the executing template set (for `include`, `tpl`).
    pub fn with_context(
        arity: Arity,
        body: impl Fn(&mut Context<'_>, Vec<Value>) -> Result<Value, FuncError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            arity,
            kind: Kind::Normal,
            body: Arc::new(body),
        }
    }

    pub(crate) fn special(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    pub(crate) fn invoke(
        &self,
        ctx: &mut Context<'_>,
        args: Vec<Value>,
    ) -> Result<Value, FuncError> {
        (self.body)(ctx, args)
    }

    /// Calls the function outside a template (for `call` on function values in data).
    pub fn call(&self, ctx: &mut Context<'_>, args: Vec<Value>) -> Result<Value, FuncError> {
        check_arity_of("function", self.arity, args.len())?;
        self.invoke(ctx, args)
    }
}

/// Functions by name; looked up for every identifier parsed and every call executed, so
/// hashed, with a fast hash (the names are the program's own, not an attacker's).
pub type FuncMap = std::collections::HashMap<String, Func, foldhash::fast::RandomState>;

/// Go's message for a wrong argument count.
pub fn check_arity(name: &str, args: &[Value], want: usize) -> Result<(), FuncError> {
    match arity_message(name, Arity::Exact(want), args.len()) {
        Some(m) => Err(FuncError::Plain(m)),
        None => Ok(()),
    }
}

pub(crate) fn arity_message(name: &str, arity: Arity, got: usize) -> Option<String> {
    match arity {
        Arity::Exact(n) if n != got => Some(format!(
            "wrong number of args for {name}: want {n} got {got}"
        )),
        Arity::AtLeast(n) if got < n => Some(format!(
            "wrong number of args for {name}: want at least {n} got {got}"
        )),
        _ => None,
    }
}

fn check_arity_of(name: &str, arity: Arity, got: usize) -> Result<(), FuncError> {
    match arity_message(name, arity, got) {
        Some(m) => Err(FuncError::Call(m)),
        None => Ok(()),
    }
}

fn wrong(index: usize, want: &str, got: &Value) -> FuncError {
    let message = if got.is_nil() {
        format!("invalid value; expected {want}")
    } else {
        format!(
            "wrong type for value; expected {want}; got {}",
            got.type_name()
        )
    };
    FuncError::Arg { index, message }
}

/// Argument `i` as Go's `string` parameter.
pub fn arg_str(args: &[Value], i: usize) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(wrong(i, "string", v)),
        None => Err(FuncError::Call("missing argument".into())),
    }
}

/// Argument `i` as Go's `int` parameter.
pub fn arg_int(args: &[Value], i: usize) -> Result<i64, FuncError> {
    match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        Some(v) => Err(wrong(i, "int", v)),
        None => Err(FuncError::Call("missing argument".into())),
    }
}

/// Argument `i` as Go's `bool` parameter.
pub fn arg_bool(args: &[Value], i: usize) -> Result<bool, FuncError> {
    match args.get(i) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(wrong(i, "bool", v)),
        None => Err(FuncError::Call("missing argument".into())),
    }
}

/// Argument `i` as Go's `[]interface{}` parameter.
pub fn arg_list(args: &[Value], i: usize) -> Result<Arc<Vec<Value>>, FuncError> {
    match args.get(i) {
        Some(Value::List(l)) => Ok(l.clone()),
        Some(v) => Err(wrong(i, "[]interface {}", v)),
        None => Err(FuncError::Call("missing argument".into())),
    }
}

/// Argument `i` as Go's `map[string]interface{}` parameter.
pub fn arg_map(args: &[Value], i: usize) -> Result<crate::value::MapRef, FuncError> {
    match args.get(i) {
        Some(Value::Map(m)) => Ok(m.clone()),
        // Go passes a nil map: reads find nothing.
        Some(Value::Nil | Value::Missing) => Ok(crate::value::MapRef::default()),
        Some(v) => Err(wrong(i, "map[string]interface {}", v)),
        None => Err(FuncError::Call("missing argument".into())),
    }
}
