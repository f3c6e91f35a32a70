//! SOPS decryption with age keys, as Flux's kustomize-controller does it.
//!
//! A SOPS document keeps its structure in plaintext and replaces values with
//! `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`. Each value is sealed with one data key, and the
//! additional data is the path of map keys that leads to it (`stringData:password:`); the data
//! key itself is in the `sops` metadata, encrypted to each recipient (an armored age file).
//!
//! Everything here works in memory on documents and bytes: plaintext never touches a disk.
//! Like Flux, the message authentication code is not checked: kustomize legitimately changes
//! unencrypted fields (names, labels, namespaces) that the MAC covers.

use std::io::Read;

use aes_gcm::aead::consts::{U12, U32};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use driftless_yaml::{Mapping, Node, Scalar, ScalarKind};

#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error("failed to parse and add to age identities: {0}")]
    Identity(String),
    #[error("sops metadata not found")]
    MetadataNotFound,
    #[error("invalid sops metadata: {0}")]
    Metadata(String),
    #[error("No keys found in file")]
    NoKeys,
    #[error("cannot get sops data key: {0}")]
    DataKey(String),
    #[error("error decrypting sops tree: Error walking tree: Could not decrypt value: {0}")]
    Value(String),
    #[error("failed to load encrypted {format} data: {message}")]
    Load {
        format: &'static str,
        message: String,
    },
    #[error("failed to emit encrypted {input} file as decrypted {output}: {message}")]
    Emit {
        input: &'static str,
        output: &'static str,
        message: String,
    },
}

/// The age identities a Kustomization may decrypt with.
#[derive(Default)]
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
}

impl Identities {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the identities of an age key file (as `age-keygen` writes it): one
    /// `AGE-SECRET-KEY-1…` per line, `#` comments and blank lines skipped.
    pub fn add_key_file(&mut self, text: &str) -> Result<(), SopsError> {
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !line.starts_with("AGE-SECRET-KEY-1") {
                return Err(SopsError::Identity("unknown identity type".into()));
            }
            let key = line
                .parse::<age::x25519::Identity>()
                .map_err(|e| SopsError::Identity(e.to_owned()))?;
            self.keys.push(key);
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// File formats SOPS encrypts, chosen by file name as `sops` and Flux choose them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    /// The format of a file by its name: `.yaml`/`.yml`, `.json` (and `.dockerconfigjson`),
    /// `.env`, `.ini`; anything else is binary.
    pub fn for_path(path: &str) -> Format {
        if path.ends_with(".dockerconfigjson") || path.ends_with(".json") {
            Format::Json
        } else if path.ends_with(".yaml") || path.ends_with(".yml") {
            Format::Yaml
        } else if path.ends_with(".env") {
            Format::Dotenv
        } else if path.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// Bytes only an encrypted file of this format contains.
    pub fn marker(self) -> &'static str {
        match self {
            Format::Binary | Format::Json => "\"mac\": \"ENC[",
            Format::Yaml => "mac: ENC[",
            Format::Dotenv => "sops_mac=ENC[",
            Format::Ini => "[sops]",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
            Format::Ini => "INI",
            Format::Binary => "binary",
        }
    }

    /// Whether `data` looks like a SOPS file of this format.
    pub fn is_encrypted(self, data: &[u8]) -> bool {
        let marker = self.marker().as_bytes();
        data.windows(marker.len()).any(|w| w == marker)
    }

    /// The format of an encrypted file by its content, if it is one. INI is left out: it is
    /// not decrypted yet, and `[sops]` alone is too weak a sign to fail a build on.
    pub fn detect(data: &[u8]) -> Option<Format> {
        [Format::Json, Format::Yaml, Format::Dotenv]
            .into_iter()
            .find(|f| f.is_encrypted(data))
    }
}

/// Whether a document has a `sops` map with a MAC: an encrypted document.
pub fn is_encrypted_document(document: &Node) -> bool {
    document
        .get("sops")
        .and_then(|sops| sops.get("mac"))
        .and_then(Node::as_str)
        .is_some_and(|mac| !mac.is_empty())
}

/// Decrypts an encrypted document in place and removes its `sops` metadata.
pub fn decrypt_document(document: &mut Node, identities: &Identities) -> Result<(), SopsError> {
    let map = document.as_map_mut().ok_or(SopsError::MetadataNotFound)?;
    let metadata = map.remove("sops").ok_or(SopsError::MetadataNotFound)?;
    let metadata = Metadata::from_node(&metadata)?;
    let cipher = metadata.data_key(identities)?;
    let mut path = Vec::new();
    for (key, value) in &mut map.entries {
        path.push(key.clone());
        decrypt_tree(value, &mut path, &metadata.rules, &cipher)?;
        path.pop();
    }
    Ok(())
}

/// Decrypts a whole SOPS file of format `input` and renders the plaintext as `output`.
pub fn decrypt_file(
    data: &[u8],
    input: Format,
    output: Format,
    identities: &Identities,
) -> Result<Vec<u8>, SopsError> {
    let text = std::str::from_utf8(data).map_err(|_| SopsError::Load {
        format: input.name(),
        message: "not UTF-8".into(),
    })?;
    let mut documents = match input {
        Format::Yaml | Format::Json | Format::Binary => {
            let mut documents =
                driftless_yaml::parse_documents(text).map_err(|e| SopsError::Load {
                    format: input.name(),
                    message: e.to_string(),
                })?;
            documents.retain(|d| !d.is_null());
            documents
        }
        Format::Dotenv => vec![parse_dotenv(text)?],
        Format::Ini => {
            return Err(SopsError::Load {
                format: input.name(),
                message: "INI files are not supported; encrypt the file as YAML, JSON or dotenv"
                    .into(),
            });
        }
    };
    let first = documents.first_mut().ok_or(SopsError::MetadataNotFound)?;
    let metadata = first
        .as_map_mut()
        .and_then(|m| m.remove("sops"))
        .ok_or(SopsError::MetadataNotFound)?;
    let metadata = Metadata::from_node(&metadata)?;
    let cipher = metadata.data_key(identities)?;
    for document in &mut documents {
        if let Some(map) = document.as_map_mut() {
            map.remove("sops");
            let mut path = Vec::new();
            for (key, value) in &mut map.entries {
                path.push(key.clone());
                decrypt_tree(value, &mut path, &metadata.rules, &cipher)?;
                path.pop();
            }
        }
    }
    emit(&documents, input, output)
}

fn emit(documents: &[Node], input: Format, output: Format) -> Result<Vec<u8>, SopsError> {
    let failed = |message: &str| SopsError::Emit {
        input: input.name(),
        output: output.name(),
        message: message.to_owned(),
    };
    match output {
        Format::Yaml => Ok(driftless_yaml::to_string_stream(documents).into_bytes()),
        Format::Json => {
            let [document] = documents else {
                return Err(failed("there must be exactly one document"));
            };
            let mut text = serde_json::to_string_pretty(&document.to_json())
                .map_err(|e| failed(&e.to_string()))?;
            text.push('\n');
            Ok(text.into_bytes())
        }
        Format::Dotenv => {
            let [document] = documents else {
                return Err(failed("there must be exactly one document"));
            };
            let map = document
                .as_map()
                .ok_or_else(|| failed("a dotenv file is a list of keys"))?;
            let mut text = String::new();
            for (key, value) in map.iter() {
                let value = value
                    .as_scalar()
                    .ok_or_else(|| failed("cannot use complex value in dotenv file"))?;
                text.push_str(key);
                text.push('=');
                text.push_str(&value.value.replace('\n', "\\n"));
                text.push('\n');
            }
            Ok(text.into_bytes())
        }
        Format::Binary => {
            let [document] = documents else {
                return Err(failed(
                    "error emitting binary store: there must be exactly one tree branch",
                ));
            };
            match document.get("data") {
                Some(Node::Scalar(data)) => Ok(data.value.clone().into_bytes()),
                Some(_) => Err(failed(
                    "error emitting binary store: 'data' key in tree does not have a string value",
                )),
                None => Err(failed(
                    "error emitting binary store: no binary data found in tree",
                )),
            }
        }
        Format::Ini => Err(failed("INI output is not supported")),
    }
}

/// A dotenv file as a map of strings; `sops_*` keys rebuilt into the `sops` map.
fn parse_dotenv(text: &str) -> Result<Node, SopsError> {
    let mut data = Mapping::new();
    let mut metadata = Mapping::new();
    for line in text.split('\n') {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| SopsError::Load {
            format: "dotenv",
            message: "invalid dotenv input line".into(),
        })?;
        let value = value.replace("\\n", "\n");
        match key.strip_prefix("sops_") {
            Some(flat) => unflatten(&mut metadata, flat, value)?,
            None => data.insert(key, Node::string(value)),
        }
    }
    data.insert("sops", Node::Map(metadata));
    Ok(Node::Map(data))
}

/// Rebuilds `age__list_0__map_enc`-style keys into nested maps and lists.
fn unflatten(metadata: &mut Mapping, flat: &str, value: String) -> Result<(), SopsError> {
    let bad = || SopsError::Metadata(format!("invalid flattened key 'sops_{flat}'"));
    let mut parts = flat.split("__");
    let first = parts.next().ok_or_else(bad)?;
    let mut node = metadata.entry_or_insert_with(first, Node::null);
    let rest: Vec<&str> = parts.collect();
    for part in rest {
        if let Some(index) = part.strip_prefix("list_") {
            let index: usize = index.parse().map_err(|_| bad())?;
            if !matches!(node, Node::Seq(_)) {
                *node = Node::Seq(Vec::new());
            }
            let Node::Seq(items) = node else {
                return Err(bad());
            };
            // sops writes lists densely: an index past the end is made up, and a huge one
            // would exhaust memory.
            if index > items.len() {
                return Err(bad());
            }
            if index == items.len() {
                items.push(Node::null());
            }
            node = &mut items[index];
        } else if let Some(key) = part.strip_prefix("map_") {
            if !matches!(node, Node::Map(_)) {
                *node = Node::map();
            }
            let Node::Map(map) = node else {
                return Err(bad());
            };
            node = map.entry_or_insert_with(key, Node::null);
        } else {
            return Err(bad());
        }
    }
    *node = Node::string(value);
    Ok(())
}

/// Which leaves are encrypted: the one rule a file may set, `_unencrypted` suffix by default.
enum Rules {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(regex::Regex),
    EncryptedRegex(regex::Regex),
    /// Comments are not carried through a build, so a comment rule can never match.
    UnencryptedComment,
    EncryptedComment,
}

impl Rules {
    fn encrypted(&self, path: &[String]) -> bool {
        match self {
            Rules::UnencryptedSuffix(suffix) => !path.iter().any(|p| p.ends_with(suffix.as_str())),
            Rules::EncryptedSuffix(suffix) => path.iter().any(|p| p.ends_with(suffix.as_str())),
            Rules::UnencryptedRegex(re) => !path.iter().any(|p| re.is_match(p)),
            Rules::EncryptedRegex(re) => path.iter().any(|p| re.is_match(p)),
            Rules::UnencryptedComment => true,
            Rules::EncryptedComment => false,
        }
    }
}

struct Metadata {
    /// Armored age files of the data key.
    age: Vec<(String, String)>,
    /// Recipients of other kinds (PGP fingerprints, KMS ARNs …), for the error message.
    others: Vec<String>,
    rules: Rules,
}

impl Metadata {
    fn from_node(node: &Node) -> Result<Metadata, SopsError> {
        let sops = node.as_map().ok_or(SopsError::MetadataNotFound)?;
        let mut age = Vec::new();
        let mut others = Vec::new();
        let mut collect = |group: &Mapping| {
            for (kind, keys) in group.iter() {
                for key in keys.as_seq().into_iter().flatten() {
                    if kind == "age" {
                        let recipient = key.str_at(&["recipient"]).unwrap_or_default();
                        let enc = key.str_at(&["enc"]).unwrap_or_default();
                        age.push((recipient.to_owned(), enc.to_owned()));
                    } else {
                        let id = ["fp", "arn", "resource_id", "vault_url", "vault_address"]
                            .iter()
                            .find_map(|field| key.str_at(&[field]))
                            .unwrap_or("?");
                        others.push(format!("{kind} {id}"));
                    }
                }
            }
        };
        const KEY_KINDS: [&str; 6] = ["age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"];
        let top: Mapping = Mapping {
            entries: sops
                .iter()
                .filter(|(k, _)| KEY_KINDS.contains(k))
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect(),
        };
        let has_top_keys = top
            .iter()
            .any(|(_, v)| v.as_seq().is_some_and(|s| !s.is_empty()));
        if has_top_keys {
            collect(&top);
        } else {
            let groups: Vec<&Node> = sops
                .get("key_groups")
                .and_then(Node::as_seq)
                .map(|g| g.iter().collect())
                .unwrap_or_default();
            if groups.len() > 1 {
                return Err(SopsError::DataKey(
                    "files with several key groups (Shamir secret sharing) are not supported"
                        .into(),
                ));
            }
            if let Some(group) = groups.first().and_then(|g| g.as_map()) {
                collect(group);
            }
        }
        if age.is_empty() && others.is_empty() {
            return Err(SopsError::NoKeys);
        }

        let rule = |name: &str| {
            sops.get(name)
                .and_then(Node::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let regex = |pattern: String| {
            regex::Regex::new(&pattern)
                .map_err(|e| SopsError::Metadata(format!("invalid regular expression: {e}")))
        };
        let mut rules = Vec::new();
        if let Some(v) = rule("unencrypted_suffix") {
            rules.push(Rules::UnencryptedSuffix(v));
        }
        if let Some(v) = rule("encrypted_suffix") {
            rules.push(Rules::EncryptedSuffix(v));
        }
        if let Some(v) = rule("unencrypted_regex") {
            rules.push(Rules::UnencryptedRegex(regex(v)?));
        }
        if let Some(v) = rule("encrypted_regex") {
            rules.push(Rules::EncryptedRegex(regex(v)?));
        }
        if rule("unencrypted_comment_regex").is_some() {
            rules.push(Rules::UnencryptedComment);
        }
        if rule("encrypted_comment_regex").is_some() {
            rules.push(Rules::EncryptedComment);
        }
        if rules.len() > 1 {
            return Err(SopsError::Metadata(
                "Cannot use more than one of encrypted_suffix, unencrypted_suffix, \
                 encrypted_regex, unencrypted_regex, encrypted_comment_regex, or \
                 unencrypted_comment_regex in the same file"
                    .into(),
            ));
        }
        let rules = rules
            .pop()
            .unwrap_or_else(|| Rules::UnencryptedSuffix("_unencrypted".into()));
        Ok(Metadata { age, others, rules })
    }

    /// The data key, from the first age recipient one of `identities` opens.
    fn data_key(&self, identities: &Identities) -> Result<DataKey, SopsError> {
        let mut failures = Vec::new();
        for (recipient, enc) in &self.age {
            match open_age(enc, identities) {
                Ok(key) => return Ok(key),
                Err(reason) => failures.push(format!("age {recipient}: {reason}")),
            }
        }
        failures.extend(
            self.others
                .iter()
                .map(|k| format!("{k}: only age keys are supported")),
        );
        Err(SopsError::DataKey(format!(
            "no key could decrypt the data key ({})",
            failures.join("; ")
        )))
    }
}

fn open_age(armored: &str, identities: &Identities) -> Result<DataKey, String> {
    if identities.is_empty() {
        return Err("no age identity is configured".into());
    }
    let reader = age::armor::ArmoredReader::new(armored.as_bytes());
    let decryptor = age::Decryptor::new(reader).map_err(|e| e.to_string())?;
    let mut key = Vec::new();
    decryptor
        .decrypt(
            identities
                .keys
                .iter()
                .map(|identity| identity as &dyn age::Identity),
        )
        .map_err(|e| e.to_string())?
        .read_to_end(&mut key)
        .map_err(|e| e.to_string())?;
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| "the data key is not 32 bytes".to_owned())?;
    Ok(DataKey(key))
}

struct DataKey([u8; 32]);

impl DataKey {
    /// Opens one `ENC[AES256_GCM,…]` value sealed under additional data `aad`; returns the
    /// plaintext and its type.
    fn open<'v>(&self, value: &'v str, aad: &str) -> Result<(Vec<u8>, &'v str), String> {
        // The value is a secret: never echo it.
        let malformed = || "Input string <redacted> does not match sops' data format".to_owned();
        let body = value
            .strip_prefix("ENC[AES256_GCM,")
            .and_then(|v| v.strip_suffix(']'))
            .ok_or_else(malformed)?;
        let (mut data, mut iv, mut tag, mut kind) = (None, None, None, None);
        for field in body.split(',') {
            let (name, content) = field.split_once(':').ok_or_else(malformed)?;
            match name {
                "data" => data = Some(content),
                "iv" => iv = Some(content),
                "tag" => tag = Some(content),
                "type" => kind = Some(content),
                _ => return Err(malformed()),
            }
        }
        let (Some(data), Some(iv), Some(tag), Some(kind)) = (data, iv, tag, kind) else {
            return Err(malformed());
        };
        let decode = |what: &str, text: &str| {
            STANDARD
                .decode(text)
                .map_err(|e| format!("Error base64-decoding {what}: {e}"))
        };
        let mut sealed = decode("data", data)?;
        let iv = decode("iv", iv)?;
        sealed.extend(decode("tag", tag)?);
        let payload = Payload {
            msg: &sealed,
            aad: aad.as_bytes(),
        };
        let failed = |_| "Could not decrypt with AES_GCM: message authentication failed".to_owned();
        // sops seals with 32-byte nonces; 12 is GCM's usual size and costs nothing to accept.
        let plain = match iv.len() {
            32 => AesGcm::<Aes256, U32>::new((&self.0).into())
                .decrypt(Nonce::<U32>::from_slice(&iv), payload)
                .map_err(failed)?,
            12 => AesGcm::<Aes256, U12>::new((&self.0).into())
                .decrypt(Nonce::<U12>::from_slice(&iv), payload)
                .map_err(failed)?,
            n => return Err(format!("unsupported IV length {n}")),
        };
        Ok((plain, kind))
    }
}

fn decrypt_tree(
    node: &mut Node,
    path: &mut Vec<String>,
    rules: &Rules,
    key: &DataKey,
) -> Result<(), SopsError> {
    match node {
        Node::Map(map) => {
            for (k, v) in &mut map.entries {
                path.push(k.clone());
                decrypt_tree(v, path, rules, key)?;
                path.pop();
            }
            Ok(())
        }
        // List items share their list's path: sops leaves indices out of the additional data.
        Node::Seq(items) => items
            .iter_mut()
            .try_for_each(|item| decrypt_tree(item, path, rules, key)),
        Node::Scalar(scalar) => {
            if scalar.is_null() || !rules.encrypted(path) || scalar.value.is_empty() {
                return Ok(());
            }
            let aad = format!("{}:", path.join(":"));
            let (plain, kind) = key.open(&scalar.value, &aad).map_err(SopsError::Value)?;
            let text = String::from_utf8(plain)
                .map_err(|_| SopsError::Value("decrypted value is not UTF-8".into()))?;
            *scalar = typed(text, kind).map_err(SopsError::Value)?;
            Ok(())
        }
    }
}

/// The YAML scalar for a decrypted value of sops type `kind`.
fn typed(text: String, kind: &str) -> Result<Scalar, String> {
    let check = |ok: bool, scalar: Scalar| {
        ok.then_some(scalar)
            .ok_or_else(|| format!("decrypted value is not a valid {kind}"))
    };
    match kind {
        "str" | "bytes" => Ok(Scalar::string(text)),
        "int" | "int64" => {
            let ok = text.parse::<i64>().is_ok();
            check(ok, Scalar::plain(text))
        }
        "float" => {
            let ok = text.parse::<f64>().is_ok()
                && matches!(
                    driftless_yaml::resolve_plain(&text),
                    ScalarKind::Float | ScalarKind::Int
                );
            check(ok, Scalar::plain(text))
        }
        "bool" => match text.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Scalar::plain("true")),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Scalar::plain("false")),
            _ => Err("decrypted value is not a valid bool".into()),
        },
        other => Err(format!("Unknown datatype: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex: &str) -> DataKey {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        DataKey(bytes.try_into().unwrap())
    }

    // The data key of Flux's `testdata/sops/algorithms/age.yaml` and a value from it.
    const FLUX_KEY: &str = "558e95c88337865c839703a4e892c03eed324ae6bbcb65c2989558e1a55825bb";
    const FLUX_VALUE: &str = "ENC[AES256_GCM,data:mHeXsmQ=,iv:vUMpILz3xchORqkzDFvgwENY7EqIHHGJdEF6C8xqbFE=,tag:IroV7hykADvD0IUaq6kikA==,type:str]";

    #[test]
    fn opens_a_value_sealed_by_sops_under_its_path() {
        let (plain, kind) = key(FLUX_KEY).open(FLUX_VALUE, "stringData:key:").unwrap();
        assert_eq!((plain.as_slice(), kind), (&b"value"[..], "str"));
        // The path is authenticated: the same value elsewhere does not open.
        let moved = key(FLUX_KEY).open(FLUX_VALUE, "data:key:").unwrap_err();
        assert!(moved.contains("message authentication failed"), "{moved}");
        let mut wrong_key = key(FLUX_KEY);
        wrong_key.0[0] ^= 1;
        assert!(wrong_key.open(FLUX_VALUE, "stringData:key:").is_err());
    }

    #[test]
    fn malformed_values_are_reported_without_their_content() {
        for bad in [
            "plain-secret",
            "ENC[AES256_GCM,data:mHeXsmQ=]",
            "ENC[AES256_GCM,data:mHeXsmQ=,iv:x,tag:y,type:str,extra:z]",
        ] {
            let error = key(FLUX_KEY).open(bad, "a:").unwrap_err();
            assert!(!error.contains(bad), "{error}");
            assert!(error.contains("<redacted>"), "{error}");
        }
        let error = key(FLUX_KEY)
            .open("ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]", "a:")
            .unwrap_err();
        assert!(error.starts_with("Error base64-decoding data"), "{error}");
    }

    #[test]
    fn typed_values_become_yaml_scalars_of_their_type() {
        let iv = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        for (data, tag, kind, aad, expected) in [
            (
                "ow==",
                "uJIgCmaAvWsXquZ0QuAxOg==",
                "int",
                "spec:replicas:",
                "3",
            ),
            ("oZcm", "4kXBNrmWaR4yCooY8tcdjg==", "float", "ratio:", "1.5"),
            (
                "xMtmAw==",
                "7v1uuiCA4LkrGwJ7IMtJEA==",
                "bool",
                "enabled:",
                "true",
            ),
            (
                "1th/FSM=",
                "rncqXJjYfBclpYJXZIcKRA==",
                "bool",
                "items:",
                "false",
            ),
        ] {
            let value = format!("ENC[AES256_GCM,data:{data},iv:{iv},tag:{tag},type:{kind}]");
            let (plain, kind) = key(FLUX_KEY).open(&value, aad).unwrap();
            let scalar = typed(String::from_utf8(plain).unwrap(), kind).unwrap();
            assert_eq!(scalar.value, expected);
            assert_ne!(scalar.kind(), ScalarKind::Str, "{expected} stays typed");
        }
        assert!(typed("x".into(), "int").is_err());
        assert!(typed("x".into(), "complex").is_err());
        assert_eq!(typed("3".into(), "str").unwrap().kind(), ScalarKind::Str);
    }

    #[test]
    fn rules_pick_the_encrypted_leaves_by_any_key_on_the_path() {
        let path = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        let default = Rules::UnencryptedSuffix("_unencrypted".into());
        assert!(default.encrypted(&path("data.password")));
        assert!(!default.encrypted(&path("config_unencrypted.nested.value")));
        let regex = Rules::EncryptedRegex(regex::Regex::new("^(data|stringData)$").unwrap());
        assert!(regex.encrypted(&path("stringData.key")));
        assert!(!regex.encrypted(&path("metadata.name")));
        // Unanchored patterns match inside keys, as Go's regexp.Match does.
        let unanchored = Rules::EncryptedRegex(regex::Regex::new("env").unwrap());
        assert!(unanchored.encrypted(&path("spec.containers.environment.value")));
        let suffix = Rules::EncryptedSuffix("_secret".into());
        assert!(suffix.encrypted(&path("db_secret.password")));
        assert!(!suffix.encrypted(&path("db.password")));
    }

    #[test]
    fn formats_follow_file_names_and_markers() {
        assert_eq!(Format::for_path("a/secret.enc.yaml"), Format::Yaml);
        assert_eq!(Format::for_path("x.yml"), Format::Yaml);
        assert_eq!(Format::for_path(".dockerconfigjson"), Format::Json);
        assert_eq!(Format::for_path("app.env"), Format::Dotenv);
        assert_eq!(Format::for_path("token"), Format::Binary);
        assert_eq!(
            Format::detect(b"a: 1\nsops:\n  mac: ENC[x]"),
            Some(Format::Yaml)
        );
        assert_eq!(
            Format::detect(b"k=v\nsops_mac=ENC[x]"),
            Some(Format::Dotenv)
        );
        assert_eq!(Format::detect(b"plain: yes"), None);
    }

    #[test]
    fn flattened_dotenv_metadata_is_rebuilt() {
        let doc = parse_dotenv(
            "key=v\nsops_age__list_0__map_enc=a\\nb\nsops_age__list_0__map_recipient=age1x\nsops_mac=ENC[m]\n",
        )
        .unwrap();
        assert_eq!(doc.str_at(&["key"]), Some("v"));
        let age = doc.get_path(&["sops", "age"]).unwrap().as_seq().unwrap();
        assert_eq!(age[0].str_at(&["enc"]), Some("a\nb"));
        assert_eq!(age[0].str_at(&["recipient"]), Some("age1x"));
        assert!(is_encrypted_document(&doc));
        assert!(parse_dotenv("no equals sign").is_err());
        // Indices must be dense: a made-up one fails instead of allocating.
        assert!(parse_dotenv("sops_mac=ENC[m]\nsops_age__list_99999999999__map_enc=x\n").is_err());
    }

    #[test]
    fn identities_come_from_age_key_files() {
        let mut ids = Identities::new();
        ids.add_key_file(
            "# created: 2024-01-01\n# public key: age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29\nAGE-SECRET-KEY-1RH87A5Z54ZGUR9S0AS3R6WHFSEFNPLYMAKF5Z2CEU7R06VRJ0A3Q7242AM\n\n",
        )
        .unwrap();
        assert_eq!(ids.len(), 1);
        assert!(
            ids.add_key_file("-----BEGIN PGP PRIVATE KEY BLOCK-----")
                .is_err()
        );
        assert!(ids.add_key_file("AGE-SECRET-KEY-1NOTBECH32").is_err());
    }
}
