//! The objects a Kustomization or HelmRelease applied, in Flux's inventory format
//! (`<namespace>_<name>_<group>_<kind>` plus the API version).

use driftless_api::kustomize::{ResourceInventory, ResourceRef};

/// One applied object's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjectId {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Flux's inventory id.
    pub fn inventory_id(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.namespace, self.name, self.group, self.kind
        )
    }

    /// From an inventory entry; `None` for a malformed one.
    pub fn from_ref(entry: &ResourceRef) -> Option<ObjectId> {
        let mut parts = entry.id.splitn(4, '_');
        let namespace = parts.next()?.to_owned();
        let name = parts.next()?.to_owned();
        let group = parts.next()?.to_owned();
        let kind = parts.next()?.to_owned();
        if name.is_empty() || kind.is_empty() {
            return None;
        }
        Some(ObjectId {
            group,
            version: entry.version.clone(),
            kind,
            namespace,
            name,
        })
    }

    /// `Kind/namespace/name` or `Kind/name`, as Flux writes objects in messages.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// Same object whatever its API version.
    pub fn same_object(&self, other: &ObjectId) -> bool {
        self.group == other.group
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
    }
}

/// The inventory of a set of objects, in apply order as Flux keeps it.
pub fn inventory(objects: &[ObjectId]) -> ResourceInventory {
    let mut entries: Vec<ResourceRef> = Vec::with_capacity(objects.len());
    for object in objects {
        let entry = ResourceRef {
            id: object.inventory_id(),
            version: object.version.clone(),
        };
        if !entries.iter().any(|e| e.id == entry.id) {
            entries.push(entry);
        }
    }
    ResourceInventory { entries }
}

/// `old` with `applied` added: after a failed apply, what was applied joins what the last
/// good apply recorded, so no applied object falls out of the inventory. An object in both
/// takes its newly applied version.
pub fn merged(old: &ResourceInventory, applied: &[ObjectId]) -> ResourceInventory {
    let mut entries = old.entries.clone();
    for object in applied {
        let id = object.inventory_id();
        match entries.iter_mut().find(|e| e.id == id) {
            Some(entry) => entry.version = object.version.clone(),
            None => entries.push(ResourceRef {
                id,
                version: object.version.clone(),
            }),
        }
    }
    ResourceInventory { entries }
}

/// Objects of `old` that are not in `new` (by group, kind, namespace and name).
pub fn stale(old: &ResourceInventory, new: &[ObjectId]) -> Vec<ObjectId> {
    old.entries
        .iter()
        .filter_map(ObjectId::from_ref)
        .filter(|o| !new.iter().any(|n| n.same_object(o)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(group: &str, version: &str, kind: &str, namespace: &str, name: &str) -> ObjectId {
        ObjectId {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    #[test]
    fn ids_match_flux() {
        assert_eq!(
            id("apps", "v1", "Deployment", "default", "web").inventory_id(),
            "default_web_apps_Deployment"
        );
        assert_eq!(
            id("", "v1", "Namespace", "", "prod").inventory_id(),
            "_prod__Namespace"
        );
        let entry = ResourceRef {
            id: "default_web__Service".into(),
            version: "v1".into(),
        };
        assert_eq!(
            ObjectId::from_ref(&entry),
            Some(id("", "v1", "Service", "default", "web"))
        );
    }

    #[test]
    fn a_failed_apply_adds_what_it_applied_and_drops_nothing() {
        let old = inventory(&[
            id("", "v1", "ConfigMap", "a", "kept"),
            id("apps", "v1beta1", "Deployment", "a", "web"),
        ]);
        let applied = [
            id("apps", "v1", "Deployment", "a", "web"),
            id("", "v1", "Namespace", "", "a"),
        ];
        let entries: Vec<(String, String)> = merged(&old, &applied)
            .entries
            .into_iter()
            .map(|e| (e.id, e.version))
            .collect();
        assert_eq!(
            entries,
            [
                ("a_kept__ConfigMap".to_owned(), "v1".to_owned()),
                ("a_web_apps_Deployment".to_owned(), "v1".to_owned()),
                ("_a__Namespace".to_owned(), "v1".to_owned()),
            ]
        );
    }

    #[test]
    fn stale_objects_are_those_no_longer_built() {
        let old = inventory(&[
            id("apps", "v1", "Deployment", "a", "web"),
            id("", "v1", "Service", "a", "web"),
        ]);
        let new = [id("apps", "v1beta1", "Deployment", "a", "web")];
        assert_eq!(stale(&old, &new), [id("", "v1", "Service", "a", "web")]);
    }
}
