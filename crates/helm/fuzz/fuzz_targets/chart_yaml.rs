//! Arbitrary text as `Chart.yaml` (and `values.yaml`): a chart that loads writes a
//! `Chart.yaml` that reads back to the same metadata.
#![no_main]

use driftless_helm::{Chart, Metadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (chart_yaml, values) = text.split_once("\n---\n").unwrap_or((text, ""));
    let files = vec![
        ("Chart.yaml".to_owned(), chart_yaml.as_bytes().to_vec()),
        ("values.yaml".to_owned(), values.as_bytes().to_vec()),
    ];
    let Ok(chart) = Chart::load_dir(files) else { return };
    let written = chart.metadata.to_yaml();
    let mut again = Metadata::default();
    again
        .merge_yaml(&written)
        .unwrap_or_else(|e| panic!("written Chart.yaml does not read back ({e}):\n{written}"));
    again.validate().expect("written metadata validates");
    assert_eq!(again, chart.metadata, "{written}");
});
