//! The executor: Go's `text/template/exec.go` over [`Value`]s.

use std::fmt::Write as _;

use crate::ast::{Arg, Command, Control, Name, Node, Number, Pipe, Tree};
use crate::error::ExecError;
use crate::funcs::{Context, Func, FuncError, Kind, arity_message};
use crate::print::sprint_value;
use crate::template::{MissingKey, Template};
use crate::value::Value;

/// Nested template calls allowed (Go allows 100000; Rust's stack does not).
pub(crate) const MAX_DEPTH: usize = 100;
/// Output size that stops execution, so hostile input cannot exhaust memory.
pub(crate) const MAX_OUTPUT: usize = 64 << 20;

/// The node errors are reported at (Go's `state.at`).
#[derive(Clone, Copy)]
enum At<'a> {
    None,
    Arg(&'a Arg),
    Cmd(&'a Command),
    Pipe(&'a Pipe),
    Range(&'a Control),
    Template(usize, &'a str, Option<&'a Pipe>),
}

enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'a> {
    set: &'a Template,
    tree: &'a Tree,
    name: &'a str,
    /// Variables: name, value, and whether the value is interface-typed (a range element
    /// of a `[]interface{}` or map), which Go names as `interface {}` in field errors.
    vars: Vec<(Name, Value, bool)>,
    /// Whether dot is interface-typed (inside `range` over a list or map).
    dot_iface: bool,
    depth: usize,
    at: At<'a>,
    out: String,
}

type R<T> = Result<T, ExecError>;

pub(crate) fn execute(set: &Template, tree: &Tree, data: &Value, depth: usize) -> R<String> {
    // Go's `reflect.ValueOf(nil)` is the invalid value.
    let data = if let Value::Nil = data {
        &Value::Missing
    } else {
        data
    };
    let mut s = State {
        set,
        tree,
        name: &tree.name,
        vars: vec![("$".into(), data.clone(), false)],
        dot_iface: false,
        depth,
        at: At::None,
        out: String::new(),
    };
    if depth > MAX_DEPTH {
        return Err(s.error(format!("exceeded maximum template depth ({MAX_DEPTH})")));
    }
    s.walk_list(data, &tree.root)?;
    Ok(s.out)
}

fn range_string(c: &Control, text: &str) -> String {
    let mut s = format!("{{{{range {}}}}}", c.pipe);
    for n in &c.list {
        if let Node::Text(span) = n {
            s.push_str(span.of(text));
        } else {
            s.push_str("{{…}}");
        }
        if s.len() > 40 {
            break;
        }
    }
    s
}

impl<'a> State<'a> {
    fn error(&self, message: impl std::fmt::Display) -> ExecError {
        let (pos, context) = match self.at {
            At::None => {
                return ExecError {
                    name: self.name.to_string(),
                    message: format!("template: {}: {message}", self.name),
                };
            }
            At::Arg(a) => (a.pos(), a.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::Pipe(p) => (p.pos, p.to_string()),
            At::Range(c) => (c.pos, range_string(c, &self.tree.text)),
            At::Template(pos, name, pipe) => {
                let mut s = format!("{{{{template {}", crate::print::quote(name));
                if let Some(p) = pipe {
                    let _ = write!(s, " {p}");
                }
                s.push_str("}}");
                (pos, s)
            }
        };
        ExecError {
            name: self.name.to_string(),
            message: format!(
                "template: {}: executing {} at <{context}>: {message}",
                self.tree.location(pos),
                crate::print::quote(self.name)
            ),
        }
    }

    fn err<T>(&self, message: impl std::fmt::Display) -> R<T> {
        Err(self.error(message))
    }

    fn walk_list(&mut self, dot: &Value, list: &'a [Node]) -> R<Flow> {
        for node in list {
            match self.walk(dot, node)? {
                Flow::Normal => {}
                flow => return Ok(flow),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'a Node) -> R<Flow> {
        match node {
            Node::Text(span) => {
                self.write(span.of(&self.tree.text))?;
            }
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    let text = match &v {
                        Value::Missing | Value::Nil => "<no value>".to_string(),
                        v => sprint_value(v),
                    };
                    self.write(&text)?;
                }
            }
            Node::If(c) | Node::With(c) => {
                let mark = self.vars.len();
                let v = self.eval_pipeline(dot, &c.pipe)?;
                let r = if v.truthy() {
                    if matches!(node, Node::With(_)) {
                        let saved = std::mem::replace(&mut self.dot_iface, false);
                        let r = self.walk_list(&v, &c.list);
                        self.dot_iface = saved;
                        r
                    } else {
                        self.walk_list(dot, &c.list)
                    }
                } else if let Some(e) = &c.else_list {
                    self.walk_list(dot, e)
                } else {
                    Ok(Flow::Normal)
                };
                self.vars.truncate(mark);
                return r;
            }
            Node::Range(c) => {
                let mark = self.vars.len();
                let r = self.walk_range(dot, c);
                self.vars.truncate(mark);
                r?;
            }
            Node::Template { pos, name, pipe } => {
                self.at = At::Template(*pos, name, pipe.as_ref());
                if !self.set.lookup(name) {
                    return self.err(format!(
                        "template {} not defined",
                        crate::print::quote(name)
                    ));
                }
                if self.depth + 1 > MAX_DEPTH {
                    return self.err(format!("exceeded maximum template depth ({MAX_DEPTH})"));
                }
                let data = match pipe {
                    Some(p) => {
                        let mark = self.vars.len();
                        let v = self.eval_pipeline(dot, p);
                        self.vars.truncate(mark);
                        v?
                    }
                    None => Value::Missing,
                };
                let out = self.set.execute_at_depth(name, &data, self.depth + 1)?;
                self.write(&out)?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return self.err("output exceeds the size limit");
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk_range(&mut self, dot: &Value, c: &'a Control) -> R<()> {
        self.at = At::Range(c);
        let val = self.eval_pipeline(dot, &c.pipe)?;
        let mark = self.vars.len();
        let decl = &c.pipe.decl;
        let mut ran = false;
        let iface = matches!(val, Value::List(_) | Value::Map(_));
        let mut one = |s: &mut Self, index: Value, elem: Value| -> R<bool> {
            ran = true;
            if !decl.is_empty() {
                if c.pipe.is_assign {
                    if decl.len() > 1 {
                        s.set_var(&decl[0], index.clone(), false)?;
                    } else {
                        s.set_var(&decl[0], elem.clone(), iface)?;
                    }
                } else {
                    s.set_top_var(1, elem.clone(), iface);
                }
            }
            if decl.len() > 1 {
                if c.pipe.is_assign {
                    s.set_var(&decl[1], elem.clone(), iface)?;
                } else {
                    s.set_top_var(2, index, false);
                }
            }
            let saved = std::mem::replace(&mut s.dot_iface, iface);
            let flow = s.walk_list(&elem, &c.list);
            s.dot_iface = saved;
            s.vars.truncate(mark);
            Ok(matches!(flow?, Flow::Break))
        };
        match &val {
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if one(self, Value::Int(i as i64), item.clone())? {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                for (k, v) in m.snapshot() {
                    if one(self, k, v)? {
                        break;
                    }
                }
            }
            Value::Int(n) | Value::Int64(n) => {
                if decl.len() > 1 {
                    return self.err(format!(
                        "can't use {n} to iterate over more than one variable"
                    ));
                }
                // The items have the integer's own type.
                let item = |i: i64| match val {
                    Value::Int64(_) => Value::Int64(i),
                    _ => Value::Int(i),
                };
                for i in 0..*n {
                    if one(self, item(i), item(i))? {
                        break;
                    }
                }
            }
            Value::Object(o) if o.range_items().is_some() => {
                for (k, v) in o.range_items().unwrap_or_default() {
                    if one(self, k, v)? {
                        break;
                    }
                }
            }
            Value::Missing | Value::Nil => {}
            Value::Func(_) => return self.err("range over a function value is not supported"),
            other => return self.err(format!("range can't iterate over {}", sprint_value(other))),
        }
        if !ran && let Some(e) = &c.else_list {
            self.walk_list(dot, e)?;
        }
        Ok(())
    }

    fn set_var(&mut self, name: &str, value: Value, iface: bool) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _, _)| n == name) {
            Some(v) => {
                v.1 = value;
                v.2 = iface;
                Ok(())
            }
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    fn set_top_var(&mut self, n: usize, value: Value, iface: bool) {
        let len = self.vars.len();
        if let Some(v) = len.checked_sub(n).and_then(|i| self.vars.get_mut(i)) {
            v.1 = value;
            v.2 = iface;
        }
    }

    fn var_value(&self, name: &str) -> R<(Value, bool)> {
        match self.vars.iter().rev().find(|(n, _, _)| n == name) {
            Some((_, v, iface)) => Ok((v.clone(), *iface)),
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> R<Value> {
        self.at = At::Pipe(pipe);
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            let mut v = self.eval_command(dot, cmd, value.take())?;
            // A nil interface is no value once a command is done (Go's `value.Elem()`).
            if let Value::Nil = v {
                v = Value::Missing;
            }
            value = Some(v);
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), false)?;
            } else {
                self.vars.push((name.clone(), value.clone(), false));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return self.err(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'a Command, fin: Option<Value>) -> R<Value> {
        let Some(first) = cmd.args.first() else {
            return self.err("empty command");
        };
        match first {
            Arg::Field { idents, .. } => {
                self.at = At::Arg(first);
                self.eval_field_chain(
                    dot,
                    dot.clone(),
                    first,
                    idents,
                    &cmd.args,
                    fin,
                    self.dot_iface,
                )
            }
            Arg::Chain { node, fields, .. } => {
                self.eval_chain(dot, first, node, fields, &cmd.args, fin)
            }
            Arg::Ident(_, name) => self.eval_function(dot, first, name, Some(cmd), &cmd.args, fin),
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Variable { idents, .. } => self.eval_variable(dot, first, idents, &cmd.args, fin),
            _ => {
                self.at = At::Arg(first);
                self.not_a_function(&cmd.args, &fin)?;
                self.constant(dot, first)
            }
        }
    }

    fn constant(&self, dot: &Value, arg: &Arg) -> R<Value> {
        match arg {
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => self.err("nil is not a command"),
            Arg::Number { value, text, .. } => match value {
                Number::Int(i) => Ok(Value::Int(*i)),
                Number::Float(f) => Ok(Value::Float(*f)),
                Number::Overflow => self.err(format!("{text} overflows int")),
            },
            Arg::Str { value, .. } => Ok(Value::String(value.to_string())),
            other => self.err(format!(
                "can't evaluate command {}",
                crate::print::quote(&other.to_string())
            )),
        }
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        chain: &'a Arg,
        node: &'a Arg,
        fields: &'a [Name],
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = At::Arg(chain);
        if let Arg::Nil(_) = node {
            return self.err(format!("indirection through explicit nil in {chain}"));
        }
        let receiver = self.eval_arg(dot, node)?;
        // A chain's receiver is a command result: concrete, not an interface.
        self.eval_field_chain(dot, receiver, chain, fields, args, fin, false)
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        node: &'a Arg,
        idents: &'a [Name],
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = At::Arg(node);
        let (value, iface) = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, node, &idents[1..], args, fin, iface)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        node: &'a Arg,
        idents: &'a [Name],
        args: &'a [Arg],
        fin: Option<Value>,
        mut iface: bool,
    ) -> R<Value> {
        let n = idents.len();
        for ident in &idents[..n.saturating_sub(1)] {
            let from_map = matches!(receiver, Value::Map(_));
            receiver = self.eval_field(dot, ident, node, &[], None, receiver, iface)?;
            iface = from_map;
        }
        match idents.last() {
            Some(last) => self.eval_field(dot, last, node, args, fin, receiver, iface),
            None => Ok(receiver),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        node: &'a Arg,
        args: &'a [Arg],
        fin: Option<Value>,
        receiver: Value,
        iface: bool,
    ) -> R<Value> {
        let has_args = args.len() > 1 || fin.is_some();
        let type_name = |v: &Value| {
            if iface {
                "interface {}".to_string()
            } else {
                v.type_name()
            }
        };
        match &receiver {
            Value::Missing => {
                if self.set.missing_key == MissingKey::Error {
                    return self.err(format!(
                        "nil data; no entry for key {}",
                        crate::print::quote(name)
                    ));
                }
                Ok(Value::Missing)
            }
            Value::Nil => self.err(format!("nil pointer evaluating interface {{}}.{name}")),
            Value::Object(o) => {
                if o.has_method(name) {
                    let o = o.clone();
                    let name_owned = name.to_string();
                    return self.eval_call(
                        dot,
                        CallTarget::Method(&o, &name_owned),
                        At::Arg(node),
                        name,
                        args,
                        fin,
                    );
                }
                match o.field(name) {
                    Some(v) => {
                        if has_args {
                            return self.err(format!(
                                "{name} has arguments but cannot be invoked as function"
                            ));
                        }
                        Ok(v)
                    }
                    None => self.err(format!(
                        "can't evaluate field {name} in type {}",
                        type_name(&receiver)
                    )),
                }
            }
            Value::Map(m) => {
                let string_keys = m.read().string_keys();
                if !string_keys {
                    return self.err(format!(
                        "can't evaluate field {name} in type {}",
                        type_name(&receiver)
                    ));
                }
                if has_args {
                    return self.err(format!("{name} is not a method but has arguments"));
                }
                let found = m.read().get(name).cloned();
                match found {
                    Some(v) => Ok(v),
                    None => match self.set.missing_key {
                        MissingKey::Default => Ok(Value::Missing),
                        MissingKey::Zero => Ok(Value::Nil),
                        MissingKey::Error => self.err(format!(
                            "map has no entry for key {}",
                            crate::print::quote(name)
                        )),
                    },
                }
            }
            _ => self.err(format!(
                "can't evaluate field {name} in type {}",
                type_name(&receiver)
            )),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        ident: &'a Arg,
        name: &'a str,
        cmd: Option<&'a Command>,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = At::Arg(ident);
        let Some(f) = self.set.func_named(name).cloned() else {
            return self.err(format!(
                "{} is not a defined function",
                crate::print::quote(name)
            ));
        };
        let at = match cmd {
            Some(c) => At::Cmd(c),
            None => At::Arg(ident),
        };
        self.eval_call(dot, CallTarget::Func(&f), at, name, args, fin)
    }

    /// Evaluates an argument (Go's `evalArg` toward `interface{}`).
    fn eval_arg(&mut self, dot: &Value, arg: &'a Arg) -> R<Value> {
        self.at = At::Arg(arg);
        match arg {
            Arg::Field { idents, .. } => self.eval_field_chain(
                dot,
                dot.clone(),
                arg,
                idents,
                std::slice::from_ref(arg),
                None,
                self.dot_iface,
            ),
            Arg::Variable { idents, .. } => {
                self.eval_variable(dot, arg, idents, std::slice::from_ref(arg), None)
            }
            Arg::Pipe(p) => self.eval_pipeline(dot, p),
            Arg::Ident(_, name) => {
                self.eval_function(dot, arg, name, None, std::slice::from_ref(arg), None)
            }
            Arg::Chain { node, fields, .. } => {
                self.eval_chain(dot, arg, node, fields, std::slice::from_ref(arg), None)
            }
            Arg::Nil(_) => Ok(Value::Nil),
            _ => self.constant(dot, arg),
        }
    }

    fn eval_call(
        &mut self,
        dot: &Value,
        target: CallTarget<'_>,
        at: At<'a>,
        name: &str,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let arg_nodes = args.get(1..).unwrap_or(&[]);
        let num_in = arg_nodes.len() + usize::from(fin.is_some());
        let (arity, kind) = match &target {
            CallTarget::Func(f) => (Some(f.arity), f.kind),
            CallTarget::Method(..) => (None, Kind::Normal),
        };
        if let Some(arity) = arity
            && let Some(m) = arity_message(name, arity, num_in)
        {
            return self.err(m);
        }
        if matches!(kind, Kind::And | Kind::Or) {
            let want = kind == Kind::Or;
            let mut v = Value::Missing;
            for a in arg_nodes {
                v = self.eval_arg(dot, a)?;
                if v.truthy() == want {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        let mut values = Vec::with_capacity(num_in);
        // Go checks each argument right after evaluating it, at the last node it visited.
        let mut arg_at = Vec::with_capacity(num_in);
        for a in arg_nodes {
            let v = self.eval_arg(dot, a)?;
            arg_at.push(self.at);
            values.push(if let Value::Missing = v {
                Value::Nil
            } else {
                v
            });
        }
        if let Some(f) = fin {
            values.push(if let Value::Missing = f {
                Value::Nil
            } else {
                f
            });
        }
        if kind == Kind::Call {
            // Go names the callee by its node.
            let callee = arg_nodes
                .first()
                .map_or_else(|| "<pipeline>".to_string(), |a| a.to_string());
            values.insert(0, Value::String(callee));
        }
        let mut ctx = Context {
            set: self.set,
            depth: self.depth,
        };
        let result = match target {
            CallTarget::Func(f) => f.invoke(&mut ctx, values),
            CallTarget::Method(o, m) => o.call_method(m, values),
        };
        match result {
            Ok(v) => Ok(v),
            Err(FuncError::Arg { index, message }) => {
                let index = if kind == Kind::Call {
                    index.saturating_sub(1)
                } else {
                    index
                };
                self.at = arg_at.get(index).copied().unwrap_or(at);
                // Go converts constants toward the parameter type: "expected string; found 3".
                if let Some(a @ (Arg::Number { .. } | Arg::Str { .. } | Arg::Bool(..))) =
                    arg_nodes.get(index)
                    && let Some(want) = message.strip_prefix("wrong type for value; expected ")
                {
                    let want = want.split(';').next().unwrap_or(want);
                    let want = match want {
                        "int" | "int64" => "integer",
                        "float64" => "float",
                        w => w,
                    };
                    if want.starts_with("map[") || want.starts_with("[]") {
                        return self.err(format!("can't handle {a} for arg of type {want}"));
                    }
                    return self.err(format!("expected {want}; found {a}"));
                }
                self.err(message)
            }
            Err(FuncError::Plain(message)) => {
                self.at = at;
                self.err(message)
            }
            Err(FuncError::Call(message)) => {
                self.at = at;
                self.err(format!("error calling {name}: {message}"))
            }
        }
    }
}

enum CallTarget<'f> {
    Func(&'f Func),
    Method(&'f std::sync::Arc<dyn crate::value::Object>, &'f str),
}
