//! Arbitrary text parsed as a template (with Sprig's functions) and executed over fixed data
//! with every `missingkey` mode: parsing and execution may fail, never panic.
#![no_main]

use driftless_gotemplate::{MissingKey, Template, Value, sprig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let value = Value::from_json(&serde_json::json!({
        "a": "str", "n": 3, "f": 1.5, "b": true, "z": null,
        "l": [1, "two", [3], {"k": "v"}],
        "m": {"x": {"y": "deep"}, "e": {}, "list": []}
    }));
    for mode in [MissingKey::Default, MissingKey::Zero, MissingKey::Error] {
        let Ok(t) = Template::new("fuzz").funcs(sprig::hermetic()).missing_key(mode).parse(text) else {
            return;
        };
        let _ = t.execute(&value);
        let _ = t.execute(&Value::Missing);
    }
});
