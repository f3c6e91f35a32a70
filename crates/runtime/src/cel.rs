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
            let mut context = cel::Context::default();
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

    /// Evaluates to a boolean with `variables` bound, on a large stack.
    pub fn holds_with(&self, variables: &[(&str, &serde_json::Value)]) -> Result<bool, String> {
        on_large_stack(|| {
            let mut context = cel::Context::default();
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
