//! Resource identity: group/version/kind plus name and namespace, and kustomize's legacy
//! output order.

use std::cmp::Ordering;
use std::fmt;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn new(group: &str, version: &str, kind: &str) -> Gvk {
        Gvk {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    /// From `apiVersion` and `kind`; the group is everything before the first `/`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = split_api_version(api_version);
        Gvk::new(group, version, kind)
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `selector` names this type: its empty fields match anything.
    pub fn is_selected_by(&self, selector: &Gvk) -> bool {
        (selector.group.is_empty() || selector.group == self.group)
            && (selector.version.is_empty() || selector.version == self.version)
            && (selector.kind.is_empty() || selector.kind == self.kind)
    }

    /// Kinds known to be cluster-scoped (from the Kubernetes API); unknown kinds are not.
    pub fn is_cluster_scoped(&self) -> bool {
        crate::openapi::is_cluster_scoped(self)
    }

    /// kyaml's `Gvk.IsLessThan` as a key: the default legacy rank of the kind, then
    /// group/version/kind with empty parts sorting last.
    pub fn type_order_key(&self) -> (i64, String) {
        let rank = DEFAULT_ORDER_FIRST
            .iter()
            .position(|k| *k == self.kind)
            .map(|i| i as i64 - DEFAULT_ORDER_FIRST.len() as i64)
            .or_else(|| {
                DEFAULT_ORDER_LAST
                    .iter()
                    .position(|k| *k == self.kind)
                    .map(|i| i as i64 + 1)
            })
            .unwrap_or(0);
        (rank, self.legacy_sort_string())
    }

    fn legacy_sort_string(&self) -> String {
        let or = |s: &str, empty: &'static str| {
            if s.is_empty() {
                empty.to_owned()
            } else {
                s.to_owned()
            }
        };
        format!(
            "{}_{}_{}",
            or(&self.group, "~G"),
            or(&self.version, "~V"),
            or(&self.kind, "~K")
        )
    }
}

impl fmt::Display for Gvk {
    /// kustomize's `Kind.version.group` form, used in messages and sort keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or = |s: &str, empty: &'static str| {
            if s.is_empty() {
                empty.to_owned()
            } else {
                s.to_owned()
            }
        };
        write!(
            f,
            "{}.{}.{}",
            or(&self.kind, "[noKind]"),
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]")
        )
    }
}

pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.find('/') {
        Some(at) => (&api_version[..at], &api_version[at + 1..]),
        None => ("", api_version),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResId {
    pub gvk: Gvk,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    pub fn new(gvk: Gvk, name: &str, namespace: &str) -> ResId {
        ResId {
            gvk,
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        }
    }

    /// The namespace as kustomize compares it: `default` and empty are the same for
    /// namespaced kinds, and cluster-scoped kinds have none.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() || self.namespace.is_empty() {
            if self.gvk.is_cluster_scoped() {
                ""
            } else {
                "default"
            }
        } else {
            &self.namespace
        }
    }

    /// Same type, name and (effective) namespace.
    pub fn same_as(&self, other: &ResId) -> bool {
        self.gvk == other.gvk
            && self.name == other.name
            && self.effective_namespace() == other.effective_namespace()
    }

    fn legacy_sort_string(&self) -> String {
        let ns = if self.namespace.is_empty() {
            "~X"
        } else {
            &self.namespace
        };
        let name = if self.name.is_empty() {
            "~N"
        } else {
            &self.name
        };
        format!("{}|{}|{}", self.gvk, ns, name)
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        let name = if self.name.is_empty() {
            "[noName]"
        } else {
            &self.name
        };
        write!(f, "{}|{}.{}", self.gvk, name, ns)
    }
}

pub const DEFAULT_ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

pub const DEFAULT_ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// kustomize's legacy order: kinds listed first, then unlisted kinds, then kinds listed
/// last; within a rank by group/version/kind, then namespace and name.
pub struct LegacyOrder {
    ranks: std::collections::HashMap<String, i64>,
}

impl LegacyOrder {
    pub fn new(first: &[impl AsRef<str>], last: &[impl AsRef<str>]) -> LegacyOrder {
        let mut ranks = std::collections::HashMap::new();
        let n = first.len() as i64;
        for (i, kind) in first.iter().enumerate() {
            ranks.insert(kind.as_ref().to_owned(), -n + i as i64);
        }
        for (i, kind) in last.iter().enumerate() {
            ranks.insert(kind.as_ref().to_owned(), 1 + i as i64);
        }
        LegacyOrder { ranks }
    }

    pub fn default_order() -> LegacyOrder {
        LegacyOrder::new(DEFAULT_ORDER_FIRST, DEFAULT_ORDER_LAST)
    }

    /// A key that sorts as [`LegacyOrder::compare`] does, computed once per resource.
    pub fn key(&self, id: &ResId) -> LegacyKey {
        let rank = self.ranks.get(&id.gvk.kind).copied().unwrap_or(0);
        LegacyKey {
            rank,
            gvk: id.gvk.legacy_sort_string(),
            namespace_kind: id.gvk.kind == "Namespace" && id.gvk.group.is_empty(),
            is_namespace: id.gvk.kind == "Namespace",
            id: id.legacy_sort_string(),
        }
    }

    pub fn compare(&self, a: &ResId, b: &ResId) -> Ordering {
        self.key(a).cmp(&self.key(b))
    }
}

/// See [`LegacyOrder::key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyKey {
    rank: i64,
    gvk: String,
    /// A core-group Namespace (kustomize orders Namespaces against it in reverse).
    namespace_kind: bool,
    is_namespace: bool,
    id: String,
}

impl PartialOrd for LegacyKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LegacyKey {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.gvk != other.gvk {
            let by_rank = self.rank.cmp(&other.rank);
            if by_rank != Ordering::Equal {
                return by_rank;
            }
            if self.is_namespace
                && other.is_namespace
                && (self.namespace_kind || other.namespace_kind)
            {
                return other.gvk.cmp(&self.gvk);
            }
            return self.gvk.cmp(&other.gvk);
        }
        self.id.cmp(&other.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(api_version: &str, kind: &str, name: &str) -> ResId {
        ResId::new(Gvk::from_api_version(api_version, kind), name, "")
    }

    #[test]
    fn legacy_order_puts_listed_kinds_first_and_webhooks_last() {
        let mut ids = [
            id(
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
                "v",
            ),
            id("apps/v1", "Deployment", "b"),
            id("example.com/v1", "Widget", "w"),
            id("apps/v1", "Deployment", "a"),
            id("v1", "Service", "s"),
            id("v1", "Namespace", "ns"),
        ];
        let order = LegacyOrder::default_order();
        let mut by_key = ids.clone();
        ids.sort_by(|a, b| order.compare(a, b));
        by_key.sort_by_key(|id| order.key(id));
        assert_eq!(ids, by_key);
        let names: Vec<_> = ids.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["ns", "s", "a", "b", "w", "v"]);
    }

    #[test]
    fn api_version_splits_at_first_slash() {
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(Gvk::from_api_version("a/b/c", "K").version, "b/c");
    }
}
