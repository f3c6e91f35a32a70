//! Content-hash suffixes on generated names, added once at the end of a build.

use crate::Result;
use crate::resmap::ResMap;

pub fn add_name_hashes(resmap: &mut ResMap) -> Result<()> {
    for resource in resmap.iter_mut().filter(|r| r.needs_hash) {
        let hash = crate::hash::name_hash(&resource.node);
        let name = format!("{}-{hash}", resource.name());
        resource.set_name(&name);
    }
    Ok(())
}
