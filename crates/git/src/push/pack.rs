//! The pack a push sends: the commits the remote lacks, and of their trees only what differs
//! from each commit's first parent (the remote has the parent's). Objects are stored whole
//! (no deltas): image automation changes a few small files per commit.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use gix::ObjectId;
use gix::objs::Kind;

/// The objects reachable from `tips` that are not reachable from `remote_tips`, commits
/// first. Remote tips we do not have locally are ignored (we cannot know what they hold).
pub fn objects_to_send(
    repo: &gix::Repository,
    tips: &[ObjectId],
    remote_tips: &[ObjectId],
) -> Result<Vec<ObjectId>, String> {
    let hidden: Vec<ObjectId> = remote_tips
        .iter()
        .copied()
        .filter(|id| repo.find_commit(*id).is_ok())
        .collect();
    let walk = repo
        .rev_walk(tips.iter().copied())
        .with_hidden(hidden)
        .all()
        .map_err(|e| format!("walking the history to push: {e}"))?;
    let mut seen = HashSet::new();
    let mut commits = Vec::new();
    let mut trees_and_blobs = Vec::new();
    for info in walk {
        let info = info.map_err(|e| format!("walking the history to push: {e}"))?;
        let commit = repo
            .find_commit(info.id)
            .map_err(|e| format!("reading commit {}: {e}", info.id))?;
        let tree = commit.tree_id().map_err(|e| e.to_string())?.detach();
        let parent_tree = commit
            .parent_ids()
            .next()
            .and_then(|parent| repo.find_commit(parent.detach()).ok())
            .and_then(|parent| parent.tree_id().ok().map(|id| id.detach()));
        commits.push(info.id);
        tree_additions(repo, tree, parent_tree, &mut seen, &mut trees_and_blobs)?;
    }
    commits.extend(trees_and_blobs);
    Ok(commits)
}

/// Adds `new` and what it holds that `old` (the same path in the parent) does not.
fn tree_additions(
    repo: &gix::Repository,
    new: ObjectId,
    old: Option<ObjectId>,
    seen: &mut HashSet<ObjectId>,
    out: &mut Vec<ObjectId>,
) -> Result<(), String> {
    if old == Some(new) || !seen.insert(new) {
        return Ok(());
    }
    out.push(new);
    let read =
        |id: ObjectId| -> Result<Vec<(Vec<u8>, gix::objs::tree::EntryMode, ObjectId)>, String> {
            let tree = repo
                .find_tree(id)
                .map_err(|e| format!("reading tree {id}: {e}"))?;
            let decoded = tree
                .decode()
                .map_err(|e| format!("decoding tree {id}: {e}"))?;
            Ok(decoded
                .entries
                .iter()
                .map(|e| (e.filename.to_vec(), e.mode, e.oid.to_owned()))
                .collect())
        };
    let old_entries: HashMap<Vec<u8>, (gix::objs::tree::EntryMode, ObjectId)> = match old {
        Some(old) => read(old)?
            .into_iter()
            .map(|(name, mode, id)| (name, (mode, id)))
            .collect(),
        None => HashMap::new(),
    };
    for (name, mode, id) in read(new)? {
        let previous = old_entries.get(&name);
        if previous.is_some_and(|(_, old_id)| *old_id == id) {
            continue;
        }
        if mode.is_tree() {
            let old_subtree = previous
                .filter(|(old_mode, _)| old_mode.is_tree())
                .map(|(_, old_id)| *old_id);
            tree_additions(repo, id, old_subtree, seen, out)?;
        } else if mode.is_commit() {
            // A gitlink points into another repository; there is nothing to send.
        } else if seen.insert(id) {
            out.push(id);
        }
    }
    Ok(())
}

/// Counts what passes through, so the pack trailer can be computed while writing.
struct Hashing<W> {
    inner: W,
    hasher: gix::hash::Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn pack_type(kind: Kind) -> u8 {
    match kind {
        Kind::Commit => 1,
        Kind::Tree => 2,
        Kind::Blob => 3,
        Kind::Tag => 4,
    }
}

/// An entry header: type and size, the size as a little-endian base-128 varint whose first
/// byte holds 4 bits of it after the 3-bit type.
fn entry_header(kind: Kind, size: usize) -> Vec<u8> {
    let mut size = size as u64;
    let mut first = (pack_type(kind) << 4) | (size & 0x0f) as u8;
    size >>= 4;
    let mut header = Vec::new();
    while size > 0 {
        header.push(first | 0x80);
        first = (size & 0x7f) as u8;
        size >>= 7;
    }
    header.push(first);
    header
}

/// Writes a version 2 pack holding `ids` to `out`.
pub fn write_pack(repo: &gix::Repository, ids: &[ObjectId], out: impl Write) -> Result<(), String> {
    let io_error = |e: std::io::Error| format!("writing the pack: {e}");
    let count = u32::try_from(ids.len()).map_err(|_| "too many objects for one pack".to_owned())?;
    let mut out = Hashing {
        inner: out,
        hasher: gix::hash::hasher(gix::hash::Kind::Sha1),
    };
    out.write_all(b"PACK").map_err(io_error)?;
    out.write_all(&2u32.to_be_bytes()).map_err(io_error)?;
    out.write_all(&count.to_be_bytes()).map_err(io_error)?;
    for id in ids {
        let object = repo
            .find_object(*id)
            .map_err(|e| format!("reading object {id}: {e}"))?;
        out.write_all(&entry_header(object.kind, object.data.len()))
            .map_err(io_error)?;
        let mut deflate = flate2::write::ZlibEncoder::new(&mut out, flate2::Compression::fast());
        deflate.write_all(&object.data).map_err(io_error)?;
        deflate.finish().map_err(io_error)?;
    }
    let Hashing { mut inner, hasher } = out;
    let checksum = hasher
        .try_finalize()
        .map_err(|e| format!("hashing the pack: {e}"))?;
    inner.write_all(checksum.as_bytes()).map_err(io_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_headers_match_git() {
        // A 10-byte blob fits in the first byte; 100 bytes needs one more.
        assert_eq!(entry_header(Kind::Blob, 10), vec![0x3a]);
        assert_eq!(entry_header(Kind::Commit, 100), vec![0x94, 0x06]);
        assert_eq!(entry_header(Kind::Tree, 0), vec![0x20]);
    }
}
