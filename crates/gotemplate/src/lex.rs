//! The lexer: Go's `text/template/parse/lex.go` item stream, produced eagerly.

/// A lexical item.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Tok<'a> {
    Text(&'a str),
    LeftDelim,
    RightDelim,
    Space,
    Ident(&'a str),
    Field(&'a str),
    Variable(&'a str),
    Str(&'a str),
    RawStr(&'a str),
    Char(&'a str),
    Number(&'a str),
    Bool(bool),
    Nil,
    Dot,
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    /// An ASCII punctuation character (`,` in `range $i, $v`).
    Punct(char),
    Keyword(&'static str),
    Eof,
    /// Lexing stopped here; the message is [`Lexed::error`] (only one: Go's lexer stops at
    /// its first error), which keeps items `Copy` for the parser.
    Error,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Item<'a> {
    pub tok: Tok<'a>,
    pub pos: usize,
}

impl Item<'_> {
    /// Go's `item.String()`, used in parse errors.
    pub fn describe(&self) -> String {
        let val = match &self.tok {
            Tok::Eof => return "EOF".into(),
            Tok::Error => return "error".into(),
            Tok::Keyword(k) => return format!("<{k}>"),
            Tok::Text(s) | Tok::Ident(s) | Tok::Field(s) | Tok::Variable(s) => s.to_string(),
            Tok::Str(s) | Tok::RawStr(s) | Tok::Char(s) | Tok::Number(s) => s.to_string(),
            Tok::LeftDelim => "{{".into(),
            Tok::RightDelim => "}}".into(),
            Tok::Space => " ".into(),
            Tok::Bool(b) => b.to_string(),
            Tok::Nil => "nil".into(),
            Tok::Dot => ".".into(),
            Tok::Pipe => "|".into(),
            Tok::LeftParen => "(".into(),
            Tok::RightParen => ")".into(),
            Tok::Declare => ":=".into(),
            Tok::Assign => "=".into(),
            Tok::Punct(c) => c.to_string(),
        };
        if val.chars().count() > 10 {
            let short: String = val.chars().take(10).collect();
            format!("{}...", crate::print::quote(&short))
        } else {
            crate::print::quote(&val)
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn keyword(word: &str) -> Option<Tok<'static>> {
    Some(match word {
        "block" => Tok::Keyword("block"),
        "break" => Tok::Keyword("break"),
        "continue" => Tok::Keyword("continue"),
        "define" => Tok::Keyword("define"),
        "else" => Tok::Keyword("else"),
        "end" => Tok::Keyword("end"),
        "if" => Tok::Keyword("if"),
        "range" => Tok::Keyword("range"),
        "template" => Tok::Keyword("template"),
        "with" => Tok::Keyword("with"),
        "nil" => Tok::Nil,
        "true" => Tok::Bool(true),
        "false" => Tok::Bool(false),
        _ => return None,
    })
}

struct Lexer<'a> {
    input: &'a str,
    /// Built once: a template has an action every few dozen bytes.
    left_delim_finder: memchr::memmem::Finder<'static>,
    pos: usize,
    items: Vec<Item<'a>>,
    error: Option<String>,
    paren_depth: usize,
}

/// A lexed template: items ending with `Eof` or `Error`, and the error's message.
pub(crate) struct Lexed<'a> {
    pub items: Vec<Item<'a>>,
    pub error: Option<String>,
}

/// Lexes `input` into items ending with `Eof` or an `Error`.
pub(crate) fn lex(input: &str) -> Lexed<'_> {
    let mut l = Lexer {
        input,
        left_delim_finder: memchr::memmem::Finder::new(LEFT.as_bytes()),
        pos: 0,
        // Roughly one item per 32 bytes in action-dense helpers; generous for text-heavy
        // files, where the unused part is never touched. Saves regrowing and copying.
        items: Vec::with_capacity(input.len() / 32 + 16),
        error: None,
        paren_depth: 0,
    };
    l.run();
    Lexed {
        items: l.items,
        error: l.error,
    }
}

impl<'a> Lexer<'a> {
    fn emit(&mut self, tok: Tok<'a>, pos: usize) {
        self.items.push(Item { tok, pos });
    }

    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        match self.input.as_bytes().get(self.pos) {
            Some(&byte) if byte.is_ascii() => Some(char::from(byte)),
            Some(_) => self.rest().chars().next(),
            None => None,
        }
    }

    fn error(&mut self, pos: usize, msg: String) {
        self.error.get_or_insert(msg);
        self.emit(Tok::Error, pos);
    }

    /// Whether `s` starts with a left trim marker (`- ` after the delimiter).
    fn left_trim(s: &str) -> bool {
        let mut c = s.chars();
        c.next() == Some('-') && c.next().is_some_and(is_space)
    }

    fn run(&mut self) {
        let mut trim_next_text = false;
        loop {
            // Text up to the next action.
            let rest = self.rest();
            let (text_end, found) = match self.left_delim_finder.find(rest.as_bytes()) {
                Some(i) => (self.pos + i, true),
                None => (self.input.len(), false),
            };
            let mut text = &self.input[self.pos..text_end];
            let mut text_start = self.pos;
            if trim_next_text {
                let trimmed = text.trim_start_matches(is_space);
                text_start += text.len() - trimmed.len();
                text = trimmed;
            }
            let trim_left = found && Self::left_trim(&self.input[text_end + LEFT.len()..]);
            if trim_left {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text), text_start);
            }
            if !found {
                self.pos = self.input.len();
                self.emit(Tok::Eof, self.pos);
                return;
            }
            self.pos = text_end;
            match self.left_delim(trim_left) {
                Some(trim) => trim_next_text = trim,
                None => return,
            }
        }
    }

    /// Lexes from a left delimiter through its right delimiter. Returns whether the right
    /// delimiter trims, or None after an error.
    fn left_delim(&mut self, trim_left: bool) -> Option<bool> {
        let start = self.pos;
        self.pos += LEFT.len();
        if trim_left {
            self.pos += 2;
        }
        if self.rest().starts_with("/*") {
            return self.comment(start);
        }
        self.emit(Tok::LeftDelim, start);
        self.paren_depth = 0;
        self.inside_action()
    }

    fn at_right_delim(&self) -> Option<(bool, usize)> {
        let rest = self.rest();
        if rest.starts_with(RIGHT) {
            return Some((false, RIGHT.len()));
        }
        // " -}}": the space is consumed by the caller's space run; here "-}}".
        None
    }

    fn comment(&mut self, start: usize) -> Option<bool> {
        let body = self.pos + 2;
        let Some(end) = self.input[body..].find("*/") else {
            self.error(start, "unclosed comment".into());
            return None;
        };
        self.pos = body + end + 2;
        let rest = self.rest();
        let mut trim = false;
        if rest.len() > 2 && rest.starts_with(|c: char| is_space(c)) {
            let after = &rest[1..];
            if after.starts_with("-}}") {
                trim = true;
                self.pos += 1 + 3;
                return Some(trim);
            }
        }
        if rest.starts_with(RIGHT) {
            self.pos += RIGHT.len();
            return Some(trim);
        }
        self.error(start, "comment ends before closing delimiter".into());
        None
    }

    fn inside_action(&mut self) -> Option<bool> {
        loop {
            if let Some((trim, len)) = self.at_right_delim() {
                if self.paren_depth > 0 {
                    self.error(self.pos, "unclosed left paren".into());
                    return None;
                }
                self.emit(Tok::RightDelim, self.pos);
                self.pos += len;
                return Some(trim);
            }
            let start = self.pos;
            let Some(c) = self.peek() else {
                self.error(start, "unclosed action".into());
                return None;
            };
            if is_space(c) {
                let rest = self.rest();
                let n = rest.len() - rest.trim_start_matches(is_space).len();
                // A trim marker: spaces, then "-}}".
                let after = &rest[n..];
                if after.starts_with("-}}") {
                    self.emit(Tok::Space, start);
                    self.pos += n;
                    if self.paren_depth > 0 {
                        self.error(self.pos, "unclosed left paren".into());
                        return None;
                    }
                    self.emit(Tok::RightDelim, self.pos);
                    self.pos += 3;
                    return Some(true);
                }
                self.pos += n;
                self.emit(Tok::Space, start);
                continue;
            }
            self.pos += c.len_utf8();
            match c {
                '=' => self.emit(Tok::Assign, start),
                ':' => {
                    if self.peek() != Some('=') {
                        self.error(start, "expected :=".into());
                        return None;
                    }
                    self.pos += 1;
                    self.emit(Tok::Declare, start);
                }
                '|' => self.emit(Tok::Pipe, start),
                '"' => {
                    if !self.quote(start) {
                        return None;
                    }
                }
                '`' => match self.rest().find('`') {
                    Some(i) => {
                        self.pos += i + 1;
                        self.emit(Tok::RawStr(&self.input[start..self.pos]), start);
                    }
                    None => {
                        self.error(start, "unterminated raw quoted string".into());
                        return None;
                    }
                },
                '$' => {
                    if !self.field_or_variable(start, true) {
                        return None;
                    }
                }
                '\'' => {
                    if !self.char_const(start) {
                        return None;
                    }
                }
                '.' => {
                    if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.pos = start;
                        if !self.number(start) {
                            return None;
                        }
                    } else if !self.field_or_variable(start, false) {
                        return None;
                    }
                }
                '+' | '-' | '0'..='9' => {
                    self.pos = start;
                    if !self.number(start) {
                        return None;
                    }
                }
                c if is_alnum(c) => {
                    self.pos = start;
                    if !self.identifier(start) {
                        return None;
                    }
                }
                '(' => {
                    self.paren_depth += 1;
                    self.emit(Tok::LeftParen, start);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        self.error(start, "unexpected right paren".into());
                        return None;
                    }
                    self.paren_depth -= 1;
                    self.emit(Tok::RightParen, start);
                }
                c if c.is_ascii() && !c.is_ascii_control() => self.emit(Tok::Punct(c), start),
                c => {
                    self.error(
                        start,
                        format!("unrecognized character in action: {}", go_u(c)),
                    );
                    return None;
                }
            }
        }
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) => is_space(c) || matches!(c, '.' | ',' | '|' | ':' | ')' | '(') || c == '}',
        }
    }

    fn scan_alnum(&mut self) {
        let bytes = self.input.as_bytes();
        while let Some(&byte) = bytes.get(self.pos) {
            if byte.is_ascii_alphanumeric() || byte == b'_' {
                self.pos += 1;
                continue;
            }
            match self.peek() {
                Some(c) if !byte.is_ascii() && is_alnum(c) => self.pos += c.len_utf8(),
                _ => break,
            }
        }
    }

    fn identifier(&mut self, start: usize) -> bool {
        self.scan_alnum();
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            self.error(start, format!("bad character {}", go_u(c)));
            return false;
        }
        let word = &self.input[start..self.pos];
        let tok = keyword(word).unwrap_or(Tok::Ident(word));
        self.emit(tok, start);
        true
    }

    fn field_or_variable(&mut self, start: usize, variable: bool) -> bool {
        if self.at_terminator() {
            if variable {
                self.emit(Tok::Variable("$"), start);
            } else {
                self.emit(Tok::Dot, start);
            }
            return true;
        }
        self.scan_alnum();
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            self.error(start, format!("bad character {}", go_u(c)));
            return false;
        }
        let word = &self.input[start..self.pos];
        if variable {
            self.emit(Tok::Variable(word), start);
        } else {
            self.emit(Tok::Field(word), start);
        }
        true
    }

    fn quote(&mut self, start: usize) -> bool {
        loop {
            // Skip to the next byte that matters; all three are ASCII, so this stays on a
            // character boundary.
            let rest = &self.input.as_bytes()[self.pos..];
            self.pos += memchr::memchr3(b'\\', b'\n', b'"', rest).unwrap_or(rest.len());
            match self.peek() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) if c != '\n' => self.pos += c.len_utf8(),
                        _ => {
                            self.error(start, "unterminated quoted string".into());
                            return false;
                        }
                    }
                }
                None | Some('\n') => {
                    self.error(start, "unterminated quoted string".into());
                    return false;
                }
                Some('"') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        self.emit(Tok::Str(&self.input[start..self.pos]), start);
        true
    }

    fn char_const(&mut self, start: usize) -> bool {
        loop {
            match self.peek() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) if c != '\n' => self.pos += c.len_utf8(),
                        _ => {
                            self.error(start, "unterminated character constant".into());
                            return false;
                        }
                    }
                }
                None | Some('\n') => {
                    self.error(start, "unterminated character constant".into());
                    return false;
                }
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        self.emit(Tok::Char(&self.input[start..self.pos]), start);
        true
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn number(&mut self, start: usize) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            if let Some(c) = self.peek() {
                self.pos += c.len_utf8();
            }
            let s = self.input[start..self.pos].to_string();
            self.error(
                start,
                format!("bad number syntax: {}", crate::print::quote(&s)),
            );
            return false;
        }
        self.emit(Tok::Number(&self.input[start..self.pos]), start);
        true
    }
}

/// Go's `%#U`.
fn go_u(c: char) -> String {
    format!("U+{:04X} '{c}'", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok<'_>> {
        lex(s).items.into_iter().map(|i| i.tok).collect()
    }

    #[test]
    fn trims_and_fields() {
        assert_eq!(
            toks("a  {{- .x.y -}}  b"),
            vec![
                Tok::Text("a"),
                Tok::LeftDelim,
                Tok::Field(".x"),
                Tok::Field(".y"),
                Tok::Space,
                Tok::RightDelim,
                Tok::Text("b"),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("{{-3}}"),
            vec![Tok::LeftDelim, Tok::Number("-3"), Tok::RightDelim, Tok::Eof]
        );
    }

    #[test]
    fn errors() {
        let error = |s: &str| {
            let lexed = lex(s);
            assert_eq!(lexed.items.last().map(|i| i.tok), Some(Tok::Error));
            lexed.error
        };
        assert_eq!(
            error("{{ \"a").as_deref(),
            Some("unterminated quoted string")
        );
        assert_eq!(
            error("{{/* x */ y}}").as_deref(),
            Some("comment ends before closing delimiter")
        );
    }
}
