//! The log filter language: a TraceQL-style `{ ... }` condition on log fields, followed by
//! LogQL-style line filters on the body text. Grammar and rationale in docs/QUERY.md ("Logs").
//!
//! ```text
//! query   := [ "{" [cond] "}" ] linefilter*
//! cond    := and ( "||" and )*
//! and     := unary ( "&&" unary )*
//! unary   := "(" cond ")" | field op value
//! field   := body | severity | severityText | service | eventName | trace:id | span:id
//!          | resource.<key> | log.<key> | span.<key> | .<key>
//! op      := = | != | > | >= | < | <= | =~ | !~
//! linefilter := "|=" string | "!=" string | "|~" string | "!~" string
//! ```

use regex::Regex;

use crate::ast::Op;
use crate::error::{Error, Result};
use crate::lexer::{tokenize, AttrScope, Tok, Token};
use spandb_storage::{severity_from_name, LogRecord, SpanId, TraceId, Value};

/// A field of a log record.
#[derive(Clone, Debug, PartialEq)]
pub enum LogField {
    Body,
    /// The severity number (compared with a number or a range name: `warn` is 13).
    Severity,
    SeverityText,
    Service,
    EventName,
    TraceId,
    SpanId,
    /// A log record attribute.
    Attr(String),
    /// A resource attribute.
    ResourceAttr(String),
}

/// A comparison's right side.
#[derive(Clone, Debug, PartialEq)]
pub enum LogValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A condition on one record.
#[derive(Clone, Debug)]
pub enum LogCond {
    True,
    Cmp {
        field: LogField,
        op: Op,
        value: LogValue,
        /// Compiled for `=~` / `!~` (anchored at both ends, as TraceQL's).
        regex: Option<Regex>,
    },
    And(Box<LogCond>, Box<LogCond>),
    Or(Box<LogCond>, Box<LogCond>),
}

/// A line filter on the body text.
#[derive(Clone, Debug)]
pub enum LineFilter {
    /// `|= "s"`: the body contains `s` (case-sensitive).
    Contains(String),
    /// `!= "s"`
    NotContains(String),
    /// `|~ "re"`: the regex matches somewhere in the body.
    Matches(Regex),
    /// `!~ "re"`
    NotMatches(Regex),
}

/// A parsed log query.
#[derive(Clone, Debug)]
pub struct LogQuery {
    pub cond: LogCond,
    pub lines: Vec<LineFilter>,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            cond: LogCond::True,
            lines: Vec::new(),
        }
    }
}

struct Parser<'t> {
    toks: &'t [Token],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.toks.get(self.at).map_or(&Tok::Eof, |t| &t.tok)
    }
    fn peek2(&self) -> &Tok {
        self.toks.get(self.at + 1).map_or(&Tok::Eof, |t| &t.tok)
    }
    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        self.at += 1;
        t
    }
    fn error(&self, expected: &str) -> Error {
        let t = self.toks.get(self.at).or(self.toks.last());
        match t {
            Some(t) => Error::Query {
                line: t.line,
                column: t.column,
                found: t.tok.describe(&t.text),
                expected: expected.into(),
            },
            None => Error::Query {
                line: 1,
                column: 1,
                found: "the end of the query".into(),
                expected: expected.into(),
            },
        }
    }
    fn expect(&mut self, tok: &Tok, what: &str) -> Result<()> {
        if self.peek() == tok {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn cond(&mut self) -> Result<LogCond> {
        let mut left = self.and()?;
        while self.peek() == &Tok::OrOr {
            self.at += 1;
            left = LogCond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<LogCond> {
        let mut left = self.unary()?;
        while self.peek() == &Tok::AndAnd {
            self.at += 1;
            left = LogCond::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<LogCond> {
        if self.peek() == &Tok::LParen {
            self.at += 1;
            let c = self.cond()?;
            self.expect(&Tok::RParen, "`)`")?;
            return Ok(c);
        }
        let field = self.field()?;
        let op = match self.next() {
            Tok::Eq => Op::Eq,
            Tok::Ne => Op::Ne,
            Tok::Gt => Op::Gt,
            Tok::Ge => Op::Ge,
            Tok::Lt => Op::Lt,
            Tok::Le => Op::Le,
            Tok::Match => Op::Match,
            Tok::NotMatch => Op::NotMatch,
            _ => {
                self.at -= 1;
                return Err(self.error("a comparison (= != > >= < <= =~ !~)"));
            }
        };
        let value = match (self.next(), &field) {
            (Tok::Str(s), _) => LogValue::Str(s),
            (Tok::Int(i), _) => LogValue::Int(i),
            (Tok::Float(f), _) => LogValue::Float(f),
            (Tok::Ident(w), LogField::Severity) => match severity_from_name(&w) {
                Some(n) => LogValue::Int(i64::from(n)),
                None => {
                    self.at -= 1;
                    return Err(self
                        .error("a severity: trace, debug, info, warn, error, fatal or a number"));
                }
            },
            (Tok::Ident(w), _) if w == "true" || w == "false" => LogValue::Bool(w == "true"),
            _ => {
                self.at -= 1;
                return Err(self.error("a value (string, number, true/false, severity name)"));
            }
        };
        let regex = match (op, &value) {
            (Op::Match | Op::NotMatch, LogValue::Str(s)) => Some(
                Regex::new(&format!("^(?:{s})$"))
                    .map_err(|e| Error::InvalidInput(format!("bad regex {s:?}: {e}")))?,
            ),
            (Op::Match | Op::NotMatch, _) => {
                return Err(Error::InvalidInput("=~ and !~ take a string".into()))
            }
            _ => None,
        };
        if field == LogField::Severity {
            if let LogValue::Int(n) = value {
                // `severity = error` means the whole error range (17-20).
                if matches!(op, Op::Eq | Op::Ne) && self.last_was_name() {
                    let range =
                        LogCond::And(Box::new(sev(Op::Ge, n)), Box::new(sev(Op::Le, n + 3)));
                    return Ok(if op == Op::Eq {
                        range
                    } else {
                        LogCond::Or(Box::new(sev(Op::Lt, n)), Box::new(sev(Op::Gt, n + 3)))
                    });
                }
            }
        }
        Ok(LogCond::Cmp {
            field,
            op,
            value,
            regex,
        })
    }
    fn last_was_name(&self) -> bool {
        self.at
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .is_some_and(|t| matches!(t.tok, Tok::Ident(_)))
    }
    fn field(&mut self) -> Result<LogField> {
        let f = match self.next() {
            Tok::Ident(w) => match w.as_str() {
                "body" => LogField::Body,
                "severity" => LogField::Severity,
                "severityText" => LogField::SeverityText,
                "service" | "resource.service.name" => LogField::Service,
                "eventName" => LogField::EventName,
                "trace:id" => LogField::TraceId,
                "span:id" => LogField::SpanId,
                other => match other.strip_prefix("log.") {
                    Some(k) if !k.is_empty() => LogField::Attr(k.to_owned()),
                    _ => {
                        self.at -= 1;
                        return Err(self.error(
                            "a log field: body, severity, severityText, service, eventName, \
                             trace:id, span:id, resource.<key>, log.<key>",
                        ));
                    }
                },
            },
            Tok::Attr(AttrScope::Resource, k) if k == "service.name" => LogField::Service,
            Tok::Attr(AttrScope::Resource, k) => LogField::ResourceAttr(k),
            Tok::Attr(AttrScope::Span | AttrScope::Unscoped, k) => LogField::Attr(k),
            _ => {
                self.at -= 1;
                return Err(self.error("a log field"));
            }
        };
        Ok(f)
    }
}

fn sev(op: Op, n: i64) -> LogCond {
    LogCond::Cmp {
        field: LogField::Severity,
        op,
        value: LogValue::Int(n),
        regex: None,
    }
}

/// Parses a log query (docs/QUERY.md, "Logs"). Empty text matches every record.
pub fn parse_log_query(text: &str) -> Result<LogQuery> {
    let toks = tokenize(text)?;
    let mut p = Parser { toks: &toks, at: 0 };
    let mut q = LogQuery::default();
    if p.peek() == &Tok::LBrace {
        p.at += 1;
        if p.peek() != &Tok::RBrace {
            q.cond = p.cond()?;
        }
        p.expect(&Tok::RBrace, "`}` or `&&` / `||`")?;
    }
    loop {
        let kind = match (p.peek(), p.peek2()) {
            (Tok::Pipe, Tok::Eq) => 0,
            (Tok::Ne, _) => 1,
            (Tok::Pipe, Tok::Sibling) => 2,
            (Tok::NotMatch, _) => 3,
            (Tok::Eof, _) => break,
            _ => return Err(p.error("a line filter (|= != |~ !~) or the end of the query")),
        };
        p.at += if kind == 0 || kind == 2 { 2 } else { 1 };
        let Tok::Str(s) = p.next() else {
            p.at -= 1;
            return Err(p.error("a string"));
        };
        let re = |s: &str| {
            Regex::new(s).map_err(|e| Error::InvalidInput(format!("bad regex {s:?}: {e}")))
        };
        q.lines.push(match kind {
            0 => LineFilter::Contains(s),
            1 => LineFilter::NotContains(s),
            2 => LineFilter::Matches(re(&s)?),
            _ => LineFilter::NotMatches(re(&s)?),
        });
    }
    Ok(q)
}

/// `a op b` on integers.
pub(crate) fn cmp_i64(a: i64, op: Op, b: i64) -> bool {
    cmp_ord(&a, op, &b)
}

fn cmp_ord<T: PartialOrd>(a: &T, op: Op, b: &T) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Match | Op::NotMatch => false,
    }
}

fn cmp_str(s: &str, op: Op, value: &LogValue, regex: Option<&Regex>) -> bool {
    match (op, value) {
        (Op::Match, _) => regex.is_some_and(|r| r.is_match(s)),
        (Op::NotMatch, _) => regex.is_some_and(|r| !r.is_match(s)),
        (_, LogValue::Str(v)) => cmp_ord(&s, op, &v.as_str()),
        _ => op == Op::Ne,
    }
}

fn cmp_value(v: Option<&Value>, op: Op, value: &LogValue, regex: Option<&Regex>) -> bool {
    match (v, value) {
        (None, _) => false,
        (Some(Value::Str(s)), _) => cmp_str(s, op, value, regex),
        (Some(Value::Int(i)), LogValue::Int(w)) => cmp_ord(i, op, w),
        (Some(Value::Int(i)), LogValue::Float(w)) => cmp_ord(&(*i as f64), op, w),
        (Some(Value::Double(d)), LogValue::Float(w)) => cmp_ord(d, op, w),
        (Some(Value::Double(d)), LogValue::Int(w)) => cmp_ord(d, op, &(*w as f64)),
        (Some(Value::Bool(b)), LogValue::Bool(w)) => cmp_ord(b, op, w),
        (Some(other), _) if matches!(op, Op::Match | Op::NotMatch) => {
            cmp_str(&other.to_string(), op, value, regex)
        }
        _ => false,
    }
}

fn id_matches(text: String, op: Op, value: &LogValue, regex: Option<&Regex>) -> bool {
    let value = match value {
        LogValue::Str(s) => LogValue::Str(s.to_ascii_lowercase()),
        v => v.clone(),
    };
    cmp_str(&text, op, &value, regex)
}

impl LogCond {
    /// Whether `l` satisfies the condition.
    pub fn matches(&self, l: &LogRecord) -> bool {
        match self {
            LogCond::True => true,
            LogCond::And(a, b) => a.matches(l) && b.matches(l),
            LogCond::Or(a, b) => a.matches(l) || b.matches(l),
            LogCond::Cmp {
                field,
                op,
                value,
                regex,
            } => {
                let re = regex.as_ref();
                match field {
                    LogField::Body => cmp_value(Some(&l.body), *op, value, re),
                    LogField::Severity => match value {
                        LogValue::Int(n) => cmp_ord(&i64::from(l.severity_number), *op, n),
                        _ => false,
                    },
                    LogField::SeverityText => cmp_str(&l.severity_text, *op, value, re),
                    LogField::Service => cmp_str(l.service(), *op, value, re),
                    LogField::EventName => cmp_str(&l.event_name, *op, value, re),
                    LogField::TraceId => match l.trace() {
                        Some(t) => id_matches(t.to_string(), *op, value, re),
                        None => *op == Op::Ne,
                    },
                    LogField::SpanId => match l.span() {
                        Some(s) => id_matches(s.to_string(), *op, value, re),
                        None => *op == Op::Ne,
                    },
                    LogField::Attr(k) => cmp_value(l.attr(k), *op, value, re),
                    LogField::ResourceAttr(k) => cmp_value(
                        spandb_storage::model::find_attr(&l.resource.attributes, k),
                        *op,
                        value,
                        re,
                    ),
                }
            }
        }
    }

    /// The trace id an equality on `trace:id` pins, when every match must have it.
    pub fn pinned_trace(&self) -> Option<TraceId> {
        match self {
            LogCond::Cmp {
                field: LogField::TraceId,
                op: Op::Eq,
                value: LogValue::Str(s),
                ..
            } => TraceId::from_hex(s).ok(),
            LogCond::And(a, b) => a.pinned_trace().or_else(|| b.pinned_trace()),
            _ => None,
        }
    }

    /// The span id an equality on `span:id` pins.
    pub fn pinned_span(&self) -> Option<SpanId> {
        match self {
            LogCond::Cmp {
                field: LogField::SpanId,
                op: Op::Eq,
                value: LogValue::Str(s),
                ..
            } => SpanId::from_hex(s).ok(),
            LogCond::And(a, b) => a.pinned_span().or_else(|| b.pinned_span()),
            _ => None,
        }
    }
}

impl LineFilter {
    pub fn matches(&self, body: &str) -> bool {
        match self {
            LineFilter::Contains(s) => body.contains(s.as_str()),
            LineFilter::NotContains(s) => !body.contains(s.as_str()),
            LineFilter::Matches(r) => r.is_match(body),
            LineFilter::NotMatches(r) => !r.is_match(body),
        }
    }
}

impl LogQuery {
    /// Whether `l` satisfies the whole query.
    pub fn matches(&self, l: &LogRecord) -> bool {
        if !self.cond.matches(l) {
            return false;
        }
        if self.lines.is_empty() {
            return true;
        }
        let body = l.body_text();
        self.lines.iter().all(|f| f.matches(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_braces_and_line_filters() {
        let q = parse_log_query(
            r#"{ resource.service.name = "pay" && severity >= warn && log.thread.id = 3 } |= "declined" != "test" |~ "u[0-9]+""#,
        )
        .unwrap();
        assert_eq!(q.lines.len(), 3);
        assert!(matches!(q.cond, LogCond::And(..)));
        assert!(parse_log_query("").unwrap().lines.is_empty());
        assert!(parse_log_query(r#"|= "x""#).is_ok());
        assert!(parse_log_query(r#"{ severity = error }"#).is_ok());
        let err = parse_log_query("{ severity >= loud }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("severity"), "{err}");
        let err = parse_log_query("{ body }").unwrap_err().to_string();
        assert!(err.contains("column"), "{err}");
        assert!(parse_log_query(r#"{ body = "x" } |= 3"#).is_err());
        assert!(parse_log_query(r#"|~ "(""#).is_err());
    }
}
