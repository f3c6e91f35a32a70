//! Name references: after renames (prefix, suffix, hash, namespace), every field that names
//! another resource (a Pod's ConfigMap volume, a RoleBinding's roleRef, a webhook's
//! service, ...) is pointed at that resource's current name.

use std::collections::HashMap;

use crate::config::NameBackReferences;
use crate::fieldspec::walk;
use crate::resid::{Gvk, ResId};
use crate::resmap::ResMap;
use crate::resource::Resource;
use crate::types::FieldSpec;
use crate::{Error, Result};
use driftless_yaml::Node;

/// What the fix-up needs to know about a possible referral.
struct Candidate {
    previous: Vec<ResId>,
    original_namespace: String,
    current: ResId,
    current_namespace: String,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    cluster_scoped: bool,
}

impl Candidate {
    fn of(resource: &Resource) -> Candidate {
        let current = resource.id();
        Candidate {
            previous: resource.previous_ids.clone(),
            original_namespace: resource.original_id().effective_namespace().to_owned(),
            current_namespace: current.effective_namespace().to_owned(),
            cluster_scoped: current.gvk.is_cluster_scoped(),
            current,
            prefixes: resource.prefixes.clone(),
            suffixes: resource.suffixes.clone(),
        }
    }
}

/// Every resource as a possible referral, indexed by the names it had before.
struct Candidates {
    all: Vec<Candidate>,
    by_previous_name: HashMap<String, Vec<usize>>,
}

impl Candidates {
    fn of(resmap: &ResMap) -> Candidates {
        let all: Vec<Candidate> = resmap.iter().map(Candidate::of).collect();
        let mut by_previous_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, candidate) in all.iter().enumerate() {
            for id in &candidate.previous {
                let entry = by_previous_name.entry(id.name.clone()).or_default();
                if entry.last() != Some(&i) {
                    entry.push(i);
                }
            }
        }
        Candidates {
            all,
            by_previous_name,
        }
    }
}

pub fn fix_name_references(
    resmap: &mut ResMap,
    back_references: &[NameBackReferences],
) -> Result<()> {
    let candidates = Candidates::of(resmap);
    for index in 0..resmap.len() {
        let original_gvk = resmap.resources()[index].original_id().gvk;
        let applicable: Vec<(Gvk, &FieldSpec)> = back_references
            .iter()
            .flat_map(|b| {
                b.field_specs
                    .iter()
                    .filter(|s| s.selects(&original_gvk))
                    .map(move |s| (b.gvk(), s))
            })
            .collect();
        if applicable.is_empty() {
            continue;
        }
        let referrer = &candidates.all[index];
        let subject_namespaces = service_account_namespaces(&resmap.resources()[index], referrer)?;
        for (target, spec) in applicable {
            let resource = &mut resmap.resources_mut()[index];
            let lookup = Lookup {
                candidates: &candidates,
                referrer,
                subject_namespaces: &subject_namespaces,
                target: &target,
                role_ref: role_ref_of(resource, &spec.path),
            };
            walk(&mut resource.node, &spec.path, None, &mut |node| {
                set_reference(node, &lookup)
            })
            .map_err(|e| {
                e.context(format!(
                    "updating name reference in '{}' field of '{}'",
                    spec.path, referrer.current
                ))
            })?;
        }
    }
    Ok(())
}

struct Lookup<'a> {
    candidates: &'a Candidates,
    referrer: &'a Candidate,
    /// A RoleBinding also reaches the namespaces of its ServiceAccount subjects.
    subject_namespaces: &'a [String],
    target: &'a Gvk,
    role_ref: Option<Gvk>,
}

impl Lookup<'_> {
    /// A namespaced referrer reaches cluster-scoped resources and those in its namespace.
    fn reaches(&self, candidate: &Candidate) -> bool {
        self.referrer.cluster_scoped
            || candidate.cluster_scoped
            || candidate.current_namespace == self.referrer.current_namespace
            || self
                .subject_namespaces
                .contains(&candidate.current_namespace)
    }
}

fn service_account_namespaces(resource: &Resource, referrer: &Candidate) -> Result<Vec<String>> {
    let mut namespaces = Vec::new();
    if referrer.current.gvk.kind != "RoleBinding" {
        return Ok(namespaces);
    }
    if let Some(Node::Seq(subjects)) = resource.node.get("subjects") {
        for subject in subjects {
            if subject.str_at(&["kind"]) != Some("ServiceAccount") {
                continue;
            }
            match subject.get("namespace") {
                None => {}
                Some(Node::Scalar(s)) if !s.is_null() => namespaces.push(s.value.clone()),
                Some(_) => {
                    return Err(Error::new(format!(
                        "Invalid Input: namespace is blank for resource \"{}\"",
                        referrer.current
                    )));
                }
            }
        }
    }
    Ok(namespaces)
}

/// `roleRef` narrows RBAC references by its apiGroup and kind.
fn role_ref_of(resource: &Resource, path: &str) -> Option<Gvk> {
    if !path.ends_with("roleRef/name") {
        return None;
    }
    let group = resource.node.str_at(&["roleRef", "apiGroup"])?;
    let kind = resource.node.str_at(&["roleRef", "kind"])?;
    Some(Gvk::new(group, "", kind))
}

fn set_reference(node: &mut Node, lookup: &Lookup<'_>) -> Result<()> {
    match node {
        Node::Scalar(scalar) if scalar.is_null() => Ok(()),
        Node::Scalar(scalar) => {
            if let Some(found) = select_referral(&scalar.value, None, lookup, false)? {
                let name = &lookup.candidates.all[found].current.name;
                if *name != scalar.value {
                    scalar.value.clone_from(name);
                }
            }
            Ok(())
        }
        Node::Map(_) => set_mapping(node, lookup),
        Node::Seq(items) => {
            for item in items {
                match item {
                    Node::Scalar(_) | Node::Map(_) => set_reference(item, lookup)?,
                    _ => {
                        return Err(Error::new(
                            "a name reference is expected to be either a string or a map of string",
                        ));
                    }
                }
            }
            Ok(())
        }
    }
}

/// A `{name, namespace}` reference (subjects, webhook services).
fn set_mapping(node: &mut Node, lookup: &Lookup<'_>) -> Result<()> {
    let Some(name) = node
        .get("name")
        .and_then(|n| n.as_scalar())
        .map(|s| s.value.clone())
    else {
        return Err(Error::new("path config error; no 'name' field in node"));
    };
    // With a namespace, only candidates from it: by original namespace if any has it,
    // else by current namespace.
    let namespace = node.str_at(&["namespace"]).map(str::to_owned);
    let in_namespace = namespace.as_ref().map(|ns| {
        let all = &lookup.candidates.all;
        let reachable = |c: &Candidate| !c.cluster_scoped && lookup.reaches(c);
        if all
            .iter()
            .any(|c| reachable(c) && c.original_namespace == *ns)
        {
            (ns.clone(), true)
        } else {
            (ns.clone(), false)
        }
    });
    let Some(found) = select_referral(&name, in_namespace.as_ref(), lookup, true)? else {
        return Ok(());
    };
    let referral = &lookup.candidates.all[found].current;
    if referral.name == name && referral.namespace.is_empty() {
        return Ok(());
    }
    if let Node::Map(map) = node {
        if let Some(Node::Scalar(scalar)) = map.get_mut("name") {
            scalar.value.clone_from(&referral.name);
        }
        if !referral.namespace.is_empty() {
            match map.get_mut("namespace") {
                Some(Node::Scalar(scalar)) => scalar.value.clone_from(&referral.namespace),
                _ => map.insert("namespace", Node::string(&referral.namespace)),
            }
        }
    }
    Ok(())
}

/// The one resource `old_name` refers to, by kustomize's sieves. `namespace` restricts
/// to candidates in it (by original namespace when `true`, current otherwise).
fn select_referral(
    old_name: &str,
    namespace: Option<&(String, bool)>,
    lookup: &Lookup<'_>,
    compare_namespaces: bool,
) -> Result<Option<usize>> {
    let all = &lookup.candidates.all;
    let referrer = lookup.referrer;
    let Some(named) = lookup.candidates.by_previous_name.get(old_name) else {
        return Ok(None);
    };
    let mut left: Vec<usize> = named
        .iter()
        .copied()
        .filter(|&i| lookup.reaches(&all[i]))
        .filter(|&i| match namespace {
            Some((ns, true)) => !all[i].cluster_scoped && all[i].original_namespace == *ns,
            Some((ns, false)) => !all[i].cluster_scoped && all[i].current_namespace == *ns,
            None => true,
        })
        .filter(|&i| {
            all[i]
                .previous
                .iter()
                .any(|id| id.gvk.is_selected_by(lookup.target))
        })
        .filter(|&i| match &lookup.role_ref {
            Some(role_ref) => all[i]
                .previous
                .iter()
                .any(|id| id.gvk.is_selected_by(role_ref)),
            None => true,
        })
        .filter(|&i| {
            referrer.cluster_scoped
                || all[i].cluster_scoped
                || all[i].current.gvk.kind == "ServiceAccount"
                || all[i].current_namespace == referrer.current_namespace
        })
        .collect();
    if left.len() <= 1 {
        return Ok(left.pop());
    }
    // First with either side's empty affix lists accepted, then strictly.
    left.retain(|&i| affixes_match(&all[i], referrer, true));
    if left.len() > 1 {
        left.retain(|&i| affixes_match(&all[i], referrer, false));
    }
    match left.len() {
        0 => return Ok(None),
        1 => return Ok(Some(left[0])),
        _ => {}
    }
    let first = &all[left[0]].current;
    let all_same = left.iter().all(|&i| {
        let c = &all[i].current;
        c.name == first.name && (!compare_namespaces || c.namespace == first.namespace)
    });
    if all_same {
        return Ok(Some(left[0]));
    }
    let ids: Vec<String> = left.iter().map(|&i| all[i].current.to_string()).collect();
    Err(Error::new(format!(
        "found multiple possible referrals: {}",
        ids.join(", ")
    )))
}

fn affixes_match(candidate: &Candidate, referrer: &Candidate, allow_empty: bool) -> bool {
    let lists = [
        (&candidate.prefixes, &referrer.prefixes),
        (&candidate.suffixes, &referrer.suffixes),
    ];
    lists
        .iter()
        .all(|(a, b)| (allow_empty && (a.is_empty() || b.is_empty())) || same_ending(a, b))
}

/// One list is the tail of the other; an empty list only matches an empty one.
fn same_ending(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a.is_empty() && b.is_empty();
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long[long.len() - short.len()..] == *short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affix_lists_match_by_their_tails() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(same_ending(&s(&["a", "b"]), &s(&["b"])));
        assert!(!same_ending(&s(&["a", "b"]), &s(&["a"])));
        assert!(same_ending(&s(&[]), &s(&[])));
        assert!(!same_ending(&s(&[]), &s(&["a"])));
    }
}
