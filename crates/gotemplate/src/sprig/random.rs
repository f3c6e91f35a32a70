//! Sprig's random functions, from the operating system's random source as Sprig's
//! `crypto/rand`-based ones are: `randAlphaNum`, `randAlpha`, `randAscii`, `randNumeric`,
//! `randInt`, `randBytes`, `shuffle`, `uuidv4`.

use base64::Engine as _;
use rand::RngExt as _;
use rand::seq::SliceRandom as _;

use super::{add, fail};
use crate::funcs::{Arity, FuncMap, arg_int, arg_str};
use crate::value::Value;

const ALPHA: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const NUMERIC: &str = "0123456789";

/// `count` characters drawn uniformly from `alphabet`.
fn random_from(alphabet: &[char], count: i64) -> Result<String, String> {
    if count < 0 {
        return Err(format!(
            "Requested random string length {count} is less than 0."
        ));
    }
    let mut rng = rand::rng();
    Ok((0..count)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect())
}

pub(super) fn register(m: &mut FuncMap) {
    use Arity::Exact;
    let alpha_numeric: Vec<char> = format!("{ALPHA}{NUMERIC}").chars().collect();
    let alpha: Vec<char> = ALPHA.chars().collect();
    let numeric: Vec<char> = NUMERIC.chars().collect();
    // Printable ASCII from space to tilde, as goutils' CryptoRandomAscii.
    let ascii: Vec<char> = (32u8..=126).map(char::from).collect();
    for (name, alphabet) in [
        ("randAlphaNum", alpha_numeric),
        ("randAlpha", alpha),
        ("randNumeric", numeric),
        ("randAscii", ascii),
    ] {
        add(m, name, Exact(1), move |a| {
            let count = arg_int(&a, 0)?;
            // Sprig swallows goutils' error and returns an empty string.
            Ok(Value::String(
                random_from(&alphabet, count).unwrap_or_default(),
            ))
        });
    }
    add(m, "randInt", Exact(2), |a| {
        let (min, max) = (arg_int(&a, 0)?, arg_int(&a, 1)?);
        if max <= min {
            // Go's rand.Intn panics on a non-positive bound.
            return fail("invalid argument to Intn");
        }
        Ok(Value::Int(rand::rng().random_range(min..max)))
    });
    add(m, "randBytes", Exact(1), |a| {
        let count = arg_int(&a, 0)?;
        if count < 0 {
            return fail(format!("makeslice: len out of range ({count})"));
        }
        let mut bytes = vec![0u8; count as usize];
        rand::fill(&mut bytes[..]);
        Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    });
    add(m, "shuffle", Exact(1), |a| {
        let mut chars: Vec<char> = arg_str(&a, 0)?.chars().collect();
        chars.shuffle(&mut rand::rng());
        Ok(Value::String(chars.into_iter().collect()))
    });
    add(m, "uuidv4", Exact(0), |_| {
        Ok(Value::String(uuid::Uuid::new_v4().to_string()))
    });
}

#[cfg(test)]
mod tests {
    use super::super::run_full as run;

    #[test]
    fn random_strings_have_the_asked_length_and_alphabet() {
        let out = run("{{ randAlphaNum 40 }}");
        assert_eq!(out.len(), 40);
        assert!(out.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(out, run("{{ randAlphaNum 40 }}"));
        assert!(
            run("{{ randNumeric 12 }}")
                .chars()
                .all(|c| c.is_ascii_digit())
        );
        assert!(
            run("{{ randAlpha 12 }}")
                .chars()
                .all(|c| c.is_ascii_alphabetic())
        );
        assert_eq!(run("{{ randAscii 0 }}"), "");
    }

    #[test]
    fn numbers_bytes_shuffles_and_uuids() {
        let n: i64 = run("{{ randInt 5 7 }}").parse().unwrap();
        assert!((5..7).contains(&n));
        assert_eq!(run("{{ randBytes 30 | len }}"), "40");
        let mut shuffled: Vec<char> = run("{{ shuffle \"abcdef\" }}").chars().collect();
        shuffled.sort();
        assert_eq!(shuffled.into_iter().collect::<String>(), "abcdef");
        let id = run("{{ uuidv4 }}");
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    }
}
