//! The public template set: Go's `*template.Template`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ast::Tree;
use crate::error::{ExecError, OptionError, ParseError};
use crate::funcs::{Func, FuncMap};
use crate::value::Value;

/// Go's `missingkey` option: what a missing map key gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `missingkey=default`/`invalid`: no value (prints `<no value>`).
    #[default]
    Default,
    /// `missingkey=zero`: the map's zero value (nil for `map[string]interface{}`).
    Zero,
    /// `missingkey=error`: execution stops with an error.
    Error,
}

/// A set of named templates sharing functions and options; one of them is "current"
/// (the one [`Template::execute`] runs), as in Go.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    /// The set's templates; copies share them until one adds a template.
    trees: Arc<BTreeMap<String, Arc<Tree>>>,
    /// Templates added to a copy made by [`Template::layered`], looked up before `trees`:
    /// Helm's `tpl` parses into a copy of the running set on every call, and copying a
    /// chart's hundreds of templates each time would cost more than the call itself.
    layer: BTreeMap<String, Arc<Tree>>,
    layered: bool,
    pub(crate) funcs: Arc<FuncMap>,
    pub(crate) missing_key: MissingKey,
}

impl Template {
    /// An empty set whose current template is `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            trees: Arc::default(),
            layer: BTreeMap::new(),
            layered: false,
            funcs: Arc::new(FuncMap::default()),
            missing_key: MissingKey::Default,
        }
    }

    /// The current template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds functions (they override builtins of the same name). Must come before parsing
    /// templates that use them.
    pub fn funcs(mut self, funcs: FuncMap) -> Self {
        Arc::make_mut(&mut self.funcs).extend(funcs);
        self
    }

    /// Adds one function.
    pub fn func(mut self, name: impl Into<String>, f: Func) -> Self {
        Arc::make_mut(&mut self.funcs).insert(name.into(), f);
        self
    }

    /// Go's `Option("missingkey=…")`.
    pub fn option(mut self, option: &str) -> Result<Self, OptionError> {
        self.missing_key = match option {
            "missingkey=default" | "missingkey=invalid" => MissingKey::Default,
            "missingkey=zero" => MissingKey::Zero,
            "missingkey=error" => MissingKey::Error,
            other => return Err(OptionError(other.to_string())),
        };
        Ok(self)
    }

    pub fn missing_key(mut self, missing_key: MissingKey) -> Self {
        self.missing_key = missing_key;
        self
    }

    /// Parses `text` as the current template (and the templates it defines).
    pub fn parse(mut self, text: &str) -> Result<Self, ParseError> {
        let name = self.name.clone();
        self.add(&name, text)?;
        Ok(self)
    }

    /// Parses `text` as template `name` of this set (Go's `t.New(name).Parse(text)`; Helm
    /// parses every chart file this way). An empty body does not replace an existing
    /// template; a non-empty one does.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), ParseError> {
        self.add_shared(name, Arc::from(text))
    }

    /// [`Template::add`] for text the caller already holds shared: the parsed templates keep
    /// it (their text nodes point into it) instead of a copy.
    pub fn add_shared(&mut self, name: &str, text: Arc<str>) -> Result<(), ParseError> {
        let funcs = self.funcs.clone();
        let has_func =
            move |f: &str| funcs.contains_key(f) || crate::builtins::builtins().contains_key(f);
        let trees = crate::parse::parse(name, text, &has_func)?;
        for tree in trees {
            if tree.is_empty() && self.lookup(&tree.name) {
                continue;
            }
            let trees = if self.layered {
                &mut self.layer
            } else {
                Arc::make_mut(&mut self.trees)
            };
            trees.insert(tree.name.clone(), Arc::new(tree));
        }
        Ok(())
    }

    /// Whether template `name` is defined in this set.
    pub fn lookup(&self, name: &str) -> bool {
        self.layer.contains_key(name) || self.trees.contains_key(name)
    }

    /// A copy whose added templates stay its own, sharing this set's templates instead of
    /// copying them (what `tpl` needs on every call).
    pub fn layered(&self) -> Self {
        Self {
            name: self.name.clone(),
            trees: Arc::clone(&self.trees),
            layer: self.layer.clone(),
            layered: true,
            funcs: Arc::clone(&self.funcs),
            missing_key: self.missing_key,
        }
    }

    fn tree(&self, name: &str) -> Option<&Arc<Tree>> {
        self.layer.get(name).or_else(|| self.trees.get(name))
    }

    /// The names of the templates in the set, sorted.
    pub fn template_names(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<&str> = self
            .trees
            .keys()
            .chain(self.layer.keys())
            .map(String::as_str)
            .collect();
        if !self.layer.is_empty() {
            names.sort_unstable();
            names.dedup();
        }
        names.into_iter()
    }

    /// Go's `DefinedTemplates`: `; defined templates are: "a", "b"` or empty.
    pub fn defined_templates(&self) -> String {
        let names: Vec<String> = self.template_names().map(crate::print::quote).collect();
        if names.is_empty() {
            return String::new();
        }
        format!("; defined templates are: {}", names.join(", "))
    }

    pub(crate) fn func_named(&self, name: &str) -> Option<&Func> {
        self.funcs
            .get(name)
            .or_else(|| crate::builtins::builtins().get(name))
    }

    /// Executes the current template.
    pub fn execute(&self, data: &Value) -> Result<String, ExecError> {
        match self.tree(&self.name) {
            Some(_) => self.execute_at_depth(&self.name, data, 0),
            None => Err(ExecError {
                name: self.name.clone(),
                message: format!(
                    "template: {}: {} is an incomplete or empty template",
                    self.name,
                    crate::print::quote(&self.name)
                ),
            }),
        }
    }

    /// Executes the named template of the set.
    pub fn execute_template(&self, name: &str, data: &Value) -> Result<String, ExecError> {
        self.execute_at_depth(name, data, 0)
    }

    pub(crate) fn execute_at_depth(
        &self,
        name: &str,
        data: &Value,
        depth: usize,
    ) -> Result<String, ExecError> {
        let Some(tree) = self.tree(name) else {
            return Err(ExecError {
                name: name.to_string(),
                message: format!(
                    "template: no template {} associated with template {}",
                    crate::print::quote(name),
                    crate::print::quote(&self.name)
                ),
            });
        };
        crate::exec::execute(self, tree, data, depth)
    }
}
