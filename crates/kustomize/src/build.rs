//! `kustomize build`: load a kustomization, accumulate its resources, generators and
//! components, run its transformers, and at the top level add name hashes, fix name
//! references, resolve vars and sort.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use crate::config::TransformerConfig;
use crate::fs::FileSystem;
use crate::generators::{self, GeneratedKind};
use crate::helm_charts::{self, HelmOptions};
use crate::loader::Loader;
use crate::openapi::{Schema, Schemas};
use crate::origin::{self, Origin};
use crate::remote::{Remote, RepoSpec, is_remote_file};
use crate::resid::LegacyOrder;
use crate::resmap::{IdKeys, ResMap};
use crate::resource::{Behavior, Resource, resources_from_yaml};
use crate::transform::{self, Transformer};
use crate::types::{self, COMPONENT_VERSION, KUSTOMIZATION_VERSION, Kustomization, Var};
use crate::{Error, Result};
use driftless_yaml::Node;

/// The file names a kustomization may have, in the order kustomize looks for them.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

#[derive(Clone)]
pub struct BuildOptions {
    /// Files must lie inside their kustomization's directory (kustomize's default,
    /// `LoadRestrictionsRootOnly`).
    pub restrict_to_root: bool,
    /// Fetches remote files and Git bases; without one they are refused.
    pub remote: Option<Rc<dyn Remote>>,
    /// `helmCharts`: off unless enabled, as kustomize's `--enable-helm`.
    pub helm: HelmOptions,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions {
            restrict_to_root: true,
            remote: None,
            helm: HelmOptions::default(),
        }
    }
}

impl std::fmt::Debug for BuildOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOptions")
            .field("restrict_to_root", &self.restrict_to_root)
            .field("remote", &self.remote.is_some())
            .field("helm", &self.helm)
            .finish()
    }
}

/// Shared across the kustomizations of one build.
pub(crate) struct Context {
    pub schemas: RefCell<Option<Schemas>>,
    /// The top kustomization asks for build metadata: track origins.
    pub tracking: bool,
    pub helm: HelmOptions,
}

impl Context {
    pub fn schemas(&self) -> Schemas {
        self.schemas
            .borrow()
            .clone()
            .unwrap_or_else(Schemas::builtin)
    }
}

/// Builds the kustomization in `dir` and returns its resources in output order.
pub fn build(fs: &dyn FileSystem, dir: &Path, options: &BuildOptions) -> Result<Vec<Resource>> {
    let loader = Loader::new(fs, dir, options.restrict_to_root, options.remote.clone())?;
    let target = Target::load(loader, String::new())?;
    let metadata = target
        .kustomization
        .build_metadata
        .clone()
        .unwrap_or_default();
    let context = Context {
        schemas: RefCell::new(None),
        tracking: !metadata.is_empty(),
        helm: options.helm.clone(),
    };
    target.set_schema(&context)?;
    let mut accumulated = target.accumulate(&context, Accumulator::default())?;
    finish(&mut accumulated)?;
    let mut resources = accumulated.resmap.into_resources();
    resources.retain(|r| !is_local_config(r));
    for resource in &mut resources {
        if !metadata.iter().any(|m| m == "originAnnotations") {
            resource.origin = None;
        }
        if !metadata.iter().any(|m| m == "transformerAnnotations") {
            resource.transformations.clear();
        }
    }
    sort(&mut resources, target.kustomization.sort_options.as_ref())?;
    Ok(resources)
}

/// Builds and renders the result as `kustomize build` prints it.
pub fn build_yaml(fs: &dyn FileSystem, dir: &Path, options: &BuildOptions) -> Result<String> {
    let resources = build(fs, dir, options)?;
    let nodes: Vec<Node> = resources.iter().map(output_node).collect();
    Ok(driftless_yaml::to_string_stream(&nodes))
}

/// The object as kustomize writes it: through JSON, so keys sorted and scalars retyped.
pub fn output_node(resource: &Resource) -> Node {
    let mut node = resource.node.clone();
    if let Some(origin) = &resource.origin {
        node.ensure_map_path(&["metadata", "annotations"]).insert(
            "config.kubernetes.io/origin",
            Node::string(origin.annotation()),
        );
    }
    if !resource.transformations.is_empty() {
        node.ensure_map_path(&["metadata", "annotations"]).insert(
            "alpha.config.kubernetes.io/transformations",
            Node::string(Origin::list_annotation(&resource.transformations)),
        );
    }
    // A build annotation kustomize strips, whoever wrote it.
    if let Some(annotations) = node
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Node::as_map_mut)
    {
        annotations.remove(helm_charts::HELM_GENERATED);
    }
    // kustomize tags every object with internal annotations while it works and rewrites the
    // annotations as strings when it strips them; an annotation map left empty goes.
    if let Some(metadata) = node.get_mut("metadata").and_then(Node::as_map_mut) {
        match metadata.get("annotations") {
            Some(Node::Map(map)) if !map.is_empty() => {
                let entries = map
                    .iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Node::Scalar(s) if s.is_null() && s.value.is_empty() => String::new(),
                            Node::Scalar(s) => s.value.clone(),
                            other => driftless_yaml::to_string(other).trim_end().to_owned(),
                        };
                        (k.to_owned(), Node::string(text))
                    })
                    .collect();
                metadata.insert(
                    "annotations",
                    Node::Map(driftless_yaml::Mapping { entries }),
                );
            }
            Some(_) => {
                metadata.remove("annotations");
            }
            None => {}
        }
    }
    normalize(&node)
}

fn normalize(node: &Node) -> Node {
    match node {
        Node::Map(map) => {
            let mut entries: Vec<(String, Node)> = map
                .iter()
                .map(|(k, v)| (k.to_owned(), normalize(v)))
                .collect();
            entries.sort_by(|a, b| driftless_yaml::compare_keys(&a.0, &b.0));
            Node::Map(driftless_yaml::Mapping { entries })
        }
        Node::Seq(items) => Node::Seq(items.iter().map(normalize).collect()),
        Node::Scalar(scalar) => normalize_scalar(scalar),
    }
}

/// A scalar as it comes out of kustomize's YAML → JSON → YAML round trip: typed values in
/// their canonical spelling (`0x1F` is `31`, `1.0` is `1`), strings as strings.
fn normalize_scalar(scalar: &driftless_yaml::Scalar) -> Node {
    use driftless_yaml::ScalarKind;
    match scalar.kind() {
        ScalarKind::Null => Node::plain("null"),
        ScalarKind::Bool => Node::plain(if scalar.value.eq_ignore_ascii_case("true") {
            "true"
        } else {
            "false"
        }),
        ScalarKind::Int => match Node::Scalar(scalar.clone()).to_json() {
            serde_json::Value::Number(n) => Node::plain(n.to_string()),
            _ => Node::string(&scalar.value),
        },
        ScalarKind::Float => match scalar.value.replace('_', "").parse::<f64>() {
            Ok(f) if f.is_finite() => Node::plain(crate::hash::go_float(f)),
            _ => Node::string(&scalar.value),
        },
        ScalarKind::Str => Node::string(&scalar.value),
    }
}

fn is_local_config(resource: &Resource) -> bool {
    resource
        .annotation("config.kubernetes.io/local-config")
        .is_some_and(|v| v != "false")
}

fn sort(resources: &mut [Resource], options: Option<&types::SortOptions>) -> Result<()> {
    let order = match options {
        None => LegacyOrder::default_order(),
        Some(options) => match options.order.as_str() {
            "fifo" => {
                if options.legacy_sort_options.is_some() {
                    return Err(Error::new(
                        "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
                    ));
                }
                return Ok(());
            }
            "legacy" => match &options.legacy_sort_options {
                Some(legacy) => LegacyOrder::new(&legacy.order_first, &legacy.order_last),
                None => LegacyOrder::default_order(),
            },
            _ => {
                return Err(Error::new(
                    "the field 'sortOptions.order' must be one of [fifo, legacy]",
                ));
            }
        },
    };
    let keys: Vec<_> = resources.iter().map(|r| order.key(&r.id())).collect();
    let mut indexes: Vec<usize> = (0..resources.len()).collect();
    indexes.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    let sorted: Vec<Resource> = indexes.iter().map(|&i| resources[i].clone()).collect();
    resources.clone_from_slice(&sorted);
    Ok(())
}

/// Hash suffixes, name references and vars: once, over the whole build.
fn finish(accumulated: &mut Accumulator) -> Result<()> {
    transform::hash::add_name_hashes(&mut accumulated.resmap)?;
    transform::nameref::fix_name_references(
        &mut accumulated.resmap,
        &accumulated.config.name_reference,
    )?;
    transform::vars::resolve(
        &mut accumulated.resmap,
        &accumulated.vars,
        &accumulated.config.var_reference,
    )?;
    Ok(())
}

/// What a kustomization has gathered so far.
#[derive(Clone, Debug)]
pub struct Accumulator {
    pub resmap: ResMap,
    pub config: TransformerConfig,
    pub vars: Vec<Var>,
}

impl Default for Accumulator {
    fn default() -> Accumulator {
        Accumulator {
            resmap: ResMap::new(),
            // Empty, as kustomize's: each kustomization merges the defaults (with its own
            // `configurations:`) in after its resources.
            config: TransformerConfig::default(),
            vars: Vec::new(),
        }
    }
}

impl Accumulator {
    fn merge(&mut self, other: Accumulator, seen: &mut IdKeys) -> Result<()> {
        self.resmap.append_all_with(other.resmap, seen)?;
        self.config.merge(&other.config)?;
        for var in other.vars {
            self.add_var(var)?;
        }
        Ok(())
    }

    fn add_var(&mut self, var: Var) -> Result<()> {
        if self.vars.iter().any(|existing| existing.name == var.name) {
            return Err(Error::new(format!(
                "var '{}' already encountered",
                var.name
            )));
        }
        self.vars.push(var);
        Ok(())
    }

    /// Adds generated resources: a new id is appended, an existing one merged into or
    /// replaced as the generator's behaviour says.
    pub fn absorb(&mut self, generated: Resource) -> Result<()> {
        let id = generated.id();
        let matches = self.resmap.positions_by_any_id(&id);
        let behavior = generated.behavior.unwrap_or_default();
        match matches.as_slice() {
            [] => match behavior {
                Behavior::Create => self.resmap.append(generated),
                _ => Err(Error::new(format!(
                    "id {id} does not exist; cannot merge or replace"
                ))),
            },
            [at] => {
                let at = *at;
                let existing = &self.resmap.resources()[at];
                let merged = match behavior {
                    Behavior::Create => {
                        return Err(Error::new(format!(
                            "id {id} exists; behavior must be merge or replace"
                        )));
                    }
                    Behavior::Replace => transform::merge_generated(existing, generated, false),
                    Behavior::Merge => transform::merge_generated(existing, generated, true),
                };
                self.resmap.resources_mut()[at] = merged;
                Ok(())
            }
            _ => Err(Error::new(format!(
                "found multiple objects that could accept merge of {id}"
            ))),
        }
    }
}

/// One loaded kustomization (or component) and its loader.
pub(crate) struct Target<'a> {
    pub loader: Loader<'a>,
    pub kustomization: Kustomization,
    pub file_name: &'static str,
    /// This kustomization's directory relative to the top one, for origins.
    pub origin_dir: String,
}

impl<'a> Target<'a> {
    pub fn load(loader: Loader<'a>, origin_dir: String) -> Result<Target<'a>> {
        let mut found = Vec::new();
        for name in KUSTOMIZATION_FILE_NAMES {
            if loader.fs().is_file(&loader.root().join(name)) {
                found.push(name);
            }
        }
        let file_name = match found.as_slice() {
            [] => {
                return Err(Error::new(format!(
                    "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'",
                    loader.root().display()
                )));
            }
            [one] => *one,
            _ => {
                return Err(Error::new(format!(
                    "Found multiple kustomization files under: {}",
                    loader.root().display()
                )));
            }
        };
        let path = loader.root().join(file_name);
        let text = loader.load_string(file_name)?;
        let node = driftless_yaml::parse_one_last_key_wins(&text)
            .map_err(|e| Error::yaml(&path.display().to_string(), e))?;
        if node.is_null()
            || matches!(&node, Node::Map(m) if m.keys().all(|k| k == "apiVersion" || k == "kind"))
        {
            return Err(Error::new(format!(
                "{}: kustomization.yaml is empty",
                path.display()
            )));
        }
        let mut kustomization: Kustomization = types::from_node(&node)
            .map_err(|e| Error::new(format!("{}: invalid Kustomization: {e}", path.display())))?;
        fix_legacy_fields(&mut kustomization);
        let kind = kustomization
            .kind
            .clone()
            .unwrap_or_else(|| "Kustomization".to_owned());
        if kind != "Kustomization" && kind != "Component" {
            return Err(Error::new(format!(
                "Failed to read kustomization file under {}:\nkind should be Kustomization or Component",
                loader.root().display()
            )));
        }
        let required = if kind == "Component" {
            COMPONENT_VERSION
        } else {
            KUSTOMIZATION_VERSION
        };
        if let Some(api_version) = &kustomization.api_version
            && api_version != required
        {
            return Err(Error::new(format!(
                "Failed to read kustomization file under {}:\napiVersion for {kind} should be {required}",
                loader.root().display()
            )));
        }
        kustomization.kind = Some(kind);
        Ok(Target {
            loader,
            kustomization,
            file_name,
            origin_dir,
        })
    }

    fn is_component(&self) -> bool {
        self.kustomization.kind.as_deref() == Some("Component")
    }

    /// The OpenAPI schema this kustomization names; the first one set in a build wins.
    fn set_schema(&self, context: &Context) -> Result<()> {
        let Some(openapi) = &self.kustomization.openapi else {
            return Ok(());
        };
        if context.schemas.borrow().is_some() {
            return Ok(());
        }
        let schemas = match (openapi.get("path"), openapi.get("version")) {
            (Some(_), Some(_)) => {
                return Err(Error::new(
                    "builtin version and custom schema provided, cannot use both",
                ));
            }
            (Some(path), None) => {
                let text = self.loader.load_string(path)?;
                let node = driftless_yaml::parse_one(&text).map_err(|e| Error::yaml(path, e))?;
                Schemas::with_custom(Schema::from_json(&node.to_json()))
            }
            (None, Some(version)) if version == "v1.21.2" => Schemas::builtin(),
            (None, Some(_)) => {
                return Err(Error::new("the specified OpenAPI version is not built in"));
            }
            (None, None) => return Ok(()),
        };
        *context.schemas.borrow_mut() = Some(schemas);
        Ok(())
    }

    fn where_(&self) -> String {
        self.loader
            .root()
            .join(self.file_name)
            .display()
            .to_string()
    }

    /// Runs this kustomization over `accumulated` (empty for a kustomization, the parent's
    /// for a component).
    pub fn accumulate(
        &self,
        context: &Context,
        mut accumulated: Accumulator,
    ) -> Result<Accumulator> {
        let k = &self.kustomization;
        let mut seen = accumulated.resmap.id_keys();
        for path in k.resources.iter().flatten() {
            self.accumulate_resource(context, &mut accumulated, &mut seen, path)
                .map_err(|e| e.context("accumulating resources"))?;
        }
        // kustomize's MakeTransformerConfig: the `configurations:` files merged together, then
        // into the defaults; that merged into what the resources brought.
        let mut own = TransformerConfig::defaults();
        if let Some(paths) = k.configurations.as_ref().filter(|p| !p.is_empty()) {
            let mut configured = TransformerConfig::default();
            for path in paths {
                let text = self.loader.load_string(path)?;
                configured.merge(&TransformerConfig::from_yaml(&text, path)?)?;
            }
            own.merge(&configured)?;
        }
        accumulated
            .config
            .merge(&own)
            .map_err(|e| e.context("merging config"))?;
        for path in k.crds.iter().flatten() {
            let text = self.loader.load_string(path)?;
            let config = transform::crds::config_from_crds(&text, path)?;
            accumulated.config.merge(&config)?;
        }
        self.run_generators(context, &mut accumulated)?;
        for path in k.components.iter().flatten() {
            let loader = self
                .loader
                .child(path)
                .map_err(|e| e.context("accumulating components"))?;
            let component = Target::load(loader, origin::join(&self.origin_dir, path))
                .map_err(|e| e.context("accumulating components"))?;
            if !component.is_component() {
                return Err(Error::new(format!(
                    "accumulating components: expected kind 'Component' for path '{}' but got '{}'",
                    component.loader.root().display(),
                    component.kustomization.kind.as_deref().unwrap_or("")
                )));
            }
            component.set_schema(context)?;
            accumulated = component.accumulate(context, accumulated)?;
        }
        let transformers = self.builtin_transformers(&accumulated.config)?;
        for transformer in &transformers {
            transformer
                .apply(context, &mut accumulated)
                .map_err(|e| e.context(self.where_()))?;
            if context.tracking {
                let by = Origin::plugin(
                    self.configured_in(),
                    "builtin",
                    transformer.plugin_kind(),
                    "",
                );
                record_transformation(&mut accumulated.resmap, &by);
            }
        }
        for (transformer, by) in
            self.plugin_transformers(context, k.transformers.iter().flatten())?
        {
            transformer
                .apply(context, &mut accumulated)
                .map_err(|e| e.context(self.where_()))?;
            if context.tracking {
                record_transformation(&mut accumulated.resmap, &by);
            }
        }
        for var in k.vars.iter().flatten() {
            transform::vars::bind(&mut accumulated.resmap, var)?;
            accumulated.add_var(var.clone())?;
        }
        Ok(accumulated)
    }

    fn accumulate_resource(
        &self,
        context: &Context,
        accumulated: &mut Accumulator,
        seen: &mut IdKeys,
        path: &str,
    ) -> Result<()> {
        let file = if is_remote_file(path) {
            // An http(s) URL is a file, unless fetching it fails and it names a repository.
            match self.loader.load(path) {
                Ok(bytes) => Ok(bytes),
                Err(error) if RepoSpec::parse(path).is_ok() => Err(error),
                Err(error) => return Err(error),
            }
        } else {
            self.loader.resolve_file(path).and_then(|full| {
                self.loader
                    .fs()
                    .read(&full)
                    .map_err(|e| Error::new(format!("{}: {e}", full.display())))
            })
        };
        let file_error = match file {
            Ok(bytes) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| Error::new(format!("{path}: not valid UTF-8")))?;
                let mut resources = resources_from_yaml(&text, path)?;
                if context.tracking {
                    for resource in &mut resources {
                        resource.origin = Some(Origin::file(origin::join(&self.origin_dir, path)));
                    }
                }
                accumulated
                    .resmap
                    .append_all_with(resources.into_iter().collect(), seen)
                    .map_err(|e| e.context(format!("merging resources from '{path}'")))?;
                return Ok(());
            }
            Err(error) => error,
        };
        let loader = self
            .loader
            .child(path)
            .map_err(|e| Error::new(format!("accumulation err='{file_error}': {e}")))?;
        let sub = Target::load(loader, origin::join(&self.origin_dir, path))?;
        if sub.is_component() {
            return Err(Error::new(format!(
                "expected kind != 'Component' for path '{}'",
                sub.loader.root().display()
            )));
        }
        sub.set_schema(context)?;
        let sub_accumulated = sub
            .accumulate(context, Accumulator::default())
            .map_err(|e| {
                e.context(format!(
                    "recursed accumulation of path '{}'",
                    sub.loader.root().display()
                ))
            })?;
        accumulated.merge(sub_accumulated, seen).map_err(|e| {
            e.context(format!(
                "recursed merging from path '{}'",
                sub.loader.root().display()
            ))
        })
    }

    fn run_generators(&self, context: &Context, accumulated: &mut Accumulator) -> Result<()> {
        let k = &self.kustomization;
        let global = k.generator_options.as_ref();
        let builtin_origin = |kind: &str| {
            context
                .tracking
                .then(|| Origin::plugin(self.configured_in(), "builtin", kind, ""))
        };
        for args in k.config_map_generator.iter().flatten() {
            let mut resource =
                generators::generate(GeneratedKind::ConfigMap, args, global, &self.loader)?;
            resource.origin = builtin_origin("ConfigMapGenerator");
            accumulated
                .absorb(resource)
                .map_err(|e| e.context(format!("merging from generator {}", args.name)))?;
        }
        for args in k.secret_generator.iter().flatten() {
            let mut resource =
                generators::generate(GeneratedKind::Secret, args, global, &self.loader)?;
            resource.origin = builtin_origin("SecretGenerator");
            accumulated
                .absorb(resource)
                .map_err(|e| e.context(format!("merging from generator {}", args.name)))?;
        }
        for mut resource in helm_charts::generate(k, &self.loader, &context.helm)? {
            resource.origin = builtin_origin("HelmChartInflationGenerator");
            accumulated
                .absorb(resource)
                .map_err(|e| e.context("merging from generator HelmChartInflationGenerator"))?;
        }
        for config in self.plugin_configs(context, k.generators.iter().flatten())? {
            let by = self.plugin_origin(&config);
            for mut resource in transform::plugins::generate(&config, &self.loader)? {
                if context.tracking {
                    resource.origin = Some(by.clone());
                }
                accumulated
                    .absorb(resource)
                    .map_err(|e| e.context("merging from generator"))?;
            }
        }
        Ok(())
    }

    /// The configured built-in transformers, in kustomize's fixed order.
    fn builtin_transformers(&self, config: &TransformerConfig) -> Result<Vec<Transformer>> {
        transform::builtins_for(&self.kustomization, config, &self.loader)
    }

    /// Plugin configuration objects from `generators:` / `transformers:` entries: inline
    /// YAML, files, or kustomization directories producing them.
    fn plugin_configs<'s>(
        &self,
        context: &Context,
        entries: impl Iterator<Item = &'s String>,
    ) -> Result<Vec<Resource>> {
        let mut configs = Accumulator::default();
        for entry in entries {
            let inline = entry.contains('\n') || entry.trim_start().starts_with('{');
            match inline.then(|| resources_from_yaml(entry, "inline plugin configuration")) {
                Some(Ok(resources)) if !resources.is_empty() => {
                    for mut resource in resources {
                        resource.origin = Some(Origin::file(self.configured_in()));
                        configs.resmap.append(resource)?;
                    }
                }
                _ => {
                    let mut seen = configs.resmap.id_keys();
                    self.accumulate_resource(context, &mut configs, &mut seen, entry)?
                }
            }
        }
        Ok(configs.resmap.into_resources())
    }

    fn plugin_transformers<'s>(
        &self,
        context: &Context,
        entries: impl Iterator<Item = &'s String>,
    ) -> Result<Vec<(Transformer, Origin)>> {
        let mut out = Vec::new();
        for config in self.plugin_configs(context, entries)? {
            let by = self.plugin_origin(&config);
            for transformer in transform::plugins::transformers(&config, &self.loader)? {
                out.push((transformer, by.clone()));
            }
        }
        Ok(out)
    }

    /// This kustomization file, relative to the top one.
    fn configured_in(&self) -> String {
        origin::join(&self.origin_dir, self.file_name)
    }

    /// The origin of what a plugin object generates or transforms: the file it was read
    /// from and the plugin itself.
    fn plugin_origin(&self, config: &Resource) -> Origin {
        let configured_in = config
            .origin
            .as_ref()
            .map(|o| o.path.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.configured_in());
        Origin::plugin(
            configured_in,
            config.api_version(),
            config.kind(),
            config.name(),
        )
        .in_namespace(config.namespace())
    }
}

/// After a transformer ran: the first origin of resources that had none, another entry in
/// the transformations of the others.
fn record_transformation(resmap: &mut ResMap, by: &Origin) {
    for resource in resmap.iter_mut() {
        match resource.origin {
            None => resource.origin = Some(by.clone()),
            Some(_) => resource.transformations.push(by.clone()),
        }
    }
}

/// kustomize's build-time fix-ups of deprecated fields.
fn fix_legacy_fields(k: &mut Kustomization) {
    if let Some(bases) = k.bases.take() {
        k.resources.get_or_insert_with(Vec::new).extend(bases);
    }
    if let Some(tags) = k.image_tags.take() {
        k.images.get_or_insert_with(Vec::new).extend(tags);
    }
    for generator in k
        .config_map_generator
        .iter_mut()
        .flatten()
        .chain(k.secret_generator.iter_mut().flatten())
    {
        if !generator.env.is_empty() {
            let env = std::mem::take(&mut generator.env);
            generator.envs.push(env);
        }
    }
}
