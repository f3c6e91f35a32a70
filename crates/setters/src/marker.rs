//! Reading a `{"$imagepolicy": "..."}` marker out of a line comment, as kyaml's field
//! metadata reader does: leading `#`s are dropped and the rest must be one JSON object of
//! strings, whitespace anywhere JSON allows it.

use std::collections::HashMap;

/// The key naming the setter in a marker.
pub const SHORT_HAND: &str = "$imagepolicy";

/// The token a file must contain, quotes included, to be read at all (Flux's screening).
pub(crate) const SCREENING_TOKEN: &str = "\"$imagepolicy\"";

/// The setter a comment (text from `#` to the end of the line) names, if it is a marker.
pub(crate) fn setter_name(comment: &str) -> Option<String> {
    let json = comment.trim_start_matches('#');
    // Go decodes into map[string]string: any non-string value makes it no marker at all.
    let fields: HashMap<String, String> = serde_json::from_str(json).ok()?;
    fields
        .get(SHORT_HAND)
        .filter(|name| !name.is_empty())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_json_objects_after_the_hashes() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"# {"$imagepolicy": "ns:app"}"#, Some("ns:app")),
            (r#"#{"$imagepolicy":"ns:app:tag"}"#, Some("ns:app:tag")),
            (
                "##   {  \"$imagepolicy\" :\t\"ns:app\"  }  \r",
                Some("ns:app"),
            ),
            (
                r#"# {"$imagepolicy": "ns:app", "other": "x"}"#,
                Some("ns:app"),
            ),
            (r#"# {"$imagepolicy": "ns:app", "n": 1}"#, None),
            (r#"# {"$imagepolicy": ""}"#, None),
            (r#"# {"$imagepolicy": "ns:app"} trailing"#, None),
            (r#"# {"$ImagePolicy": "ns:app"}"#, None),
            ("# just a comment", None),
            ("# null", None),
        ];
        for (comment, expected) in cases {
            assert_eq!(setter_name(comment).as_deref(), *expected, "{comment}");
        }
    }
}
