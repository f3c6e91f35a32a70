//! Every chart of the shared Helm conformance corpus, loaded from its directory and packed
//! by this crate, renders under the real `helm template` exactly as the directory does (with
//! the values of the chart's first case that renders).

use std::path::{Path, PathBuf};

use driftless_helm::{Chart, package};
use driftless_testenv::charts::{corpus_case_args, helm};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/helm")
}

fn read_tree(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("reading a chart directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            read_tree(root, &path, out);
        } else {
            let name = path.strip_prefix(root).expect("below the root");
            let data = std::fs::read(&path).expect("reading a chart file");
            out.push((name.to_string_lossy().replace('\\', "/"), data));
        }
    }
}

/// Standard output, or `None` when helm refuses the chart.
fn template(release: &str, chart: &Path, args: &[String]) -> Option<String> {
    let mut all = vec!["template".to_owned(), release.to_owned()];
    all.push(chart.to_string_lossy().into_owned());
    all.extend(args.iter().cloned());
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    helm(&refs).ok()
}

/// The `# Source:` lines: what a chart with random values must still render the same of.
fn sources(rendered: &str) -> Vec<&str> {
    rendered
        .lines()
        .filter(|l| l.starts_with("# Source: "))
        .collect()
}

#[test]
fn packed_charts_render_as_their_directories() {
    let corpus = corpus();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus.join("cases"))
        .expect("the conformance corpus beside the checkout")
        .map(|e| e.expect("a case").path())
        .collect();
    cases.sort();
    let out = tempfile::tempdir().expect("a temporary directory");
    let mut seen = std::collections::BTreeSet::new();
    let mut rendered = 0;
    for case_dir in cases {
        let case: serde_json::Value =
            serde_json::from_slice(&std::fs::read(case_dir.join("case.json")).expect("case.json"))
                .expect("case.json is JSON");
        let chart_rel = case["chart"].as_str().unwrap_or_default().to_owned();
        if case["expect"] != "ok" || !seen.insert(chart_rel.clone()) {
            continue;
        }
        let chart_dir = corpus.join(&chart_rel);
        let mut files = Vec::new();
        read_tree(&chart_dir, &chart_dir, &mut files);
        let chart = Chart::load_dir(files).unwrap_or_else(|e| panic!("{chart_rel}: {e}"));
        let packed = package::package(&chart).unwrap_or_else(|e| panic!("{chart_rel}: {e}"));
        let archive = out.path().join(package::file_name(&chart));
        std::fs::write(&archive, packed).expect("writing the archive");

        let release = case["release"].as_str().unwrap_or("release");
        let args = corpus_case_args(&case_dir, &case);
        let from_archive = template(release, &archive, &args);
        let Some(from_dir) = template(release, &chart_dir, &args) else {
            // A chart helm refuses as a directory (dependencies not vendored) is refused packed.
            assert_eq!(from_archive, None, "{chart_rel} renders only packed");
            continue;
        };
        let from_archive =
            from_archive.unwrap_or_else(|| panic!("{chart_rel} renders only as a directory"));
        rendered += 1;
        if Some(&from_dir) == template(release, &chart_dir, &args).as_ref() {
            assert_eq!(
                from_archive, from_dir,
                "{chart_rel} renders differently packed"
            );
        } else {
            // Random values (generated passwords, certificates): the same documents.
            assert_eq!(sources(&from_archive), sources(&from_dir), "{chart_rel}");
        }
    }
    assert!(rendered >= 40, "only {rendered} charts rendered");
}
