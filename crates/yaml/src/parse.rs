//! YAML text to [`Node`] documents, on top of saphyr's event parser. Anchors are expanded,
//! merge keys (`<<`) applied and duplicate keys refused, as kustomize's reader does.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::{Mapping, Node, Scalar, Style};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Every non-empty document of a YAML stream, in order. A document holding only `null`
/// (an empty document, a stray `---`) is left out.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, ParseError> {
    read_documents(text, false)
}

/// Like [`parse_one`], but a repeated mapping key replaces the earlier value instead of
/// being an error (how kustomize reads kustomization files).
pub fn parse_one_last_key_wins(text: &str) -> Result<Node, ParseError> {
    single(read_documents(text, true)?)
}

/// One document as go-yaml v2 decodes it into a Go map: every plain (unquoted, untagged)
/// mapping key passed through `resolve_key` first (go-yaml types keys: `on:` is the key
/// `true`), and a repeated key replacing the earlier value instead of being an error.
pub fn parse_one_resolving_keys(
    text: &str,
    resolve_key: fn(&str) -> Option<String>,
) -> Result<Node, ParseError> {
    single(read(text, true, Some(resolve_key))?)
}

fn read_documents(text: &str, last_key_wins: bool) -> Result<Vec<Node>, ParseError> {
    read(text, last_key_wins, None)
}

fn read(
    text: &str,
    last_key_wins: bool,
    resolve_key: Option<fn(&str) -> Option<String>>,
) -> Result<Vec<Node>, ParseError> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        last_key_wins,
        resolve_key,
        expanded: 0,
        depth: 0,
        invalid_tag: None,
    };
    let mut documents = Vec::new();
    loop {
        let (event, span) = reader.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                reader.anchors.clear();
                let (event, span) = reader.next()?;
                let node = reader.node(event, span)?;
                if let Some(error) = reader.invalid_tag.take() {
                    return Err(error);
                }
                if !node.is_null() {
                    documents.push(node);
                }
            }
            other => {
                return Err(ParseError {
                    line: span.start.line(),
                    message: format!("unexpected {other:?}"),
                });
            }
        }
    }
    Ok(documents)
}

/// Exactly one document (an empty text gives `null`).
pub fn parse_one(text: &str) -> Result<Node, ParseError> {
    single(parse_documents(text)?)
}

fn single(mut documents: Vec<Node>) -> Result<Node, ParseError> {
    match documents.len() {
        0 => Ok(Node::null()),
        1 => Ok(documents.remove(0)),
        n => Err(ParseError {
            line: 1,
            message: format!("expected one YAML document, found {n}"),
        }),
    }
}

struct Reader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Anchored nodes with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    last_key_wins: bool,
    /// See [`parse_one_resolving_keys`].
    resolve_key: Option<fn(&str) -> Option<String>>,
    /// Nodes copied by alias expansion so far: bounded, so that nested aliases ("a billion
    /// laughs") cannot exhaust memory.
    expanded: usize,
    /// Collections open around the current event.
    depth: usize,
    /// The first tag that could not be read; the stream fails with it.
    invalid_tag: Option<ParseError>,
}

/// Deeper nesting than any manifest needs is refused rather than risking the stack.
const MAX_DEPTH: usize = 256;

/// The most nodes alias expansion may copy into one YAML stream.
const MAX_EXPANDED_NODES: usize = 1_000_000;

fn size(node: &Node) -> usize {
    match node {
        Node::Scalar(_) => 1,
        Node::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Node::Map(map) => 1 + map.entries.iter().map(|(_, v)| 1 + size(v)).sum::<usize>(),
    }
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), ParseError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(error)) => Err(ParseError {
                line: error.marker().line(),
                message: error.info().to_owned(),
            }),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, ParseError> {
        let line = span.start.line();
        if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..)) {
            if self.depth >= MAX_DEPTH {
                return Err(ParseError {
                    line,
                    message: format!("nested deeper than {MAX_DEPTH} levels"),
                });
            }
            self.depth += 1;
            let node = self.collection(event, span);
            self.depth -= 1;
            return node;
        }
        self.collection(event, span)
    }

    /// The tag's name, or None after recording why it cannot be read. Kept out of the
    /// recursive reader's frames, which deep nesting must not overflow.
    #[inline(never)]
    fn tag_or_record(&mut self, tag: &Tag, line: usize) -> Option<String> {
        match tag_name(tag) {
            Ok(name) => Some(name),
            Err(message) => {
                self.invalid_tag.get_or_insert(ParseError { line, message });
                None
            }
        }
    }

    fn collection(&mut self, event: Event<'a>, span: Span) -> Result<Node, ParseError> {
        let line = span.start.line();
        let (node, anchor) = match event {
            Event::Scalar(value, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let scalar = Scalar {
                    value: value.into_owned(),
                    style,
                    tag: tag.and_then(|tag| self.tag_or_record(&tag, line)),
                };
                (Node::Scalar(scalar), anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span)?);
                }
                (Node::Seq(items), anchor)
            }
            Event::MappingStart(anchor, _) => (Node::Map(self.mapping(line)?), anchor),
            Event::Alias(id) => {
                let (node, nodes) = self.anchors.get(&id).ok_or_else(|| ParseError {
                    line,
                    message: "unknown anchor".to_owned(),
                })?;
                self.expanded = self.expanded.saturating_add(*nodes);
                if self.expanded > MAX_EXPANDED_NODES {
                    return Err(ParseError {
                        line,
                        message: format!("aliases expand to more than {MAX_EXPANDED_NODES} nodes"),
                    });
                }
                return Ok(node.clone());
            }
            other => {
                return Err(ParseError {
                    line,
                    message: format!("unexpected {other:?}"),
                });
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), size(&node)));
        }
        Ok(node)
    }

    fn mapping(&mut self, line: usize) -> Result<Mapping, ParseError> {
        let mut map = Mapping::new();
        // Keys set by `<<` merges; explicit keys override them, wherever they appear.
        let mut merged: Vec<(String, Node)> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let key_line = span.start.line();
            let key = match self.node(event, span)? {
                Node::Scalar(scalar) => scalar,
                _ => {
                    return Err(ParseError {
                        line: key_line,
                        message: "a mapping key must be a scalar".to_owned(),
                    });
                }
            };
            let (event, span) = self.next()?;
            let value = self.node(event, span)?;
            if key.value == "<<" && key.style == Style::Plain {
                let sources = match value {
                    Node::Map(m) => vec![m],
                    Node::Seq(items) => items
                        .into_iter()
                        .map(|item| match item {
                            Node::Map(m) => Ok(m),
                            _ => Err(ParseError {
                                line: key_line,
                                message: "merge key value must be a mapping".into(),
                            }),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(ParseError {
                            line: key_line,
                            message: "merge key value must be a mapping".into(),
                        });
                    }
                };
                for source in sources {
                    for (k, v) in source.entries {
                        if !merged.iter().any(|(existing, _)| *existing == k) {
                            merged.push((k, v));
                        }
                    }
                }
                continue;
            }
            let mut key = key;
            if let Some(resolve) = self.resolve_key
                && key.style == Style::Plain
                && key.tag.is_none()
                && let Some(resolved) = resolve(&key.value)
            {
                key.value = resolved;
            }
            if map.contains_key(&key.value) {
                if self.last_key_wins {
                    map.insert(key.value, value);
                    continue;
                }
                return Err(ParseError {
                    line: key_line,
                    message: format!(
                        "mapping key {:?} already defined (mapping starting at line {line})",
                        key.value
                    ),
                });
            }
            map.entries.push((key.value, value));
        }
        for (k, v) in merged {
            if !map.contains_key(&k) {
                map.entries.push((k, v));
            }
        }
        Ok(map)
    }
}

fn tag_name(tag: &Tag) -> Result<String, String> {
    let suffix = utf8_escapes_decoded(&tag.suffix)?;
    Ok(
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            format!("!!{suffix}")
        } else {
            format!("{}{suffix}", tag.handle)
        },
    )
}

/// saphyr joins the bytes of a percent-escaped UTF-8 sequence in a tag (`%C2%99`) into one
/// number (U+C299) instead of decoding them (U+0099); three- and four-byte sequences it
/// refuses. Tags hold only ASCII otherwise, so a wider character is such a pair: decoded here.
/// A pair that is not UTF-8 (`%C1%BC`, an overlong form) is refused: a Rust string cannot hold
/// it, and written back as the joined character it would no longer read.
fn utf8_escapes_decoded(text: &str) -> Result<std::borrow::Cow<'_, str>, String> {
    if text.is_ascii() {
        return Ok(text.into());
    }
    text.chars()
        .map(|c| {
            if (c as u32) <= 0xFF {
                return Ok(c);
            }
            let [.., lead, trail] = (c as u32).to_be_bytes();
            std::str::from_utf8(&[lead, trail])
                .ok()
                .and_then(|decoded| decoded.chars().next())
                .ok_or_else(|| {
                    format!("invalid UTF-8 escape %{lead:02X}%{trail:02X} in tag {text:?}")
                })
        })
        .collect::<Result<String, String>>()
        .map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScalarKind;

    #[test]
    fn documents_keep_order_styles_and_skip_empty_ones() {
        let docs =
            parse_documents("---\na: 1\nb: '2'\n---\n---\n# only a comment\n---\n- x\n").unwrap();
        assert_eq!(docs.len(), 2);
        let a = docs[0].get("a").unwrap().as_scalar().unwrap();
        assert_eq!(a.kind(), ScalarKind::Int);
        let b = docs[0].get("b").unwrap().as_scalar().unwrap();
        assert_eq!((b.value.as_str(), b.kind()), ("2", ScalarKind::Str));
        assert_eq!(
            docs[0].as_map().unwrap().keys().collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(matches!(&docs[1], Node::Seq(items) if items.len() == 1));
    }

    #[test]
    fn anchors_and_merge_keys_are_expanded() {
        let doc =
            parse_one("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n").unwrap();
        let other = doc.get("other").unwrap().as_map().unwrap();
        assert_eq!(other.get("x").unwrap().as_str(), Some("1"));
        assert_eq!(other.get("y").unwrap().as_str(), Some("3"));
        assert_eq!(
            doc.get("list").unwrap().as_seq().unwrap()[0],
            *doc.get("base").unwrap()
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let flow = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_documents(&flow).is_err(), "the scanner's own limit");
        let block: String = (0..300)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        let error = parse_documents(&block).unwrap_err();
        assert!(error.message.contains("nested deeper than"), "{error}");
        assert!(parse_documents(&format!("{}{}", "[".repeat(100), "]".repeat(100))).is_ok());
    }

    #[test]
    fn exponential_aliases_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n", p = i - 1));
        }
        let error = parse_one(&text).unwrap_err();
        assert!(
            error.message.contains("aliases expand to more than"),
            "{error}"
        );
    }

    #[test]
    fn duplicate_keys_are_errors_with_their_line() {
        let error = parse_one("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.message.contains("\"a\" already defined"), "{error}");
    }

    #[test]
    fn malformed_yaml_is_an_error() {
        assert!(parse_documents("a: [1, 2\nb: 3\n").is_err());
        assert!(parse_documents("a: b: c\n").is_err());
    }

    #[test]
    fn escapes_that_are_not_utf8_in_tags_are_refused() {
        // Fuzzing found `!%c1%bc`: kept as U+C1BC, written as its UTF-8, and then unreadable.
        let error = parse_one("!%c1%bcb5)bca \"\"\n").unwrap_err();
        assert!(error.message.contains("%C1%BC"), "{}", error.message);
    }

    #[test]
    fn percent_escaped_utf8_in_tags_is_decoded() {
        let doc = parse_one("a: !x%C2%99y%c3%A9 v\n").unwrap();
        let tag = doc.get("a").unwrap().as_scalar().unwrap().tag.clone();
        assert_eq!(tag.as_deref(), Some("!x\u{99}y\u{e9}"));
    }

    #[test]
    fn tags_are_kept_short() {
        let doc = parse_one("a: !!str 1\nb: !custom x\n").unwrap();
        assert_eq!(
            doc.get("a").unwrap().as_scalar().unwrap().tag.as_deref(),
            Some("!!str")
        );
        assert_eq!(
            doc.get("b").unwrap().as_scalar().unwrap().tag.as_deref(),
            Some("!custom")
        );
    }
}
