//! Arbitrary tag lists, patterns, templates and policies: building and selecting never
//! panic, and a selected tag is always one of the input tags.
//!
//! Input layout (lines): policy selector byte and range, pattern, extract, then tags.
#![no_main]

use driftless_api::image::{
    AlphabeticalPolicy, ImagePolicyChoice, NumericalPolicy, SemVerPolicy, SortOrder, TagFilter,
};
use driftless_policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let head = lines.next().unwrap_or("");
    let (selector, range) = match head.char_indices().nth(1) {
        Some((at, _)) => (head.as_bytes()[0], &head[at..]),
        None => (head.bytes().next().unwrap_or(0), ""),
    };
    let pattern = lines.next().unwrap_or("");
    let extract = lines.next().unwrap_or("");
    let tags: Vec<&str> = lines.collect();

    let order = if selector & 0b100 == 0 {
        SortOrder::Asc
    } else {
        SortOrder::Desc
    };
    let choice = match selector % 4 {
        0 => ImagePolicyChoice {
            semver: Some(SemVerPolicy {
                range: range.into(),
            }),
            ..Default::default()
        },
        1 => ImagePolicyChoice {
            alphabetical: Some(AlphabeticalPolicy { order: Some(order) }),
            ..Default::default()
        },
        2 => ImagePolicyChoice {
            numerical: Some(NumericalPolicy { order: Some(order) }),
            ..Default::default()
        },
        _ => ImagePolicyChoice::default(),
    };
    let filter = (selector & 0b1000 != 0).then(|| TagFilter {
        pattern: Some(pattern.into()),
        extract: Some(extract.into()),
    });

    let Ok(policy) = Policy::from_spec(&choice, filter.as_ref()) else {
        return;
    };
    if let Ok(selected) = policy.latest(tags.iter().copied()) {
        assert!(
            tags.contains(&selected.tag.as_str()),
            "{selected:?} not in {tags:?}"
        );
    }
});
