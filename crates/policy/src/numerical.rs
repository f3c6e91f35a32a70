//! The numerical policy: tags read as numbers the way Go's `strconv.ParseFloat(_, 64)`
//! reads them. `asc` selects the largest number, `desc` the smallest.
//!
//! As in Flux, a single value that is not a number fails the whole selection (filter the
//! tags first). Selection walks the list in order and, like Flux, lets a later value
//! replace the chosen one unless it is strictly worse: equal numbers (`1`, `1.0`, `01`)
//! select the last of them, and `NaN`, never worse than anything, is taken when met.
//!
//! Differences from Go's parser: hexadecimal floats (`0x1p4`) and the `_` separators Go
//! allows in them are not numbers here, so such a tag fails the selection.

use driftless_api::image::SortOrder;

use crate::PolicyError;
use crate::filter::Candidate;

/// The selected candidate; `candidates` is not empty.
pub(crate) fn latest<'c, 'a>(
    order: SortOrder,
    candidates: &'c [Candidate<'a>],
) -> Result<&'c Candidate<'a>, PolicyError> {
    let mut chosen: Option<(&'c Candidate<'a>, f64)> = None;
    for candidate in candidates {
        let number = parse_go_float(&candidate.value).ok_or_else(|| PolicyError::NotNumeric {
            value: candidate.value.to_string(),
        })?;
        let worse = match (&chosen, order) {
            (None, _) => false,
            (Some((_, best)), SortOrder::Asc) => number < *best,
            (Some((_, best)), SortOrder::Desc) => number > *best,
        };
        if !worse {
            chosen = Some((candidate, number));
        }
    }
    chosen
        .map(|(candidate, _)| candidate)
        .ok_or(PolicyError::EmptyTagList)
}

/// `text` as Go's `strconv.ParseFloat(text, 64)` reads a decimal number; None where Go
/// returns an error, including for values too large for a float64.
pub fn parse_go_float(text: &str) -> Option<f64> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    // Go accepts NaN only unsigned.
    if text.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    if !is_decimal_literal(unsigned) {
        return None;
    }
    let number: f64 = text.parse().ok()?;
    // Go reports a value beyond float64's range as an error rather than infinity.
    number.is_finite().then_some(number)
}

/// `digits[.digits][(e|E)[+|-]digits]` with at least one mantissa digit: Go's decimal
/// float syntax without a sign. Rust's parser alone would also take `inf` spellings.
fn is_decimal_literal(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        !(whole.is_empty() && fraction.is_empty()) && all_digits(whole) && all_digits(fraction);
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && all_digits(digits)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select(order: SortOrder, tags: &[&str]) -> Result<String, PolicyError> {
        let candidates: Vec<_> = tags.iter().copied().map(Candidate::unfiltered).collect();
        latest(order, &candidates).map(|c| c.original.to_owned())
    }

    #[test]
    fn parses_like_go() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("-1.5", Some(-1.5)),
            ("+2", Some(2.0)),
            ("007", Some(7.0)),
            ("1.", Some(1.0)),
            (".5", Some(0.5)),
            ("1e3", Some(1000.0)),
            ("1E-2", Some(0.01)),
            ("1700000000", Some(1.7e9)),
            ("20240102030405", Some(20240102030405.0)),
            ("Inf", Some(f64::INFINITY)),
            ("-infinity", Some(f64::NEG_INFINITY)),
            ("1e400", None),
            ("+NaN", None),
            ("", None),
            (".", None),
            ("e5", None),
            ("1e", None),
            ("1.2.3", None),
            ("1_000", None),
            ("0x10", None),
            (" 1", None),
            ("v1", None),
            ("infinite", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_go_float(text), *expected, "{text:?}");
        }
        assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
    }

    #[test]
    fn ascending_selects_the_largest_descending_the_smallest() {
        let cases: &[(&[&str], &str, &str)] = &[
            // (tags, asc, desc)
            (&["1", "10", "9"], "10", "1"),
            (&["-3", "2.5", "0"], "2.5", "-3"),
            (
                &["1700000001", "1699999999", "1700000000"],
                "1700000001",
                "1699999999",
            ),
            // Equal numbers: the later tag wins, as in Flux's loop.
            (&["1", "1.0", "01"], "01", "01"),
            (&["7"], "7", "7"),
        ];
        for (tags, asc, desc) in cases {
            assert_eq!(select(SortOrder::Asc, tags).unwrap(), *asc, "{tags:?}");
            assert_eq!(select(SortOrder::Desc, tags).unwrap(), *desc, "{tags:?}");
        }
    }

    #[test]
    fn a_value_that_is_not_a_number_fails_the_selection() {
        assert_eq!(
            select(SortOrder::Asc, &["1", "latest", "2"]),
            Err(PolicyError::NotNumeric {
                value: "latest".into()
            })
        );
        assert_eq!(
            PolicyError::NotNumeric {
                value: "latest".into()
            }
            .to_string(),
            "failed to parse invalid numeric value 'latest'"
        );
    }
}
