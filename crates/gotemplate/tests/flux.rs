//! Flux image-automation commit messages: the documented `messageTemplate` over data shaped
//! as Flux's (`types.NamespacedName`, `update.ResultV2` with methods, a map keyed by
//! `ObjectIdentifier` structs). The expected output comes from Go (`go-oracle/flux.go`).

use driftless_gotemplate::{Arity, Map, Struct, Template, Value};

fn obj(api_version: &str, kind: &str, name: &str, ns: &str) -> Value {
    let type_meta = Struct::new("yaml.TypeMeta")
        .field("APIVersion", api_version)
        .field("Kind", kind);
    let name_meta = Struct::new("yaml.NameMeta")
        .field("Name", name)
        .field("Namespace", ns);
    let rid = Struct::new("yaml.ResourceIdentifier")
        .embed("TypeMeta", type_meta)
        .embed("NameMeta", name_meta);
    Struct::new("update.ObjectIdentifier")
        .embed("ResourceIdentifier", rid)
        .into_value()
}

fn change(old: &str, new: &str, setter: &str) -> Value {
    Struct::new("update.Change")
        .field("OldValue", old)
        .field("NewValue", new)
        .field("Setter", setter)
        .into_value()
}

fn data() -> Value {
    let mut app = Map::new();
    app.insert_key(
        obj("apps/v1", "Deployment", "web", "default"),
        Value::list(vec![change(
            "ghcr.io/org/web:1.0",
            "ghcr.io/org/web:1.1",
            "flux-system:web",
        )]),
    );
    app.insert_key(
        obj("apps/v1", "Deployment", "api", "default"),
        Value::list(vec![
            change(
                "ghcr.io/org/api:2.0",
                "ghcr.io/org/api:2.1",
                "flux-system:api",
            ),
            change("2.0", "2.1", "flux-system:api:tag"),
        ]),
    );
    let mut cron = Map::new();
    cron.insert_key(
        obj("batch/v1", "CronJob", "backup", "ops"),
        Value::list(vec![change("backup:1", "backup:2", "flux-system:backup")]),
    );
    let mut files = Map::new();
    files.insert("deploy/app.yaml", Value::map(app.clone()));
    files.insert("cron.yaml", Value::map(cron.clone()));

    let mut objects = app;
    for (k, v) in cron.iter() {
        objects.insert_key(k.clone(), v.clone());
    }
    let changes: Vec<Value> = objects
        .iter()
        .flat_map(|(_, v)| match v {
            Value::List(l) => l.to_vec(),
            _ => Vec::new(),
        })
        .collect();
    let objects = Value::map(objects);
    let changed = Struct::new("update.ResultV2")
        .field("FileChanges", Value::map(files))
        .method("Changes", Arity::Exact(0), move |_| {
            Ok(Value::list(changes.clone()))
        })
        .method("Objects", Arity::Exact(0), move |_| Ok(objects.clone()));
    let mut values = Map::new();
    values.insert("env", "prod".into());
    Struct::new("source.TemplateData")
        .field(
            "AutomationObject",
            Struct::new("types.NamespacedName")
                .field("Namespace", "flux-system")
                .field("Name", "auto")
                .stringer("flux-system/auto"),
        )
        .field("Changed", changed)
        .field("Values", Value::map(values))
        .into_value()
}

#[test]
fn flux_commit_message_matches_go() {
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/golden-flux.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let template = golden["template"].as_str().unwrap();
    let want = golden["output"].as_str().unwrap();
    let t = Template::new("flux").parse(template).unwrap();
    assert_eq!(t.execute(&data()).unwrap(), want);
}

#[test]
fn methods_take_arguments() {
    let caps = Struct::new("chartutil.Capabilities").field(
        "APIVersions",
        Struct::new("chartutil.VersionSet").method("Has", Arity::Exact(1), |a| {
            Ok(Value::Bool(
                matches!(a.first(), Some(Value::String(s)) if s == "apps/v1"),
            ))
        }),
    );
    let data = Struct::new("Top").field("Capabilities", caps).into_value();
    let t = Template::new("t")
        .parse(r#"{{ .Capabilities.APIVersions.Has "apps/v1" }} {{ if .Capabilities.APIVersions.Has "x/v9" }}y{{ else }}n{{ end }} {{ "apps/v1" | .Capabilities.APIVersions.Has }}"#)
        .unwrap();
    assert_eq!(t.execute(&data).unwrap(), "true n true");
    let bad = Template::new("t")
        .parse("{{ .Capabilities.APIVersions.Has }}")
        .unwrap();
    assert_eq!(
        bad.execute(&data).unwrap_err().to_string(),
        "template: t:1:16: executing \"t\" at <.Capabilities.APIVersions.Has>: wrong number of args for Has: want 1 got 0"
    );
}
