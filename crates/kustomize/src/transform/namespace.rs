//! `namespace:`: sets the namespace of every namespaced resource, renames v1 Namespace
//! objects, and fixes RoleBinding subjects (the `default` service account by default).

use crate::fieldspec::{CreateKind, for_each_field};
use crate::resmap::ResMap;
use crate::resource::Resource;
use crate::types::FieldSpec;
use crate::{Error, Result};
use driftless_yaml::Node;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RoleBindingSubjects {
    #[default]
    DefaultOnly,
    AllServiceAccounts,
    None,
}

impl RoleBindingSubjects {
    pub fn parse(text: &str) -> Result<RoleBindingSubjects> {
        match text {
            "" | "defaultOnly" => Ok(RoleBindingSubjects::DefaultOnly),
            "allServiceAccounts" => Ok(RoleBindingSubjects::AllServiceAccounts),
            "none" => Ok(RoleBindingSubjects::None),
            other => Err(Error::new(format!(
                "invalid value {other:?} for setRoleBindingSubjects: must be one of \"defaultOnly\", \"none\" or \"allServiceAccounts\""
            ))),
        }
    }
}

pub struct Namespace {
    pub namespace: String,
    pub specs: Vec<FieldSpec>,
    pub unset_only: bool,
    pub subjects: RoleBindingSubjects,
}

impl Namespace {
    pub fn new(namespace: &str, specs: Vec<FieldSpec>) -> Namespace {
        Namespace {
            namespace: namespace.to_owned(),
            specs,
            unset_only: false,
            subjects: RoleBindingSubjects::DefaultOnly,
        }
    }

    fn set(&self, node: &mut Node) {
        let empty = node.as_str().is_none_or(str::is_empty);
        if !self.unset_only || empty {
            *node = Node::string(&self.namespace);
        }
    }

    pub fn apply(&self, resmap: &mut ResMap) -> Result<()> {
        if self.namespace.is_empty() {
            return Ok(());
        }
        for resource in resmap.iter_mut() {
            if resource.annotation("kustomize.config.k8s.io/helm-generated") == Some("true") {
                continue;
            }
            resource.remember_id();
            self.apply_one(resource)?;
        }
        let mut seen = std::collections::HashSet::new();
        for resource in resmap.iter() {
            let id = resource.id();
            let key = (
                id.gvk.clone(),
                id.name.clone(),
                id.effective_namespace().to_owned(),
            );
            if !seen.insert(key) {
                return Err(Error::new(format!(
                    "namespace transformation produces ID conflict: two resources with id {id}"
                )));
            }
        }
        Ok(())
    }

    /// The namespace on one resource (without the conflict check over a set).
    pub fn apply_to(&self, resource: &mut Resource) -> Result<()> {
        self.apply_one(resource)
    }

    fn apply_one(&self, resource: &mut Resource) -> Result<()> {
        let gvk = resource.gvk();
        let api_version = resource.api_version().to_owned();
        let mut specs: Vec<FieldSpec> = self
            .specs
            .iter()
            .filter(|s| {
                s.path != "metadata/namespace" && (api_version == "v1" || s.path != "metadata/name")
            })
            .cloned()
            .collect();
        if !gvk.is_cluster_scoped() {
            let namespace = resource
                .node
                .ensure_map_path(&["metadata"])
                .entry_or_insert_with("namespace", || Node::string(""));
            self.set(namespace);
        }
        let is_binding = gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding";
        if is_binding {
            specs.retain(|s| {
                !(s.path == "subjects/namespace"
                    && (s.kind == "RoleBinding" || s.kind == "ClusterRoleBinding"))
            });
            if self.subjects != RoleBindingSubjects::None
                && let Some(Node::Seq(subjects)) = resource.node.get_mut("subjects")
            {
                for subject in subjects.iter_mut() {
                    let wanted = match self.subjects {
                        RoleBindingSubjects::DefaultOnly => {
                            subject.str_at(&["name"]) == Some("default")
                        }
                        RoleBindingSubjects::AllServiceAccounts => {
                            subject.str_at(&["kind"]) == Some("ServiceAccount")
                        }
                        RoleBindingSubjects::None => false,
                    };
                    if let (true, Node::Map(map)) = (wanted, subject) {
                        let namespace = map.entry_or_insert_with("namespace", || Node::string(""));
                        self.set(namespace);
                    }
                }
            }
        }
        let mut error = None;
        for_each_field(resource, &specs, Some(CreateKind::String), &mut |node| {
            if matches!(node, Node::Scalar(_)) {
                self.set(node);
            } else {
                error = Some(Error::new("namespace field specs must target scalar nodes"));
            }
            Ok(())
        })?;
        error.map_or(Ok(()), Err)
    }
}
