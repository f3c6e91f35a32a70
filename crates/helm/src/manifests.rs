//! Rendered files split into manifests and hooks and ordered as Helm installs them
//! (`releaseutil.SortManifests`), and written out as `helm template` prints them.

use std::collections::BTreeMap;

/// One YAML document of a rendered file.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The template it came from (`chart/templates/x.yaml`).
    pub path: String,
    pub content: String,
    pub kind: String,
    pub name: String,
}

/// A document annotated `helm.sh/hook`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hook {
    pub manifest: Manifest,
    /// The hook events, lower-cased (`pre-install`, `test` …).
    pub events: Vec<String>,
    pub weight: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("YAML parse error on {path}: {message}")]
pub struct SortError {
    pub path: String,
    pub message: String,
}

/// Helm's `InstallOrder`: kinds installed earlier come first; others follow, by kind name.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

const HOOK_ANNOTATION: &str = "helm.sh/hook";
const HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// `SortManifests`: files in path order, documents in file order, partials and blank files
/// skipped, hooks apart; both stably sorted by kind.
pub fn sort(files: &BTreeMap<String, String>) -> Result<(Vec<Hook>, Vec<Manifest>), SortError> {
    let mut hooks = Vec::new();
    let mut manifests = Vec::new();
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || content.trim().is_empty() {
            continue;
        }
        for document in split_manifests(content) {
            let head = Head::read(&document).map_err(|message| SortError {
                path: path.clone(),
                message,
            })?;
            let manifest = Manifest {
                path: path.clone(),
                content: document,
                kind: head.kind,
                name: head.name,
            };
            let Some(events) = head.hook else {
                manifests.push(manifest);
                continue;
            };
            let events: Vec<String> = events
                .split(',')
                .map(|e| e.trim().to_ascii_lowercase())
                .collect();
            // A document naming an unknown hook event is dropped, as Helm drops it.
            if events.iter().any(|e| !HOOK_EVENTS.contains(&e.as_str())) {
                continue;
            }
            hooks.push(Hook {
                manifest,
                events,
                weight: head.weight,
            });
        }
    }
    manifests.sort_by(|a, b| kind_order(&a.kind, &b.kind));
    hooks.sort_by(|a, b| kind_order(&a.manifest.kind, &b.manifest.kind));
    Ok((hooks, manifests))
}

/// Helm's `lessByKind` as an ordering (ties keep their order: the sort is stable).
fn kind_order(a: &str, b: &str) -> std::cmp::Ordering {
    let rank = |kind: &str| INSTALL_ORDER.iter().position(|k| *k == kind);
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// `releaseutil.SplitManifests`: documents separated by `---` lines, each trimmed, empty
/// ones dropped.
pub fn split_manifests(text: &str) -> Vec<String> {
    let text = text.trim();
    let mut documents = Vec::new();
    let mut rest = text;
    loop {
        match find_separator(rest) {
            Some((start, end)) => {
                documents.push(rest[..start].trim().to_owned());
                rest = &rest[end..];
            }
            None => {
                documents.push(rest.trim().to_owned());
                break;
            }
        }
    }
    documents.retain(|d| !d.is_empty());
    documents
}

/// The next match of Helm's separator `(?:^|\s*\n)---\s*`: its start and end.
fn find_separator(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut search = 0;
    while let Some(found) = text[search..].find("---") {
        let at = search + found;
        let start = if at == 0 {
            Some(0)
        } else if bytes[at - 1] == b'\n' {
            // `\s*\n` before: swallow the whitespace before the newline too.
            let mut s = at - 1;
            while s > 0 && (bytes[s - 1] as char).is_ascii_whitespace() {
                s -= 1;
            }
            Some(s)
        } else {
            None
        };
        if let Some(start) = start {
            let mut end = at + 3;
            while end < bytes.len() && (bytes[end] as char).is_ascii_whitespace() {
                end += 1;
            }
            return Some((start, end));
        }
        search = at + 3;
    }
    None
}

/// `releaseutil.SimpleHead`: what sorting needs of a document.
struct Head {
    kind: String,
    name: String,
    hook: Option<String>,
    weight: i64,
}

impl Head {
    fn read(document: &str) -> Result<Head, String> {
        // go-yaml v2 (Helm's reader) lets a repeated key replace the earlier one.
        let node = driftless_yaml::parse_one_last_key_wins(document).map_err(|e| e.to_string())?;
        if !node.is_null() && node.as_map().is_none() {
            return Err("error unmarshaling JSON: json: cannot unmarshal a non-object into Go value of type releaseutil.SimpleHead".into());
        }
        let text = |path: &[&str]| node.str_at(path).unwrap_or_default().to_owned();
        let annotations = node.get_path(&["metadata", "annotations"]);
        let annotation = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        Ok(Head {
            kind: text(&["kind"]),
            name: text(&["metadata", "name"]),
            hook: annotation(HOOK_ANNOTATION),
            weight: annotation(HOOK_WEIGHT_ANNOTATION)
                .and_then(|w| w.trim().parse().ok())
                .unwrap_or(0),
        })
    }
}

/// What `helm template` prints: CRDs when asked, the manifests, then the hooks (test hooks
/// left out with `skip_tests`).
pub fn write_template_output(
    crds: &[(String, String)],
    manifests: &[Manifest],
    hooks: &[Hook],
    skip_tests: bool,
) -> String {
    let mut release = String::new();
    for (path, content) in crds {
        release.push_str(&format!("---\n# Source: {path}\n{content}\n"));
    }
    for manifest in manifests {
        release.push_str(&format!(
            "---\n# Source: {}\n{}\n",
            manifest.path, manifest.content
        ));
    }
    let mut out = release.trim().to_owned();
    out.push('\n');
    for hook in hooks {
        if skip_tests
            && hook
                .events
                .iter()
                .any(|e| e == "test" || e == "test-success")
        {
            continue;
        }
        out.push_str(&format!(
            "---\n# Source: {}\n{}\n",
            hook.manifest.path, hook.manifest.content
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_on_separator_lines_only() {
        assert_eq!(
            split_manifests("a: 1\n---\nb: 2\n  ---  \n\n---\nc: '---'\n"),
            ["a: 1", "b: 2\n  ---", "c: '---'"]
        );
        assert_eq!(split_manifests("---\na: 1"), ["a: 1"]);
        assert!(split_manifests("  \n---\n").is_empty());
    }

    #[test]
    fn kinds_sort_in_install_order_then_by_name_and_hooks_apart() {
        let files = BTreeMap::from([
            (
                "c/templates/a.yaml".to_owned(),
                "kind: Deployment\nmetadata: {name: d}\n---\nkind: Zeta\n---\nkind: Alpha\n"
                    .to_owned(),
            ),
            (
                "c/templates/b.yaml".to_owned(),
                "kind: Service\n---\nkind: Job\nmetadata:\n  annotations:\n    helm.sh/hook: pre-install\n---\nkind: Pod\nmetadata:\n  annotations:\n    helm.sh/hook: nonsense\n"
                    .to_owned(),
            ),
            ("c/templates/_helpers.tpl".to_owned(), "kind: Secret".to_owned()),
        ]);
        let (hooks, manifests) = sort(&files).unwrap();
        let kinds: Vec<&str> = manifests.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["Service", "Deployment", "Alpha", "Zeta"]);
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].events, ["pre-install"]);
    }

    #[test]
    fn a_repeated_key_is_not_an_error_and_the_last_wins_as_in_helm() {
        // helm v3.21.4 renders this document as written.
        let files = BTreeMap::from([(
            "c/templates/a.yaml".to_owned(),
            "kind: Service
kind: ConfigMap
metadata:
  name: a
  name: b
"
            .to_owned(),
        )]);
        let (_, manifests) = sort(&files).unwrap();
        assert_eq!(manifests[0].kind, "ConfigMap");
        assert_eq!(manifests[0].name, "b");
    }
}
