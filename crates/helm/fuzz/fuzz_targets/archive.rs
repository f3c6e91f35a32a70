//! Arbitrary bytes as a chart archive: loading may fail, never panic; a chart that loads
//! packs, and the package loads back to the same chart.
#![no_main]

use driftless_helm::{Chart, package};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(chart) = Chart::load_archive(data) else { return };
    let packed = package::package(&chart).expect("a loaded chart packs");
    let again = Chart::load_archive(&packed).expect("a packed chart loads");
    assert_eq!(again.metadata, chart.metadata);
    assert_eq!(again.values, chart.values);
    assert_eq!(again.templates, chart.templates);
    assert_eq!(again.dependencies.len(), chart.dependencies.len());
});
