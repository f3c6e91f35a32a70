//! Name references: after renames (prefix, suffix, hash, namespace), every field that names
//! another resource (a Pod's ConfigMap volume, a RoleBinding's roleRef, a webhook's
//! service, ...) is pointed at that resource's current name.

use crate::config::NameBackReferences;
use crate::fieldspec::walk;
use crate::resid::{Gvk, ResId};
use crate::resmap::ResMap;
use crate::resource::Resource;
use crate::yaml::Node;
use crate::{Error, Result};

/// What the fix-up needs to know about a possible referral.
struct Candidate {
    previous: Vec<ResId>,
    original: ResId,
    current: ResId,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    cluster_scoped: bool,
}

impl Candidate {
    fn of(resource: &Resource) -> Candidate {
        let current = resource.id();
        Candidate {
            previous: resource.previous_ids.clone(),
            original: resource.original_id(),
            cluster_scoped: current.gvk.is_cluster_scoped(),
            current,
            prefixes: resource.prefixes.clone(),
            suffixes: resource.suffixes.clone(),
        }
    }
}

pub fn fix_name_references(
    resmap: &mut ResMap,
    back_references: &[NameBackReferences],
) -> Result<()> {
    let candidates: Vec<Candidate> = resmap.iter().map(Candidate::of).collect();
    for index in 0..resmap.len() {
        let referrer_original_gvk = resmap.resources()[index].original_id().gvk;
        for back_reference in back_references {
            let target = back_reference.gvk();
            for spec in &back_reference.field_specs {
                if !referrer_original_gvk.is_selected_by(&spec.gvk()) {
                    continue;
                }
                let referrer = &candidates[index];
                let in_reach = reachable(resmap.resources(), &candidates, index)?;
                let resource = &mut resmap.resources_mut()[index];
                let role_ref = role_ref_of(resource, &spec.path);
                let context = Lookup {
                    candidates: &candidates,
                    in_reach: &in_reach,
                    referrer,
                    target: &target,
                    role_ref,
                };
                walk(&mut resource.node, &spec.path, None, &mut |node| {
                    set_reference(node, &context)
                })
                .map_err(|e| {
                    e.context(format!(
                        "updating name reference in '{}' field of '{}'",
                        spec.path, referrer.current
                    ))
                })?;
            }
        }
    }
    Ok(())
}

struct Lookup<'a> {
    candidates: &'a [Candidate],
    in_reach: &'a [usize],
    referrer: &'a Candidate,
    target: &'a Gvk,
    role_ref: Option<Gvk>,
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

/// Resources a referrer may refer to: everything for a cluster-scoped referrer, otherwise
/// cluster-scoped resources and those in its namespace (plus its ServiceAccount subjects'
/// namespaces for a RoleBinding).
fn reachable(
    resources: &[Resource],
    candidates: &[Candidate],
    referrer: usize,
) -> Result<Vec<usize>> {
    let me = &candidates[referrer];
    if me.cluster_scoped {
        return Ok((0..candidates.len()).collect());
    }
    let mut namespaces = vec![me.current.effective_namespace().to_owned()];
    if me.current.gvk.kind == "RoleBinding"
        && let Some(Node::Seq(subjects)) = resources[referrer].node.get("subjects")
    {
        for subject in subjects {
            if subject.str_at(&["kind"]) == Some("ServiceAccount") {
                match subject.get("namespace") {
                    None => {}
                    Some(Node::Scalar(s)) if !s.is_null() => namespaces.push(s.value.clone()),
                    Some(_) => {
                        return Err(Error::new(format!(
                            "Invalid Input: namespace is blank for resource \"{}\"",
                            me.current
                        )));
                    }
                }
            }
        }
    }
    Ok((0..candidates.len())
        .filter(|&i| {
            candidates[i].cluster_scoped
                || namespaces
                    .iter()
                    .any(|ns| ns == candidates[i].current.effective_namespace())
        })
        .collect())
}

fn set_reference(node: &mut Node, lookup: &Lookup<'_>) -> Result<()> {
    match node {
        Node::Scalar(scalar) if scalar.is_null() => Ok(()),
        Node::Scalar(scalar) => {
            if let Some(found) = select_referral(&scalar.value, lookup.in_reach, lookup, false)? {
                let name = &lookup.candidates[found].current.name;
                if *name != scalar.value {
                    scalar.value = name.clone();
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
    let namespace = node.str_at(&["namespace"]).map(str::to_owned);
    let pool: Vec<usize> = match &namespace {
        Some(ns) => {
            let by_original: Vec<usize> = lookup
                .in_reach
                .iter()
                .copied()
                .filter(|&i| {
                    !lookup.candidates[i].cluster_scoped
                        && lookup.candidates[i].original.effective_namespace() == ns
                })
                .collect();
            if by_original.is_empty() {
                lookup
                    .in_reach
                    .iter()
                    .copied()
                    .filter(|&i| {
                        !lookup.candidates[i].cluster_scoped
                            && lookup.candidates[i].current.effective_namespace() == ns
                    })
                    .collect()
            } else {
                by_original
            }
        }
        None => lookup.in_reach.to_vec(),
    };
    let Some(found) = select_referral(&name, &pool, lookup, true)? else {
        return Ok(());
    };
    let referral = &lookup.candidates[found].current;
    if referral.name == name && referral.namespace.is_empty() {
        return Ok(());
    }
    if let Node::Map(map) = node {
        if let Some(Node::Scalar(scalar)) = map.get_mut("name") {
            scalar.value = referral.name.clone();
        }
        if !referral.namespace.is_empty() {
            match map.get_mut("namespace") {
                Some(Node::Scalar(scalar)) => scalar.value = referral.namespace.clone(),
                _ => map.insert("namespace", Node::string(&referral.namespace)),
            }
        }
    }
    Ok(())
}

fn select_referral(
    old_name: &str,
    pool: &[usize],
    lookup: &Lookup<'_>,
    compare_namespaces: bool,
) -> Result<Option<usize>> {
    let candidates = lookup.candidates;
    let referrer = lookup.referrer;
    let mut left: Vec<usize> = pool
        .iter()
        .copied()
        .filter(|&i| candidates[i].previous.iter().any(|id| id.name == old_name))
        .filter(|&i| {
            candidates[i]
                .previous
                .iter()
                .any(|id| id.gvk.is_selected_by(lookup.target))
        })
        .filter(|&i| match &lookup.role_ref {
            Some(role_ref) => candidates[i]
                .previous
                .iter()
                .any(|id| id.gvk.is_selected_by(role_ref)),
            None => true,
        })
        .filter(|&i| {
            referrer.cluster_scoped
                || candidates[i].cluster_scoped
                || candidates[i].current.gvk.kind == "ServiceAccount"
                || candidates[i].current.effective_namespace()
                    == referrer.current.effective_namespace()
        })
        .collect();
    if left.len() <= 1 {
        return Ok(left.pop());
    }
    // First with either side's empty affix lists accepted, then strictly.
    left.retain(|&i| affixes_match(&candidates[i], referrer, true));
    if left.len() > 1 {
        left.retain(|&i| affixes_match(&candidates[i], referrer, false));
    }
    match left.len() {
        0 => return Ok(None),
        1 => return Ok(Some(left[0])),
        _ => {}
    }
    let first = &candidates[left[0]].current;
    let all_same = left.iter().all(|&i| {
        let c = &candidates[i].current;
        c.name == first.name && (!compare_namespaces || c.namespace == first.namespace)
    });
    if all_same {
        return Ok(Some(left[0]));
    }
    let ids: Vec<String> = left
        .iter()
        .map(|&i| candidates[i].current.to_string())
        .collect();
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
