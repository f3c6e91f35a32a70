//! A YAML node model that reads and writes YAML the way Go's yaml.v3 (libyaml-derived) tools
//! do, so what kustomize, Helm or SOPS would print comes out byte for byte the same.
//!
//! A document is a [`Node`]: ordered mappings, sequences and scalars that keep how they were
//! written, so an untouched value comes out as it went in (a plain `yes` stays a plain `yes`,
//! a quoted `"1"` stays a string). [`parse_documents`] and [`parse_one`] read text (anchors
//! expanded, merge keys applied, duplicate keys refused); [`to_string`] and
//! [`to_string_stream`] write it in the layout `kustomize build` prints.
//!
//! ```
//! let node = driftless_yaml::parse_one("b: yes\na: \"1\"\n").unwrap();
//! assert_eq!(driftless_yaml::to_string(&node), "b: yes\na: \"1\"\n");
//! ```

mod emit;
mod parse;

pub use emit::{Layout, compare_keys, to_string, to_string_stream, to_string_with};
pub use parse::{
    ParseError, parse_documents, parse_one, parse_one_last_key_wins, parse_one_resolving_keys,
};

/// How a scalar was (or should be) written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Written plain in the input: its type is resolved from its text.
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
    /// A string made by a transformation: written plain when that reads back as the same
    /// string, quoted otherwise.
    String,
}

/// The type a scalar resolves to, by YAML 1.2 core-schema rules as kustomize's YAML library
/// applies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarKind {
    Null,
    Bool,
    Int,
    Float,
    Str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar {
    pub value: String,
    pub style: Style,
    /// An explicit tag such as `!!str` or `!!binary` (written `tag:yaml.org,2002:str` form
    /// shortened to `!!str`).
    pub tag: Option<String>,
}

impl Scalar {
    pub fn string(value: impl Into<String>) -> Scalar {
        Scalar {
            value: value.into(),
            style: Style::String,
            tag: None,
        }
    }

    pub fn plain(value: impl Into<String>) -> Scalar {
        Scalar {
            value: value.into(),
            style: Style::Plain,
            tag: None,
        }
    }

    pub fn kind(&self) -> ScalarKind {
        match self.tag.as_deref() {
            Some("!!str") | Some("!!binary") | Some("!!timestamp") => return ScalarKind::Str,
            Some("!!int") => return ScalarKind::Int,
            Some("!!float") => return ScalarKind::Float,
            Some("!!bool") => return ScalarKind::Bool,
            Some("!!null") => return ScalarKind::Null,
            // yaml.v3 resolves only untagged (and core-tagged) scalars; under any other tag,
            // the non-specific `!` included, the text is a string (an empty one, not null).
            Some(_) => return ScalarKind::Str,
            None => {}
        }
        match self.style {
            Style::Plain => resolve_plain(&self.value),
            _ => ScalarKind::Str,
        }
    }

    pub fn is_null(&self) -> bool {
        // Hot: every field read asks. Only plain `null` spellings (or a `!!null` tag) are.
        match self.tag.as_deref() {
            Some("!!null") => true,
            Some(_) => false,
            None => {
                self.style == Style::Plain
                    && matches!(self.value.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
        }
    }
}

/// What a plain scalar means (yaml.v3's resolver: YAML 1.2 core schema).
pub fn resolve_plain(value: &str) -> ScalarKind {
    // Most values are words: nothing numeric or special starts with a letter other than
    // the null/bool spellings checked below.
    let first = value.as_bytes().first().copied().unwrap_or(b' ');
    if first.is_ascii_alphabetic() && !matches!(first, b'n' | b'N' | b't' | b'T' | b'f' | b'F') {
        return ScalarKind::Str;
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarKind::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return ScalarKind::Bool,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return ScalarKind::Float,
        _ => {}
    }
    if is_int(value) {
        ScalarKind::Int
    } else if is_float(value) {
        ScalarKind::Float
    } else {
        ScalarKind::Str
    }
}

fn is_int(value: &str) -> bool {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    let (digits, radix) = if let Some(hex) = digits.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(oct) = digits.strip_prefix("0o") {
        (oct, 8)
    } else if let Some(bin) = digits.strip_prefix("0b") {
        (bin, 2)
    } else {
        (digits, 10)
    };
    if !(digits.chars().any(|c| c != '_') && digits.chars().all(|c| c == '_' || c.is_digit(radix)))
    {
        return false;
    }
    // As Go's readers: an integer must fit 64 bits (ParseInt, or ParseUint when unsigned);
    // a longer decimal reads as a float (below), a longer hex, octal or binary as a string.
    let magnitude = u64::from_str_radix(&digits.replace('_', ""), radix);
    match (value.starts_with('-'), magnitude) {
        (_, Err(_)) => false,
        (true, Ok(magnitude)) => magnitude <= 1 << 63,
        (false, Ok(_)) => true,
    }
}

fn is_float(value: &str) -> bool {
    let body = value.strip_prefix(['-', '+']).unwrap_or(value);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next();
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '_');
    let mantissa_ok = match fraction {
        Some(f) => digits(whole) && digits(f) && !(whole.is_empty() && f.is_empty()),
        None => !whole.is_empty() && digits(whole),
    };
    let exponent_ok = match exponent {
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        }
        // Digits alone reach here only when too long for an integer: Go reads them as a float.
        None => fraction.is_some() || whole.chars().any(|c| c.is_ascii_digit()),
    };
    mantissa_ok && exponent_ok
}

/// A mapping with its keys in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    pub entries: Vec<(String, Node)>,
}

impl Mapping {
    pub fn new() -> Mapping {
        Mapping::default()
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// Sets `key`, keeping its position when present, appending otherwise.
    pub fn insert(&mut self, key: impl Into<String>, value: Node) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.entries.push((key, value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    /// The value under `key`, inserting `default()` at the end when absent.
    pub fn entry_or_insert_with(&mut self, key: &str, default: impl FnOnce() -> Node) -> &mut Node {
        let at = match self.entries.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                self.entries.push((key.to_owned(), default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[at].1
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Mapping),
}

impl Node {
    pub fn string(value: impl Into<String>) -> Node {
        Node::Scalar(Scalar::string(value))
    }

    pub fn plain(value: impl Into<String>) -> Node {
        Node::Scalar(Scalar::plain(value))
    }

    pub fn null() -> Node {
        Node::Scalar(Scalar::plain("null"))
    }

    pub fn map() -> Node {
        Node::Map(Mapping::new())
    }

    pub fn as_map(&self) -> Option<&Mapping> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Mapping> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match self {
            Node::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_seq_mut(&mut self) -> Option<&mut Vec<Node>> {
        match self {
            Node::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a non-null scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar(s) if !s.is_null() => Some(&s.value),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar(s) if s.is_null())
    }

    /// `self[key]` for a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.get(key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?.get_mut(key)
    }

    /// The node at a path of mapping keys.
    pub fn get_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    pub fn get_path_mut(&mut self, path: &[&str]) -> Option<&mut Node> {
        let mut node = self;
        for key in path {
            node = node.get_mut(key)?;
        }
        Some(node)
    }

    /// The string at a path of mapping keys.
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.get_path(path)?.as_str()
    }

    /// The mapping at `path`, created (replacing anything that is not a mapping) when needed.
    pub fn ensure_map_path(&mut self, path: &[&str]) -> &mut Mapping {
        let mut node = self;
        for key in path {
            if !matches!(node, Node::Map(_)) {
                *node = Node::map();
            }
            let Node::Map(map) = node else {
                unreachable!("made a mapping above")
            };
            node = map.entry_or_insert_with(key, Node::map);
        }
        if !matches!(node, Node::Map(_)) {
            *node = Node::map();
        }
        match node {
            Node::Map(map) => map,
            _ => unreachable!("made a mapping above"),
        }
    }

    /// A JSON rendering, for hashing and messages.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Map(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.to_owned(), v.to_json())).collect())
            }
            Node::Seq(s) => Value::Array(s.iter().map(Node::to_json).collect()),
            Node::Scalar(s) => match s.kind() {
                ScalarKind::Null => Value::Null,
                ScalarKind::Bool => Value::Bool(s.value.eq_ignore_ascii_case("true")),
                ScalarKind::Int => parse_int(&s.value)
                    .map(Value::from)
                    .unwrap_or_else(|| Value::String(s.value.clone())),
                ScalarKind::Float => s
                    .value
                    .replace('_', "")
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(s.value.clone())),
                ScalarKind::Str => Value::String(s.value.clone()),
            },
        }
    }
}

impl Node {
    /// A JSON value as a node: strings that would read as another type are quoted.
    pub fn from_json(value: &serde_json::Value) -> Node {
        use serde_json::Value;
        match value {
            Value::Null => Node::null(),
            Value::Bool(b) => Node::plain(b.to_string()),
            Value::Number(n) => Node::plain(n.to_string()),
            Value::String(s) => Node::string(s.clone()),
            Value::Array(items) => Node::Seq(items.iter().map(Node::from_json).collect()),
            Value::Object(map) => {
                let mut mapping = Mapping::new();
                for (key, value) in map {
                    mapping.insert(key.clone(), Node::from_json(value));
                }
                Node::Map(mapping)
            }
        }
    }
}

fn parse_int(value: &str) -> Option<i64> {
    let cleaned = value.replace('_', "");
    let (negative, digits) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.strip_prefix('+').unwrap_or(&cleaned)),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else {
        digits.parse::<i64>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

impl From<Mapping> for Node {
    fn from(map: Mapping) -> Node {
        Node::Map(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_like_yaml_1_2_core() {
        for (text, kind) in [
            ("", ScalarKind::Null),
            ("~", ScalarKind::Null),
            ("true", ScalarKind::Bool),
            ("yes", ScalarKind::Str),
            ("on", ScalarKind::Str),
            ("12", ScalarKind::Int),
            ("-0x1F", ScalarKind::Int),
            ("18446744073709551615", ScalarKind::Int),
            ("18446744073709551616", ScalarKind::Float),
            ("-9223372036854775808", ScalarKind::Int),
            ("-9223372036854775809", ScalarKind::Float),
            ("0x1F666666666666666666", ScalarKind::Str),
            ("1.5", ScalarKind::Float),
            ("1e3", ScalarKind::Float),
            (".5", ScalarKind::Float),
            ("1.", ScalarKind::Float),
            ("1e", ScalarKind::Str),
            (".", ScalarKind::Str),
            ("v1", ScalarKind::Str),
            ("1.2.3", ScalarKind::Str),
            (".inf", ScalarKind::Float),
        ] {
            assert_eq!(resolve_plain(text), kind, "{text:?}");
        }
    }

    #[test]
    fn quoted_scalars_are_strings() {
        let quoted = Scalar {
            value: "1".into(),
            style: Style::DoubleQuoted,
            tag: None,
        };
        assert_eq!(quoted.kind(), ScalarKind::Str);
        let tagged = Scalar {
            value: "1".into(),
            style: Style::Plain,
            tag: Some("!!str".into()),
        };
        assert_eq!(tagged.kind(), ScalarKind::Str);
    }

    #[test]
    fn scalars_under_other_tags_are_strings_as_written() {
        // Found by the roundtrip fuzz target: `!` alone was read as null but written `! ""`,
        // which reads back as a string.
        for (text, value) in [
            ("!", ""),
            ("!custom 123", "123"),
            ("key: !Ref true", "true"),
        ] {
            let node = parse_one(text).unwrap();
            let scalar = node.get("key").unwrap_or(&node).as_scalar().unwrap();
            assert_eq!(
                (scalar.value.as_str(), scalar.kind()),
                (value, ScalarKind::Str)
            );
            assert!(!scalar.is_null(), "{text:?}");
            let written = to_string(&node);
            assert_eq!(
                parse_one(&written).unwrap().to_json(),
                node.to_json(),
                "{written}"
            );
        }
    }

    #[test]
    fn ensure_map_path_creates_and_reuses() {
        let mut node = Node::map();
        node.ensure_map_path(&["metadata", "labels"])
            .insert("a", Node::string("b"));
        node.ensure_map_path(&["metadata", "labels"])
            .insert("c", Node::string("d"));
        assert_eq!(
            node.get_path(&["metadata", "labels"])
                .unwrap()
                .as_map()
                .unwrap()
                .len(),
            2
        );
    }
}
