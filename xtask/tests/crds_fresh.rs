//! The committed `crds/` must be exactly what `cargo xtask crds` generates from crates/api.

#[test]
fn committed_crds_match_the_api_types() {
    for dir in xtask::crds::crds_dirs() {
        let stale = xtask::crds::stale_files(&dir).unwrap();
        assert!(
            stale.is_empty(),
            "{} is out of date ({}); run `cargo xtask crds` and commit the result",
            dir.display(),
            stale.join(", ")
        );
    }
}

#[test]
fn stale_and_unknown_files_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    xtask::crds::write(dir.path()).unwrap();
    assert!(xtask::crds::stale_files(dir.path()).unwrap().is_empty());
    let one = dir
        .path()
        .join("source.toolkit.fluxcd.io_gitrepositories.yaml");
    let edited = std::fs::read_to_string(&one)
        .unwrap()
        .replace("gitrepo", "gr");
    std::fs::write(&one, edited).unwrap();
    std::fs::write(dir.path().join("extra.yaml"), "---\n").unwrap();
    assert_eq!(
        xtask::crds::stale_files(dir.path()).unwrap(),
        [
            "extra.yaml",
            "source.toolkit.fluxcd.io_gitrepositories.yaml"
        ]
    );
}
