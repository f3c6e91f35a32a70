//! Removing a node leaves nothing behind: stopping containerd and the kubelet does not stop
//! Pods (their runc shims outlive containerd by design), so the containers, shims, mounts,
//! cgroups and the network namespace are removed here, for a stopped node and for the
//! leftovers of a test process that was killed.

use std::path::Path;
use std::time::{Duration, Instant};

/// The cgroup v1 hierarchies and the v2 mount, each of which holds a tree for the node.
const CGROUP_MOUNTS: &str = "/sys/fs/cgroup";

/// Tears node `name` down; `state` is a path prefix under which all of its mounts and its
/// containerd socket live.
pub(crate) fn teardown(name: &str, state: &str) {
    kill_cgroup_members(name);
    kill_shims(state);
    unmount_under(state);
    remove_cgroups(name);
    super::network::remove(name);
}

/// Removes the nodes of test processes that no longer run, and their run directories' mounts.
pub(crate) fn sweep_stale(run_dirs_parent: &Path) {
    for name in super::network::existing() {
        let Some(pid) = name
            .strip_prefix(super::network::PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let state = format!("{}/{pid}-", run_dirs_parent.display());
        teardown(&name, &state);
    }
}

/// Every process in the node's cgroups: the Pods' containers and sandboxes.
fn kill_cgroup_members(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = cgroup_trees(name)
            .iter()
            .flat_map(|tree| procs_under(tree))
            .collect::<Vec<_>>();
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            // SAFETY: kill(2) with a pid read from the node's own cgroups.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The runc shims of this node's containerd, found by the socket path they were given.
fn kill_shims(state: &str) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("containerd-shim") && cmdline.contains(state) {
            // SAFETY: kill(2) on a shim started by this node's containerd.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Unmounts (lazily, deepest first) every mount point under `state`: container root
/// filesystems, Pod network namespaces, volume tmpfs.
fn unmount_under(state: &str) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| point.starts_with(state))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in points {
        if let Ok(path) = std::ffi::CString::new(point) {
            // SAFETY: umount2(2) with a NUL-terminated path.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Creates the node's cgroup parent in every hierarchy; a cpuset cgroup starts with no CPUs
/// and memory nodes in v1, so it gets its parent's.
pub(crate) fn create_cgroups(name: &str) -> crate::Result<()> {
    let hierarchies = std::fs::read_dir(CGROUP_MOUNTS)
        .map_err(|e| crate::Error::Io(format!("reading {CGROUP_MOUNTS}"), e))?;
    for hierarchy in hierarchies.flatten() {
        let root = hierarchy.path();
        if !root.join("cgroup.procs").is_file() {
            continue;
        }
        let tree = root.join(name);
        std::fs::create_dir_all(&tree)
            .map_err(|e| crate::Error::Io(format!("creating {}", tree.display()), e))?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(value) = std::fs::read_to_string(root.join(file)) {
                std::fs::write(tree.join(file), value.trim())
                    .map_err(|e| crate::Error::Io(format!("writing {file}"), e))?;
            }
        }
    }
    Ok(())
}

/// Removes the node's cgroup trees, children first.
fn remove_cgroups(name: &str) {
    for tree in cgroup_trees(name) {
        let mut dirs = Vec::new();
        collect_dirs(&tree, &mut dirs);
        dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
        for dir in dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn cgroup_trees(name: &str) -> Vec<std::path::PathBuf> {
    let mut trees = Vec::new();
    let Ok(hierarchies) = std::fs::read_dir(CGROUP_MOUNTS) else {
        return trees;
    };
    for hierarchy in hierarchies.flatten() {
        let tree = hierarchy.path().join(name);
        if tree.is_dir() {
            trees.push(tree);
        }
    }
    trees
}

fn procs_under(tree: &Path) -> Vec<i32> {
    let mut dirs = Vec::new();
    collect_dirs(tree, &mut dirs);
    dirs.iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .flat_map(|procs| {
            procs
                .lines()
                .filter_map(|line| line.trim().parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn collect_dirs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    out.push(dir.to_owned());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}
