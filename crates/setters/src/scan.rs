//! One pass over a YAML stream's events finding every scalar value that carries a marker
//! on its line, with the exact bytes of its text, and who each document is.

use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::marker;
use crate::result::ObjectIdentifier;
use crate::scalar::{self, Quoting};

/// A scalar value with a marker comment after it on its line.
#[derive(Debug, Clone)]
pub(crate) struct Marked {
    pub document: usize,
    pub setter: String,
    pub line: usize,
    pub field: String,
    pub target: Target,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A one-line scalar whose text is exactly `range`.
    Scalar {
        range: Range<usize>,
        quoting: Quoting,
        value: String,
        in_flow: bool,
    },
    /// A marked node this crate does not rewrite (why, for the report).
    Unsupported(&'static str),
}

pub(crate) struct Scan {
    pub marked: Vec<Marked>,
    /// Per document, in stream order.
    pub documents: Vec<ObjectIdentifier>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub line: usize,
    pub message: String,
}

/// Deeper nesting than any manifest needs is refused rather than tracked.
const MAX_DEPTH: usize = 512;

enum Frame {
    Map {
        key: Option<String>,
        expecting_key: bool,
        flow: bool,
    },
    Seq {
        index: usize,
        flow: bool,
    },
}

struct Walk<'t> {
    text: &'t str,
    /// Byte offset of each char index the parser reports (absent when the text is ASCII).
    char_offsets: Option<Vec<usize>>,
    frames: Vec<Frame>,
    /// Byte where the previous event's span ended.
    previous_end: usize,
    scan: Scan,
}

pub(crate) fn scan(text: &str) -> Result<Scan, ScanError> {
    let char_offsets = (!text.is_ascii()).then(|| {
        let mut offsets: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
        offsets.push(text.len());
        offsets
    });
    let mut walk = Walk {
        text,
        char_offsets,
        frames: Vec::new(),
        previous_end: 0,
        scan: Scan {
            marked: Vec::new(),
            documents: Vec::new(),
        },
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|error| ScanError {
            line: error.marker().line(),
            message: error.info().to_owned(),
        })?;
        walk.event(event, span)?;
        walk.previous_end = walk.byte(span.end.index());
    }
    Ok(walk.scan)
}

impl Walk<'_> {
    fn byte(&self, char_index: usize) -> usize {
        match &self.char_offsets {
            Some(offsets) => offsets.get(char_index).copied().unwrap_or(self.text.len()),
            None => char_index.min(self.text.len()),
        }
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), ScanError> {
        match event {
            Event::DocumentStart(_) => {
                self.frames.clear();
                self.scan.documents.push(ObjectIdentifier::default());
            }
            Event::Scalar(value, style, _, _) => {
                let is_key = self.expecting_key();
                if !is_key {
                    self.value_scalar(&value, style, span);
                }
                self.node_done(is_key.then(|| value.into_owned()));
            }
            Event::Alias(_) => {
                let is_key = self.expecting_key();
                if !is_key {
                    let start = self.byte(span.start.index());
                    let end = self.text[start..]
                        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}'))
                        .map_or(self.text.len(), |len| start + len);
                    self.unsupported(end, "an alias");
                }
                self.node_done(is_key.then(|| "*".to_owned()));
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if self.frames.len() >= MAX_DEPTH {
                    return Err(ScanError {
                        line: span.start.line(),
                        message: format!("nested deeper than {MAX_DEPTH} levels"),
                    });
                }
                let is_key = self.expecting_key();
                // Remember a collection used as a key by a placeholder key on its parent.
                if is_key && let Some(Frame::Map { key, .. }) = self.frames.last_mut() {
                    *key = Some("?".to_owned());
                }
                let start = self.byte(span.start.index());
                let flow = self.text[start..].starts_with(['{', '[']);
                let frame = match event {
                    Event::MappingStart(..) => Frame::Map {
                        key: None,
                        expecting_key: true,
                        flow,
                    },
                    _ => Frame::Seq { index: 0, flow },
                };
                self.frames.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.frames.pop();
                // The key placeholder was set at the start; only the toggling is left.
                let was_key = self.expecting_key();
                self.node_done(was_key.then(|| "?".to_owned()));
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn expecting_key(&self) -> bool {
        matches!(
            self.frames.last(),
            Some(Frame::Map {
                expecting_key: true,
                ..
            })
        )
    }

    /// A node ended: a map moves from key to value or value to key, a sequence on.
    fn node_done(&mut self, key: Option<String>) {
        match self.frames.last_mut() {
            Some(Frame::Map {
                key: current,
                expecting_key,
                ..
            }) => {
                if *expecting_key {
                    *current = key;
                }
                *expecting_key = !*expecting_key;
            }
            Some(Frame::Seq { index, .. }) => *index += 1,
            None => {}
        }
    }

    fn in_flow(&self) -> bool {
        self.frames.iter().any(|frame| match frame {
            Frame::Map { flow, .. } | Frame::Seq { flow, .. } => *flow,
        })
    }

    fn field(&self) -> String {
        let mut field = String::new();
        for frame in &self.frames {
            match frame {
                Frame::Map { key, .. } => {
                    if !field.is_empty() {
                        field.push('.');
                    }
                    field.push_str(key.as_deref().unwrap_or("?"));
                }
                Frame::Seq { index, .. } => field.push_str(&format!("[{index}]")),
            }
        }
        field
    }

    fn value_scalar(&mut self, value: &str, style: ScalarStyle, span: Span) {
        self.note_identity(value);
        let start = self.byte(span.start.index());
        let quoting = match style {
            ScalarStyle::Plain => Quoting::Plain,
            ScalarStyle::SingleQuoted => Quoting::Single,
            ScalarStyle::DoubleQuoted => Quoting::Double,
            ScalarStyle::Literal | ScalarStyle::Folded => {
                // The parser's span starts at the content; the marker sits on the header
                // line (`key: | # {...}`), the first `|` or `>` after the previous event.
                let from = self.previous_end.min(start);
                if let Some(header) = self.text[from..start].find(['|', '>']) {
                    let header = from + header;
                    let indicators_end = self.text[header..]
                        .find(char::is_whitespace)
                        .map_or(self.text.len(), |n| header + n);
                    self.unsupported(indicators_end, "a block scalar");
                }
                return;
            }
        };
        let parser_end = self.byte(span.end.index());
        if value.is_empty() && quoting == Quoting::Plain {
            // An empty value: the parser's span is empty and a comment after the key is
            // the key's, as yaml.v3 reads it; nothing to set.
            return;
        }
        let Some(range) = scalar::locate(self.text, start, parser_end, quoting, value) else {
            // A multi-line scalar (or text we cannot map back): report its marker rather
            // than guess.
            if let Some(end) = scalar::text_end(self.text, start, parser_end, quoting) {
                self.unsupported(end, "a multi-line or unreadable scalar");
            }
            return;
        };
        let Some(setter) = comment_after(self.text, range.end).and_then(marker::setter_name) else {
            return;
        };
        let target = Target::Scalar {
            range,
            quoting,
            value: value.to_owned(),
            in_flow: self.in_flow(),
        };
        self.mark(setter, span.start.line(), target);
    }

    fn unsupported(&mut self, end: usize, what: &'static str) {
        if let Some(setter) = comment_after(self.text, end).and_then(marker::setter_name) {
            let line = self.text[..end].matches('\n').count() + 1;
            self.mark(setter, line, Target::Unsupported(what));
        }
    }

    fn mark(&mut self, setter: String, line: usize, target: Target) {
        let marked = Marked {
            document: self.scan.documents.len().saturating_sub(1),
            setter,
            line,
            field: self.field(),
            target,
        };
        self.scan.marked.push(marked);
    }

    /// `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` of the document.
    fn note_identity(&mut self, value: &str) {
        let key_at = |depth: usize| match self.frames.get(depth) {
            Some(Frame::Map { key: Some(key), .. }) => Some(key.as_str()),
            _ => None,
        };
        let Some(id) = self.scan.documents.last_mut() else {
            return;
        };
        let field = match (self.frames.len(), key_at(0), key_at(1)) {
            (1, Some("apiVersion"), _) => &mut id.api_version,
            (1, Some("kind"), _) => &mut id.kind,
            (2, Some("metadata"), Some("name")) => &mut id.name,
            (2, Some("metadata"), Some("namespace")) => &mut id.namespace,
            _ => return,
        };
        value.clone_into(field);
    }
}

/// The comment after byte `end` on the same line (`#` to the end of the line, a trailing
/// `\r` left out), when only blanks (at least one, as YAML requires) come between.
pub(crate) fn comment_after(text: &str, end: usize) -> Option<&str> {
    let rest = text.get(end..)?;
    let blanks = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let rest = &rest[blanks..];
    if blanks == 0 || !rest.starts_with('#') {
        return None;
    }
    let line = rest.split('\n').next().unwrap_or(rest);
    Some(line.strip_suffix('\r').unwrap_or(line))
}
