//! Release names as Flux shortens them: Helm refuses names over 53 characters.

use sha2::{Digest, Sha256};

const MAX_LENGTH: usize = driftless_api::helm::MAX_RELEASE_NAME_LENGTH;

/// A name over 53 characters becomes its first 40, a dash and the first 12 hex digits of its
/// SHA-256 (Flux's `ShortenName`).
pub fn shorten(name: &str) -> String {
    if name.len() <= MAX_LENGTH {
        return name.to_owned();
    }
    let digest = hex::encode(Sha256::digest(name.as_bytes()));
    let head: String = name.chars().take(40).collect();
    format!("{head}-{}", &digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_shortened_as_flux_does() {
        assert_eq!(shorten("podinfo"), "podinfo");
        // The hash of Flux's documented example; the head is 40 characters, so the name is
        // 53 long (the documentation's example keeps two more, which Helm would refuse).
        let short = shorten("a-very-lengthy-target-namespace-with-a-nice-object-name");
        assert_eq!(
            short,
            "a-very-lengthy-target-namespace-with-a-n-97af5d7f41f3"
        );
        assert_eq!(short.len(), 53);
    }
}
