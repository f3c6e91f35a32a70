//! The parser: Go's `text/template/parse/parse.go`, producing one tree per template
//! (the body, each `define` and each `block`).

use std::sync::Arc;

use crate::ast::{Arg, Command, Control, Name, Node, Number, Pipe, Span, Tree};
use crate::error::ParseError;
use crate::lex::{Item, Tok, lex};

/// Parses `text` as template `name`; returns its tree first, then the ones it defines.
pub(crate) fn parse(
    name: &str,
    text: Arc<str>,
    has_func: &dyn Fn(&str) -> bool,
) -> Result<Vec<Tree>, ParseError> {
    let lexed = lex(&text);
    let mut p = Parser {
        items: lexed.items,
        lex_error: lexed.error,
        i: 0,
        parse_name: name.to_string(),
        text: text.clone(),
        vars: vec!["$".into()],
        range_depth: 0,
        has_func,
        trees: Vec::new(),
        depth: 0,
    };
    let root = p.top()?;
    let main = Tree {
        name: name.to_string(),
        parse_name: name.to_string(),
        text: Arc::clone(&text),
        root,
    };
    let mut out = vec![main];
    // Go's treeSet.add: a later non-empty definition of the same name is an error.
    for tree in std::mem::take(&mut p.trees) {
        add_tree(&mut out, tree, name)?;
    }
    Ok(out)
}

fn add_tree(out: &mut Vec<Tree>, tree: Tree, parse_name: &str) -> Result<(), ParseError> {
    match out.iter().position(|t| t.name == tree.name) {
        None => out.push(tree),
        Some(i) if out[i].is_empty() => out[i] = tree,
        Some(_) if tree.is_empty() => {}
        Some(_) => {
            let line = 1;
            return Err(ParseError::new(format!(
                "template: {parse_name}:{line}: template: multiple definition of template {}",
                crate::print::quote(&tree.name)
            )));
        }
    }
    Ok(())
}

const MAX_DEPTH: usize = 100;

/// Go's line of an item: 1 + the newlines before it. Counted only for errors, so items need
/// not carry it.
fn line_at(text: &str, pos: usize) -> usize {
    let pos = pos.min(text.len());
    1 + memchr::memchr_iter(b'\n', &text.as_bytes()[..pos]).count()
}

struct Parser<'t> {
    items: Vec<Item<'t>>,
    /// The message of the lexer's `Error` item, if it stopped at one.
    lex_error: Option<String>,
    i: usize,
    parse_name: String,
    text: Arc<str>,
    vars: Vec<Name>,
    range_depth: usize,
    has_func: &'t dyn Fn(&str) -> bool,
    trees: Vec<Tree>,
    depth: usize,
}

type R<T> = Result<T, ParseError>;

impl<'t> Parser<'t> {
    fn peek(&self) -> &Item<'t> {
        let i = self.i.min(self.items.len().saturating_sub(1));
        &self.items[i]
    }
    fn next(&mut self) -> Item<'t> {
        let item = *self.peek();
        if self.i < self.items.len() {
            self.i += 1;
        }
        item
    }
    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }
    fn next_non_space(&mut self) -> Item<'t> {
        loop {
            let item = self.next();
            if !matches!(item.tok, Tok::Space) {
                return item;
            }
        }
    }
    fn peek_non_space(&mut self) -> Item<'t> {
        let item = self.next_non_space();
        self.backup();
        item
    }
    /// The line of the last token read (Go reports parse errors there).
    fn line(&self) -> usize {
        let i = self
            .i
            .saturating_sub(1)
            .min(self.items.len().saturating_sub(1));
        let pos = self.items.get(i).map_or(0, |t| t.pos);
        line_at(&self.text, pos)
    }
    fn error<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(ParseError::new(format!(
            "template: {}:{}: {}",
            self.parse_name,
            self.line(),
            msg.into()
        )))
    }
    fn unexpected<T>(&self, item: &Item, context: &str) -> R<T> {
        if matches!(item.tok, Tok::Error) {
            return self.error(self.lex_error.clone().unwrap_or_default());
        }
        self.error(format!("unexpected {} in {context}", item.describe()))
    }
    fn expect(&mut self, want: &Tok, context: &str) -> R<Item<'t>> {
        let item = self.next_non_space();
        if std::mem::discriminant(&item.tok) != std::mem::discriminant(want) {
            return self.unexpected(&item, context);
        }
        Ok(item)
    }
    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error("template nesting too deep");
        }
        Ok(())
    }

    fn top(&mut self) -> R<Vec<Node>> {
        let mut root = Vec::new();
        while !matches!(self.peek().tok, Tok::Eof) {
            if matches!(self.peek().tok, Tok::LeftDelim) {
                self.next();
                if self.next_non_space().tok == Tok::Keyword("define") {
                    self.definition()?;
                    continue;
                }
                // Back up to the delimiter.
                while self.i > 0 && !matches!(self.items[self.i - 1].tok, Tok::LeftDelim) {
                    self.i -= 1;
                }
                self.i = self.i.saturating_sub(1);
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.push(n),
                Parsed::End => return self.error("unexpected {{end}}"),
                Parsed::Else => return self.error("unexpected {{else}}"),
            }
        }
        Ok(root)
    }

    fn parse_template_name(&mut self, item: &Item, context: &str) -> R<String> {
        match &item.tok {
            Tok::Str(s) | Tok::RawStr(s) => match unquote(s) {
                Some(v) => Ok(v),
                None => self.error("invalid syntax"),
            },
            _ => self.unexpected(item, context),
        }
    }

    fn definition(&mut self) -> R<()> {
        let context = "define clause";
        let item = self.next_non_space();
        if !matches!(item.tok, Tok::Str(_) | Tok::RawStr(_)) {
            return self.unexpected(&item, context);
        }
        let name = self.parse_template_name(&item, context)?;
        self.expect(&Tok::RightDelim, context)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (root, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, Parsed::End) {
            return self.error(format!("unexpected {} in {context}", end.describe()));
        }
        self.add(name, root)
    }

    fn add(&mut self, name: String, root: Vec<Node>) -> R<()> {
        let tree = Tree {
            name,
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root,
        };
        match self.trees.iter().position(|t| t.name == tree.name) {
            None => self.trees.push(tree),
            Some(i) if self.trees[i].is_empty() => self.trees[i] = tree,
            Some(_) if tree.is_empty() => {}
            Some(_) => {
                return self.error(format!(
                    "template: multiple definition of template {}",
                    crate::print::quote(&tree.name)
                ));
            }
        }
        Ok(())
    }

    fn item_list(&mut self) -> R<(Vec<Node>, Parsed)> {
        let mut list = Vec::new();
        while !matches!(self.peek_non_space().tok, Tok::Eof) {
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
        self.error("unexpected EOF")
    }

    fn text_or_action(&mut self) -> R<Parsed> {
        let item = self.next_non_space();
        match item.tok {
            Tok::Text(t) => {
                debug_assert_eq!(self.text.get(item.pos..item.pos + t.len()), Some(t));
                Ok(Parsed::Node(Node::Text(Span {
                    start: item.pos,
                    end: item.pos + t.len(),
                })))
            }
            Tok::LeftDelim => {
                self.enter()?;
                let r = self.action();
                self.depth -= 1;
                r
            }
            _ => self.unexpected(&item, "input"),
        }
    }

    fn action(&mut self) -> R<Parsed> {
        let item = self.next_non_space();
        match item.tok {
            Tok::Keyword("block") => self.block(),
            Tok::Keyword("break") | Tok::Keyword("continue") => {
                let is_break = item.tok == Tok::Keyword("break");
                let word = if is_break { "break" } else { "continue" };
                if self.range_depth == 0 {
                    return self.error(format!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                let t = self.next_non_space();
                if !matches!(t.tok, Tok::RightDelim) {
                    return self.unexpected(&t, &format!("{{{{{word}}}}}"));
                }
                Ok(Parsed::Node(if is_break {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            Tok::Keyword("else") => {
                let peek = self.peek_non_space();
                if matches!(peek.tok, Tok::Keyword("if") | Tok::Keyword("with")) {
                    return Ok(Parsed::Else);
                }
                self.expect(&Tok::RightDelim, "else")?;
                Ok(Parsed::Else)
            }
            Tok::Keyword("end") => {
                self.expect(&Tok::RightDelim, "end")?;
                Ok(Parsed::End)
            }
            Tok::Keyword("if") => Ok(Parsed::Node(Node::If(self.control("if")?))),
            Tok::Keyword("range") => Ok(Parsed::Node(Node::Range(self.control("range")?))),
            Tok::Keyword("with") => Ok(Parsed::Node(Node::With(self.control("with")?))),
            Tok::Keyword("template") => {
                let context = "template clause";
                let t = self.next_non_space();
                let pos = t.pos;
                let name = self.parse_template_name(&t, context)?;
                let pipe = if !matches!(self.next_non_space().tok, Tok::RightDelim) {
                    self.backup();
                    Some(self.pipeline(context, &Tok::RightDelim)?)
                } else {
                    None
                };
                Ok(Parsed::Node(Node::Template {
                    pos,
                    name: name.into(),
                    pipe,
                }))
            }
            _ => {
                self.backup();
                Ok(Parsed::Node(Node::Action(
                    self.pipeline("command", &Tok::RightDelim)?,
                )))
            }
        }
    }

    fn block(&mut self) -> R<Parsed> {
        let context = "block clause";
        let t = self.next_non_space();
        let pos = t.pos;
        let name = self.parse_template_name(&t, context)?;
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let (root, end) = self.item_list()?;
        self.vars = saved;
        self.range_depth = saved_range;
        if !matches!(end, Parsed::End) {
            return self.error(format!("unexpected {} in {context}", end.describe()));
        }
        self.add(name.clone(), root)?;
        Ok(Parsed::Node(Node::Template {
            pos,
            name: name.into(),
            pipe: Some(pipe),
        }))
    }

    fn control(&mut self, context: &str) -> R<Control> {
        let mark = self.vars.len();
        let r = self.control_inner(context);
        self.vars.truncate(mark);
        r
    }

    fn control_inner(&mut self, context: &str) -> R<Control> {
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        let pos = pipe.pos;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        match next {
            Parsed::End => {}
            Parsed::Else => {
                let peek = self.peek_non_space();
                if context == "if" && peek.tok == Tok::Keyword("if") {
                    self.next_non_space();
                    self.enter()?;
                    let nested = self.control("if");
                    self.depth -= 1;
                    else_list = Some(vec![Node::If(nested?)]);
                } else if context == "with" && peek.tok == Tok::Keyword("with") {
                    self.next_non_space();
                    self.enter()?;
                    let nested = self.control("with");
                    self.depth -= 1;
                    else_list = Some(vec![Node::With(nested?)]);
                } else {
                    let (l, next) = self.item_list()?;
                    if !matches!(next, Parsed::End) {
                        return self.error(format!("expected end; found {}", next.describe()));
                    }
                    else_list = Some(l);
                }
            }
            Parsed::Node(_) => {}
        }
        Ok(Control {
            pos,
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> R<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::with_capacity(4),
        };
        loop {
            let v = self.peek_non_space();
            let Tok::Variable(name) = v.tok else { break };
            let name = Name::from(name);
            let save = self.i;
            self.next_non_space();
            let after = *self.peek();
            let next = self.peek_non_space();
            match next.tok {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = matches!(next.tok, Tok::Assign);
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                }
                Tok::Punct(',') => {
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Variable(_) | Tok::RightDelim | Tok::RightParen => continue,
                            _ => return self.error("range can only initialize variables"),
                        }
                    }
                    return self.error(format!("too many declarations in {context}"));
                }
                _ => {
                    let _ = after;
                    self.i = save;
                }
            }
            break;
        }
        loop {
            let item = self.next_non_space();
            if std::mem::discriminant(&item.tok) == std::mem::discriminant(end) {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match item.tok {
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&item, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> R<()> {
        if pipe.cmds.is_empty() {
            return self.error(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(
                Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number { .. } | Arg::Str { .. },
            ) = c.args.first()
            {
                return self.error(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> R<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            // What the first push would allocate anyway, without the growth path.
            args: Vec::with_capacity(4),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let item = self.next();
            match item.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                _ => return self.unexpected(&item, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.error("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> R<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if !matches!(self.peek().tok, Tok::Field(_)) {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while let Tok::Field(f) = &self.peek().tok {
            fields.push(Name::from(&f[1..]));
            self.next();
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            Arg::Bool(..) | Arg::Str { .. } | Arg::Number { .. } | Arg::Nil(_) | Arg::Dot(_) => {
                return self.error(format!(
                    "unexpected . after term {}",
                    crate::print::quote(&node.to_string())
                ));
            }
            node => Arg::Chain {
                pos,
                node: Box::new(node),
                fields,
            },
        }))
    }

    fn term(&mut self) -> R<Option<Arg>> {
        let item = self.next_non_space();
        let pos = item.pos;
        Ok(Some(match item.tok {
            Tok::Ident(name) => {
                if !(self.has_func)(name) {
                    return self.error(format!(
                        "function {} not defined",
                        crate::print::quote(name)
                    ));
                }
                Arg::Ident(pos, Name::from(name))
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Variable(name) => {
                if !self.vars.iter().any(|v| v == name) {
                    return self.error(format!("undefined variable {}", crate::print::quote(name)));
                }
                Arg::Variable {
                    pos,
                    idents: vec![Name::from(name)],
                }
            }
            Tok::Field(f) => Arg::Field {
                pos,
                idents: vec![Name::from(&f[1..])],
            },
            Tok::Bool(b) => Arg::Bool(pos, b),
            Tok::Char(text) | Tok::Number(text) => match parse_number(text) {
                Ok(value) => Arg::Number {
                    pos,
                    text: Name::from(text),
                    value,
                },
                Err(e) => return self.error(e),
            },
            Tok::LeftParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", &Tok::RightParen);
                self.depth -= 1;
                Arg::Pipe(Box::new(p?))
            }
            Tok::Str(quoted) | Tok::RawStr(quoted) => match unquote_name(quoted) {
                Some(value) => Arg::Str {
                    pos,
                    quoted: Name::from(quoted),
                    value,
                },
                None => return self.error("invalid syntax"),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

enum Parsed {
    Node(Node),
    End,
    Else,
}

impl Parsed {
    fn describe(&self) -> &'static str {
        match self {
            Parsed::End => "{{end}}",
            Parsed::Else => "{{else}}",
            Parsed::Node(_) => "node",
        }
    }
}

/// Go's `strconv.Unquote` for `"…"`, `` `…` `` and `'…'`.
/// [`unquote`] into a [`Name`], without a temporary `String` when nothing is escaped.
fn unquote_name(quoted: &str) -> Option<Name> {
    let plain = quoted.len() >= 2
        && matches!(quoted.as_bytes()[0], b'"' | b'`')
        && quoted.as_bytes()[quoted.len() - 1] == quoted.as_bytes()[0]
        && !quoted[1..quoted.len() - 1].contains(['\\', '\r', '\n', '"', '`']);
    if plain {
        return Some(Name::from(&quoted[1..quoted.len() - 1]));
    }
    unquote(quoted).map(Name::from)
}

pub(crate) fn unquote(s: &str) -> Option<String> {
    let quote = s.chars().next()?;
    if s.len() < 2 || !s.ends_with(quote) {
        return None;
    }
    let body = &s[1..s.len() - 1];
    if quote == '`' {
        return Some(body.replace('\r', ""));
    }
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == quote || (c == '\n') {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '\'' if quote == '\'' => out.push('\''),
            '"' if quote == '"' => out.push('"'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(n).collect();
                if hex.len() != n {
                    return None;
                }
                let v = u32::from_str_radix(&hex, 16).ok()?;
                if e == 'x' {
                    if v >= 0x80 {
                        // A raw byte; only ASCII is representable here.
                        return None;
                    }
                    out.push(char::from_u32(v)?);
                } else {
                    out.push(char::from_u32(v)?);
                }
            }
            '0'..='7' => {
                let mut digits = String::from(e);
                digits.extend(chars.by_ref().take(2));
                if digits.len() != 3 {
                    return None;
                }
                let v = u32::from_str_radix(&digits, 8).ok()?;
                if v >= 0x80 {
                    return None;
                }
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    if quote == '\'' && out.chars().count() != 1 {
        return None;
    }
    Some(out)
}

fn parse_int(text: &str) -> Option<i128> {
    let (neg, t) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let t = t.replace('_', "");
    let (radix, digits) = if let Some(d) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, d.to_string())
    } else if let Some(d) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        (8, d.to_string())
    } else if let Some(d) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        (2, d.to_string())
    } else if t.len() > 1 && t.starts_with('0') {
        (8, t[1..].to_string())
    } else {
        (10, t.clone())
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = u128::from_str_radix(&digits, radix).ok()?;
    let v = i128::try_from(v).ok()?;
    Some(if neg { -v } else { v })
}

fn is_hex_float(text: &str) -> bool {
    let t = text.trim_start_matches(['+', '-']);
    (t.starts_with("0x") || t.starts_with("0X")) && t.contains(['p', 'P'])
}

/// A hexadecimal float (`0x1.8p3`), as `strconv.ParseFloat` reads it.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (neg, t) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let t = t.get(2..)?.replace('_', "");
    let (mant, exp) = t.split_once(['p', 'P'])?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars().chain(frac.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let scale = exp.checked_sub(4 * i32::try_from(frac.len()).ok()?)?;
    let v = v * 2f64.powi(scale);
    Some(if neg { -v } else { v })
}

/// Go's `newNumber` followed by `idealConstant`'s choice of type.
fn parse_number(text: &str) -> Result<Number, String> {
    // Nearly every literal is a short plain decimal (`trunc 63`, `index $x 0`).
    let plain_decimal = (1..=18).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text.len() == 1 || !text.starts_with('0'));
    if plain_decimal && let Ok(value) = text.parse::<i64>() {
        return Ok(Number::Int(value));
    }
    if text.starts_with('\'') {
        if let Some(c) = unquote(text).and_then(|s| s.chars().next()) {
            return Ok(Number::Int(c as i64));
        }
        let body = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
        if !body.starts_with('\\') && body.chars().count() > 1 {
            return Err(format!("malformed character constant: {text}"));
        }
        return Err("invalid syntax".to_string());
    }
    if text.ends_with('i') {
        return Err(format!(
            "illegal number syntax: {}",
            crate::print::quote(text)
        ));
    }
    let is_hex_int = text.len() > 2
        && text.trim_start_matches(['+', '-']).starts_with(['0'])
        && text
            .trim_start_matches(['+', '-'])
            .get(1..2)
            .is_some_and(|c| c == "x" || c == "X")
        && !text.contains(['p', 'P']);
    let looks_float = !is_hex_int && text.contains(['.', 'e', 'E', 'p', 'P']);
    if let Some(i) = parse_int(text) {
        if let Ok(i) = i64::try_from(i) {
            return Ok(Number::Int(i));
        }
        if (0..=u64::MAX as i128).contains(&i) {
            return Ok(Number::Overflow);
        }
    }
    if is_hex_float(text) {
        return match parse_hex_float(text) {
            Some(f) if f.is_finite() => Ok(Number::Float(f)),
            _ => Err(format!(
                "illegal number syntax: {}",
                crate::print::quote(text)
            )),
        };
    }
    match text.replace('_', "").parse::<f64>() {
        Ok(f) if f.is_finite() => {
            if !looks_float {
                return Err(format!("integer overflow: {}", crate::print::quote(text)));
            }
            Ok(Number::Float(f))
        }
        _ => Err(format!(
            "illegal number syntax: {}",
            crate::print::quote(text)
        )),
    }
}
