//! Recursive-descent parser for the TraceQL subset (grammar in docs/QUERY.md).
//!
//! ```text
//! query    := spanset [ '|' metrics [ 'by' '(' field { ',' field } ')' ] ]
//! spanset  := sand { '||' sand }
//! sand     := struct { '&&' struct }
//! struct   := primary { ( '>' | '>>' ) primary }
//! primary  := '{' [ cond ] '}' | '(' spanset ')'
//! cond     := cand { '||' cand }
//! cand     := catom { '&&' catom }
//! catom    := '(' cond ')' | field op literal
//! ```

use spandb_storage::{SpanKind, StatusCode};

use crate::ast::{Cond, Field, Literal, MetricsFn, Op, Pipeline, Query, SpansetExpr};
use crate::error::{Error, Result};
use crate::lexer::{tokenize, AttrScope, Tok, Token};

/// Nesting limit, so hostile input cannot overflow the stack.
const MAX_DEPTH: u32 = 64;

/// Parses TraceQL text into a [`Query`].
pub fn parse(text: &str) -> Result<Query> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let spans = p.spanset()?;
    let pipeline = if p.eat(&Tok::Pipe) {
        Some(p.pipeline()?)
    } else {
        None
    };
    p.expect_eof(if pipeline.is_some() {
        "the end of the query"
    } else {
        "`&&`, `||`, `>`, `>>`, `|` or the end of the query"
    })?;
    Ok(Query { spans, pipeline })
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: u32,
}

impl Parser {
    fn peek(&self) -> &Token {
        // `tokenize` always ends with Eof and the parser never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }
    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }
    fn eat(&mut self, tok: &Tok) -> bool {
        if &self.peek().tok == tok {
            self.advance();
            true
        } else {
            false
        }
    }
    fn error_at(&self, t: &Token, expected: &str) -> Error {
        Error::Query {
            line: t.line,
            column: t.column,
            found: t.tok.describe(&t.text),
            expected: expected.into(),
        }
    }
    fn error(&self, expected: &str) -> Error {
        self.error_at(self.peek(), expected)
    }
    fn expect(&mut self, tok: &Tok, expected: &str) -> Result<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }
    fn expect_eof(&mut self, expected: &str) -> Result<()> {
        if self.peek().tok == Tok::Eof {
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("less deeply nested parentheses"));
        }
        Ok(())
    }

    fn spanset(&mut self) -> Result<SpansetExpr> {
        let mut left = self.spanset_and()?;
        while self.eat(&Tok::OrOr) {
            left = SpansetExpr::Or(Box::new(left), Box::new(self.spanset_and()?));
        }
        Ok(left)
    }

    fn spanset_and(&mut self) -> Result<SpansetExpr> {
        let mut left = self.spanset_struct()?;
        while self.eat(&Tok::AndAnd) {
            left = SpansetExpr::And(Box::new(left), Box::new(self.spanset_struct()?));
        }
        Ok(left)
    }

    fn spanset_struct(&mut self) -> Result<SpansetExpr> {
        let mut left = self.spanset_primary()?;
        loop {
            if self.eat(&Tok::Gt) {
                left = SpansetExpr::Child(Box::new(left), Box::new(self.spanset_primary()?));
            } else if self.eat(&Tok::Descendant) {
                left = SpansetExpr::Descendant(Box::new(left), Box::new(self.spanset_primary()?));
            } else {
                return Ok(left);
            }
        }
    }

    fn spanset_primary(&mut self) -> Result<SpansetExpr> {
        if self.eat(&Tok::LParen) {
            self.enter()?;
            let e = self.spanset()?;
            self.expect(&Tok::RParen, "`)`, `&&`, `||`, `>` or `>>`")?;
            self.depth -= 1;
            return Ok(e);
        }
        self.expect(&Tok::LBrace, "`{` or `(` to start a spanset")?;
        if self.eat(&Tok::RBrace) {
            return Ok(SpansetExpr::Filter(Cond::True));
        }
        let c = self.cond()?;
        self.expect(&Tok::RBrace, "`&&`, `||` or `}`")?;
        Ok(SpansetExpr::Filter(c))
    }

    fn cond(&mut self) -> Result<Cond> {
        let mut left = self.cond_and()?;
        while self.eat(&Tok::OrOr) {
            left = Cond::Or(Box::new(left), Box::new(self.cond_and()?));
        }
        Ok(left)
    }

    fn cond_and(&mut self) -> Result<Cond> {
        let mut left = self.cond_atom()?;
        while self.eat(&Tok::AndAnd) {
            left = Cond::And(Box::new(left), Box::new(self.cond_atom()?));
        }
        Ok(left)
    }

    fn cond_atom(&mut self) -> Result<Cond> {
        if self.eat(&Tok::LParen) {
            self.enter()?;
            let c = self.cond()?;
            self.expect(&Tok::RParen, "`&&`, `||` or `)`")?;
            self.depth -= 1;
            return Ok(c);
        }
        let field = self.field("a field (`name`, `status`, `kind`, `duration`, `statusMessage`, `trace:rootService`, `trace:rootName`, `trace:duration`, `span.x`, `resource.x`, `.x`) or `(`")?;
        let op_tok = self.advance();
        let op = match op_tok.tok {
            Tok::Eq => Op::Eq,
            Tok::Ne => Op::Ne,
            Tok::Gt => Op::Gt,
            Tok::Ge => Op::Ge,
            Tok::Lt => Op::Lt,
            Tok::Le => Op::Le,
            Tok::Match => Op::Match,
            Tok::NotMatch => Op::NotMatch,
            _ => {
                return Err(self.error_at(
                    &op_tok,
                    "a comparison (`=`, `!=`, `>`, `>=`, `<`, `<=`, `=~`, `!~`)",
                ))
            }
        };
        let lit_tok = self.advance();
        let lit = self.literal(&field, op, &lit_tok)?;
        Ok(Cond::Cmp(field, op, lit))
    }

    fn field(&mut self, expected: &str) -> Result<Field> {
        let t = self.advance();
        match t.tok {
            Tok::Attr(AttrScope::Span, k) => Ok(Field::Span(k)),
            Tok::Attr(AttrScope::Resource, k) => Ok(Field::Resource(k)),
            Tok::Attr(AttrScope::Unscoped, k) => Ok(Field::Unscoped(k)),
            Tok::Ident(ref w) => match w.as_str() {
                "name" | "span:name" => Ok(Field::Name),
                "status" | "span:status" => Ok(Field::Status),
                "kind" | "span:kind" => Ok(Field::Kind),
                "duration" | "span:duration" => Ok(Field::Duration),
                "statusMessage" | "span:statusMessage" => Ok(Field::StatusMessage),
                "trace:rootService" => Ok(Field::TraceRootService),
                "trace:rootName" => Ok(Field::TraceRootName),
                "trace:duration" => Ok(Field::TraceDuration),
                _ => Err(self.error_at(&t, expected)),
            },
            _ => Err(self.error_at(&t, expected)),
        }
    }

    /// Reads the literal after `field op`, checking that the comparison makes sense.
    fn literal(&self, field: &Field, op: Op, t: &Token) -> Result<Literal> {
        let eq_only = matches!(op, Op::Eq | Op::Ne);
        let regex = matches!(op, Op::Match | Op::NotMatch);
        let lit = match &t.tok {
            Tok::Str(s) => Literal::Str(s.clone()),
            Tok::Int(i) => Literal::Int(*i),
            Tok::Float(x) => Literal::Float(*x),
            Tok::Duration(ns) => Literal::Duration(*ns),
            Tok::Ident(w) => match w.as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                "ok" => Literal::Status(StatusCode::Ok),
                "error" => Literal::Status(StatusCode::Error),
                "unset" => Literal::Status(StatusCode::Unset),
                "server" => Literal::Kind(SpanKind::Server),
                "client" => Literal::Kind(SpanKind::Client),
                "internal" => Literal::Kind(SpanKind::Internal),
                "producer" => Literal::Kind(SpanKind::Producer),
                "consumer" => Literal::Kind(SpanKind::Consumer),
                "unspecified" => Literal::Kind(SpanKind::Unspecified),
                _ => {
                    return Err(self.error_at(
                        t,
                        "a value (string, number, duration, true/false, a status or a kind)",
                    ))
                }
            },
            _ => {
                return Err(self.error_at(
                    t,
                    "a value (string, number, duration, true/false, a status or a kind)",
                ))
            }
        };
        let want = match field {
            Field::Status if !matches!(lit, Literal::Status(_)) || !eq_only => Some("`ok`, `error` or `unset` after `=` or `!=`"),
            Field::Kind if !matches!(lit, Literal::Kind(_)) || !eq_only => {
                Some("a kind (`server`, `client`, `internal`, `producer`, `consumer`, `unspecified`) after `=` or `!=`")
            }
            Field::Duration | Field::TraceDuration
                if !matches!(lit, Literal::Duration(_) | Literal::Int(_)) || regex =>
            {
                Some("a duration such as `200ms` after a comparison")
            }
            Field::Name | Field::StatusMessage | Field::TraceRootService | Field::TraceRootName
                if !matches!(lit, Literal::Str(_)) =>
            {
                Some("a string")
            }
            Field::Span(_) | Field::Resource(_) | Field::Unscoped(_)
                if matches!(lit, Literal::Status(_) | Literal::Kind(_)) =>
            {
                Some("a string, number, duration or true/false")
            }
            _ if regex && !matches!(lit, Literal::Str(_)) => Some("a regular expression string after `=~` or `!~`"),
            _ if matches!(lit, Literal::Bool(_)) && !eq_only => Some("a number, duration or string after an ordering comparison"),
            _ => None,
        };
        if let Some(want) = want {
            return Err(self.error_at(t, want));
        }
        let lit = match (field, lit) {
            (Field::Duration | Field::TraceDuration, Literal::Int(i)) => Literal::Duration(
                u64::try_from(i).map_err(|_| self.error_at(t, "a non-negative duration"))?,
            ),
            (_, lit) => lit,
        };
        if regex {
            if let Literal::Str(re) = &lit {
                if let Err(e) = regex::Regex::new(&format!("^(?:{re})$")) {
                    return Err(Error::Query {
                        line: t.line,
                        column: t.column,
                        found: format!(
                            "an invalid regular expression ({})",
                            e.to_string().lines().last().unwrap_or("")
                        ),
                        expected: "a valid regular expression".into(),
                    });
                }
            }
        }
        Ok(lit)
    }

    fn pipeline(&mut self) -> Result<Pipeline> {
        let expected = "a metrics function (`rate()`, `count_over_time()`, `avg_over_time(duration)`, `quantile_over_time(duration, q...)`)";
        let t = self.advance();
        let Tok::Ident(name) = &t.tok else {
            return Err(self.error_at(&t, expected));
        };
        let func = match name.as_str() {
            "rate" | "count_over_time" => {
                self.expect(&Tok::LParen, "`(`")?;
                self.expect(&Tok::RParen, "`)`")?;
                if name == "rate" {
                    MetricsFn::Rate
                } else {
                    MetricsFn::CountOverTime
                }
            }
            "avg_over_time" => {
                self.expect(&Tok::LParen, "`(`")?;
                self.duration_arg()?;
                self.expect(&Tok::RParen, "`)`")?;
                MetricsFn::AvgOverTime
            }
            "quantile_over_time" => {
                self.expect(&Tok::LParen, "`(`")?;
                self.duration_arg()?;
                let mut qs = Vec::new();
                while self.eat(&Tok::Comma) {
                    let q = self.advance();
                    let v = match q.tok {
                        Tok::Float(x) => x,
                        Tok::Int(i) => i as f64,
                        _ => return Err(self.error_at(&q, "a quantile between 0 and 1")),
                    };
                    if !(0.0..=1.0).contains(&v) {
                        return Err(self.error_at(&q, "a quantile between 0 and 1"));
                    }
                    qs.push(v);
                }
                if qs.is_empty() {
                    return Err(self.error("`,` and at least one quantile"));
                }
                self.expect(&Tok::RParen, "`,` or `)`")?;
                MetricsFn::QuantileOverTime(qs)
            }
            _ => return Err(self.error_at(&t, expected)),
        };
        let mut by = Vec::new();
        if matches!(&self.peek().tok, Tok::Ident(w) if w == "by") {
            self.advance();
            self.expect(&Tok::LParen, "`(` after `by`")?;
            loop {
                let f = self.field("a field to group by")?;
                if f.is_trace_level() {
                    let prev = &self.tokens[self.pos - 1];
                    return Err(self.error_at(prev, "a span or resource field to group by"));
                }
                by.push(f);
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
            self.expect(&Tok::RParen, "`,` or `)`")?;
        }
        Ok(Pipeline { func, by })
    }

    fn duration_arg(&mut self) -> Result<()> {
        let t = self.advance();
        match &t.tok {
            Tok::Ident(w) if w == "duration" || w == "span:duration" => Ok(()),
            _ => Err(self.error_at(&t, "`duration`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (u32, u32, String, String) {
        match parse(text) {
            Err(Error::Query {
                line,
                column,
                found,
                expected,
            }) => (line, column, found, expected),
            other => panic!("expected a parse error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_design_example() {
        let q = parse(r#"{ resource.service.name = "checkout" && status = error && duration > 200ms && span.http.response.status_code >= 500 }"#).unwrap();
        let SpansetExpr::Filter(c) = &q.spans else {
            panic!("not a filter: {q:?}")
        };
        let mut fields = Vec::new();
        c.for_each_cmp(&mut |f, op, l| fields.push((f.clone(), op, l.clone())));
        assert_eq!(
            fields,
            vec![
                (
                    Field::Resource("service.name".into()),
                    Op::Eq,
                    Literal::Str("checkout".into())
                ),
                (Field::Status, Op::Eq, Literal::Status(StatusCode::Error)),
                (Field::Duration, Op::Gt, Literal::Duration(200_000_000)),
                (
                    Field::Span("http.response.status_code".into()),
                    Op::Ge,
                    Literal::Int(500)
                ),
            ]
        );
    }

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        let q = parse(r#"{ name = "a" || name = "b" && kind = server }"#).unwrap();
        let SpansetExpr::Filter(Cond::Or(_, right)) = q.spans else {
            panic!("wrong shape")
        };
        assert!(matches!(*right, Cond::And(..)));
    }

    #[test]
    fn structural_operators_and_pipelines() {
        let q = parse(r#"{ kind = server } >> { status = error } && { .x = 1.5 } | quantile_over_time(duration, .5, .99) by (resource.service.name, name)"#).unwrap();
        assert!(
            matches!(q.spans, SpansetExpr::And(ref a, _) if matches!(**a, SpansetExpr::Descendant(..)))
        );
        let p = q.pipeline.unwrap();
        assert_eq!(p.func, MetricsFn::QuantileOverTime(vec![0.5, 0.99]));
        assert_eq!(
            p.by,
            vec![Field::Resource("service.name".into()), Field::Name]
        );
    }

    #[test]
    fn durations_units_and_quoted_names() {
        let q = parse(r#"{ duration >= 1.5s && trace:duration < 2m && span."my key" = "v" && resource.x != 3us }"#).unwrap();
        let mut lits = Vec::new();
        if let SpansetExpr::Filter(c) = &q.spans {
            c.for_each_cmp(&mut |f, _, l| lits.push((f.clone(), l.clone())));
        }
        assert_eq!(lits[0].1, Literal::Duration(1_500_000_000));
        assert_eq!(lits[1].1, Literal::Duration(120_000_000_000));
        assert_eq!(lits[2].0, Field::Span("my key".into()));
        assert_eq!(lits[3].1, Literal::Duration(3_000));
    }

    #[test]
    fn errors_say_where_what_was_found_and_what_was_expected() {
        let (line, col, found, expected) = err("{ name = }");
        assert_eq!((line, col), (1, 10));
        assert_eq!(found, "`}`");
        assert!(expected.contains("a value"), "{expected}");

        let (line, col, found, _) = err("{ status = error &&\n  duration > 5parsecs }");
        assert_eq!((line, col), (2, 14));
        assert!(found.contains("5parsecs"), "{found}");

        let (_, col, _, expected) = err("{ status = 3 }");
        assert_eq!(col, 12);
        assert!(expected.contains("`ok`, `error` or `unset`"), "{expected}");

        let (_, _, found, expected) = err(r#"{ name = "x" "#);
        assert_eq!(found, "the end of the query");
        assert!(expected.contains('}'), "{expected}");

        let (_, col, found, _) = err(r#"{ name =~ "(" }"#);
        assert_eq!(col, 11);
        assert!(found.contains("invalid regular expression"), "{found}");

        let (_, col, _, expected) = err("{ } | rate() by (trace:duration)");
        assert_eq!(col, 18);
        assert!(expected.contains("group by"), "{expected}");

        let e = parse("{ foo = 1 }").unwrap_err().to_string();
        assert_eq!(e, "line 1, column 3: expected a field (`name`, `status`, `kind`, `duration`, `statusMessage`, `trace:rootService`, `trace:rootName`, `trace:duration`, `span.x`, `resource.x`, `.x`) or `(`, found `foo`");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("{}{{}}{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(parse(&text), Err(Error::Query { .. })));
    }
}
