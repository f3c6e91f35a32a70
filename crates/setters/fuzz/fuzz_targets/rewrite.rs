//! Arbitrary text rewritten with a fixed set of policies whose refs need quoting: the output
//! must be the input with only the reported spans replaced, each on a line holding a
//! marker, and rewriting the output must change nothing. Reading may fail, never panic.
#![no_main]

use driftless_setters::{ImageRef, Policies, rewrite};
use libfuzzer_sys::fuzz_target;

fn policies() -> Policies {
    let mut policies = Policies::new();
    policies.insert("ns", "a", ImageRef::new("ghcr.io/org/app", "1.5"));
    policies.insert("ns", "b", ImageRef::new("it's: \"odd\"", "x,y]").with_digest("sha256:ab"));
    policies
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let policies = policies();
    let Ok(update) = rewrite("f.yaml", text, &policies) else { return };
    let Some(out) = update.updated else { return };

    let mut changes: Vec<_> = update.objects.values().flatten().collect();
    changes.sort_by_key(|c| c.span.start);
    let mut expected = String::new();
    let mut copied_to = 0;
    for change in changes {
        assert!(change.span.start >= copied_to, "overlapping spans");
        let line_start = text[..change.span.start].rfind('\n').map_or(0, |n| n + 1);
        let line_end = text[change.span.end..].find('\n').map_or(text.len(), |n| change.span.end + n);
        assert!(text[line_start..line_end].contains("\"$imagepolicy\""), "unmarked line changed");
        expected.push_str(&text[copied_to..change.span.start]);
        expected.push_str(&change.written);
        copied_to = change.span.end;
    }
    expected.push_str(&text[copied_to..]);
    assert_eq!(out, expected);

    let again = rewrite("f.yaml", &out, &policies)
        .unwrap_or_else(|e| panic!("output no longer parses ({e}):\n{out}"));
    assert_eq!(again.updated, None, "second run changed:\n{out}");
});
