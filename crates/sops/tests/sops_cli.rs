//! Files encrypted by the real `sops` (installed by `cargo xtask testenv build`), decrypted
//! here: every value type, the encryption rules, and each file format Flux decrypts.

use driftless_sops::{Format, Identities, SopsError, decrypt_document, decrypt_file};
use driftless_testenv::sops::AgeKey;

struct Keys {
    key: AgeKey,
    public: String,
    identities: Identities,
}

fn keys() -> Keys {
    let key = AgeKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut identities = Identities::new();
    identities.add_key_file(&key.private).unwrap();
    Keys {
        public: key.public.clone(),
        key,
        identities,
    }
}

fn encrypt(keys: &Keys, name: &str, plain: &[u8], flags: &[&str]) -> Vec<u8> {
    keys.key
        .encrypt(name, plain, flags)
        .unwrap_or_else(|e| panic!("{e}"))
}

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: s3cr3t
  empty: \"\"
  multi: |
    line1
    line2
config:
  replicas: 3
  ratio: 1.5
  enabled: true
  quoted: \"42\"
  items:
  - name: a
    value: x
  - plain
  - nested:
    - deeper
  note_unencrypted: visible
";

fn json_of(text: &str) -> serde_json::Value {
    driftless_yaml::parse_one(text).unwrap().to_json()
}

#[test]
fn yaml_documents_decrypt_to_their_plaintext_with_types_kept() {
    let keys = keys();
    let encrypted = encrypt(&keys, "secret.yaml", SECRET.as_bytes(), &[]);
    let encrypted = String::from_utf8(encrypted).unwrap();
    assert!(!encrypted.contains("s3cr3t"));
    assert!(encrypted.contains("note_unencrypted: visible"));
    let mut document = driftless_yaml::parse_one(&encrypted).unwrap();
    assert!(driftless_sops::is_encrypted_document(&document));
    decrypt_document(&mut document, &keys.identities).unwrap();
    assert_eq!(document.to_json(), json_of(SECRET));
    // Numbers and booleans come back as such, and a quoted number stays a string.
    let json = document.to_json();
    assert_eq!(json["config"]["replicas"], serde_json::json!(3));
    assert_eq!(json["config"]["enabled"], serde_json::json!(true));
    assert_eq!(json["config"]["quoted"], serde_json::json!("42"));
}

#[test]
fn encryption_rules_of_the_file_are_followed() {
    let keys = keys();
    for flags in [
        &["--encrypted-regex", "^(data|stringData)$"][..],
        &["--encrypted-suffix", "Data"][..],
        &["--unencrypted-regex", "^(apiVersion|kind|metadata)$"][..],
    ] {
        let encrypted = encrypt(&keys, "secret.yaml", SECRET.as_bytes(), flags);
        let mut document =
            driftless_yaml::parse_one(std::str::from_utf8(&encrypted).unwrap()).unwrap();
        decrypt_document(&mut document, &keys.identities)
            .unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        assert_eq!(document.to_json(), json_of(SECRET), "{flags:?}");
    }
}

#[test]
fn whole_files_decrypt_in_their_format() {
    let keys = keys();
    let dotenv = "USER=admin\nPASSWORD=p4ss=word\n";
    let encrypted = encrypt(&keys, "app.env", dotenv.as_bytes(), &[]);
    assert!(Format::Dotenv.is_encrypted(&encrypted));
    let plain = decrypt_file(&encrypted, Format::Dotenv, Format::Dotenv, &keys.identities).unwrap();
    assert_eq!(String::from_utf8(plain).unwrap(), dotenv);

    let binary = b"-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n";
    let encrypted = encrypt(&keys, "tls.crt", binary, &["--input-type", "binary"]);
    assert_eq!(Format::detect(&encrypted), Some(Format::Json));
    let plain = decrypt_file(&encrypted, Format::Json, Format::Binary, &keys.identities).unwrap();
    assert_eq!(plain, binary);

    let json = r#"{"auths": {"registry.local": {"auth": "dXNlcjpwYXNz"}}, "n": 2}"#;
    let encrypted = encrypt(&keys, "config.json", json.as_bytes(), &[]);
    let plain = decrypt_file(&encrypted, Format::Json, Format::Json, &keys.identities).unwrap();
    let plain: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(
        plain,
        serde_json::from_str::<serde_json::Value>(json).unwrap()
    );

    // A YAML file becomes the same YAML again, and may be rendered as JSON.
    let encrypted = encrypt(&keys, "values.yaml", b"a: 1\nb: [x, y]\n", &[]);
    let plain = decrypt_file(&encrypted, Format::Yaml, Format::Yaml, &keys.identities).unwrap();
    assert_eq!(
        json_of(std::str::from_utf8(&plain).unwrap()),
        json_of("a: 1\nb: [x, y]\n")
    );
    let plain = decrypt_file(&encrypted, Format::Yaml, Format::Json, &keys.identities).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&plain).unwrap(),
        serde_json::json!({"a": 1, "b": ["x", "y"]})
    );
}

#[test]
fn the_wrong_key_or_a_moved_value_fails_clearly() {
    let keys = keys();
    let other = self::keys();
    let encrypted = encrypt(&keys, "secret.yaml", SECRET.as_bytes(), &[]);
    let text = String::from_utf8(encrypted).unwrap();

    let mut document = driftless_yaml::parse_one(&text).unwrap();
    let error = decrypt_document(&mut document, &other.identities).unwrap_err();
    assert!(matches!(error, SopsError::DataKey(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot get sops data key:"),
        "{message}"
    );
    assert!(message.contains(&keys.public), "{message}");

    let mut document = driftless_yaml::parse_one(&text).unwrap();
    let error = decrypt_document(&mut document, &Identities::new()).unwrap_err();
    assert!(error.to_string().contains("no age identity"), "{error}");

    // A ciphertext copied to another key does not authenticate there.
    let mut document = driftless_yaml::parse_one(&text).unwrap();
    let password = document
        .get_path(&["stringData", "password"])
        .unwrap()
        .clone();
    *document.get_path_mut(&["stringData", "multi"]).unwrap() = password;
    let error = decrypt_document(&mut document, &keys.identities).unwrap_err();
    assert!(matches!(error, SopsError::Value(_)), "{error}");
    assert!(!error.to_string().contains("s3cr3t"));

    // A plaintext value where a ciphertext belongs is refused without echoing it.
    let mut document = driftless_yaml::parse_one(&text).unwrap();
    *document.get_path_mut(&["stringData", "password"]).unwrap() =
        driftless_yaml::Node::string("leaked");
    let error = decrypt_document(&mut document, &keys.identities).unwrap_err();
    assert!(error.to_string().contains("<redacted>"), "{error}");
    assert!(!error.to_string().contains("leaked"), "{error}");
}
