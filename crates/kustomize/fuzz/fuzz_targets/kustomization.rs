//! Arbitrary bytes as a kustomization.yaml over a small fixed tree: the build may fail,
//! but must not panic or hang.
#![no_main]

use std::path::Path;

use driftless_kustomize::fs::MemFs;
use driftless_kustomize::{BuildOptions, build_yaml};
use libfuzzer_sys::fuzz_target;

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n";

fuzz_target!(|data: &[u8]| {
    let mut fs = MemFs::new();
    fs.add_file("/k/kustomization.yaml", data.to_vec());
    fs.add_file("/k/deploy.yaml", DEPLOYMENT.as_bytes().to_vec());
    fs.add_file("/k/base/kustomization.yaml", b"resources: [../deploy.yaml]\n".to_vec());
    fs.add_file("/k/app.env", b"A=1\nB=2\n".to_vec());
    let _ = build_yaml(&fs, Path::new("/k"), &BuildOptions { restrict_to_root: false, ..Default::default() });
});
