//! Embeds `charts/driftless` in the binary: `driftless install` renders the same chart Helm
//! users install, with its defaults, without needing the repository.

use std::io::Write;
use std::path::{Path, PathBuf};

fn main() {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/driftless");
    println!("cargo:rerun-if-changed={}", chart.display());
    let mut files = Vec::new();
    collect(&chart, &chart, &mut files);
    files.sort();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let mut generated = std::fs::File::create(out.join("chart_files.rs")).expect("chart_files.rs");
    writeln!(generated, "pub const CHART_FILES: &[(&str, &[u8])] = &[").expect("write");
    for (relative, absolute) in files {
        println!("cargo:rerun-if-changed={}", absolute.display());
        writeln!(
            generated,
            "    ({relative:?}, include_bytes!({:?})),",
            absolute.display().to_string()
        )
        .expect("write");
    }
    writeln!(generated, "];").expect("write");
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).expect("reading the chart").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            out.push((relative.display().to_string(), path.clone()));
        }
    }
}
