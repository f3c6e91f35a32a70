//! `configMapGenerator` and `secretGenerator`: ConfigMaps and Secrets from literals, env
//! files and files, with kustomize's key rules, value encoding and merge behaviour.

use std::collections::BTreeMap;

use base64::Engine;

use crate::loader::Loader;
use crate::resource::{Behavior, Resource};
use crate::types::{GeneratorArgs, GeneratorOptions};
use crate::{Error, Result};
use driftless_yaml::{Mapping, Node};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneratedKind {
    ConfigMap,
    Secret,
}

impl GeneratedKind {
    fn name(self) -> &'static str {
        match self {
            GeneratedKind::ConfigMap => "ConfigMap",
            GeneratedKind::Secret => "Secret",
        }
    }
}

/// The per-generator options over the kustomization's `generatorOptions`: labels and
/// annotations merged (the generator's win), flags set if either sets them.
pub fn merge_options(
    local: Option<&GeneratorOptions>,
    global: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut merged = local.cloned().unwrap_or_default();
    if let Some(global) = global {
        for (field, global_map) in [
            (&mut merged.labels, &global.labels),
            (&mut merged.annotations, &global.annotations),
        ] {
            if let Some(global_map) = global_map {
                let map = field.get_or_insert_with(BTreeMap::new);
                for (k, v) in global_map {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        merged.disable_name_suffix_hash |= global.disable_name_suffix_hash;
        merged.immutable |= global.immutable;
    }
    merged
}

pub fn generate(
    kind: GeneratedKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    loader: &Loader<'_>,
) -> Result<Resource> {
    let what = kind.name().to_ascii_lowercase();
    if args.name.is_empty() {
        return Err(Error::new("a configmap must have a name"));
    }
    let behavior = Behavior::parse(&args.behavior).ok_or_else(|| {
        Error::new(format!(
            "{what} {}: unknown behavior {:?}",
            args.name, args.behavior
        ))
    })?;
    let options = merge_options(args.options.as_ref(), global);
    let pairs = load_pairs(args, loader).map_err(|e| e.context(format!("{what} {}", args.name)))?;

    let mut object = Mapping::new();
    object.insert("apiVersion", Node::string("v1"));
    object.insert("kind", Node::string(kind.name()));
    let mut metadata = Mapping::new();
    metadata.insert("name", Node::string(&args.name));
    if !args.namespace.is_empty() {
        metadata.insert("namespace", Node::string(&args.namespace));
    }
    object.insert("metadata", Node::Map(metadata));
    if kind == GeneratedKind::Secret {
        let secret_type = if args.secret_type.is_empty() {
            "Opaque"
        } else {
            &args.secret_type
        };
        object.insert("type", Node::string(secret_type));
    }

    let mut sorted: Vec<&(String, Vec<u8>)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    match kind {
        GeneratedKind::ConfigMap => {
            for (key, value) in sorted {
                let (field, text) = match std::str::from_utf8(value) {
                    Ok(text) => ("data", text.to_owned()),
                    Err(_) => ("binaryData", encode_base64(value)),
                };
                if let Some(m) = object.entry_or_insert_with(field, Node::map).as_map_mut() {
                    m.insert(key.clone(), Node::string(text))
                }
            }
        }
        GeneratedKind::Secret => {
            let mut data = Mapping::new();
            for (key, value) in sorted {
                data.insert(key.clone(), Node::string(encode_base64(value)));
            }
            object.insert("data", Node::Map(data));
        }
    }

    let mut node = Node::Map(object);
    for (key, value) in options.labels.iter().flatten() {
        node.ensure_map_path(&["metadata", "labels"])
            .insert(key.clone(), Node::string(value));
    }
    for (key, value) in options.annotations.iter().flatten() {
        node.ensure_map_path(&["metadata", "annotations"])
            .insert(key.clone(), Node::string(value));
    }
    if options.immutable
        && let Some(m) = node.as_map_mut()
    {
        m.insert("immutable", Node::plain("true"))
    }
    let mut resource = Resource::new(node);
    resource.behavior = Some(behavior);
    resource.needs_hash = !options.disable_name_suffix_hash;
    Ok(resource)
}

/// Base64 as kustomize writes it: lines of 70 characters, each ending in a newline, once
/// the encoding reaches 70 characters.
pub fn encode_base64(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    if encoded.len() < 70 {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 70 + 1);
    for chunk in encoded.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Key/value pairs from envs, then literals, then files; a repeated key is an error.
fn load_pairs(args: &GeneratorArgs, loader: &Loader<'_>) -> Result<Vec<(String, Vec<u8>)>> {
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut envs: Vec<&str> = args.envs.iter().map(String::as_str).collect();
    if !args.env.is_empty() {
        envs.push(&args.env);
    }
    for env in envs {
        let content = loader.load(env)?;
        for (key, value) in parse_env_file(&content).map_err(|e| e.context(env))? {
            pairs.push((key, value.into_bytes()));
        }
    }
    for literal in &args.literals {
        let (key, value) = parse_literal(literal)?;
        pairs.push((key, value.into_bytes()));
    }
    for source in &args.files {
        let (key, path) = parse_file_source(source)?;
        pairs.push((key, loader.load(&path)?));
    }
    let mut seen = std::collections::HashSet::new();
    for (key, _) in &pairs {
        validate_key(key)?;
        if !seen.insert(key.as_str()) {
            return Err(Error::new(format!(
                "configmap {} illegally repeats the key `{key}`",
                args.name
            )));
        }
    }
    Ok(pairs)
}

/// `KEY=value` lines; blank lines and `#` comments skipped, a key without `=` gets "".
pub fn parse_env_file(content: &[u8]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (number, raw) in content.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|_| Error::new(format!("line {} has invalid utf8 bytes", number + 1)))?;
        let line = if number == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        if !is_env_var_name(key) {
            return Err(Error::new(format!(
                "\"{key}\" is not a valid environment variable name (line {})",
                number + 1
            )));
        }
        out.push((key.to_owned(), value.to_owned()));
    }
    Ok(out)
}

fn is_env_var_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || "-._".contains(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

fn validate_key(key: &str) -> Result<()> {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if valid {
        Ok(())
    } else {
        Err(Error::new(format!(
            "\"{key}\" is not a valid key name for a ConfigMap or Secret"
        )))
    }
}

/// `key=value`, with one pair of matching outer quotes removed from the value.
pub fn parse_literal(source: &str) -> Result<(String, String)> {
    match source.split_once('=') {
        Some((key, value)) if !key.is_empty() => {
            let bytes = value.as_bytes();
            let unquoted = if bytes.len() >= 2
                && bytes[0] == bytes[bytes.len() - 1]
                && (bytes[0] == b'"' || bytes[0] == b'\'')
            {
                &value[1..value.len() - 1]
            } else {
                value
            };
            Ok((key.to_owned(), unquoted.to_owned()))
        }
        _ => Err(Error::new(format!(
            "invalid literal source {source}, expected key=value"
        ))),
    }
}

/// `path` (key = file name) or `key=path`.
pub fn parse_file_source(source: &str) -> Result<(String, String)> {
    match source.matches('=').count() {
        0 => {
            let key = source.rsplit('/').find(|s| !s.is_empty()).unwrap_or(source);
            Ok((key.to_owned(), source.to_owned()))
        }
        1 => {
            let (key, path) = source.split_once('=').unwrap_or_default();
            if key.is_empty() {
                Err(Error::new(format!(
                    "missing key name for file path {path:?} in source {source:?}"
                )))
            } else if path.is_empty() {
                Err(Error::new(format!(
                    "missing file path for key name {key:?} in source {source:?}"
                )))
            } else {
                Ok((key.to_owned(), path.to_owned()))
            }
        }
        _ => Err(Error::new(format!(
            "source {source:?} key name or file path contains '='"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use std::path::Path;

    #[test]
    fn env_files_keep_quotes_and_skip_comments() {
        let pairs = parse_env_file(b"\xef\xbb\xbfA=1\n# c\n\n  B=\"x y\" \nC\r\nD=a=b\n").unwrap();
        assert_eq!(
            pairs,
            [
                ("A".into(), "1".into()),
                ("B".into(), "\"x y\" ".into()),
                ("C".into(), String::new()),
                ("D".into(), "a=b".into())
            ]
        );
        assert!(parse_env_file(b"1BAD=x\n").is_err());
    }

    #[test]
    fn literals_drop_one_pair_of_quotes() {
        assert_eq!(parse_literal("a='x'").unwrap().1, "x");
        assert_eq!(parse_literal("a=\"x'").unwrap().1, "\"x'");
        assert_eq!(parse_literal("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_literal("=x").is_err());
        assert!(parse_literal("novalue").is_err());
    }

    #[test]
    fn long_base64_is_wrapped_at_70() {
        let long = encode_base64(&[b'x'; 60]);
        assert!(long.lines().all(|l| l.len() <= 70) && long.ends_with('\n'));
        assert!(!encode_base64(b"short").contains('\n'));
    }

    #[test]
    fn generates_sorted_data_binary_data_and_options() {
        let mut fs = MemFs::new();
        fs.add_file("/k/app.env", "B=2\n");
        fs.add_file("/k/blob", vec![0xff, 0xfe]);
        let loader = Loader::new(&fs, Path::new("/k"), true, None).unwrap();
        let args = GeneratorArgs {
            name: "cm".into(),
            literals: vec!["C=3".into(), "A=1".into()],
            envs: vec!["app.env".into()],
            files: vec!["blob".into()],
            ..Default::default()
        };
        let global = GeneratorOptions {
            immutable: true,
            ..Default::default()
        };
        let cm = generate(GeneratedKind::ConfigMap, &args, Some(&global), &loader).unwrap();
        let keys: Vec<_> = cm
            .node
            .get("data")
            .unwrap()
            .as_map()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["A", "B", "C"]);
        assert_eq!(cm.node.str_at(&["binaryData", "blob"]), Some("//4="));
        assert_eq!(cm.node.str_at(&["immutable"]), Some("true"));
        assert!(cm.needs_hash);
        let duplicate = GeneratorArgs {
            literals: vec!["B=9".into()],
            ..args
        };
        assert!(
            generate(GeneratedKind::Secret, &duplicate, None, &loader)
                .unwrap_err()
                .message()
                .contains("illegally repeats")
        );
    }
}
