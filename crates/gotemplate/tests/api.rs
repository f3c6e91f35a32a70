//! The API Helm will use: a set of named templates, caller functions that execute templates
//! of the running set (`include`, `tpl`), options, lookups.

use driftless_gotemplate::{Arity, Func, FuncError, MissingKey, Template, Value, sprig};

fn helm_funcs() -> driftless_gotemplate::FuncMap {
    let mut m = sprig::hermetic();
    m.insert(
        "include".into(),
        Func::with_context(Arity::Exact(2), |ctx, a| {
            let name = driftless_gotemplate::funcs::arg_str(&a, 0)?;
            ctx.execute_template(&name, &a[1])
                .map(Value::String)
                .map_err(|e| FuncError::Call(e.to_string()))
        }),
    );
    m.insert(
        "tpl".into(),
        Func::with_context(Arity::Exact(2), |ctx, a| {
            let text = driftless_gotemplate::funcs::arg_str(&a, 0)?;
            ctx.execute_text("tpl", &text, &a[1])
                .map(Value::String)
                .map_err(|e| FuncError::Call(e.to_string()))
        }),
    );
    m.insert(
        "required".into(),
        Func::new(Arity::Exact(2), |a| match &a[1] {
            Value::Nil | Value::Missing => Err(FuncError::Call(
                driftless_gotemplate::funcs::arg_str(&a, 0)?,
            )),
            v => Ok(v.clone()),
        }),
    );
    m
}

#[test]
fn include_and_tpl_run_templates_of_the_set() {
    let mut set = Template::new("chart").funcs(helm_funcs());
    set.add(
        "_helpers.tpl",
        r#"{{- define "name" -}}{{ .Chart.Name | trunc 63 }}{{- end -}}"#,
    )
    .unwrap();
    set.add(
        "deployment.yaml",
        r#"name: {{ include "name" . | upper }}
labels: {{ tpl .Values.label . }}
{{- $x := include "name" . }}
x: {{ $x | quote }}"#,
    )
    .unwrap();
    let data = Value::from_json(&serde_json::json!({
        "Chart": {"Name": "podinfo"},
        "Values": {"label": "{{ .Chart.Name }}-{{ 1 | add 1 }}"}
    }));
    assert!(set.lookup("name"));
    assert_eq!(
        set.template_names().collect::<Vec<_>>(),
        ["_helpers.tpl", "deployment.yaml", "name"]
    );
    assert_eq!(
        set.execute_template("deployment.yaml", &data).unwrap(),
        "name: PODINFO\nlabels: podinfo-2\nx: \"podinfo\""
    );
}

#[test]
fn tpl_defines_and_overrides_stay_inside_its_own_call() {
    let mut set = Template::new("chart").funcs(helm_funcs());
    set.add("_helpers.tpl", r#"{{- define "name" -}}base{{- end -}}"#)
        .unwrap();
    // The first tpl redefines "name" and defines "extra" for itself; later calls, nested
    // tpl calls and the set itself still see the chart's own "name".
    set.add(
        "a.yaml",
        r#"{{ tpl .Values.own . }} {{ include "name" . }} {{ tpl .Values.nested . }}"#,
    )
    .unwrap();
    let data = Value::from_json(&serde_json::json!({"Values": {
        "own": r#"{{ define "name" }}mine{{ end }}{{ define "extra" }}x{{ end }}{{ include "name" . }}{{ include "extra" . }}"#,
        "nested": "{{ tpl `{{ include \"name\" . }}` . }}"
    }}));
    assert_eq!(
        set.execute_template("a.yaml", &data).unwrap(),
        "minex base base"
    );
    assert!(!set.lookup("extra"));
    assert_eq!(
        set.template_names().collect::<Vec<_>>(),
        ["_helpers.tpl", "a.yaml", "name"]
    );
}

#[test]
fn include_recursion_is_bounded() {
    let mut set = Template::new("t").funcs(helm_funcs());
    set.add(
        "t",
        r#"{{ define "loop" }}{{ include "loop" . }}{{ end }}{{ include "loop" . }}"#,
    )
    .unwrap();
    let err = set.execute(&Value::Missing).unwrap_err().to_string();
    assert!(err.contains("exceeded maximum template depth"), "{err}");
}

#[test]
fn required_and_errors_name_the_node() {
    let t = Template::new("t")
        .funcs(helm_funcs())
        .parse("a\n  {{ required \"x is required\" .Values.x }}")
        .unwrap();
    let data = Value::from_json(&serde_json::json!({"Values": {}}));
    assert_eq!(
        t.execute(&data).unwrap_err().to_string(),
        "template: t:2:5: executing \"t\" at <required \"x is required\" .Values.x>: error calling required: x is required"
    );
}

#[test]
fn options_and_missing_templates() {
    let t = Template::new("t")
        .missing_key(MissingKey::Error)
        .parse("{{ .a }}")
        .unwrap();
    assert!(
        t.execute(&Value::from_json(&serde_json::json!({})))
            .is_err()
    );
    assert!(Template::new("t").option("missingkey=bogus").is_err());
    let t = Template::new("t")
        .parse(r#"{{ define "x" }}{{ end }}"#)
        .unwrap();
    assert_eq!(
        t.execute_template("nope", &Value::Missing)
            .unwrap_err()
            .to_string(),
        "template: no template \"nope\" associated with template \"t\""
    );
    assert_eq!(
        t.defined_templates(),
        "; defined templates are: \"t\", \"x\""
    );
    let empty = Template::new("e");
    assert_eq!(
        empty.execute(&Value::Missing).unwrap_err().to_string(),
        "template: e: \"e\" is an incomplete or empty template"
    );
}

#[test]
fn set_mutates_shared_maps_and_call_runs_function_values() {
    let mut map = driftless_gotemplate::Map::new();
    map.insert(
        "f",
        Value::Func(Func::new(Arity::Exact(1), |a| {
            Ok(Value::String(format!(
                "<{}>",
                driftless_gotemplate::print::sprint_value(&a[0])
            )))
        })),
    );
    let t = Template::new("t")
        .funcs(sprig::hermetic())
        .parse(r#"{{ call .f 3 }}{{ $d := dict }}{{ $_ := set $d "k" 1 }}{{ $d.k }}"#)
        .unwrap();
    assert_eq!(t.execute(&Value::map(map)).unwrap(), "<3>1");
}

#[test]
fn deep_nesting_fails_cleanly() {
    for n in [90, 150, 5000] {
        let ifs = format!("{}x{}", "{{if true}}".repeat(n), "{{end}}".repeat(n));
        let parens = format!("{{{{{}1{}}}}}", "(".repeat(n), ")".repeat(n));
        let withs = format!("{}{{{{.}}}}{}", "{{with .}}".repeat(n), "{{end}}".repeat(n));
        for text in [ifs, parens, withs] {
            match Template::new("t").parse(&text) {
                Ok(t) => {
                    let _ = t.execute(&Value::Int(1));
                }
                Err(e) => assert!(e.to_string().contains("nesting too deep"), "{e}"),
            }
        }
    }
    let mut set = Template::new("t");
    set.add(
        "t",
        r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#,
    )
    .unwrap();
    assert!(
        set.execute(&Value::Missing)
            .unwrap_err()
            .to_string()
            .contains("exceeded maximum template depth")
    );
}
