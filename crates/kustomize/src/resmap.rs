//! The ordered set of resources a build accumulates.

use crate::resid::ResId;
use crate::resource::Resource;
use crate::{Error, Result};

/// Ids as compared for conflicts: type, name and effective namespace.
pub type IdKeys = std::collections::HashSet<(crate::resid::Gvk, String, String)>;

fn id_key(id: &ResId) -> (crate::resid::Gvk, String, String) {
    (
        id.gvk.clone(),
        id.name.clone(),
        id.effective_namespace().to_owned(),
    )
}

#[derive(Clone, Debug, Default)]
pub struct ResMap {
    resources: Vec<Resource>,
}

impl ResMap {
    pub fn new() -> ResMap {
        ResMap::default()
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Resource> {
        self.resources.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Resource> {
        self.resources.iter_mut()
    }

    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    pub fn resources_mut(&mut self) -> &mut Vec<Resource> {
        &mut self.resources
    }

    pub fn into_resources(self) -> Vec<Resource> {
        self.resources
    }

    /// Index of the resource whose current id is `id`.
    pub fn position_by_current_id(&self, id: &ResId) -> Option<usize> {
        self.resources.iter().position(|r| r.id().same_as(id))
    }

    /// Adds a resource; an id already present is an error.
    pub fn append(&mut self, resource: Resource) -> Result<()> {
        let id = resource.id();
        if self.position_by_current_id(&id).is_some() {
            return Err(Error::new(format!(
                "may not add resource with an already registered id: {id}"
            )));
        }
        self.resources.push(resource);
        Ok(())
    }

    pub fn append_all(&mut self, other: ResMap) -> Result<()> {
        let mut seen = self.id_keys();
        self.append_all_with(other, &mut seen)
    }

    /// The ids present, in the form [`ResMap::append_all_with`] checks against.
    pub fn id_keys(&self) -> IdKeys {
        self.resources.iter().map(|r| id_key(&r.id())).collect()
    }

    /// Adds resources, checking their ids against (and adding them to) `seen` — which
    /// must hold the ids already present; lets a caller adding many batches avoid
    /// rescanning.
    pub fn append_all_with(&mut self, other: ResMap, seen: &mut IdKeys) -> Result<()> {
        for resource in other.resources {
            let id = resource.id();
            if !seen.insert(id_key(&id)) {
                return Err(Error::new(format!(
                    "may not add resource with an already registered id: {id}"
                )));
            }
            self.resources.push(resource);
        }
        Ok(())
    }

    pub fn push_unchecked(&mut self, resource: Resource) {
        self.resources.push(resource);
    }

    pub fn remove(&mut self, index: usize) -> Resource {
        self.resources.remove(index)
    }

    /// Indexes of resources that ever had an id matching `id` (by original or any
    /// previous or current id) — how patches and generators find their targets.
    pub fn positions_by_any_id(&self, id: &ResId) -> Vec<usize> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.all_ids().iter().any(|i| i.same_as(id)))
            .map(|(i, _)| i)
            .collect()
    }

    pub fn positions_by_original_id(&self, id: &ResId) -> Vec<usize> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.original_id().same_as(id))
            .map(|(i, _)| i)
            .collect()
    }
}

impl IntoIterator for ResMap {
    type Item = Resource;
    type IntoIter = std::vec::IntoIter<Resource>;

    fn into_iter(self) -> Self::IntoIter {
        self.resources.into_iter()
    }
}

impl FromIterator<Resource> for ResMap {
    fn from_iter<T: IntoIterator<Item = Resource>>(iter: T) -> Self {
        ResMap {
            resources: iter.into_iter().collect(),
        }
    }
}
