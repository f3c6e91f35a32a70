//! The Go values templates see: `.Chart` (chart metadata plus `IsRoot`), `.Files`,
//! `.Release` and `.Capabilities`.

use std::sync::Arc;

use base64::Engine as _;
use driftless_gotemplate::{Arity, FuncError, Map, Object, Struct, Value};

use crate::chart::Chart;
use crate::metadata::{Dependency, Metadata};

/// The cluster a render targets (`chartutil.Capabilities`).
#[derive(Clone, Debug)]
pub struct Capabilities {
    pub kube_version: KubeVersion,
    /// `group/version` and `group/version/Kind` strings `.Capabilities.APIVersions.Has` finds.
    pub api_versions: Vec<String>,
    /// What `.Capabilities.HelmVersion.Version` reports.
    pub helm_version: String,
}

/// `chartutil.KubeVersion`: `v1.33.0`, major `1`, minor `33`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeVersion {
    pub version: String,
    pub major: String,
    pub minor: String,
}

impl KubeVersion {
    /// `chartutil.ParseKubeVersion`: any SemVer, a leading `v` optional.
    pub fn parse(text: &str) -> Option<KubeVersion> {
        let version = driftless_version::parse_version(text)?;
        let plain = text.trim_start_matches('v');
        let (major, rest) = plain.split_once('.').unwrap_or((plain, "0"));
        let minor = rest.split(['.', '-', '+']).next().unwrap_or("0");
        let parse_number = |s: &str| s.parse::<u64>().ok();
        Some(KubeVersion {
            version: format!("v{version}"),
            major: parse_number(major)?.to_string(),
            minor: parse_number(minor).unwrap_or(0).to_string(),
        })
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            kube_version: KubeVersion {
                version: "v1.20.0".into(),
                major: "1".into(),
                minor: "20".into(),
            },
            api_versions: default_api_versions(),
            helm_version: "v3.22.0".into(),
        }
    }
}

/// The group versions Helm's `chartutil.DefaultVersionSet` holds: every group version
/// client-go's scheme registers (plus apiextensions), in its priority order — as Helm v3
/// built on client-go v0.36 lists them.
pub fn default_api_versions() -> Vec<String> {
    DEFAULT_API_VERSIONS
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha2",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// The top-level data of a render (`chartutil.ToRenderValues`): `.Release`,
/// `.Capabilities` and the coalesced `.Values`.
pub(super) fn top_data(
    release: &super::ReleaseOptions,
    capabilities: &Capabilities,
    values: &serde_json::Map<String, serde_json::Value>,
) -> Map {
    let release: Map = [
        ("Name", Value::from(release.name.as_str())),
        ("Namespace", Value::from(release.namespace.as_str())),
        ("Revision", Value::Int(release.revision)),
        ("Service", Value::from("Helm")),
        ("IsUpgrade", Value::Bool(release.is_upgrade)),
        ("IsInstall", Value::Bool(release.is_install)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut top = Map::new();
    top.insert("Release", Value::map(release));
    top.insert("Capabilities", capabilities_object(capabilities));
    top.insert(
        "Values",
        super::go_value(&serde_json::Value::Object(values.clone())),
    );
    top
}

fn capabilities_object(capabilities: &Capabilities) -> Value {
    let kube = &capabilities.kube_version;
    let kube_version = Struct::new("chartutil.KubeVersion")
        .field("Version", kube.version.as_str())
        .field("Major", kube.major.as_str())
        .field("Minor", kube.minor.as_str())
        .method("GitVersion", Arity::Exact(0), {
            let version = kube.version.clone();
            move |_| Ok(Value::String(version.clone()))
        })
        .stringer(kube.version.as_str());
    let helm_version = Struct::new("version.BuildInfo")
        .field("Version", capabilities.helm_version.as_str())
        .field("GitCommit", "")
        .field("GitTreeState", "")
        .field("GoVersion", "");
    Struct::new("chartutil.Capabilities")
        .field("KubeVersion", kube_version)
        .field(
            "APIVersions",
            Value::object(VersionSet(Arc::new(capabilities.api_versions.clone()))),
        )
        .field("HelmVersion", helm_version)
        .into_value()
}

/// `chartutil.VersionSet`: the API versions, with `Has`.
#[derive(Debug)]
struct VersionSet(Arc<Vec<String>>);

impl Object for VersionSet {
    fn type_name(&self) -> String {
        "chartutil.VersionSet".into()
    }
    fn kind(&self) -> &'static str {
        "slice"
    }
    fn has_method(&self, name: &str) -> bool {
        name == "Has"
    }
    fn call_method(&self, name: &str, args: Vec<Value>) -> Result<Value, FuncError> {
        driftless_gotemplate::funcs::check_arity(name, &args, 1)?;
        let wanted = driftless_gotemplate::funcs::arg_str(&args, 0)?;
        Ok(Value::Bool(self.0.contains(&wanted)))
    }
    fn to_go_string(&self) -> Option<String> {
        Some(format!("[{}]", self.0.join(" ")))
    }
    fn range_items(&self) -> Option<Vec<(Value, Value)>> {
        Some(
            self.0
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), Value::from(v.as_str())))
                .collect(),
        )
    }
}

/// `.Chart`: the chart's metadata (`chart.Metadata` embedded, so `toJson` writes its JSON
/// fields inline) and `IsRoot`.
pub(super) fn chart_object(chart: &Chart, is_root: bool) -> Value {
    Struct::new("struct { chart.Metadata; IsRoot bool }")
        .embed("Metadata", metadata_struct(&chart.metadata))
        .field("IsRoot", Value::Bool(is_root))
        .into_value()
}

fn strings(items: &[String]) -> Value {
    Value::list(items.iter().map(|s| Value::from(s.as_str())).collect())
}

/// `chart.Metadata` with its Go field names and `json` tags.
fn metadata_struct(m: &Metadata) -> Struct {
    let maintainers = m
        .maintainers
        .iter()
        .map(|person| {
            Struct::new("*chart.Maintainer")
                .tagged_field("Name", "name,omitempty", person.name.as_str())
                .tagged_field("Email", "email,omitempty", person.email.as_str())
                .tagged_field("URL", "url,omitempty", person.url.as_str())
                .into_value()
        })
        .collect();
    let annotations: Map = m
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    let dependencies = m.dependencies.iter().map(dependency_struct).collect();
    Struct::new("chart.Metadata")
        .tagged_field("Name", "name,omitempty", m.name.as_str())
        .tagged_field("Home", "home,omitempty", m.home.as_str())
        .tagged_field("Sources", "sources,omitempty", strings(&m.sources))
        .tagged_field("Version", "version,omitempty", m.version.as_str())
        .tagged_field(
            "Description",
            "description,omitempty",
            m.description.as_str(),
        )
        .tagged_field("Keywords", "keywords,omitempty", strings(&m.keywords))
        .tagged_field(
            "Maintainers",
            "maintainers,omitempty",
            Value::list(maintainers),
        )
        .tagged_field("Icon", "icon,omitempty", m.icon.as_str())
        .tagged_field("APIVersion", "apiVersion,omitempty", m.api_version.as_str())
        .tagged_field("Condition", "condition,omitempty", m.condition.as_str())
        .tagged_field("Tags", "tags,omitempty", m.tags.as_str())
        .tagged_field("AppVersion", "appVersion,omitempty", m.app_version.as_str())
        .tagged_field(
            "Deprecated",
            "deprecated,omitempty",
            Value::Bool(m.deprecated),
        )
        .tagged_field(
            "Annotations",
            "annotations,omitempty",
            Value::map(annotations),
        )
        .tagged_field(
            "KubeVersion",
            "kubeVersion,omitempty",
            m.kube_version.as_str(),
        )
        .tagged_field(
            "Dependencies",
            "dependencies,omitempty",
            Value::list(dependencies),
        )
        .tagged_field("Type", "type,omitempty", m.chart_type.as_str())
}

fn dependency_struct(d: &Dependency) -> Value {
    let import_values = d.import_values.iter().map(super::go_value).collect();
    Struct::new("*chart.Dependency")
        .tagged_field("Name", "name", d.name.as_str())
        .tagged_field("Version", "version,omitempty", d.version.as_str())
        .tagged_field("Repository", "repository", d.repository.as_str())
        .tagged_field("Condition", "condition,omitempty", d.condition.as_str())
        .tagged_field("Tags", "tags,omitempty", strings(&d.tags))
        .tagged_field("Enabled", "enabled,omitempty", Value::Bool(d.enabled))
        .tagged_field(
            "ImportValues",
            "import-values,omitempty",
            Value::list(import_values),
        )
        .tagged_field("Alias", "alias,omitempty", d.alias.as_str())
        .into_value()
}

/// `.Files`: the chart's other files (`engine.files`).
pub(super) fn files_object(chart: &Chart) -> Value {
    let files = chart
        .files
        .iter()
        .map(|f| (f.name.clone(), Arc::new(f.data.clone())))
        .collect();
    Value::object(Files(Arc::new(files)))
}

type FileList = Vec<(String, Arc<Vec<u8>>)>;

#[derive(Debug, Clone)]
struct Files(Arc<FileList>);

impl Files {
    fn get(&self, name: &str) -> Option<&Arc<Vec<u8>>> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, d)| d)
    }

    fn glob(&self, pattern: &str) -> Result<Files, FuncError> {
        let matcher = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| FuncError::Call(e.to_string()))?
            .compile_matcher();
        Ok(Files(Arc::new(
            self.0
                .iter()
                .filter(|(name, _)| matcher.is_match(name))
                .cloned()
                .collect(),
        )))
    }

    /// Base names to contents, as YAML (Helm's `AsConfig` / `AsSecrets`).
    fn as_map(&self, encode: impl Fn(&[u8]) -> String) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let map: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(name, data)| {
                let base = name.rsplit('/').next().unwrap_or(name).to_owned();
                (base, serde_json::Value::String(encode(data)))
            })
            .collect();
        crate::yaml::to_yaml(&serde_json::Value::Object(map))
            .trim_end_matches('\n')
            .to_owned()
    }
}

impl Object for Files {
    fn type_name(&self) -> String {
        "engine.files".into()
    }
    fn kind(&self) -> &'static str {
        "map"
    }
    fn has_method(&self, name: &str) -> bool {
        matches!(
            name,
            "Get" | "GetBytes" | "Glob" | "Lines" | "AsConfig" | "AsSecrets"
        )
    }
    fn call_method(&self, name: &str, args: Vec<Value>) -> Result<Value, FuncError> {
        use driftless_gotemplate::funcs::{arg_str, check_arity};
        match name {
            "AsConfig" | "AsSecrets" => {
                check_arity(name, &args, 0)?;
                Ok(Value::String(if name == "AsConfig" {
                    self.as_map(|data| String::from_utf8_lossy(data).into_owned())
                } else {
                    self.as_map(|data| base64::engine::general_purpose::STANDARD.encode(data))
                }))
            }
            _ => {
                check_arity(name, &args, 1)?;
                let argument = arg_str(&args, 0)?;
                match name {
                    "Get" => Ok(Value::String(
                        self.get(&argument)
                            .map(|d| String::from_utf8_lossy(d).into_owned())
                            .unwrap_or_default(),
                    )),
                    "GetBytes" => Ok(Value::object(Bytes(
                        self.get(&argument).cloned().unwrap_or_default(),
                    ))),
                    "Glob" => Ok(Value::object(self.glob(&argument)?)),
                    _ => {
                        let Some(data) = self.get(&argument) else {
                            return Ok(Value::list(Vec::new()));
                        };
                        let text = String::from_utf8_lossy(data);
                        let text = text.strip_suffix('\n').unwrap_or(&text);
                        Ok(Value::list(text.split('\n').map(Value::from).collect()))
                    }
                }
            }
        }
    }
    fn range_items(&self) -> Option<Vec<(Value, Value)>> {
        let mut items: Vec<(Value, Value)> = self
            .0
            .iter()
            .map(|(name, data)| {
                (
                    Value::from(name.as_str()),
                    Value::object(Bytes(data.clone())),
                )
            })
            .collect();
        items.sort_by(|a, b| crate::render::go_string(&a.0).cmp(crate::render::go_string(&b.0)));
        Some(items)
    }
    fn to_go_string(&self) -> Option<String> {
        let names: Vec<String> = self
            .0
            .iter()
            .map(|(name, data)| format!("{name}:{data:?}"))
            .collect();
        Some(format!("map[{}]", names.join(" ")))
    }
}

/// A Go `[]byte` (from `.Files.GetBytes`): `toString` and string functions see its text.
#[derive(Debug)]
struct Bytes(Arc<Vec<u8>>);

impl Object for Bytes {
    fn type_name(&self) -> String {
        "[]uint8".into()
    }
    fn kind(&self) -> &'static str {
        "slice"
    }
    fn to_go_string(&self) -> Option<String> {
        Some(String::from_utf8_lossy(&self.0).into_owned())
    }
}
