//! Arbitrary YAML as a target and a strategic merge patch (split at the first `---`):
//! merging may fail, but must not panic.
#![no_main]

use driftless_kustomize::openapi::Schemas;
use driftless_kustomize::transform::smp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (target, patch) = text.split_once("\n---\n").unwrap_or((text, "{}"));
    let (Ok(target), Ok(patch)) = (driftless_yaml::parse_one(target), driftless_yaml::parse_one(patch))
    else {
        return;
    };
    let schemas = Schemas::builtin();
    if let Ok(Some(merged)) = smp::merge(&target, &patch, &schemas) {
        // Whatever merges must render and read back.
        let text = driftless_yaml::to_string(&merged);
        let _ = driftless_yaml::parse_one(&text).expect("rendered YAML reads back");
    }
});
