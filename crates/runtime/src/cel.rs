//! CEL expressions from specs (`healthCheckExprs`, `commitStatusExpr`, `resourceFilter`):
//! compiled once, evaluated on JSON values. cel's parser and interpreter recurse deeply (the
//! parser allows 96 levels), so both run on a thread with a large stack: no expression can
//! overflow a runtime worker's stack.
//!
//! cel has no cost limit, and expressions come from cluster users (and filters also see
//! webhook bodies), so evaluation is bounded here: every comprehension (`all`, `exists`,
//! `map`, `filter`, …) is rewritten at compile time to pass its range through a function that
//! charges the range's size against a budget of [`MAX_ITERATIONS`] per evaluation (nested
//! ones pay for every inner pass), and the string functions refuse results over
//! [`MAX_STRING_BYTES`]. Literals are bounded by the source, so evaluation time is bounded.

use std::sync::Arc;

const CEL_STACK_BYTES: usize = 16 << 20;

/// Elements all comprehensions of one evaluation may visit together.
pub const MAX_ITERATIONS: u64 = 25_000;
/// The largest string the string functions build.
pub const MAX_STRING_BYTES: usize = 1 << 20;
/// The function every comprehension range is passed through.
const BUDGET_FUNCTION: &str = "__driftless_iterate";

thread_local! {
    /// Iterations left to the evaluation running on this thread.
    static ITERATIONS_LEFT: std::cell::Cell<u64> = const { std::cell::Cell::new(MAX_ITERATIONS) };
}

/// Charges a comprehension's range against the evaluation's budget and passes it on.
fn iterate(range: cel::Value) -> cel::ResolveResult {
    let size = match &range {
        cel::Value::List(items) => items.len(),
        cel::Value::Map(map) => map.map.len(),
        other => {
            return Err(cel::ExecutionError::function_error(
                "comprehension",
                format!("cannot iterate over {:?}", other.type_of()),
            ));
        }
    };
    let charged = u64::try_from(size).unwrap_or(u64::MAX).saturating_add(1);
    ITERATIONS_LEFT.with(|left| {
        let remaining = left.get();
        if charged > remaining {
            left.set(0);
            return Err(cel::ExecutionError::function_error(
                "comprehension",
                format!("the expression exceeds its budget of {MAX_ITERATIONS} iterations"),
            ));
        }
        left.set(remaining - charged);
        Ok(range)
    })
}

/// Wraps every comprehension range of `expr` in [`BUDGET_FUNCTION`].
fn instrument(expr: &mut cel::IdedExpr) {
    use cel::common::ast::{CallExpr, EntryExpr, Expr};
    match &mut expr.expr {
        Expr::Call(call) => {
            if let Some(target) = call.target.as_mut() {
                instrument(target);
            }
            call.args.iter_mut().for_each(instrument);
        }
        Expr::Comprehension(comprehension) => {
            for part in [
                &mut comprehension.iter_range,
                &mut comprehension.accu_init,
                &mut comprehension.loop_cond,
                &mut comprehension.loop_step,
                &mut comprehension.result,
            ] {
                instrument(part);
            }
            let range = std::mem::take(&mut comprehension.iter_range);
            comprehension.iter_range = cel::IdedExpr {
                id: range.id,
                expr: Expr::Call(CallExpr {
                    func_name: BUDGET_FUNCTION.to_owned(),
                    target: None,
                    args: vec![range],
                }),
            };
        }
        Expr::List(list) => list.elements.iter_mut().for_each(instrument),
        Expr::Map(cel::common::ast::MapExpr { entries })
        | Expr::Struct(cel::common::ast::StructExpr { entries, .. }) => {
            for entry in entries {
                match &mut entry.expr {
                    EntryExpr::MapEntry(pair) => {
                        instrument(&mut pair.key);
                        instrument(&mut pair.value);
                    }
                    EntryExpr::StructField(field) => instrument(&mut field.value),
                }
            }
        }
        Expr::Select(select) => instrument(&mut select.operand),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// Runs `f` on a thread with a large stack. From async code the wait must not hold a runtime
/// worker that other tasks (watches, Lease renewal) need, so it is wrapped in
/// `block_in_place`, which needs the multi-threaded runtime.
pub fn on_large_stack<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| on_thread(f))
        }
        _ => on_thread(f),
    }
}

fn on_thread<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("cel".into())
            .stack_size(CEL_STACK_BYTES)
            .spawn_scoped(scope, f)
            .map_err(|e| format!("cannot start a thread for CEL: {e}"))?;
        handle
            .join()
            .map_err(|_| "the CEL interpreter panicked".to_owned())
    })
}

mod strings {
    use std::sync::Arc;

    use cel::extractors::{Arguments, This};

    fn text(value: String) -> cel::ResolveResult {
        if value.len() > super::MAX_STRING_BYTES {
            return Err(cel::ExecutionError::function_error(
                "string",
                format!("result over {} bytes", super::MAX_STRING_BYTES),
            ));
        }
        Ok(cel::Value::String(Arc::new(value)))
    }

    /// As cel-go's: an empty separator splits into characters.
    pub fn split(This(this): This<Arc<String>>, separator: Arc<String>) -> cel::ResolveResult {
        let part = |p: &str| cel::Value::String(Arc::new(p.to_owned()));
        let parts: Vec<cel::Value> = if separator.is_empty() {
            this.chars()
                .map(|c| cel::Value::String(Arc::new(c.to_string())))
                .collect()
        } else {
            this.split(separator.as_str()).map(part).collect()
        };
        Ok(cel::Value::List(Arc::new(parts)))
    }

    pub fn lower_ascii(This(this): This<Arc<String>>) -> String {
        this.to_ascii_lowercase()
    }

    pub fn upper_ascii(This(this): This<Arc<String>>) -> String {
        this.to_ascii_uppercase()
    }

    pub fn trim(This(this): This<Arc<String>>) -> String {
        this.trim().to_owned()
    }

    pub fn replace(
        This(this): This<Arc<String>>,
        from: Arc<String>,
        to: Arc<String>,
    ) -> cel::ResolveResult {
        // Refused before it is built: each call could multiply the length.
        let count = if from.is_empty() {
            this.chars().count() + 1
        } else {
            this.matches(from.as_str()).count()
        };
        if this.len().saturating_add(count.saturating_mul(to.len())) > super::MAX_STRING_BYTES {
            return Err(cel::ExecutionError::function_error(
                "replace",
                format!("result over {} bytes", super::MAX_STRING_BYTES),
            ));
        }
        text(this.replace(from.as_str(), to.as_str()))
    }

    /// In characters, -1 when absent.
    pub fn index_of(This(this): This<Arc<String>>, needle: Arc<String>) -> i64 {
        this.find(needle.as_str()).map_or(-1, |byte| {
            i64::try_from(this[..byte].chars().count()).unwrap_or(i64::MAX)
        })
    }

    /// `list.join()` or `list.join(separator)`.
    pub fn join(
        This(this): This<Arc<Vec<cel::Value>>>,
        Arguments(arguments): Arguments,
    ) -> cel::ResolveResult {
        let separator = match arguments.as_slice() {
            [] => Arc::new(String::new()),
            [cel::Value::String(separator)] => separator.clone(),
            _ => {
                return Err(cel::ExecutionError::function_error(
                    "join",
                    "takes at most one string, the separator",
                ));
            }
        };
        let mut parts = Vec::with_capacity(this.len());
        for value in this.iter() {
            match value {
                cel::Value::String(text) => parts.push(text.as_str().to_owned()),
                other => {
                    return Err(cel::ExecutionError::function_error(
                        "join",
                        format!("not a string: {other:?}"),
                    ));
                }
            }
        }
        let total: usize = parts.iter().map(String::len).sum::<usize>()
            + separator.len() * parts.len().saturating_sub(1);
        if total > super::MAX_STRING_BYTES {
            return Err(cel::ExecutionError::function_error(
                "join",
                format!("result over {} bytes", super::MAX_STRING_BYTES),
            ));
        }
        text(parts.join(separator.as_str()))
    }
}

/// A context with the string functions of CEL's strings extension that Flux enables and
/// cel's standard library lacks: `split`, `lowerAscii`, `upperAscii`, `trim`, `replace`,
/// `indexOf` on strings and `join` on lists of strings.
pub fn context() -> cel::Context<'static> {
    let mut context = cel::Context::default();
    context.add_function("split", strings::split);
    context.add_function("lowerAscii", strings::lower_ascii);
    context.add_function("upperAscii", strings::upper_ascii);
    context.add_function("trim", strings::trim);
    context.add_function("replace", strings::replace);
    context.add_function("indexOf", strings::index_of);
    context.add_function("join", strings::join);
    context.add_function(BUDGET_FUNCTION, iterate);
    context
}

/// [`context`] with `variables` bound.
pub fn context_with(
    variables: &[(&str, &serde_json::Value)],
) -> Result<cel::Context<'static>, String> {
    let mut context = context();
    for (name, value) in variables {
        context
            .add_variable(*name, *value)
            .map_err(|e| format!("binding '{name}': {e}"))?;
    }
    Ok(context)
}

/// A compiled expression and its source, for messages.
#[derive(Clone)]
pub struct Expression {
    source: String,
    /// The parsed expression with its comprehensions instrumented.
    program: Arc<cel::IdedExpr>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

impl Expression {
    /// Compiles `source`; the error names the expression, as Flux's messages do.
    pub fn compile(source: &str) -> Result<Expression, String> {
        let owned = source.to_owned();
        let parsed = on_large_stack(move || {
            let program = cel::Program::compile(&owned).map_err(|e| e.to_string())?;
            let mut expression = program.expression().clone();
            instrument(&mut expression);
            Ok::<_, String>(expression)
        })
        .and_then(|parsed| parsed);
        match parsed {
            Ok(program) => Ok(Expression {
                source: source.to_owned(),
                program: Arc::new(program),
            }),
            Err(error) => Err(format!(
                "failed to parse the CEL expression '{source}': {error}"
            )),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates in `context`, on the calling thread (callers batch evaluations inside
    /// [`on_large_stack`]).
    pub fn value(&self, context: &cel::Context) -> Result<cel::Value, String> {
        ITERATIONS_LEFT.with(|left| left.set(MAX_ITERATIONS));
        cel::Value::resolve(&self.program, context).map_err(|error| {
            format!(
                "failed to evaluate the CEL expression '{}': {error}",
                self.source
            )
        })
    }

    /// Evaluates to a boolean in `context`, on the calling thread.
    pub fn holds(&self, context: &cel::Context) -> Result<bool, String> {
        match self.value(context)? {
            cel::Value::Bool(value) => Ok(value),
            _ => Err(format!(
                "failed to evaluate CEL expression as boolean: '{}'",
                self.source
            )),
        }
    }

    /// Evaluates to a string with `variables` bound, on a large stack.
    pub fn string_with(&self, variables: &[(&str, &serde_json::Value)]) -> Result<String, String> {
        let value = on_large_stack(|| {
            let context = context_with(variables)?;
            self.value(&context)
        })??;
        match value {
            cel::Value::String(text) => Ok(text.to_string()),
            _ => Err(format!(
                "failed to evaluate CEL expression as string: '{}'",
                self.source
            )),
        }
    }

    /// Evaluates with `variables` bound, on a large stack, to JSON.
    pub fn json_with(
        &self,
        variables: &[(&str, &serde_json::Value)],
    ) -> Result<serde_json::Value, String> {
        on_large_stack(|| {
            let context = context_with(variables)?;
            let value = self.value(&context)?;
            value.json().map_err(|e| {
                format!(
                    "the CEL expression '{}' gave a value without a JSON form: {e:?}",
                    self.source
                )
            })
        })?
    }

    /// Evaluates to a boolean with `variables` bound, on a large stack.
    pub fn holds_with(&self, variables: &[(&str, &serde_json::Value)]) -> Result<bool, String> {
        on_large_stack(|| {
            let context = context_with(variables)?;
            self.holds(&context)
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_compile_evaluate_and_explain_errors() {
        let event =
            serde_json::json!({ "involvedObject": { "kind": "Kustomization", "name": "app" } });
        let id = Expression::compile("event.involvedObject.kind + '/' + event.involvedObject.name")
            .unwrap();
        assert_eq!(
            id.string_with(&[("event", &event)]).unwrap(),
            "Kustomization/app"
        );
        let not_text = Expression::compile("1 + 1").unwrap();
        assert!(not_text.string_with(&[]).unwrap_err().contains("as string"));
        let test = Expression::compile("event.involvedObject.name == 'app'").unwrap();
        assert!(test.holds_with(&[("event", &event)]).unwrap());
        let list = Expression::compile("[event.involvedObject.name, size(event)]").unwrap();
        assert_eq!(
            list.json_with(&[("event", &event)]).unwrap(),
            serde_json::json!(["app", 1])
        );
        let strings = Expression::compile(
            "'Org/App'.split('/')[0].lowerAscii() + ' ' + ['a', 'b'].join('-') + ' ' + ' x '.trim().upperAscii() + ' ' + string('a.b'.replace('.', '/').indexOf('/'))",
        )
        .unwrap();
        assert_eq!(strings.string_with(&[]).unwrap(), "org a-b X 1");
        let chars = Expression::compile("'abc'.split('').join('-') + ['x', 'y'].join()").unwrap();
        assert_eq!(chars.string_with(&[]).unwrap(), "a-b-cxy");
        let missing = Expression::compile("nothing.here == 1").unwrap();
        assert!(missing.holds_with(&[]).is_err());
        let error = Expression::compile("event.(").unwrap_err();
        assert!(
            error.starts_with("failed to parse the CEL expression 'event.('"),
            "{error}"
        );
        // Nesting past the parser's limit fails cleanly instead of overflowing a stack.
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(Expression::compile(&deep).is_err());
    }

    #[test]
    fn evaluation_is_bounded() {
        let list = |n: usize| {
            format!(
                "[{}]",
                (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
            )
        };
        let nested = |n: usize| {
            Expression::compile(&format!(
                "{}.all(a, {}.all(b, a >= 0 && b >= 0))",
                list(n),
                list(n)
            ))
            .unwrap()
        };
        // 100 × 100 passes fit the budget, and every evaluation starts with a full one.
        for _ in 0..3 {
            assert!(nested(100).holds_with(&[]).unwrap());
        }
        let error = nested(200).holds_with(&[]).unwrap_err();
        assert!(error.contains("budget of 25000 iterations"), "{error}");
        // Data-driven ranges pay too.
        let data = serde_json::json!({ "items": (0..30_000).collect::<Vec<_>>() });
        let error = Expression::compile("body.items.exists(i, i < 0)")
            .unwrap()
            .holds_with(&[("body", &data)])
            .unwrap_err();
        assert!(error.contains("budget"), "{error}");
        // Strings cannot be grown past a megabyte, however the calls are chained.
        let growing = format!("'a'{}", ".replace('a', 'aaaaaaaaaa')".repeat(7));
        let error = Expression::compile(&growing)
            .unwrap()
            .string_with(&[])
            .unwrap_err();
        assert!(error.contains("result over 1048576 bytes"), "{error}");
        // A comprehension over something that is not a list or map is an error, not a panic.
        let error = Expression::compile("'abc'.all(c, true)")
            .unwrap()
            .holds_with(&[])
            .unwrap_err();
        assert!(error.contains("cannot iterate"), "{error}");
    }
}
