//! CEL expressions from specs (`healthCheckExprs`, `commitStatusExpr`, `resourceFilter`):
//! compiled once, evaluated on JSON values. cel's parser and interpreter recurse deeply (the
//! parser allows 96 levels), so both run on a thread with a large stack: no expression can
//! overflow a runtime worker's stack.

use std::sync::Arc;

const CEL_STACK_BYTES: usize = 16 << 20;

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

    use cel::extractors::This;

    pub fn split(This(this): This<Arc<String>>, separator: Arc<String>) -> cel::ResolveResult {
        Ok(cel::Value::List(Arc::new(
            this.split(separator.as_str())
                .map(|part| cel::Value::String(Arc::new(part.to_owned())))
                .collect(),
        )))
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

    pub fn replace(This(this): This<Arc<String>>, from: Arc<String>, to: Arc<String>) -> String {
        this.replace(from.as_str(), to.as_str())
    }

    /// In characters, -1 when absent.
    pub fn index_of(This(this): This<Arc<String>>, needle: Arc<String>) -> i64 {
        this.find(needle.as_str()).map_or(-1, |byte| {
            i64::try_from(this[..byte].chars().count()).unwrap_or(i64::MAX)
        })
    }

    pub fn join(
        This(this): This<Arc<Vec<cel::Value>>>,
        separator: Arc<String>,
    ) -> cel::ResolveResult {
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
        Ok(cel::Value::String(Arc::new(parts.join(separator.as_str()))))
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
    context
}

/// A compiled expression and its source, for messages.
#[derive(Clone)]
pub struct Expression {
    source: String,
    program: Arc<cel::Program>,
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
        let parsed =
            on_large_stack(move || cel::Program::compile(&owned).map_err(|e| e.to_string()))
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
        self.program.execute(context).map_err(|error| {
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
            let mut context = context();
            for (name, value) in variables {
                context
                    .add_variable(*name, *value)
                    .map_err(|e| format!("binding '{name}': {e}"))?;
            }
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
            let mut context = context();
            for (name, value) in variables {
                context
                    .add_variable(*name, *value)
                    .map_err(|e| format!("binding '{name}': {e}"))?;
            }
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
            let mut context = context();
            for (name, value) in variables {
                context
                    .add_variable(*name, *value)
                    .map_err(|e| format!("binding '{name}': {e}"))?;
            }
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
}
