//! Arbitrary text as a chart template, values file and `--set` string: `helm template` either
//! renders (every printed document parses as YAML as Helm reads it, hooks and manifests
//! alike) or reports an error; it never panics or hangs.
#![no_main]

use driftless_helm::template::{TemplateOptions, output, render_release};
use driftless_helm::{Chart, strvals, values};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, "\n===\n");
    let template = parts.next().unwrap_or_default();
    let values_yaml = parts.next().unwrap_or_default();
    let set = parts.next().unwrap_or_default();
    let files = vec![
        (
            "Chart.yaml".to_owned(),
            b"apiVersion: v2\nname: fuzz\nversion: 1.0.0\n".to_vec(),
        ),
        ("values.yaml".to_owned(), values_yaml.as_bytes().to_vec()),
        ("templates/t.yaml".to_owned(), template.as_bytes().to_vec()),
        (
            "templates/_helpers.tpl".to_owned(),
            b"{{ define \"fuzz.name\" }}{{ .Chart.Name }}-{{ .Release.Name }}{{ end }}".to_vec(),
        ),
    ];
    let Ok(chart) = Chart::load_dir(files) else { return };
    let mut user = serde_json::Map::new();
    if !set.is_empty() && strvals::parse_into(set, &mut user).is_err() {
        return;
    }
    let _ = values::parse_go(values_yaml);
    let options = TemplateOptions {
        release_name: "fuzz".into(),
        namespace: "default".into(),
        capabilities: Default::default(),
        include_crds: true,
        skip_tests: false,
        is_upgrade: false,
        revision: 1,
        skip_schema_validation: false,
    };
    let Ok(rendered) = render_release(chart, &user, &options) else { return };
    for manifest in rendered.manifests.iter().chain(rendered.hooks.iter().map(|h| &h.manifest)) {
        // As Helm reads it: a repeated key is no error.
        driftless_yaml::parse_one_last_key_wins(&manifest.content)
            .unwrap_or_else(|e| panic!("a sorted manifest does not parse ({e}):\n{}", manifest.content));
    }
    let _ = output(&rendered, false);
});
