use super::*;
use crate::chart::test_chart as chart;

fn release() -> ReleaseOptions {
    ReleaseOptions {
        name: "rel".into(),
        namespace: "ns".into(),
        revision: 1,
        is_install: true,
        is_upgrade: false,
    }
}

fn render_chart(chart: &Chart) -> BTreeMap<String, String> {
    let values = crate::coalesce::coalesce_values(chart, &serde_json::Map::new());
    render(chart, &values, &release(), &Capabilities::default()).unwrap()
}

#[test]
fn templates_see_their_chart_values_release_and_files() {
    let chart = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.2.3\n"),
        (
            "values.yaml",
            "replicas: 3\nbig: 1000000\nsub: {port: 80}\n",
        ),
        ("files/a.txt", "hello\nworld\n"),
        (
            "templates/cm.yaml",
            "n: {{ .Release.Name }}/{{ .Release.Namespace }}/{{ .Release.IsInstall }}\n\
             c: {{ .Chart.Name }}-{{ .Chart.Version }} {{ .Chart.IsRoot }}\n\
             r: {{ .Values.replicas }} {{ .Values.big }} {{ .Values.missing }}\n\
             f: {{ .Files.Get \"files/a.txt\" | trim }} {{ len (.Files.Lines \"files/a.txt\") }}\n\
             t: {{ .Template.Name }} {{ .Template.BasePath }}\n\
             k: {{ .Capabilities.KubeVersion }} {{ .Capabilities.APIVersions.Has \"apps/v1\" }}\n\
             y: {{ toYaml .Values.sub }}\n\
             i: {{ include \"app.x\" . }} {{ tpl \"{{ .Release.Name }}\" . }}\n",
        ),
        (
            "templates/_helpers.tpl",
            "{{ define \"app.x\" }}X{{ .Chart.Name }}{{ end }}",
        ),
    ]);
    let rendered = render_chart(&chart);
    assert_eq!(
        rendered["app/templates/cm.yaml"],
        "n: rel/ns/true\n\
         c: app-1.2.3 true\n\
         r: 3 1e+06 \n\
         f: hello\nworld 2\n\
         t: app/templates/cm.yaml app/templates\n\
         k: v1.20.0 true\n\
         y: port: 80\n\
         i: Xapp rel\n"
    );
    assert!(!rendered.contains_key("app/templates/_helpers.tpl"));
}

#[test]
fn a_parents_define_wins_and_subcharts_see_their_section() {
    let mut parent = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\n"),
        ("values.yaml", "db: {port: 5432}\n"),
        ("templates/_h.tpl", "{{ define \"name\" }}parent{{ end }}"),
    ]);
    parent.dependencies.push(chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: db\nversion: 1.0.0\n"),
        ("templates/_h.tpl", "{{ define \"name\" }}child{{ end }}"),
        (
            "templates/svc.yaml",
            "{{ include \"name\" . }} {{ .Values.port }} {{ .Chart.IsRoot }}",
        ),
    ]));
    let rendered = render_chart(&parent);
    assert_eq!(
        rendered["app/charts/db/templates/svc.yaml"],
        "parent 5432 false"
    );
}

#[test]
fn errors_name_the_template() {
    let broken = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\n"),
        ("templates/a.yaml", "{{ required \"give x\" .Values.x }}"),
    ]);
    let values = serde_json::Map::new();
    let error = render(&broken, &values, &release(), &Capabilities::default()).unwrap_err();
    assert!(error.0.contains("app/templates/a.yaml"), "{error}");
    assert!(error.0.contains("give x"), "{error}");

    let unparsable = chart(&[
        ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\n"),
        ("templates/a.yaml", "{{ if }}"),
    ]);
    let error = render(&unparsable, &values, &release(), &Capabilities::default()).unwrap_err();
    assert!(
        error.0.starts_with("parse error at (app/templates/a.yaml"),
        "{error}"
    );
}
