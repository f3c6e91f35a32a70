use std::io::Write;

use driftless_artifact::{
    Digest, FileData, FileEntry, Limits, PackError, UnpackError, pack, store, store_by_digest,
    unpack_to_dir, unpack_to_memory,
};
use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use tar::{EntryType, Header};

fn file(path: &str, data: &str) -> FileEntry {
    FileEntry {
        path: path.into(),
        executable: false,
        data: data.as_bytes().to_vec(),
    }
}

fn packed(entries: Vec<FileEntry>) -> (Vec<u8>, Digest) {
    let bytes = pack(entries, Vec::new()).unwrap();
    let digest = Digest::of(&bytes);
    (bytes, digest)
}

/// A raw tar member: name, type, contents, link target.
type RawEntry<'a> = (&'a str, EntryType, &'a [u8], &'a str);

/// A tar.gz written header by header, bypassing the tar crate's path checks, as an attacker
/// would.
fn hostile(entries: &[RawEntry]) -> (Vec<u8>, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let mut header = Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append(&header, *data).unwrap();
    }
    let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
    gzip.write_all(&tar.into_inner().unwrap()).unwrap();
    let bytes = gzip.finish().unwrap();
    let digest = Digest::of(&bytes);
    (bytes, digest)
}

#[test]
fn packing_is_deterministic_and_order_independent() {
    let entries = vec![
        file("deploy/app.yaml", "kind: Deployment"),
        file("README.md", "# app"),
        FileEntry {
            path: "scripts/run.sh".into(),
            executable: true,
            data: b"#!/bin/sh".to_vec(),
        },
        file("deploy/base/kustomization.yaml", "resources: []"),
    ];
    let (first, digest) = packed(entries.clone());
    let mut reversed = entries.clone();
    reversed.reverse();
    let (second, _) = packed(reversed);
    assert_eq!(first, second);
    assert_eq!(digest, Digest::of(&second));

    // Directories first, then their contents, each with normalised headers.
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&first[..]));
    let headers: Vec<(String, u32, u64, u64, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        headers,
        [
            ("README.md".to_owned(), 0o600, 0, 0, 0),
            ("deploy/".to_owned(), 0o750, 0, 0, 0),
            ("deploy/app.yaml".to_owned(), 0o600, 0, 0, 0),
            ("deploy/base/".to_owned(), 0o750, 0, 0, 0),
            ("deploy/base/kustomization.yaml".to_owned(), 0o600, 0, 0, 0),
            ("scripts/".to_owned(), 0o750, 0, 0, 0),
            ("scripts/run.sh".to_owned(), 0o700, 0, 0, 0),
        ]
    );
}

#[test]
fn content_changes_change_the_digest() {
    let (_, a) = packed(vec![file("a.yaml", "x: 1")]);
    let (_, b) = packed(vec![file("a.yaml", "x: 2")]);
    let (_, c) = packed(vec![FileEntry {
        executable: true,
        ..file("a.yaml", "x: 1")
    }]);
    assert_ne!(a, b);
    assert_ne!(a, c);
}

#[test]
fn invalid_trees_are_refused() {
    for (entries, expected) in [
        (vec![file("../x", "")], "escapes"),
        (vec![file("/etc/passwd", "")], "absolute"),
        (vec![file("a", ""), file("./a", "")], "twice"),
        (
            vec![file("a", ""), file("a/b", "")],
            "both a file and a directory",
        ),
    ] {
        let error = pack(entries, Vec::new()).unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
    }
    assert!(matches!(
        pack(vec![file("", "")], Vec::new()),
        Err(PackError::InvalidPath { .. })
    ));
}

#[test]
fn store_writes_atomically_with_the_digest_of_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let stored = store(dir.path(), "abc.tar.gz", vec![file("a.yaml", "x: 1")]).unwrap();
    let bytes = std::fs::read(&stored.path).unwrap();
    assert_eq!(stored.digest, Digest::of(&bytes));
    assert_eq!(stored.size, bytes.len() as u64);
    assert_eq!(stored.digest, packed(vec![file("a.yaml", "x: 1")]).1);
    // Only the artifact remains; no temporary files.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["abc.tar.gz"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&stored.path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A failed pack leaves the previous artifact and no temporary files.
    assert!(store(dir.path(), "abc.tar.gz", vec![file("../x", "")]).is_err());
    assert_eq!(std::fs::read(&stored.path).unwrap(), bytes);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn store_by_digest_names_the_file_after_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let first = store_by_digest(dir.path(), vec![file("a.yaml", "x: 1")]).unwrap();
    assert_eq!(
        first.path.file_name().unwrap().to_str().unwrap(),
        format!("{}.tar.gz", first.digest.hex())
    );
    assert_eq!(
        first.digest,
        Digest::of(&std::fs::read(&first.path).unwrap())
    );
    // Same content, same path; different content, a new path beside the old one.
    let again = store_by_digest(dir.path(), vec![file("a.yaml", "x: 1")]).unwrap();
    assert_eq!(again, first);
    let second = store_by_digest(dir.path(), vec![file("a.yaml", "x: 2")]).unwrap();
    assert_ne!(second.path, first.path);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn unpacks_in_memory_and_on_disk() {
    let (bytes, digest) = packed(vec![
        file("deploy/app.yaml", "kind: Deployment"),
        FileEntry {
            path: "run.sh".into(),
            executable: true,
            data: b"#!/bin/sh".to_vec(),
        },
    ]);
    let tree = unpack_to_memory(&bytes[..], &digest, Limits::default()).unwrap();
    assert_eq!(
        tree.get("deploy/app.yaml"),
        Some(&FileData {
            executable: false,
            data: b"kind: Deployment".to_vec()
        })
    );
    assert!(tree["run.sh"].executable);
    assert_eq!(tree.len(), 2);

    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    unpack_to_dir(&bytes[..], &digest, &dest, Limits::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("deploy/app.yaml")).unwrap(),
        "kind: Deployment"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dest.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[test]
fn a_wrong_digest_yields_nothing() {
    let (mut bytes, digest) = packed(vec![file("a.yaml", "x: 1")]);
    let wrong: Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
    assert!(matches!(
        unpack_to_memory(&bytes[..], &wrong, Limits::default()),
        Err(UnpackError::DigestMismatch { .. })
    ));
    // Corruption is reported as a digest mismatch, whatever it does to parsing.
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    assert!(matches!(
        unpack_to_memory(&bytes[..], &digest, Limits::default()),
        Err(UnpackError::DigestMismatch { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    assert!(unpack_to_dir(&bytes[..], &digest, &dest, Limits::default()).is_err());
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "staging left behind"
    );
}

#[test]
fn hostile_entries_are_rejected_even_with_a_matching_digest() {
    let cases: Vec<(Vec<RawEntry>, &str)> = vec![
        (
            vec![("../evil.yaml", EntryType::Regular, b"x", "")],
            "escapes",
        ),
        (
            vec![("a/../../evil", EntryType::Regular, b"x", "")],
            "escapes",
        ),
        (
            vec![("/etc/cron.d/evil", EntryType::Regular, b"x", "")],
            "absolute",
        ),
        (
            vec![("link", EntryType::Symlink, b"", "/etc/passwd")],
            "symlink",
        ),
        (
            vec![("hard", EntryType::Link, b"", "../../etc/passwd")],
            "link",
        ),
        (vec![("dev", EntryType::Char, b"", "")], "char"),
        (vec![("fifo", EntryType::Fifo, b"", "")], "fifo"),
        (
            vec![
                ("a.yaml", EntryType::Regular, b"first", ""),
                ("a.yaml", EntryType::Regular, b"second", ""),
            ],
            "twice",
        ),
    ];
    for (entries, expected) in cases {
        let (bytes, digest) = hostile(&entries);
        let error = unpack_to_memory(&bytes[..], &digest, Limits::default()).unwrap_err();
        assert!(error.to_string().contains(expected), "{entries:?}: {error}");
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        assert!(unpack_to_dir(&bytes[..], &digest, &dest, Limits::default()).is_err());
        assert!(!dest.exists() && !dir.path().join("evil.yaml").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

#[test]
fn the_archive_root_entry_that_flux_push_writes_is_skipped() {
    for root in ["./", ".", "./."] {
        let (bytes, digest) = hostile(&[
            (root, EntryType::Directory, b"", ""),
            ("./apps/", EntryType::Directory, b"", ""),
            (
                "./apps/app.yaml",
                EntryType::Regular,
                b"kind: ConfigMap\n",
                "",
            ),
        ]);
        let tree = unpack_to_memory(&bytes[..], &digest, Limits::default()).unwrap();
        assert_eq!(tree.keys().collect::<Vec<_>>(), ["apps/app.yaml"], "{root}");
    }
    // A directory named by separators alone is still no way out.
    let (bytes, digest) = hostile(&[("/", EntryType::Directory, b"", "")]);
    assert!(unpack_to_memory(&bytes[..], &digest, Limits::default()).is_err());
}

#[test]
fn limits_stop_bombs_and_floods() {
    // 64 MiB of zeros compresses to ~64 KiB.
    let (bomb, digest) = packed(vec![FileEntry {
        path: "zeros".into(),
        executable: false,
        data: vec![0; 64 << 20],
    }]);
    assert!(bomb.len() < 1 << 20);
    let small = Limits {
        max_uncompressed_bytes: 1 << 20,
        ..Limits::default()
    };
    assert!(matches!(
        unpack_to_memory(&bomb[..], &digest, small),
        Err(UnpackError::TooLarge(_))
    ));
    let tiny_download = Limits {
        max_compressed_bytes: 1024,
        ..Limits::default()
    };
    assert!(matches!(
        unpack_to_memory(&bomb[..], &digest, tiny_download),
        Err(UnpackError::TooLarge(_))
    ));

    let many: Vec<FileEntry> = (0..50).map(|i| file(&format!("f{i}"), "")).collect();
    let (bytes, digest) = packed(many);
    let few = Limits {
        max_files: 49,
        ..Limits::default()
    };
    assert!(matches!(
        unpack_to_memory(&bytes[..], &digest, few),
        Err(UnpackError::TooManyFiles(49))
    ));
}

#[test]
fn truncated_or_garbage_streams_are_errors() {
    let (bytes, _) = packed(vec![file("a.yaml", "x: 1")]);
    let truncated = &bytes[..bytes.len() - 10];
    let result = unpack_to_memory(truncated, &Digest::of(truncated), Limits::default());
    assert!(matches!(result, Err(UnpackError::Corrupt(_))), "{result:?}");
    let garbage = b"not a tarball at all";
    let result = unpack_to_memory(&garbage[..], &Digest::of(garbage), Limits::default());
    assert!(matches!(result, Err(UnpackError::Corrupt(_))), "{result:?}");
}

fn tree_strategy() -> impl Strategy<Value = Vec<FileEntry>> {
    let segment = "[a-zA-Z0-9_.-]{1,12}".prop_filter("not . or ..", |s| s != "." && s != "..");
    let path = prop::collection::vec(segment, 1..4).prop_map(|parts| parts.join("/"));
    prop::collection::btree_map(
        path,
        (any::<bool>(), prop::collection::vec(any::<u8>(), 0..256)),
        0..24,
    )
    .prop_filter("no file may also be a directory", |files| {
        files
            .keys()
            .all(|p| !files.keys().any(|q| q.starts_with(&format!("{p}/"))))
    })
    .prop_map(|files| {
        files
            .into_iter()
            .map(|(path, (executable, data))| FileEntry {
                path,
                executable,
                data,
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn any_tree_round_trips_and_packs_identically_in_any_order(
        entries in tree_strategy(),
        seed in any::<u64>(),
    ) {
        let (bytes, digest) = packed(entries.clone());
        let tree = unpack_to_memory(&bytes[..], &digest, Limits::default()).unwrap();
        prop_assert_eq!(tree.len(), entries.len());
        for entry in &entries {
            let got = &tree[&entry.path];
            prop_assert_eq!(&got.data, &entry.data);
            prop_assert_eq!(got.executable, entry.executable);
        }
        // Same tree, shuffled input: same bytes.
        let mut shuffled = entries.clone();
        let len = shuffled.len().max(1);
        shuffled.rotate_left((seed as usize) % len);
        if !shuffled.is_empty() {
            shuffled.swap(0, (seed as usize / 7) % len);
        }
        prop_assert_eq!(packed(shuffled).0, bytes);
    }
}
