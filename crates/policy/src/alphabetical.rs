//! The alphabetical policy: tags ordered by their bytes (Go's string order, which is also
//! Rust's `str` order). `asc` selects the last tag in ascending order (given `a`..`z`, `z`);
//! `desc` selects the first (`a`).

use driftless_api::image::SortOrder;

use crate::filter::Candidate;

/// The selected candidate; `candidates` is not empty. Only identical values can tie, and
/// those name the same tag, so which of them wins does not matter.
pub(crate) fn latest<'c, 'a>(
    order: SortOrder,
    candidates: &'c [Candidate<'a>],
) -> &'c Candidate<'a> {
    let mut chosen = &candidates[0];
    for candidate in &candidates[1..] {
        let better = match order {
            SortOrder::Asc => candidate.value > chosen.value,
            SortOrder::Desc => candidate.value < chosen.value,
        };
        if better {
            chosen = candidate;
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascending_selects_the_last_descending_the_first() {
        let cases: &[(&[&str], &str, &str)] = &[
            // (tags, asc, desc)
            (&["a", "z", "m"], "z", "a"),
            (&["1", "10", "9"], "9", "1"),
            (&["Z", "a", "_"], "a", "Z"),
            (&["abc", "ab", "abcd"], "abcd", "ab"),
            (
                &["RELEASE.2024-01-02", "RELEASE.2023-12-31"],
                "RELEASE.2024-01-02",
                "RELEASE.2023-12-31",
            ),
            (&["é", "z"], "é", "z"),
            (&["only"], "only", "only"),
            (&["same", "same"], "same", "same"),
        ];
        for (tags, asc, desc) in cases {
            let candidates: Vec<_> = tags.iter().copied().map(Candidate::unfiltered).collect();
            assert_eq!(
                latest(SortOrder::Asc, &candidates).original,
                *asc,
                "{tags:?}"
            );
            assert_eq!(
                latest(SortOrder::Desc, &candidates).original,
                *desc,
                "{tags:?}"
            );
        }
    }
}
