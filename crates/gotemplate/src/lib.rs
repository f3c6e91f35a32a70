//! Go's `text/template` and Sprig's hermetic functions, in pure Rust (no I/O).
//!
//! Users: Flux image-automation commit messages (`messageTemplate`), and later a pure-Rust
//! Helm renderer. Helm needs struct-like data whose methods take arguments
//! (`.Capabilities.APIVersions.Has "apps/v1"`, `.Files.Get "x"`) and functions that execute
//! templates of the running set (`include`, `tpl`).
//!
//! # Why our own engine
//! The `gotmpl` crate (gotmpl-rs 0.6) parses the full syntax but cannot call methods with
//! arguments ("can't give argument to non-function") and has no struct objects, so it cannot
//! serve Helm. This crate follows Go's `text/template/parse` and `exec` closely instead: the
//! same item stream, the same node positions and the same error wording.
//!
//! # Model
//! - [`Value`]: Go's dynamic values. JSON numbers become `float64` as in Go's `encoding/json`;
//!   template constants are `int` or `float64` by their syntax. [`Value::Missing`] is Go's
//!   invalid value (a missing key: prints `<no value>`), [`Value::Nil`] a nil interface.
//! - Maps are shared by reference (Sprig's `set` mutates them, as in Go) and keyed by any
//!   value, ordered as Go's `fmtsort` orders keys, so a map keyed by struct objects (Flux's
//!   `.Changed.Objects`) ranges with the struct as key.
//! - [`Object`]: caller-defined structs with fields, methods with arguments, and `String()`.
//! - [`Func`]: functions by name; [`Func::with_context`] ones get a [`Context`] to execute
//!   templates of the running set.
//!
//! ```
//! use driftless_gotemplate::{Template, Value, sprig};
//! let t = Template::new("msg").funcs(sprig::hermetic()).parse("{{ .name | upper }}").unwrap();
//! let data = Value::from_json(&serde_json::json!({"name": "podinfo"}));
//! assert_eq!(t.execute(&data).unwrap(), "PODINFO");
//! ```
//!
//! # Differences from Go
//! - No complex numbers, no unsigned integers, no channels or iterator functions.
//! - Number constants are typed by syntax before the callee is known: `1.0` passed to an
//!   `int` parameter is an error here, accepted by Go.
//! - Nested template calls stop at 100 levels (Go: 100000) and output at 64 MiB.
//! - Error texts follow Go's; where the node Go names differs, both still fail (the golden
//!   test lists such cases explicitly).

mod ast;
mod builtins;
mod error;
mod exec;
pub mod funcs;
mod lex;
mod object;
mod parse;
pub mod print;
pub mod sprig;
mod template;
mod value;

pub use builtins::{html_escape, js_escape, query_escape};
pub use error::{Error, ExecError, OptionError, ParseError};
pub use funcs::{Arity, Context, Func, FuncError, FuncMap};
pub use object::Struct;
pub use template::{MissingKey, Template};
pub use value::{Key, Map, MapRef, Object, Value};
