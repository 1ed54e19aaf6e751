//! Splits TraceQL text into tokens, each with its line and column (1-based, in characters).

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    AndAnd,
    OrOr,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Match,
    NotMatch,
    /// `>>`
    Descendant,
    /// `<<`
    Ancestor,
    /// `~`
    Sibling,
    /// `!>`
    NotChild,
    /// `!<`
    NotParent,
    /// `!>>`
    NotDescendant,
    /// `!<<`
    NotAncestor,
    /// `&>`
    UnionChild,
    /// `&<`
    UnionParent,
    /// `&>>`
    UnionDescendant,
    /// `&<<`
    UnionAncestor,
    /// `&~`
    UnionSibling,
    /// `!`
    Not,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Str(String),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(u64),
    /// A word: keyword or intrinsic (`name`, `error`, `trace:rootService`, ...).
    Ident(String),
    /// An attribute: `span.x`, `resource.x`, `.x`, or with a quoted name `span."x y"`.
    Attr(AttrScope, String),
    Eof,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrScope {
    Span,
    Resource,
    Unscoped,
    Event,
    Link,
    Instrumentation,
    /// `parent.` followed by the rest (`span.x`, `resource.x`, `x`), kept as written.
    Parent,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    pub column: u32,
    /// The source text of the token, for error messages.
    pub text: String,
}

impl Tok {
    /// How a token is named in "expected ..., found ..." messages.
    pub fn describe(&self, text: &str) -> String {
        match self {
            Tok::Eof => "the end of the query".into(),
            Tok::Str(_) => format!("string {text}"),
            Tok::Int(_) | Tok::Float(_) => format!("number `{text}`"),
            Tok::Duration(_) => format!("duration `{text}`"),
            _ => format!("`{text}`"),
        }
    }
}

/// Characters of an attribute name or identifier after its first character.
pub fn is_attr_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':' | '@')
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    column: u32,
    _src: &'a str,
}

/// Tokenizes `src`; the last token is always `Eof`.
pub fn tokenize(src: &str) -> Result<Vec<Token>> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        pos: 0,
        line: 1,
        column: 1,
        _src: src,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_space();
        let (line, column, start) = (lx.line, lx.column, lx.pos);
        // After a value, `-` is subtraction; elsewhere `-3` is a negative number.
        let after_value = out.last().is_some_and(|t: &Token| {
            matches!(
                t.tok,
                Tok::Int(_)
                    | Tok::Float(_)
                    | Tok::Duration(_)
                    | Tok::Str(_)
                    | Tok::Ident(_)
                    | Tok::Attr(..)
                    | Tok::RParen
                    | Tok::RBrace
            )
        });
        let tok = lx.next_tok(after_value)?;
        let text: String = lx.chars[start..lx.pos].iter().collect();
        let eof = tok == Tok::Eof;
        out.push(Token {
            tok,
            line,
            column,
            text,
        });
        if eof {
            return Ok(out);
        }
    }
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }
    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }
    fn err(&self, found: String, expected: &str) -> Error {
        Error::Query {
            line: self.line,
            column: self.column,
            found,
            expected: expected.into(),
        }
    }

    fn next_tok(&mut self, after_value: bool) -> Result<Tok> {
        let Some(c) = self.peek() else {
            return Ok(Tok::Eof);
        };
        let two = |lx: &mut Self, t: Tok| {
            lx.bump();
            lx.bump();
            Ok(t)
        };
        let one = |lx: &mut Self, t: Tok| {
            lx.bump();
            Ok(t)
        };
        let three = |lx: &mut Self, t: Tok| {
            lx.bump();
            lx.bump();
            lx.bump();
            Ok(t)
        };
        let next = self.peek_at(1);
        let third = self.peek_at(2);
        match c {
            '{' => one(self, Tok::LBrace),
            '}' => one(self, Tok::RBrace),
            '(' => one(self, Tok::LParen),
            ')' => one(self, Tok::RParen),
            ',' => one(self, Tok::Comma),
            '&' if next == Some('&') => two(self, Tok::AndAnd),
            '&' if next == Some('>') && third == Some('>') => three(self, Tok::UnionDescendant),
            '&' if next == Some('<') && third == Some('<') => three(self, Tok::UnionAncestor),
            '&' if next == Some('>') => two(self, Tok::UnionChild),
            '&' if next == Some('<') => two(self, Tok::UnionParent),
            '&' if next == Some('~') => two(self, Tok::UnionSibling),
            '|' if next == Some('|') => two(self, Tok::OrOr),
            '|' => one(self, Tok::Pipe),
            '=' if next == Some('~') => two(self, Tok::Match),
            '=' => one(self, Tok::Eq),
            '!' if next == Some('=') => two(self, Tok::Ne),
            '!' if next == Some('~') => two(self, Tok::NotMatch),
            '!' if next == Some('>') && third == Some('>') => three(self, Tok::NotDescendant),
            '!' if next == Some('<') && third == Some('<') => three(self, Tok::NotAncestor),
            '!' if next == Some('>') => two(self, Tok::NotChild),
            '!' if next == Some('<') => two(self, Tok::NotParent),
            '!' => one(self, Tok::Not),
            '>' if next == Some('>') => two(self, Tok::Descendant),
            '>' if next == Some('=') => two(self, Tok::Ge),
            '>' => one(self, Tok::Gt),
            '<' if next == Some('<') => two(self, Tok::Ancestor),
            '<' if next == Some('=') => two(self, Tok::Le),
            '<' => one(self, Tok::Lt),
            '~' => one(self, Tok::Sibling),
            '+' => one(self, Tok::Plus),
            '*' => one(self, Tok::Star),
            '/' => one(self, Tok::Slash),
            '%' => one(self, Tok::Percent),
            '^' => one(self, Tok::Caret),
            '"' | '`' => self.string(c),
            '0'..='9' => self.number(false),
            '-' if !after_value
                && next.is_some_and(|d| {
                    d.is_ascii_digit() || (d == '.' && third.is_some_and(|t| t.is_ascii_digit()))
                }) =>
            {
                self.bump();
                self.number(true)
            }
            '-' => one(self, Tok::Minus),
            '.' if next.is_some_and(|d| d.is_ascii_digit()) => self.number(false),
            '.' => {
                self.bump();
                self.attr_name(AttrScope::Unscoped)
            }
            c if is_ident_start(c) => {
                let word = self.word();
                if word == "span." {
                    return self.attr_name(AttrScope::Span);
                }
                if word == "resource." {
                    return self.attr_name(AttrScope::Resource);
                }
                if let Some(rest) = word.strip_prefix("span.") {
                    return Ok(Tok::Attr(AttrScope::Span, rest.to_owned()));
                }
                if let Some(rest) = word.strip_prefix("resource.") {
                    return Ok(Tok::Attr(AttrScope::Resource, rest.to_owned()));
                }
                for (prefix, scope) in [
                    ("event.", AttrScope::Event),
                    ("link.", AttrScope::Link),
                    ("instrumentation.", AttrScope::Instrumentation),
                ] {
                    if word == prefix {
                        return self.attr_name(scope);
                    }
                    if let Some(rest) = word.strip_prefix(prefix) {
                        return Ok(Tok::Attr(scope, rest.to_owned()));
                    }
                }
                if let Some(rest) = word.strip_prefix("parent.") {
                    // `parent.span."x y"` and friends: the quoted name follows.
                    if rest.is_empty() || rest == "span." || rest == "resource." {
                        if let Tok::Attr(_, name) = self.attr_name(AttrScope::Unscoped)? {
                            return Ok(Tok::Attr(AttrScope::Parent, format!("{rest}\u{0}{name}")));
                        }
                    }
                    return Ok(Tok::Attr(AttrScope::Parent, rest.to_owned()));
                }
                Ok(Tok::Ident(word))
            }
            _ => Err(self.err(format!("`{c}`"), "a token")),
        }
    }

    fn found_here(&self) -> String {
        match self.peek() {
            Some(c) => format!("`{c}`"),
            None => "the end of the query".into(),
        }
    }

    /// The attribute name after `span.`, `resource.` or `.`: a word or a quoted string.
    fn attr_name(&mut self, scope: AttrScope) -> Result<Tok> {
        if self.peek() == Some('"') {
            return match self.string('"')? {
                Tok::Str(s) if !s.is_empty() => Ok(Tok::Attr(scope, s)),
                _ => Err(self.err("an empty name".into(), "an attribute name")),
            };
        }
        let word = self.word();
        if word.is_empty() {
            return Err(self.err(self.found_here(), "an attribute name"));
        }
        Ok(Tok::Attr(scope, word))
    }

    fn word(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if !is_attr_char(c) {
                break;
            }
            s.push(c);
            self.bump();
        }
        s
    }

    fn string(&mut self, quote: char) -> Result<Tok> {
        let (line, column) = (self.line, self.column);
        self.bump();
        let mut s = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(Error::Query {
                    line,
                    column,
                    found: "an unterminated string".into(),
                    expected: format!("a closing {quote}"),
                });
            };
            if c == quote {
                return Ok(Tok::Str(s));
            }
            if c == '\\' && quote == '"' {
                match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some(other) => {
                        // Regex escapes such as `\d` pass through unchanged.
                        s.push('\\');
                        s.push(other);
                    }
                    None => {}
                }
            } else {
                s.push(c);
            }
        }
    }

    fn number(&mut self, negative: bool) -> Result<Tok> {
        let (line, column) = (self.line, self.column);
        let mut digits = String::new();
        if negative {
            digits.push('-');
        }
        let mut is_float = false;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                digits.push(c);
            } else if c == '.' && !is_float && self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
                is_float = true;
                digits.push(c);
            } else {
                break;
            }
            self.bump();
        }
        let mut unit = String::new();
        while let Some(c) = self.peek() {
            if c.is_alphabetic() || c == 'µ' {
                unit.push(c);
                self.bump();
            } else {
                break;
            }
        }
        let bad = |what: &str| Error::Query {
            line,
            column,
            found: format!("`{digits}{unit}`"),
            expected: what.into(),
        };
        if unit.is_empty() {
            return if is_float {
                digits.parse().map(Tok::Float).map_err(|_| bad("a number"))
            } else {
                digits
                    .parse()
                    .map(Tok::Int)
                    .map_err(|_| bad("an integer that fits in 64 bits"))
            };
        }
        let scale: f64 = match unit.as_str() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad("a duration unit (ns, us, ms, s, m, h)")),
        };
        if negative {
            return Err(bad("a non-negative duration"));
        }
        let value: f64 = digits.parse().map_err(|_| bad("a duration"))?;
        let ns = (value * scale).round();
        if !(0.0..1.8e19).contains(&ns) {
            return Err(bad("a duration that fits in 64 bits of nanoseconds"));
        }
        Ok(Tok::Duration(ns as u64))
    }
}
