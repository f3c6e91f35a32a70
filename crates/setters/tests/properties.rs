//! For generated YAML-like files (valid or not) and awkward image refs: the output differs
//! from the input only inside the reported spans, each on a marked line, and a second run
//! changes nothing.

use driftless_setters::{ImageRef, Policies, rewrite};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("redis:6".to_owned()),
        Just("1.0".to_owned()),
        Just("ghcr.io/a/b:1@sha256:abc".to_owned()),
        Just("'single ''q'''".to_owned()),
        Just("\"dq \\\" \\u00e9 \\\\\"".to_owned()),
        Just("&anchor !!str tagged".to_owned()),
        Just("*anchor".to_owned()),
        Just("|".to_owned()),
        Just(String::new()),
        "[a-z0-9./:@ -]{0,12}",
        "'[ -~]{0,8}'",
        "\"[ -~]{0,8}\"",
    ]
}

fn setter() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "ns:a",
        "ns:a:tag",
        "ns:a:name",
        "ns:a:digest",
        "ns:b",
        "ns:b:digest",
        "ns:b:tag",
        "ns:missing",
        "ns:a:bogus",
    ])
}

fn comment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" # plain comment".to_owned()),
        (setter(), "[ \t]{1,3}", "[ ]{0,2}").prop_map(|(s, before, inside)| format!(
            "{before}#{inside}{{{inside}\"$imagepolicy\":{inside}\"{s}\"{inside}}}{inside}"
        )),
    ]
}

fn line() -> impl Strategy<Value = String> {
    let entry = prop_oneof![
        (value(), comment()).prop_map(|(v, c)| format!("key: {v}{c}")),
        (value(), comment()).prop_map(|(v, c)| format!("- {v}{c}")),
        (value(), comment()).prop_map(|(v, c)| format!("- image: {v}{c}")),
        (value(), value(), comment()).prop_map(|(a, b, c)| format!("m: {{a: {a}, b: {b}}}{c}")),
        (value(), comment()).prop_map(|(v, c)| format!("  {v}{c}")),
        Just("spec:".to_owned()),
        Just("---".to_owned()),
        Just("# a comment".to_owned()),
        Just(String::new()),
        "[ -~]{0,16}",
    ];
    (0..3usize, entry, prop::bool::ANY).prop_map(|(indent, entry, crlf)| {
        format!(
            "{}{entry}{}",
            "  ".repeat(indent),
            if crlf { "\r\n" } else { "\n" }
        )
    })
}

fn image_part() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9./-]{1,12}",
        Just("1.5".to_owned()),
        Just("it's".to_owned()),
        Just("a: b".to_owned()),
        Just("x,y]".to_owned()),
        Just("#x".to_owned()),
        Just("q\"\\".to_owned()),
        Just("- dash".to_owned()),
        Just("true".to_owned()),
        "[ -~]{0,8}",
    ]
}

fn policies() -> impl Strategy<Value = Policies> {
    (image_part(), image_part(), image_part(), image_part()).prop_map(
        |(name, tag, b_tag, digest)| {
            let mut policies = Policies::new();
            policies.insert("ns", "a", ImageRef::new(name, tag));
            policies.insert("ns", "b", ImageRef::new("reg/b", b_tag).with_digest(digest));
            policies
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn only_marked_spans_change_and_a_second_run_is_a_no_op(
        lines in prop::collection::vec(line(), 0..12),
        policies in policies(),
    ) {
        let text: String = lines.concat();
        check(&text, &policies)?;
    }

    #[test]
    fn manifests_change_only_inside_spans_and_settle(
        documents in prop::collection::vec(prop::collection::vec(entry(), 0..8), 1..3),
        crlf in prop::bool::ANY,
        policies in policies(),
    ) {
        let text = manifests(&documents, crlf);
        check(&text, &policies)?;
    }
}

fn check(text: &str, policies: &Policies) -> Result<(), TestCaseError> {
    {
        let text = text.to_owned();
        let Ok(update) = rewrite("f.yaml", &text, policies) else {
            return Ok(());
        };
        let Some(out) = update.updated else {
            prop_assert!(update.objects.values().all(Vec::is_empty));
            return Ok(());
        };
        let mut changes: Vec<_> = update.objects.values().flatten().collect();
        changes.sort_by_key(|c| c.span.start);

        // Rebuild the output from the input and the reported edits alone.
        let mut expected = String::new();
        let mut copied_to = 0;
        for change in &changes {
            prop_assert!(change.span.start >= copied_to, "overlapping spans");
            let line_start = text[..change.span.start].rfind('\n').map_or(0, |n| n + 1);
            let line_end = text[change.span.end..]
                .find('\n')
                .map_or(text.len(), |n| change.span.end + n);
            prop_assert!(
                text[line_start..line_end].contains("\"$imagepolicy\""),
                "unmarked line changed"
            );
            expected.push_str(&text[copied_to..change.span.start]);
            expected.push_str(&change.written);
            copied_to = change.span.end;
        }
        expected.push_str(&text[copied_to..]);
        prop_assert_eq!(&out, &expected);

        let again = rewrite("f.yaml", &out, policies);
        prop_assert!(
            again.is_ok(),
            "output no longer parses: {:?}\n{}",
            again,
            out
        );
        if let Ok(again) = again {
            prop_assert_eq!(again.updated, None, "second run changed:\n{}", out);
        }
    }
    Ok(())
}

/// One field of a generated manifest: its shape, value and trailing comment.
fn entry() -> impl Strategy<Value = (u8, String, String)> {
    let value = value().prop_filter("needs a body or an anchor", |v| v != "|" && v != "*anchor");
    (0..5u8, value, comment())
}

/// Kubernetes-like documents whose fields come from `documents`; valid YAML unless a value
/// (an arbitrary quoted string, say) makes it otherwise.
fn manifests(documents: &[Vec<(u8, String, String)>], crlf: bool) -> String {
    let mut text = String::new();
    for (d, entries) in documents.iter().enumerate() {
        if d > 0 {
            text.push_str("---\n");
        }
        text.push_str(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod{d}\nspec:\n"
        ));
        for (i, (shape, value, comment)) in entries.iter().enumerate() {
            let field = match shape {
                0 => format!("  f{i}: {value}{comment}\n"),
                1 => format!("  l{i}:\n  - {value}{comment}\n  - image: {value}{comment}\n"),
                2 => format!("  m{i}:\n    image:   {value}{comment}\n\n    # note\n"),
                3 => format!("  b{i}: |{comment}\n    body {value}\n"),
                _ => format!("  c{i}: {{\n    tag: {value}{comment}\n  }}\n"),
            };
            text.push_str(&field);
        }
    }
    if crlf {
        text.replace('\n', "\r\n")
    } else {
        text
    }
}
