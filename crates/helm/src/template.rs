//! `helm template`: Helm's client-only install (`action.Install` with `ClientOnly`) from a
//! loaded chart and user values to the manifests it prints.

use serde_json::{Map, Value};

use crate::chart::Chart;
use crate::coalesce::coalesce_values;
use crate::manifests::{self, Hook, Manifest};
use crate::render::{self, Capabilities, ReleaseOptions};
use crate::schema;

/// `.Capabilities.KubeVersion` when `--kube-version` is not given (what `helm template`
/// v3.22 reports).
pub const DEFAULT_KUBE_VERSION: &str = "v1.37.0";

/// What `helm template` is given besides the chart and values.
#[derive(Clone, Debug)]
pub struct TemplateOptions {
    pub release_name: String,
    pub namespace: String,
    pub capabilities: Capabilities,
    pub include_crds: bool,
    pub skip_tests: bool,
    /// `--is-upgrade`: `.Release.IsUpgrade` instead of `IsInstall`.
    pub is_upgrade: bool,
    /// `.Release.Revision`: 1 for `helm template`, the new revision's number in a release.
    pub revision: i64,
    pub skip_schema_validation: bool,
}

/// A release rendered without a cluster.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// `crds/` files of the chart and its enabled subcharts: (path as printed, content).
    pub crds: Vec<(String, String)>,
    pub manifests: Vec<Manifest>,
    pub hooks: Vec<Hook>,
    /// The chart's `NOTES.txt`, rendered.
    pub notes: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{0} charts are not installable")]
    NotInstallable(String),
    #[error(
        "An error occurred while checking for chart dependencies. You may need to run `helm dependency build` to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: {0}"
    )]
    MissingDependencies(String),
    #[error("release name {0:?}: {1}")]
    ReleaseName(String, String),
    #[error(
        "chart requires kubeVersion: {required} which is incompatible with Kubernetes {actual}"
    )]
    KubeVersion { required: String, actual: String },
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{0}"
    )]
    Schema(String),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error(transparent)]
    Sort(#[from] manifests::SortError),
}

/// Renders `chart` with `values` (the merged `-f`/`--set` values) as `helm template` does.
pub fn render_release(
    mut chart: Chart,
    values: &Map<String, Value>,
    options: &TemplateOptions,
) -> Result<Rendered, TemplateError> {
    if chart.is_library() {
        return Err(TemplateError::NotInstallable(
            chart.metadata.chart_type.clone(),
        ));
    }
    check_dependencies(&chart)?;
    validate_release_name(&options.release_name)?;
    crate::dependencies::process(&mut chart, values);

    let kube = &options.capabilities.kube_version.version;
    if !chart.metadata.kube_version.is_empty()
        && !crate::dependencies::is_compatible_range(&chart.metadata.kube_version, kube)
    {
        return Err(TemplateError::KubeVersion {
            required: chart.metadata.kube_version.clone(),
            actual: kube.clone(),
        });
    }
    let coalesced = coalesce_values(&chart, values);
    let release = ReleaseOptions {
        name: options.release_name.clone(),
        namespace: options.namespace.clone(),
        revision: options.revision,
        is_install: !options.is_upgrade,
        is_upgrade: options.is_upgrade,
    };
    // Compiling a large values.schema.json costs as much as parsing the templates; neither
    // needs the other, so the schema is checked beside the rendering. Its error still comes
    // first, as in Helm, which validates before it renders.
    let (schema_check, rendering) = std::thread::scope(|scope| {
        let schema_check = (!options.skip_schema_validation && schema::any_schema(&chart))
            .then(|| scope.spawn(|| schema::validate_chart(&chart, &coalesced)));
        let rendering = render::render(&chart, &coalesced, &release, &options.capabilities);
        let schema_check = match schema_check {
            // A panic in the validator is a bug; report it rather than unwinding the caller.
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err("schema validation panicked\n".to_owned())),
            None => Ok(()),
        };
        (schema_check, rendering)
    });
    schema_check.map_err(TemplateError::Schema)?;
    let mut files = rendering?;
    let notes_path = format!("{}/templates/NOTES.txt", chart.name());
    let notes = files.get(&notes_path).cloned().unwrap_or_default();
    files.retain(|path, _| !path.ends_with("NOTES.txt"));
    let (hooks, manifests) = manifests::sort(&files)?;
    let crds = if options.include_crds {
        crd_files(&chart, chart.name())
    } else {
        Vec::new()
    };
    Ok(Rendered {
        crds,
        manifests,
        hooks,
        notes,
    })
}

/// What `helm template` prints for `rendered`.
pub fn output(rendered: &Rendered, skip_tests: bool) -> String {
    manifests::write_template_output(
        &rendered.crds,
        &rendered.manifests,
        &rendered.hooks,
        skip_tests,
    )
}

/// `action.CheckDependencies`: every Chart.yaml dependency present under `charts/`.
fn check_dependencies(chart: &Chart) -> Result<(), TemplateError> {
    let missing: Vec<&str> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !chart.dependencies.iter().any(|sub| sub.name() == d.name))
        .map(|d| d.name.as_str())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(TemplateError::MissingDependencies(missing.join(", ")))
    }
}

/// `chartutil.ValidateReleaseName`: a DNS-1123 subdomain-like name of at most 53 characters.
fn validate_release_name(name: &str) -> Result<(), TemplateError> {
    let error = |why: &str| Err(TemplateError::ReleaseName(name.to_owned(), why.to_owned()));
    if name.is_empty() || name.len() > 53 {
        return error(
            "invalid release name, must match regex ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length must not be longer than 53",
        );
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.split('.').all(label_ok) {
        Ok(())
    } else {
        error(
            "invalid release name, must match regex ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length must not be longer than 53",
        )
    }
}

/// `Chart.CRDObjects`: `crds/*.{yaml,yml,json}` of the chart, then of its subcharts.
fn crd_files(chart: &Chart, full_path: &str) -> Vec<(String, String)> {
    let mut crds: Vec<(String, String)> = chart
        .files
        .iter()
        .filter(|f| {
            f.name.starts_with("crds/")
                && [".yaml", ".yml", ".json"]
                    .iter()
                    .any(|ext| f.name.ends_with(ext))
        })
        .map(|f| {
            (
                format!("{full_path}/{}", f.name),
                String::from_utf8_lossy(&f.data).into_owned(),
            )
        })
        .collect();
    for sub in &chart.dependencies {
        crds.extend(crd_files(
            sub,
            &format!("{full_path}/charts/{}", sub.name()),
        ));
    }
    crds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(schema: &str, template: &str) -> Chart {
        let files = [
            ("Chart.yaml", "apiVersion: v2\nname: c\nversion: 1.0.0\n"),
            ("values.yaml", "replicas: 0\n"),
            ("values.schema.json", schema),
            ("templates/a.yaml", template),
        ];
        Chart::load_dir(
            files
                .iter()
                .filter(|(_, text)| !text.is_empty())
                .map(|(path, text)| (path.to_string(), text.as_bytes().to_vec())),
        )
        .unwrap()
    }

    fn options(skip_schema_validation: bool) -> TemplateOptions {
        TemplateOptions {
            release_name: "r".into(),
            namespace: "default".into(),
            capabilities: Capabilities::default(),
            include_crds: false,
            skip_tests: false,
            is_upgrade: false,
            revision: 1,
            skip_schema_validation,
        }
    }

    const SCHEMA: &str = r#"{"properties": {"replicas": {"type": "integer", "minimum": 1}}}"#;

    #[test]
    fn a_schema_violation_is_reported_before_a_template_error_as_helm_validates_first() {
        let failing = chart(SCHEMA, "{{ fail \"template failed\" }}");
        let error = render_release(failing, &Map::new(), &options(false)).unwrap_err();
        let TemplateError::Schema(report) = error else {
            panic!("expected the schema error first, got {error}");
        };
        assert!(report.starts_with("c:\n- at '/replicas'"), "{report}");

        // Without the schema check the template's own error surfaces.
        let failing = chart(SCHEMA, "{{ fail \"template failed\" }}");
        let error = render_release(failing, &Map::new(), &options(true)).unwrap_err();
        assert!(error.to_string().contains("template failed"), "{error}");
    }

    #[test]
    fn valid_values_render_whether_or_not_a_schema_is_present() {
        let template = "kind: ConfigMap\nmetadata:\n  name: {{ .Values.replicas }}\n";
        let values: Map<String, Value> = serde_json::from_str(r#"{"replicas": 3}"#).unwrap();
        for schema in [SCHEMA, ""] {
            let rendered = render_release(chart(schema, template), &values, &options(false))
                .unwrap_or_else(|e| panic!("schema {schema:?}: {e}"));
            assert_eq!(rendered.manifests.len(), 1);
            assert!(rendered.manifests[0].content.contains("name: 3"));
        }
    }
}
