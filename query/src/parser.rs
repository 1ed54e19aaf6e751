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

use crate::ast::SecondStage;
use crate::ast::{
    Aggregate, BinOp, Cond, Expr, Field, Literal, MathOp, MetricsFn, MetricsMath, Op, Pipeline,
    Query, SpansetExpr, Stage, StructOp,
};
use crate::error::{Error, Result};
use crate::expr::{bin_ty, eval_const, field_ty, lit_ty, Ty};
use crate::lexer::{tokenize, AttrScope, Tok, Token};

/// Nesting limit, so hostile input cannot overflow the stack.
const MAX_DEPTH: u32 = 64;

/// Parses TraceQL text into a [`Query`].
pub fn parse(text: &str) -> Result<Query> {
    parse_with_hints(text).map(|(q, _)| q)
}

/// Parses TraceQL text into a [`Query`] and its `with(key = value, ...)` hints, in order
/// (docs/QUERY.md says which ones spandb reads).
pub fn parse_with_hints(text: &str) -> Result<(Query, Vec<(String, Literal)>)> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
        hints: Vec::new(),
    };
    let q = p.query()?;
    Ok((q, p.hints))
}

/// `with(exemplars = N)` (or `= true`, the default count, or `= false`): how many exemplars
/// the query asks for, when it says.
pub fn exemplars_hint(hints: &[(String, Literal)]) -> Option<usize> {
    const DEFAULT_EXEMPLARS: usize = 100;
    hints
        .iter()
        .rev()
        .find(|(k, _)| k == "exemplars")
        .and_then(|(_, v)| match v {
            Literal::Bool(true) => Some(DEFAULT_EXEMPLARS),
            Literal::Bool(false) => Some(0),
            Literal::Int(n) => usize::try_from(*n).ok(),
            _ => None,
        })
}

impl Parser {
    fn query(&mut self) -> Result<Query> {
        if self.is_metrics_math() {
            return self.math_query();
        }
        let spans = self.pipeline_expr()?;
        let pipeline = if self.eat(&Tok::Pipe) {
            Some(self.pipeline()?)
        } else {
            None
        };
        self.hints()?;
        self.expect_eof(if pipeline.is_some() {
            "the end of the query"
        } else {
            "a spanset operator (`&&`, `||`, `>`, `>>`, `<`, `<<`, `~`, `!>`, `&>`, ...), `|` or the end of the query"
        })?;
        Ok(Query { spans, pipeline })
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: u32,
    /// The `with(...)` hints read so far.
    hints: Vec<(String, Literal)>,
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
            let op = match self.peek().tok {
                Tok::Gt => None,
                Tok::Descendant => Some(None),
                Tok::Lt => Some(Some(StructOp::Parent)),
                Tok::Ancestor => Some(Some(StructOp::Ancestor)),
                Tok::Sibling => Some(Some(StructOp::Sibling)),
                Tok::NotChild => Some(Some(StructOp::NotChild)),
                Tok::NotParent => Some(Some(StructOp::NotParent)),
                Tok::NotDescendant => Some(Some(StructOp::NotDescendant)),
                Tok::NotAncestor => Some(Some(StructOp::NotAncestor)),
                Tok::NotMatch => Some(Some(StructOp::NotSibling)),
                Tok::UnionChild => Some(Some(StructOp::UnionChild)),
                Tok::UnionParent => Some(Some(StructOp::UnionParent)),
                Tok::UnionDescendant => Some(Some(StructOp::UnionDescendant)),
                Tok::UnionAncestor => Some(Some(StructOp::UnionAncestor)),
                Tok::UnionSibling => Some(Some(StructOp::UnionSibling)),
                _ => return Ok(left),
            };
            self.advance();
            let right = Box::new(self.spanset_primary()?);
            left = match op {
                None => SpansetExpr::Child(Box::new(left), right),
                Some(None) => SpansetExpr::Descendant(Box::new(left), right),
                Some(Some(op)) => SpansetExpr::Struct(op, Box::new(left), right),
            };
        }
    }

    fn spanset_primary(&mut self) -> Result<SpansetExpr> {
        if self.eat(&Tok::LParen) {
            self.enter()?;
            let e = self.pipeline_expr()?;
            if self.peek().tok == Tok::Pipe && self.pipe_then_metrics() {
                let t = self.peek().clone();
                return Err(Error::Unsupported(format!(
                    "a metrics pipeline inside parentheses (metrics arithmetic and comparisons on wrapped pipelines; line {}, column {})",
                    t.line, t.column
                )));
            }
            self.expect(&Tok::RParen, "`)`, `|` or a spanset operator")?;
            self.depth -= 1;
            return Ok(e);
        }
        self.expect(&Tok::LBrace, "`{` or `(` to start a spanset")?;
        if self.eat(&Tok::RBrace) {
            return Ok(SpansetExpr::Filter(Cond::True));
        }
        let c = self.cond()?;
        self.expect(&Tok::RBrace, "an operator or `}`")?;
        Ok(SpansetExpr::Filter(c))
    }

    /// Metrics arithmetic: the query starts with a number or a `-`, or a metrics function
    /// sits inside parentheses (`({ } | rate()) * 100`).
    fn is_metrics_math(&self) -> bool {
        let mut depth = 0u32;
        let mut inside = false;
        for t in &self.tokens {
            match &t.tok {
                Tok::LParen => depth += 1,
                Tok::RParen => depth = depth.saturating_sub(1),
                Tok::Ident(w) if depth > 0 && METRICS_FNS.contains(&w.as_str()) => inside = true,
                _ => {}
            }
        }
        let first_operand = self
            .tokens
            .iter()
            .find(|t| t.tok != Tok::LParen)
            .map(|t| &t.tok);
        let any_fn = self
            .tokens
            .iter()
            .any(|t| matches!(&t.tok, Tok::Ident(w) if METRICS_FNS.contains(&w.as_str())));
        inside
            || (any_fn
                && matches!(
                    first_operand,
                    Some(Tok::Int(_) | Tok::Float(_) | Tok::Minus | Tok::Duration(_))
                ))
    }

    /// `math [second stages] [hints]`: a lone wrapped pipeline is that pipeline.
    fn math_query(&mut self) -> Result<Query> {
        let start = self.peek().clone();
        let m = match self.math(0)? {
            MathNode::Math(m) => m,
            MathNode::Scalar(..) => {
                return Err(self.error_at(
                    &start,
                    "a metrics pipeline in parentheses (`({ } | rate()) * 100`)",
                ))
            }
        };
        let second = self.second_stages()?;
        self.hints()?;
        self.expect_eof(
            "an arithmetic operator, a filter (`> 10`), `| topk(n)` or the end of the query",
        )?;
        Ok(match m {
            MetricsMath::Query(mut q) => {
                if let Some(p) = &mut q.pipeline {
                    p.second.extend(second);
                }
                *q
            }
            m => Query {
                spans: SpansetExpr::Filter(Cond::True),
                pipeline: Some(Pipeline {
                    func: MetricsFn::Math(Box::new(m)),
                    by: Vec::new(),
                    second,
                }),
            },
        })
    }

    /// Precedence climbing over `+ - * /` between metrics results and numbers; numbers
    /// combined with numbers are folded as Tempo folds them.
    fn math(&mut self, min_prec: u8) -> Result<MathNode> {
        let mut left = self.math_operand()?;
        loop {
            let t = self.peek().clone();
            let (op, prec) = match t.tok {
                Tok::Plus => (MathOp::Add, 1),
                Tok::Minus => (MathOp::Sub, 1),
                Tok::Star => (MathOp::Mul, 2),
                Tok::Slash => (MathOp::Div, 2),
                _ => return Ok(left),
            };
            if prec < min_prec {
                return Ok(left);
            }
            self.advance();
            self.enter()?;
            let right = self.math(prec + 1)?;
            self.depth -= 1;
            left = match (left, right) {
                (MathNode::Scalar(a), MathNode::Scalar(b)) => MathNode::Scalar(
                    fold_num(op, a, b).ok_or_else(|| self.error_at(&t, "a non-zero divisor"))?,
                ),
                (l, r) => MathNode::Math(MetricsMath::Binary(
                    op,
                    Box::new(l.into_math()),
                    Box::new(r.into_math()),
                )),
            };
        }
    }

    fn math_operand(&mut self) -> Result<MathNode> {
        let t = self.advance();
        match t.tok {
            Tok::Int(i) => Ok(MathNode::Scalar(Num::Int(i))),
            Tok::Float(x) => Ok(MathNode::Scalar(Num::Float(x))),
            Tok::Duration(_) => Err(self.error_at(
                &t,
                "a number (a duration is not a scalar of metrics arithmetic)",
            )),
            Tok::Minus => {
                self.enter()?;
                let n = self.math_operand()?;
                self.depth -= 1;
                match n {
                    MathNode::Scalar(Num::Int(i)) => {
                        Ok(MathNode::Scalar(Num::Int(i.wrapping_neg())))
                    }
                    MathNode::Scalar(Num::Float(x)) => Ok(MathNode::Scalar(Num::Float(-x))),
                    MathNode::Math(_) => Err(self.error_at(&t, "a number after a unary `-`")),
                }
            }
            Tok::LParen => {
                self.enter()?;
                let inner = self.pos;
                let depth = self.depth;
                // A wrapped pipeline `( spans | fn() ... )`, else a parenthesized expression.
                let wrapped = match self.pipeline_expr() {
                    Ok(spans) if self.peek().tok == Tok::Pipe && self.pipe_then_metrics() => {
                        self.advance();
                        let func_tok = self.peek().clone();
                        let pipeline = self.pipeline()?;
                        if matches!(pipeline.func, MetricsFn::Compare { .. }) {
                            return Err(self.error_at(
                                &func_tok,
                                "a metrics function other than `compare` in metrics arithmetic",
                            ));
                        }
                        Some(Ok(Query {
                            spans,
                            pipeline: Some(pipeline),
                        }))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                };
                let node = match wrapped {
                    Some(Ok(q)) => MathNode::Math(MetricsMath::Query(Box::new(q))),
                    Some(Err(e)) => {
                        self.pos = inner;
                        self.depth = depth;
                        match self.tokens.get(inner).map(|t| &t.tok) {
                            Some(Tok::LBrace) => return Err(e),
                            _ => self.math(0)?,
                        }
                    }
                    None => {
                        self.pos = inner;
                        self.depth = depth;
                        self.math(0)?
                    }
                };
                self.expect(&Tok::RParen, "an arithmetic operator or `)`")?;
                self.depth -= 1;
                Ok(node)
            }
            _ => Err(self.error_at(
                &t,
                "a number or a metrics pipeline in parentheses (`({ } | rate())`)",
            )),
        }
    }

    fn peek_ident(&self) -> Option<&str> {
        match &self.peek().tok {
            Tok::Ident(w) => Some(w.as_str()),
            _ => None,
        }
    }

    /// The token after the next one is a metrics function: the `|` before it ends the
    /// spanset pipeline.
    fn pipe_then_metrics(&self) -> bool {
        matches!(self.tokens.get(self.pos + 1).map(|t| &t.tok), Some(Tok::Ident(w)) if METRICS_FNS.contains(&w.as_str()))
    }

    /// A spanset expression or pipeline: `{ } | count() > 2 | { .a }`, `by(.a) | ...`.
    fn pipeline_expr(&mut self) -> Result<SpansetExpr> {
        let mut stages = Vec::new();
        let input = if self.peek_ident().is_some_and(|w| STAGE_STARTS.contains(&w)) {
            stages.push(self.stage(true)?);
            SpansetExpr::Filter(Cond::True)
        } else {
            self.spanset()?
        };
        while self.peek().tok == Tok::Pipe && !self.pipe_then_metrics() {
            self.advance();
            stages.push(self.stage(false)?);
        }
        Ok(if stages.is_empty() {
            input
        } else {
            SpansetExpr::Pipeline(Box::new(input), stages)
        })
    }

    fn stage(&mut self, first: bool) -> Result<Stage> {
        let t = self.peek().clone();
        if matches!(t.tok, Tok::LBrace | Tok::LParen) {
            return Ok(Stage::Spans(self.spanset()?));
        }
        let word = self.peek_ident().unwrap_or("").to_owned();
        match word.as_str() {
            "count" | "avg" | "min" | "max" | "sum" => {
                let agg = self.aggregate()?;
                let op_tok = self.advance();
                let op = match op_tok.tok {
                    Tok::Eq => Op::Eq,
                    Tok::Ne => Op::Ne,
                    Tok::Gt => Op::Gt,
                    Tok::Ge => Op::Ge,
                    Tok::Lt => Op::Lt,
                    Tok::Le => Op::Le,
                    Tok::Plus | Tok::Minus | Tok::Star | Tok::Slash | Tok::Percent | Tok::Caret => {
                        return Err(Error::Unsupported(format!(
                            "arithmetic on aggregates (line {}, column {})",
                            op_tok.line, op_tok.column
                        )))
                    }
                    _ => {
                        return Err(self.error_at(
                            &op_tok,
                            "a comparison (`=`, `!=`, `>`, `>=`, `<`, `<=`) after an aggregate",
                        ))
                    }
                };
                if self
                    .peek_ident()
                    .is_some_and(|w| matches!(w, "count" | "avg" | "min" | "max" | "sum"))
                {
                    let at = self.peek().clone();
                    self.aggregate()?;
                    return Err(Error::Unsupported(format!(
                        "comparing two aggregates (line {}, column {})",
                        at.line, at.column
                    )));
                }
                let n = self.expr(4)?;
                let value = match (&n.e, n.nil) {
                    (Expr::Lit(l @ (Literal::Int(_) | Literal::Float(_) | Literal::Duration(_))), false) => l.clone(),
                    _ => return Err(self.error_at(&n.tok, "a number or a duration to compare the aggregate with")),
                };
                Ok(Stage::Scalar(agg, op, value))
            }
            "by" => {
                self.advance();
                self.expect(&Tok::LParen, "`(` after `by`")?;
                let mut es = Vec::new();
                loop {
                    let n = self.expr(0)?;
                    if n.nil || !n.e.references_span() {
                        return Err(self.error_at(&n.tok, "an expression that reads the span to group by"));
                    }
                    es.push(n.e);
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
                self.expect(&Tok::RParen, "`,` or `)`")?;
                Ok(Stage::By(es))
            }
            "coalesce" if !first => {
                self.advance();
                self.expect(&Tok::LParen, "`(` after `coalesce`")?;
                self.expect(&Tok::RParen, "`)`")?;
                Ok(Stage::Coalesce)
            }
            "select" => {
                self.advance();
                self.expect(&Tok::LParen, "`(` after `select`")?;
                let mut fs = Vec::new();
                loop {
                    fs.push(self.field("a field to select")?);
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
                self.expect(&Tok::RParen, "`,` or `)`")?;
                Ok(Stage::Select(fs))
            }
            _ => Err(self.error_at(
                &t,
                if first {
                    "`{`, `(`, an aggregate (`count()`, `avg(...)`, `min(...)`, `max(...)`, `sum(...)`), `by(...)` or `select(...)`"
                } else {
                    "a spanset filter, an aggregate (`count()`, `avg(...)`, `min(...)`, `max(...)`, `sum(...)`), `by(...)`, `coalesce()`, `select(...)` or a metrics function"
                },
            )),
        }
    }

    fn aggregate(&mut self) -> Result<Aggregate> {
        let t = self.advance();
        let Tok::Ident(w) = &t.tok else {
            return Err(self.error_at(&t, "an aggregate"));
        };
        self.expect(&Tok::LParen, "`(`")?;
        if w == "count" {
            self.expect(&Tok::RParen, "`)` (`count()` takes no argument)")?;
            return Ok(Aggregate::Count);
        }
        let n = self.expr(0)?;
        if n.nil || !matches!(n.ty, Ty::Int | Ty::Float | Ty::Duration | Ty::Attr) {
            return Err(self.error_at(&n.tok, "a number, a duration or an attribute to aggregate"));
        }
        if !n.e.references_span() {
            return Err(self.error_at(&n.tok, "an expression that reads the span to aggregate"));
        }
        self.expect(&Tok::RParen, "an operator or `)`")?;
        Ok(match w.as_str() {
            "avg" => Aggregate::Avg(n.e),
            "min" => Aggregate::Min(n.e),
            "max" => Aggregate::Max(n.e),
            _ => Aggregate::Sum(n.e),
        })
    }

    /// `with(key = value, ...)`: query hints, kept for the caller; spandb reads `exemplars`
    /// and ignores the rest (docs/QUERY.md).
    fn hints(&mut self) -> Result<()> {
        if self.peek_ident() != Some("with") {
            return Ok(());
        }
        self.advance();
        self.expect(&Tok::LParen, "`(` after `with`")?;
        loop {
            let t = self.advance();
            let Tok::Ident(name) = t.tok.clone() else {
                return Err(self.error_at(&t, "a hint name"));
            };
            self.expect(&Tok::Eq, "`=` after a hint name")?;
            let v = self.advance();
            let value = match &v.tok {
                Tok::Str(s) => Some(Literal::Str(s.clone())),
                Tok::Int(i) => Some(Literal::Int(*i)),
                Tok::Float(x) => Some(Literal::Float(*x)),
                Tok::Duration(d) => Some(Literal::Duration(*d)),
                Tok::Ident(w) => keyword_literal(w),
                _ => None,
            };
            let Some(value) = value else {
                return Err(self.error_at(&v, "a hint value"));
            };
            self.hints.push((name, value));
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        self.expect(&Tok::RParen, "`,` or `)`")
    }

    /// The condition inside `{ }`: a field expression that must be a boolean (or an
    /// attribute, true when it holds `true`), lowered to indexable comparisons where it can.
    fn cond(&mut self) -> Result<Cond> {
        let start = self.peek().clone();
        let n = self.expr(0)?;
        if n.nil {
            return Err(self.error_at(
                &n.tok,
                "a condition (`nil` is only compared with `=` or `!=`)",
            ));
        }
        if !matches!(n.ty, Ty::Bool | Ty::Attr) {
            return Err(Error::Query {
                line: start.line,
                column: start.column,
                found: format!("{} (`{}`)", n.ty.name(), n.e),
                expected: "a condition: a comparison or a boolean".into(),
            });
        }
        Ok(lower(n.e))
    }

    /// Precedence climbing over binary operators.
    fn expr(&mut self, min_prec: u8) -> Result<Node> {
        let mut left = self.unary()?;
        loop {
            let t = self.peek().clone();
            let Some((op, prec)) = bin_op(&t.tok) else {
                return Ok(left);
            };
            if prec < min_prec {
                return Ok(left);
            }
            self.advance();
            // `^` is right-associative, the rest left-associative.
            let next = if op == BinOp::Pow { prec } else { prec + 1 };
            self.enter()?;
            let right = self.expr(next)?;
            self.depth -= 1;
            left = self.combine(op, left, right, &t)?;
        }
    }

    fn combine(&self, op: BinOp, l: Node, r: Node, op_tok: &Token) -> Result<Node> {
        let tok = l.tok.clone();
        if l.nil || r.nil {
            let exists = match op {
                BinOp::Cmp(Op::Ne) => true,
                BinOp::Cmp(Op::Eq) => false,
                _ => {
                    return Err(
                        self.error_at(op_tok, "`=` or `!=` (`nil` is only compared for equality)")
                    )
                }
            };
            if l.nil && r.nil {
                // Tempo: `nil = nil` and `nil != nil` are both false.
                return Ok(Node::new(Expr::Lit(Literal::Bool(false)), Ty::Bool, tok));
            }
            let (other, other_tok) = if l.nil {
                (r.e, r.tok)
            } else {
                (l.e, tok.clone())
            };
            if !exists {
                let cannot = match &other {
                    Expr::Field(Field::Resource(k)) => k == "service.name",
                    // Fields every span has (Tempo refuses `= nil` on all intrinsics; a
                    // root has no parent id and a trace may lack its root, so those may be).
                    Expr::Field(f) => matches!(
                        f,
                        Field::Name
                            | Field::Status
                            | Field::Kind
                            | Field::Duration
                            | Field::StatusMessage
                            | Field::SpanId
                            | Field::TraceId
                            | Field::TraceDuration
                    ),
                    _ => false,
                };
                if cannot {
                    return Err(self.error_at(
                        &other_tok,
                        "an attribute (intrinsics and resource.service.name are never nil)",
                    ));
                }
            }
            let e = if exists {
                Expr::Exists(Box::new(other))
            } else {
                Expr::NotExists(Box::new(other))
            };
            return Ok(fold(Node::new(e, Ty::Bool, tok)));
        }
        let ty = match bin_ty(op, l.ty, r.ty) {
            Ok(ty) => ty,
            Err(msg) => {
                let expected = match (op, l.ty, r.ty) {
                    (BinOp::Cmp(_), Ty::Status, _) | (BinOp::Cmp(_), _, Ty::Status) => {
                        "`ok`, `error` or `unset` after `=` or `!=`".to_owned()
                    }
                    (BinOp::Cmp(_), Ty::Kind, _) | (BinOp::Cmp(_), _, Ty::Kind) => {
                        "a kind (`server`, `client`, `internal`, `producer`, `consumer`, `unspecified`) after `=` or `!=`".to_owned()
                    }
                    _ => msg,
                };
                return Err(self.error_at(&r.tok, &expected));
            }
        };
        if let (BinOp::Cmp(Op::Match | Op::NotMatch), Expr::Lit(Literal::Str(re))) = (op, &r.e) {
            if let Err(e) = regex::Regex::new(&format!("^(?:{re})$")) {
                return Err(Error::Query {
                    line: r.tok.line,
                    column: r.tok.column,
                    found: format!(
                        "an invalid regular expression ({})",
                        e.to_string().lines().last().unwrap_or("")
                    ),
                    expected: "a valid regular expression".into(),
                });
            }
        }
        Ok(fold(Node::new(
            Expr::Bin(op, Box::new(l.e), Box::new(r.e)),
            ty,
            tok,
        )))
    }

    fn unary(&mut self) -> Result<Node> {
        let t = self.peek().clone();
        let neg = match t.tok {
            Tok::Not => false,
            Tok::Minus => true,
            _ => return self.primary(),
        };
        self.advance();
        self.enter()?;
        let n = self.unary()?;
        self.depth -= 1;
        if n.nil {
            return Err(self.error_at(&n.tok, "a value (`nil` is only compared with `=` or `!=`)"));
        }
        let ok = if neg {
            matches!(n.ty, Ty::Int | Ty::Float | Ty::Duration | Ty::Attr)
        } else {
            matches!(n.ty, Ty::Bool | Ty::Attr)
        };
        if !ok {
            return Err(self.error_at(
                &n.tok,
                if neg {
                    "a number or a duration after `-`"
                } else {
                    "a boolean after `!`"
                },
            ));
        }
        let (e, ty) = if neg {
            (Expr::Neg(Box::new(n.e)), n.ty)
        } else {
            (Expr::Not(Box::new(n.e)), Ty::Bool)
        };
        Ok(fold(Node::new(e, ty, t)))
    }

    fn primary(&mut self) -> Result<Node> {
        let t = self.advance();
        let lit = |l: Literal| {
            let ty = lit_ty(&l);
            Ok(Node::new(Expr::Lit(l), ty, t.clone()))
        };
        match &t.tok {
            Tok::LParen => {
                self.enter()?;
                let n = self.expr(0)?;
                self.expect(&Tok::RParen, "an operator or `)`")?;
                self.depth -= 1;
                Ok(n)
            }
            Tok::Str(s) => lit(Literal::Str(s.clone())),
            Tok::Int(i) => lit(Literal::Int(*i)),
            Tok::Float(x) => lit(Literal::Float(*x)),
            Tok::Duration(d) => lit(Literal::Duration(*d)),
            Tok::Ident(w) if w == "nil" => {
                let mut n = Node::new(Expr::Lit(Literal::Bool(false)), Ty::Bool, t.clone());
                n.nil = true;
                Ok(n)
            }
            Tok::Ident(w) if keyword_literal(w).is_some() => {
                lit(keyword_literal(w).unwrap_or(Literal::Bool(false)))
            }
            _ => {
                self.pos -= usize::from(t.tok != Tok::Eof);
                let f = self.field(EXPECTED_OPERAND)?;
                let ty = field_ty(&f);
                Ok(Node::new(Expr::Field(f), ty, t))
            }
        }
    }

    fn field(&mut self, expected: &str) -> Result<Field> {
        let t = self.advance();
        match t.tok {
            Tok::Attr(AttrScope::Span, k) => Ok(Field::Span(k)),
            Tok::Attr(AttrScope::Resource, k) => Ok(Field::Resource(k)),
            Tok::Attr(AttrScope::Unscoped, k) => Ok(Field::Unscoped(k)),
            Tok::Attr(AttrScope::Event, k) => Ok(Field::Event(k)),
            Tok::Attr(AttrScope::Link, k) => Ok(Field::Link(k)),
            Tok::Attr(AttrScope::Instrumentation, k) => Ok(Field::Instrumentation(k)),
            Tok::Attr(AttrScope::Parent, rest) => {
                let inner = if let Some((scope, name)) = rest.split_once('\u{0}') {
                    match scope {
                        "span." => Field::Span(name.to_owned()),
                        "resource." => Field::Resource(name.to_owned()),
                        _ => Field::Unscoped(name.to_owned()),
                    }
                } else if let Some(k) = rest.strip_prefix("span.") {
                    Field::Span(k.to_owned())
                } else if let Some(k) = rest.strip_prefix("resource.") {
                    Field::Resource(k.to_owned())
                } else if let Some(f) = intrinsic(&rest).filter(|f| {
                    matches!(
                        f,
                        Field::Name
                            | Field::Status
                            | Field::Kind
                            | Field::Duration
                            | Field::StatusMessage
                            | Field::SpanId
                            | Field::ParentId
                    )
                }) {
                    f
                } else {
                    Field::Unscoped(rest)
                };
                Ok(Field::Parent(Box::new(inner)))
            }
            Tok::Ident(ref w) => match intrinsic(w) {
                Some(f) => Ok(f),
                None => match w.as_str() {
                    "parent" => Err(Error::Unsupported(format!(
                        "`{w}` (line {}, column {})",
                        t.line, t.column
                    ))),
                    _ => Err(self.error_at(&t, expected)),
                },
            },
            _ => Err(self.error_at(&t, expected)),
        }
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
            "avg_over_time" | "min_over_time" | "max_over_time" | "sum_over_time" => {
                self.expect(&Tok::LParen, "`(`")?;
                self.duration_arg(name)?;
                self.expect(&Tok::RParen, "`)`")?;
                match name.as_str() {
                    "avg_over_time" => MetricsFn::AvgOverTime,
                    "min_over_time" => MetricsFn::MinOverTime,
                    "max_over_time" => MetricsFn::MaxOverTime,
                    _ => MetricsFn::SumOverTime,
                }
            }
            "histogram_over_time" => {
                self.expect(&Tok::LParen, "`(`")?;
                self.duration_arg(name)?;
                self.expect(&Tok::RParen, "`)`")?;
                MetricsFn::HistogramOverTime
            }
            "compare" => {
                self.expect(&Tok::LParen, "`(`")?;
                self.expect(&Tok::LBrace, "`{` and the selection's condition")?;
                let filter = if self.eat(&Tok::RBrace) {
                    Cond::True
                } else {
                    let c = self.cond()?;
                    self.expect(&Tok::RBrace, "an operator or `}`")?;
                    c
                };
                let mut nums = Vec::new();
                while self.eat(&Tok::Comma) {
                    let n = self.advance();
                    match n.tok {
                        Tok::Int(v) if v > 0 => nums.push((v, n)),
                        _ => return Err(self.error_at(&n, "a positive integer")),
                    }
                }
                self.expect(&Tok::RParen, "`,` or `)`")?;
                let top = match nums.first() {
                    None => 10,
                    Some((v, _)) if *v <= 1000 => *v as u32,
                    Some((_, t)) => {
                        return Err(self.error_at(t, "a number of values between 1 and 1000"))
                    }
                };
                let window = match nums.as_slice() {
                    [] | [_] => None,
                    [_, (lo, _), (hi, t)] => {
                        if hi <= lo {
                            return Err(self.error_at(t, "an end timestamp after the start"));
                        }
                        Some((*lo as u64, *hi as u64))
                    }
                    [.., (_, t)] => {
                        return Err(self.error_at(
                            t,
                            "`compare({ filter })`, `compare({ filter }, n)` or `compare({ filter }, n, start_ns, end_ns)`",
                        ))
                    }
                };
                MetricsFn::Compare {
                    filter,
                    top,
                    window,
                }
            }
            "quantile_over_time" => {
                self.expect(&Tok::LParen, "`(`")?;
                self.duration_arg(name)?;
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
                if !f.is_columnar() {
                    return Err(Error::Unsupported(format!(
                        "grouping metrics by `{}`",
                        f.text()
                    )));
                }
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
        if matches!(func, MetricsFn::Compare { .. }) && !by.is_empty() {
            return Err(Error::Unsupported(format!(
                "`by` after `compare(...)` (line {}, column {})",
                t.line, t.column
            )));
        }
        let next = self.peek().clone();
        let second = self.second_stages()?;
        if matches!(func, MetricsFn::Compare { .. }) && !second.is_empty() {
            // Tempo refuses these: compare's series are counts of two sides and their totals,
            // which topk or a value filter would cut apart.
            return Err(self.error_at(
                &next,
                "the end of the query (`compare(...)` takes no `topk`, `bottomk` or filter)",
            ));
        }
        Ok(Pipeline { func, by, second })
    }

    fn duration_arg(&mut self, func: &str) -> Result<()> {
        let t = self.advance();
        match &t.tok {
            Tok::Ident(w) if w == "duration" || w == "span:duration" => Ok(()),
            Tok::Attr(..) | Tok::Ident(_) => {
                self.pos -= 1;
                let f = self.field("`duration`")?;
                Err(Error::Unsupported(format!(
                    "`{func}` over `{}`: spandb aggregates span durations only (line {}, column {})",
                    f.text(),
                    t.line,
                    t.column
                )))
            }
            _ => Err(self.error_at(&t, "`duration`")),
        }
    }

    /// `| topk(n)`, `| bottomk(n)` and value filters (`> 10`) after a metrics function.
    fn second_stages(&mut self) -> Result<Vec<SecondStage>> {
        let mut out = Vec::new();
        loop {
            let t = self.peek().clone();
            let op = match t.tok {
                Tok::Eq => Some(Op::Eq),
                Tok::Ne => Some(Op::Ne),
                Tok::Gt => Some(Op::Gt),
                Tok::Ge => Some(Op::Ge),
                Tok::Lt => Some(Op::Lt),
                Tok::Le => Some(Op::Le),
                _ => None,
            };
            if let Some(op) = op {
                self.advance();
                let from = self.pos;
                let n = self.expr(4)?;
                // As in Tempo, a duration compares (in seconds) only as a literal: arithmetic
                // on durations is not a scalar (`> (10s * 2)` is an error).
                let used = self.tokens.get(from..self.pos).unwrap_or_default();
                let operands = used
                    .iter()
                    .filter(|t| !matches!(t.tok, Tok::LParen | Tok::RParen | Tok::Minus))
                    .count();
                if used.iter().any(|t| matches!(t.tok, Tok::Duration(_))) && operands > 1 {
                    return Err(self.error_at(
                        &n.tok,
                        "a number or a single duration to compare the series with",
                    ));
                }
                let v = match (&n.e, n.nil) {
                    (Expr::Lit(Literal::Int(i)), false) => *i as f64,
                    (Expr::Lit(Literal::Float(x)), false) => *x,
                    // Tempo compares durations in seconds, the unit of the series.
                    (Expr::Lit(Literal::Duration(d)), false) => *d as f64 / 1e9,
                    _ => return Err(self.error_at(&n.tok, "a number to compare the series with")),
                };
                out.push(SecondStage::Filter(op, v));
                continue;
            }
            let second = matches!(self.tokens.get(self.pos + 1).map(|t| &t.tok), Some(Tok::Ident(w)) if w == "topk" || w == "bottomk");
            if t.tok != Tok::Pipe || !second {
                return Ok(out);
            }
            self.advance();
            let name = self.advance();
            self.expect(&Tok::LParen, "`(`")?;
            let k = self.advance();
            let n = match k.tok {
                Tok::Int(n) if n > 0 => u32::try_from(n).unwrap_or(u32::MAX),
                _ => return Err(self.error_at(&k, "a positive integer")),
            };
            self.expect(&Tok::RParen, "`)`")?;
            out.push(if matches!(&name.tok, Tok::Ident(w) if w == "topk") {
                SecondStage::TopK(n)
            } else {
                SecondStage::BottomK(n)
            });
        }
    }
}

/// A number in metrics arithmetic, integer or float as Tempo types it.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn value(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(x) => x,
        }
    }
}

enum MathNode {
    Scalar(Num),
    Math(MetricsMath),
}

impl MathNode {
    fn into_math(self) -> MetricsMath {
        match self {
            MathNode::Scalar(n) => MetricsMath::Scalar(n.value()),
            MathNode::Math(m) => m,
        }
    }
}

/// Constant arithmetic as Tempo folds it: integers stay integers (`1 / 2` is 0), a float on
/// either side makes a float. `None` for an integer division by zero.
fn fold_num(op: MathOp, a: Num, b: Num) -> Option<Num> {
    Some(match (a, b) {
        (Num::Int(x), Num::Int(y)) => Num::Int(match op {
            MathOp::Add => x.wrapping_add(y),
            MathOp::Sub => x.wrapping_sub(y),
            MathOp::Mul => x.wrapping_mul(y),
            MathOp::Div => x.checked_div(y)?,
        }),
        _ => Num::Float(op.apply(a.value(), b.value())),
    })
}

/// Names that start a pipeline stage.
const STAGE_STARTS: [&str; 8] = [
    "count", "avg", "min", "max", "sum", "by", "coalesce", "select",
];

/// Names of metrics functions: after `|`, they end the spanset pipeline.
const METRICS_FNS: [&str; 9] = [
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
];

const EXPECTED_OPERAND: &str = "a value or a field (`name`, `status`, `kind`, `duration`, `statusMessage`, `span:id`, `trace:id`, `trace:duration`, `event:name`, `span.x`, `resource.x`, `.x`, `event.x`, `link.x`, `instrumentation.x`, `parent.x`) or `(`";

/// A parsed field expression with its static type and first token.
struct Node {
    e: Expr,
    ty: Ty,
    /// The literal `nil`, only valid as an operand of `=` / `!=`.
    nil: bool,
    tok: Token,
}

impl Node {
    fn new(e: Expr, ty: Ty, tok: Token) -> Node {
        Node {
            e,
            ty,
            nil: false,
            tok,
        }
    }
}

/// Folds an expression that reads no span into its value.
fn fold(mut n: Node) -> Node {
    if !matches!(n.e, Expr::Lit(_)) {
        if let Some(l) = eval_const(&n.e) {
            n.e = Expr::Lit(l);
        }
    }
    n
}

/// Binary operators and their precedence (higher binds tighter).
fn bin_op(t: &Tok) -> Option<(BinOp, u8)> {
    Some(match t {
        Tok::OrOr => (BinOp::Or, 1),
        Tok::AndAnd => (BinOp::And, 2),
        Tok::Eq => (BinOp::Cmp(Op::Eq), 3),
        Tok::Ne => (BinOp::Cmp(Op::Ne), 3),
        Tok::Gt => (BinOp::Cmp(Op::Gt), 3),
        Tok::Ge => (BinOp::Cmp(Op::Ge), 3),
        Tok::Lt => (BinOp::Cmp(Op::Lt), 3),
        Tok::Le => (BinOp::Cmp(Op::Le), 3),
        Tok::Match => (BinOp::Cmp(Op::Match), 3),
        Tok::NotMatch => (BinOp::Cmp(Op::NotMatch), 3),
        Tok::Plus => (BinOp::Add, 4),
        Tok::Minus => (BinOp::Sub, 4),
        Tok::Star => (BinOp::Mul, 5),
        Tok::Slash => (BinOp::Div, 5),
        Tok::Percent => (BinOp::Mod, 5),
        Tok::Caret => (BinOp::Pow, 6),
        _ => return None,
    })
}

fn keyword_literal(w: &str) -> Option<Literal> {
    Some(match w {
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
        _ => return None,
    })
}

/// The intrinsic a word names, with Tempo's older spellings.
pub(crate) fn intrinsic(w: &str) -> Option<Field> {
    Some(match w {
        "name" | "span:name" => Field::Name,
        "status" | "span:status" => Field::Status,
        "kind" | "span:kind" => Field::Kind,
        "duration" | "span:duration" => Field::Duration,
        "statusMessage" | "span:statusMessage" => Field::StatusMessage,
        "trace:rootService" | "rootServiceName" => Field::TraceRootService,
        "trace:rootName" | "rootName" => Field::TraceRootName,
        "trace:duration" | "traceDuration" => Field::TraceDuration,
        "trace:id" => Field::TraceId,
        "span:id" => Field::SpanId,
        "span:parentID" => Field::ParentId,
        "event:name" => Field::EventName,
        "event:timeSinceStart" => Field::EventTimeSinceStart,
        "link:traceID" => Field::LinkTraceId,
        "link:spanID" => Field::LinkSpanId,
        "instrumentation:name" => Field::InstrumentationName,
        "instrumentation:version" => Field::InstrumentationVersion,
        "span:childCount" => Field::ChildCount,
        "nestedSetLeft" | "span:nestedSetLeft" => Field::NestedSetLeft,
        "nestedSetRight" | "span:nestedSetRight" => Field::NestedSetRight,
        "nestedSetParent" | "span:nestedSetParent" => Field::NestedSetParent,
        _ => return None,
    })
}

/// Turns a checked field expression into a condition: `&&` / `||` stay conditions, a field
/// compared with a literal becomes an indexable comparison when the old column rules accept
/// it, everything else is a general expression.
fn lower(e: Expr) -> Cond {
    if !e.references_span() {
        return match eval_const(&e) {
            Some(Literal::Bool(true)) => Cond::True,
            _ => Cond::Expr(Expr::Lit(Literal::Bool(false))),
        };
    }
    match e {
        Expr::Bin(BinOp::And, a, b) => match (lower(*a), lower(*b)) {
            (Cond::True, c) | (c, Cond::True) => c,
            (a, b) => Cond::And(Box::new(a), Box::new(b)),
        },
        Expr::Bin(BinOp::Or, a, b) => match (lower(*a), lower(*b)) {
            (Cond::True, _) | (_, Cond::True) => Cond::True,
            (a, b) => Cond::Or(Box::new(a), Box::new(b)),
        },
        // A bare attribute holds when it is `true`; `!attr` when it is `false`.
        Expr::Field(f) => comparison(f, Op::Eq, Literal::Bool(true)),
        Expr::Not(inner) => match *inner {
            Expr::Field(f) => comparison(f, Op::Eq, Literal::Bool(false)),
            other => Cond::Expr(Expr::Not(Box::new(other))),
        },
        Expr::Bin(BinOp::Cmp(op), a, b) => match (*a, *b) {
            (Expr::Field(f), Expr::Lit(l)) => comparison(f, op, l),
            (Expr::Lit(l), Expr::Field(f)) if !matches!(op, Op::Match | Op::NotMatch) => {
                let flipped = match op {
                    Op::Gt => Op::Lt,
                    Op::Ge => Op::Le,
                    Op::Lt => Op::Gt,
                    Op::Le => Op::Ge,
                    other => other,
                };
                comparison(f, flipped, l)
            }
            (a, b) => Cond::Expr(Expr::Bin(BinOp::Cmp(op), Box::new(a), Box::new(b))),
        },
        other => Cond::Expr(other),
    }
}

/// `field op literal`: a column comparison when the column rules take it, an expression
/// otherwise (same answer, decided on the decoded span).
pub(crate) fn comparison(f: Field, op: Op, l: Literal) -> Cond {
    if f.is_columnar() {
        if let Some(lit) = column_literal(&f, op, &l) {
            return Cond::Cmp(f, op, lit);
        }
    }
    Cond::Expr(Expr::Bin(
        BinOp::Cmp(op),
        Box::new(Expr::Field(f)),
        Box::new(Expr::Lit(l)),
    ))
}

/// The literal of a column comparison, when the comparison rules of `eval::compare` give it
/// the same meaning as the expression evaluator.
fn column_literal(field: &Field, op: Op, lit: &Literal) -> Option<Literal> {
    let eq_only = matches!(op, Op::Eq | Op::Ne);
    let regex = matches!(op, Op::Match | Op::NotMatch);
    match (field, lit) {
        (Field::Status, Literal::Status(_)) if eq_only => Some(lit.clone()),
        (Field::Kind, Literal::Kind(_)) if eq_only => Some(lit.clone()),
        (Field::Duration | Field::TraceDuration, Literal::Duration(_)) if !regex => {
            Some(lit.clone())
        }
        (Field::Duration | Field::TraceDuration, Literal::Int(i)) if !regex => {
            u64::try_from(*i).ok().map(Literal::Duration)
        }
        (
            Field::Name | Field::StatusMessage | Field::TraceRootService | Field::TraceRootName,
            Literal::Str(_),
        ) => Some(lit.clone()),
        (Field::Span(_) | Field::Resource(_) | Field::Unscoped(_), l) => match l {
            // Attributes never hold statuses or kinds: the expression path says false.
            Literal::Status(_) | Literal::Kind(_) => None,
            Literal::Str(_) => Some(lit.clone()),
            _ if regex => None,
            Literal::Bool(_) if !eq_only => None,
            _ => Some(lit.clone()),
        },
        _ => None,
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
    fn a_long_chain_of_signs_prints_back_as_deep_as_it_parsed() {
        // Found by the fuzzer: 43 nested `-` printed as `-(-(...))` went past the nesting bound.
        let text = format!(
            "{{ span.x / 1{}.a = 4 && {}span.b }}",
            "-".repeat(44),
            "!".repeat(40)
        );
        let q = parse(&text).unwrap();
        assert_eq!(parse(&q.to_string()).unwrap(), q, "{q}");
        // And a long left-associative chain (also a fuzzer find), mixed with tighter operators.
        let chain = (0..80)
            .map(|i| format!("span.a{i} % 2 * 3"))
            .collect::<Vec<_>>()
            .join(" / ");
        let q = parse(&format!("{{ {chain} - 2 ^ 3 ^ span.b = 4 }}")).unwrap();
        assert_eq!(parse(&q.to_string()).unwrap(), q, "{q}");
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
        assert_eq!(
            e,
            format!("line 1, column 3: expected {EXPECTED_OPERAND}, found `foo`")
        );
        assert!(e.contains("a value or a field"), "{e}");
    }

    fn cond_of(text: &str) -> Cond {
        match parse(text) {
            Ok(Query {
                spans: SpansetExpr::Filter(c),
                ..
            }) => c,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn constants_fold_to_true_or_false() {
        assert_eq!(cond_of("{ true }"), Cond::True);
        assert_eq!(cond_of("{ 1 < 2 }"), Cond::True);
        assert_eq!(cond_of("{ 1 + 1 = 2 }"), Cond::True);
        assert_eq!(cond_of("{ 1 * 1h = 3600000000000 }"), Cond::True);
        assert_eq!(cond_of(r#"{ "test" =~ "t.*" }"#), Cond::True);
        let f = Cond::Expr(Expr::Lit(Literal::Bool(false)));
        assert_eq!(cond_of("{ !true }"), f);
        assert_eq!(cond_of("{ 1 > 2 }"), f);
        assert_eq!(cond_of("{ nil = nil }"), f);
        assert_eq!(cond_of(r#"{ "test" != "test" }"#), f);
        assert_eq!(cond_of("{ .a = 1 && true }"), cond_of("{ .a = 1 }"));
    }

    #[test]
    fn literals_on_the_left_and_bare_attributes_become_column_comparisons() {
        assert_eq!(
            cond_of(r#"{ "a" = span.x }"#),
            Cond::Cmp(Field::Span("x".into()), Op::Eq, Literal::Str("a".into()))
        );
        assert_eq!(
            cond_of("{ 500 <= span.code }"),
            Cond::Cmp(Field::Span("code".into()), Op::Ge, Literal::Int(500))
        );
        assert_eq!(
            cond_of("{ .a }"),
            Cond::Cmp(Field::Unscoped("a".into()), Op::Eq, Literal::Bool(true))
        );
        assert_eq!(
            cond_of("{ !span.a }"),
            Cond::Cmp(Field::Span("a".into()), Op::Eq, Literal::Bool(false))
        );
        assert!(matches!(
            cond_of("{ .a != nil }"),
            Cond::Expr(Expr::Exists(_))
        ));
        assert!(matches!(
            cond_of("{ nil = .a }"),
            Cond::Expr(Expr::NotExists(_))
        ));
        assert!(matches!(
            cond_of("{ .a + 1 = 2 }"),
            Cond::Expr(Expr::Bin(..))
        ));
        assert!(matches!(cond_of("{ event:name = \"x\" }"), Cond::Expr(_)));
    }

    #[test]
    fn type_errors_are_errors() {
        for q in [
            r#"{ .a + "b" }"#,
            "{ status }",
            "{ 1 + 1 }",
            r#"{ 1 = "foo" }"#,
            "{ 1 != true }",
            "{ status > ok }",
            "{ kind < consumer }",
            r#"{ traceDuration > "test" }"#,
            "{ rootServiceName = 1 }",
            "{ -true }",
            "{ !1 = 1 }",
            "{ true || 1.1 }",
            "{ span:status = nil }",
            "{ resource.service.name = nil }",
            r#"{ span.foo =~ "[" }"#,
            "{ 1 =~ 2 }",
            "{ .a > nil }",
        ] {
            assert!(
                matches!(parse(q), Err(Error::Query { .. })),
                "{q} should be an error: {:?}",
                parse(q)
            );
        }
    }

    #[test]
    fn printed_expressions_parse_back_to_the_same_query() {
        for q in [
            r#"{ !("test" != .c || ((true && .b) || 3 < .a)) }"#,
            "{ -.a = 2 }",
            "{ duration > 1s * 2s }",
            "{ .a ^ 2 % 3 = 1 && .b - 1 > 0.5 }",
            r#"{ event.foo = "bar" || link:traceID = "ab" || instrumentation:version =~ "v.*" }"#,
            r#"{ parent.span.a > 3 && parent.duration > 1ms && parent."x y" = 1 }"#,
            r#"{ ."foo\" = \"bar" = "v" && .x = nil }"#,
            "{ span:id = \"01\" && span:parentID != nil && trace:id != \"x\" }",
            include_str!("../../fuzz/corpus/traceql_parse/expressions.tql"),
            include_str!("../../fuzz/corpus/traceql_parse/scopes.tql"),
            include_str!("../../fuzz/corpus/traceql_parse/pipelines.tql"),
            include_str!("../../fuzz/corpus/traceql_parse/second_stage.tql"),
            include_str!("../../fuzz/corpus/traceql_parse/intrinsics.tql"),
            "{ } | rate() > -3 | bottomk(2)",
            "({ } | count() = 1) ~ { } && { } | by(.a) | { .b }",
        ] {
            let a = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            let b = parse(&a.to_string()).unwrap_or_else(|e| panic!("{a}: {e}"));
            assert_eq!(a, b, "{q} printed as {a}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("{}{{}}{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(parse(&text), Err(Error::Query { .. })));
    }
}
