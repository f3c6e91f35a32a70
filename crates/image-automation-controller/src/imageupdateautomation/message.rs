//! The commit message: `spec.git.commit.messageTemplate` — Go `text/template` with Sprig's
//! hermetic functions (`driftless-gotemplate`) — over the data Flux passes, shaped as Flux's
//! Go types so templates written for Flux render the same: `.AutomationObject`
//! (`types.NamespacedName`, printing `namespace/name`), `.Changed` (`update.Result`: the
//! `FileChanges` field and the `Changes` and `Objects` methods, objects keyed by
//! `ObjectIdentifier` structs) and `.Values`. Flux's default message when there is none.

use std::collections::BTreeMap;

use driftless_api::image::DEFAULT_COMMIT_MESSAGE;
use driftless_gotemplate::{Arity, Map, Struct, Template, Value, sprig};
use driftless_setters::{Change, ObjectChanges, ObjectIdentifier, UpdateResult};

use super::outcome::Failure;

/// The template's name in error messages, as Flux names it.
const NAME: &str = "commit message";

/// What a template sees as `.AutomationObject` and `.Values`.
pub struct Context<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub values: &'a BTreeMap<String, String>,
}

/// Renders `template` (the default message when absent or empty) for `changes`.
pub fn render(
    template: Option<&str>,
    context: &Context<'_>,
    changes: &UpdateResult,
) -> Result<String, Failure> {
    let Some(text) = template.filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT_COMMIT_MESSAGE.to_owned());
    };
    let parsed = parse(text)?;
    parsed
        .execute(&data(context, changes))
        .map_err(|error| execution_failure(&error.to_string()))
}

/// Checks `template` before any Git work: it parses, and uses no field Flux removed (found
/// by rendering it over an empty change set). Other execution errors depend on the changes
/// and are left to the run.
pub fn check(template: Option<&str>, context: &Context<'_>) -> Result<(), Failure> {
    let Some(text) = template.filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let parsed = parse(text)?;
    match parsed.execute(&data(context, &UpdateResult::default())) {
        Err(error) => match execution_failure(&error.to_string()) {
            removed @ Failure::Template {
                removed_field: true,
                ..
            } => Err(removed),
            _ => Ok(()),
        },
        Ok(_) => Ok(()),
    }
}

fn parse(text: &str) -> Result<Template, Failure> {
    Template::new(NAME)
        .funcs(sprig::hermetic())
        .parse(text)
        .map_err(|error| Failure::Template {
            removed_field: false,
            message: format!("unable to create commit message template from spec: {error}"),
        })
}

/// Flux's reading of an execution error: fields removed from the data stall with a pointer
/// to their replacement; anything else fails the run.
fn execution_failure(error: &str) -> Failure {
    const REMOVED: [(&str, &str); 2] = [
        (
            "can't evaluate field Updated in type source.TemplateData",
            "template uses removed '.Updated' field. Please use '.Changed' instead. See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template",
        ),
        (
            "can't evaluate field ImageResult in type update.Result",
            "template uses removed '.Changed.ImageResult' field. Please use '.Changed.FileChanges' or '.Changed.Objects' instead. See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template",
        ),
    ];
    match REMOVED.iter().find(|(pattern, _)| error.contains(pattern)) {
        Some((_, message)) => Failure::Template {
            removed_field: true,
            message: (*message).to_owned(),
        },
        None => Failure::Git(format!(
            "failed to update source: failed to run template from spec: {error}"
        )),
    }
}

fn object_identifier(id: &ObjectIdentifier) -> Value {
    let type_meta = Struct::new("yaml.TypeMeta")
        .field("APIVersion", id.api_version.as_str())
        .field("Kind", id.kind.as_str());
    let name_meta = Struct::new("yaml.NameMeta")
        .field("Name", id.name.as_str())
        .field("Namespace", id.namespace.as_str());
    let resource = Struct::new("yaml.ResourceIdentifier")
        .embed("TypeMeta", type_meta)
        .embed("NameMeta", name_meta);
    Struct::new("update.ObjectIdentifier")
        .embed("ResourceIdentifier", resource)
        .into_value()
}

fn change(change: &Change) -> Value {
    Struct::new("update.Change")
        .field("OldValue", change.old_value.as_str())
        .field("NewValue", change.new_value.as_str())
        .field("Setter", change.setter.as_str())
        .into_value()
}

fn objects_map(objects: &ObjectChanges) -> Map {
    let mut map = Map::new();
    for (id, changes) in objects {
        map.insert_key(
            object_identifier(id),
            Value::list(changes.iter().map(change).collect()),
        );
    }
    map
}

/// The template data, as Flux's `source.TemplateData`.
fn data(context: &Context<'_>, result: &UpdateResult) -> Value {
    let mut files = Map::new();
    for (path, objects) in &result.file_changes {
        files.insert(path.clone(), Value::map(objects_map(objects)));
    }
    let changes: Vec<Value> = result.changes().iter().map(change).collect();
    let objects = Value::map(objects_map(&result.objects()));
    let changed = Struct::new("update.Result")
        .field("FileChanges", Value::map(files))
        .method("Changes", Arity::Exact(0), move |_| {
            Ok(Value::list(changes.clone()))
        })
        .method("Objects", Arity::Exact(0), move |_| Ok(objects.clone()));
    let mut values = Map::new();
    for (key, value) in context.values {
        values.insert(key.clone(), Value::string(value.as_str()));
    }
    Struct::new("source.TemplateData")
        .field(
            "AutomationObject",
            Struct::new("types.NamespacedName")
                .field("Namespace", context.namespace)
                .field("Name", context.name)
                .stringer(format!("{}/{}", context.namespace, context.name)),
        )
        .field("Changed", changed)
        .field("Values", Value::map(values))
        .into_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result() -> UpdateResult {
        let policies = {
            let mut p = driftless_setters::Policies::new();
            p.insert(
                "flux-system",
                "web",
                driftless_setters::ImageRef::new("ghcr.io/org/web", "1.1.0"),
            );
            p
        };
        let file = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ghcr.io/org/web:1.0.0 # {\"$imagepolicy\": \"flux-system:web\"}\n";
        driftless_setters::rewrite_all([("apps/web.yaml", file)], &policies)
    }

    fn context(values: &BTreeMap<String, String>) -> Context<'_> {
        Context {
            namespace: "flux-system",
            name: "fleet",
            values,
        }
    }

    #[test]
    fn flux_documented_template_renders_the_changes() {
        let values = BTreeMap::from([("env".to_owned(), "prod".to_owned())]);
        let template = "Automated image update\n\nAutomation name: {{ .AutomationObject }}\n\nFiles:\n{{ range $filename, $_ := .Changed.FileChanges -}}\n- {{ $filename }}\n{{ end -}}\n\nObjects:\n{{ range $resource, $changes := .Changed.Objects -}}\n- {{ $resource.Kind }} {{ $resource.Name }}\n  Changes:\n{{- range $_, $change := $changes }}\n    - {{ $change.OldValue }} -> {{ $change.NewValue }}\n{{ end -}}\n{{ end -}}\nenv={{ .Values.env | upper }}";
        let message = render(Some(template), &context(&values), &result()).unwrap();
        assert_eq!(
            message,
            "Automated image update\n\nAutomation name: flux-system/fleet\n\nFiles:\n- apps/web.yaml\nObjects:\n- Deployment web\n  Changes:\n    - ghcr.io/org/web:1.0.0 -> ghcr.io/org/web:1.1.0\nenv=PROD"
        );
        let list = "{{ range .Changed.Changes }}{{ .Setter }}: {{ .NewValue }}{{ end }}";
        assert_eq!(
            render(Some(list), &context(&values), &result()).unwrap(),
            "flux-system:web: ghcr.io/org/web:1.1.0"
        );
        assert_eq!(
            render(None, &context(&values), &result()).unwrap(),
            DEFAULT_COMMIT_MESSAGE
        );
    }

    #[test]
    fn broken_and_outdated_templates_are_refused_before_any_git_work() {
        let values = BTreeMap::new();
        let removed = check(
            Some("{{ range .Updated.Images }}{{ . }}{{ end }}"),
            &context(&values),
        );
        assert!(
            matches!(
                removed,
                Err(Failure::Template {
                    removed_field: true,
                    ..
                })
            ),
            "{removed:?}"
        );
        let broken = check(Some("{{ if }}"), &context(&values));
        assert!(
            matches!(&broken, Err(Failure::Template { removed_field: false, message }) if message.starts_with("unable to create commit message template from spec: template: commit message:1:")),
            "{broken:?}"
        );
        // An error that depends on the changes is only known when there are some.
        assert!(check(Some("{{ index .Changed.Changes 0 }}"), &context(&values)).is_ok());
        let failed = render(Some("{{ fail \"no\" }}"), &context(&values), &result());
        assert!(matches!(failed, Err(Failure::Git(_))), "{failed:?}");
    }
}
