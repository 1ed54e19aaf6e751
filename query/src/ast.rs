//! The TraceQL abstract syntax tree, shared by the parser and the builder API. `Display`
//! prints valid TraceQL that parses back to the same tree.

use std::fmt;

use spandb_storage::{SpanKind, StatusCode};

/// A whole query: a spanset expression, optionally followed by a metrics pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub spans: SpansetExpr,
    pub pipeline: Option<Pipeline>,
}

/// Spansets combined by structural and logical operators.
#[derive(Clone, Debug, PartialEq)]
pub enum SpansetExpr {
    /// `{ cond }`: the spans of a trace matching `cond`.
    Filter(Cond),
    /// `a && b`: both match in the same trace; the spans of both.
    And(Box<SpansetExpr>, Box<SpansetExpr>),
    /// `a || b`: the spans of either.
    Or(Box<SpansetExpr>, Box<SpansetExpr>),
    /// `a > b`: spans of `b` whose parent is in `a`.
    Child(Box<SpansetExpr>, Box<SpansetExpr>),
    /// `a >> b`: spans of `b` with an ancestor in `a`.
    Descendant(Box<SpansetExpr>, Box<SpansetExpr>),
    /// The other structural operators (`<`, `<<`, `~` and the negated and union forms).
    Struct(StructOp, Box<SpansetExpr>, Box<SpansetExpr>),
    /// `input | stage | ...`: stages run on each spanset of a trace.
    Pipeline(Box<SpansetExpr>, Vec<Stage>),
}

/// Structural operators besides `>` and `>>` (which have their own variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StructOp {
    /// `a < b`: spans of `b` that are the parent of a span of `a`.
    Parent,
    /// `a << b`: spans of `b` that are an ancestor of a span of `a`.
    Ancestor,
    /// `a ~ b`: spans of `b` with a sibling in `a`.
    Sibling,
    /// `a !> b`: spans of `b` whose parent is not in `a`.
    NotChild,
    /// `a !< b`: spans of `b` that are the parent of no span of `a`.
    NotParent,
    /// `a !>> b`: spans of `b` with no ancestor in `a`.
    NotDescendant,
    /// `a !<< b`: spans of `b` that are an ancestor of no span of `a`.
    NotAncestor,
    /// `a !~ b`: spans of `b` with no sibling in `a`.
    NotSibling,
    /// `a &> b`: the spans of `a > b` and their parents in `a`.
    UnionChild,
    /// `a &< b`: the spans of `a < b` and their children in `a`.
    UnionParent,
    /// `a &>> b`: the spans of `a >> b` and their ancestors in `a`.
    UnionDescendant,
    /// `a &<< b`: the spans of `a << b` and their descendants in `a`.
    UnionAncestor,
    /// `a &~ b`: the spans of `a ~ b` and their siblings in `a`.
    UnionSibling,
}

impl StructOp {
    pub fn text(self) -> &'static str {
        match self {
            StructOp::Parent => "<",
            StructOp::Ancestor => "<<",
            StructOp::Sibling => "~",
            StructOp::NotChild => "!>",
            StructOp::NotParent => "!<",
            StructOp::NotDescendant => "!>>",
            StructOp::NotAncestor => "!<<",
            StructOp::NotSibling => "!~",
            StructOp::UnionChild => "&>",
            StructOp::UnionParent => "&<",
            StructOp::UnionDescendant => "&>>",
            StructOp::UnionAncestor => "&<<",
            StructOp::UnionSibling => "&~",
        }
    }
    /// Only the right side must have spans for the result to have spans.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            StructOp::NotChild
                | StructOp::NotParent
                | StructOp::NotDescendant
                | StructOp::NotAncestor
                | StructOp::NotSibling
        )
    }
}

/// One stage of a spanset pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// `| { cond }` (or any spanset expression): keeps the spans of each spanset it selects.
    Spans(SpansetExpr),
    /// `| count() > 3`, `| avg(duration) > 1s`: keeps the spansets whose aggregate compares.
    Scalar(Aggregate, Op, Literal),
    /// `| by(expr, ...)`: splits each spanset by the values of the expressions.
    By(Vec<Expr>),
    /// `| coalesce()`: merges the spansets of a trace into one.
    Coalesce,
    /// `| select(field, ...)`: returns these fields with each matched span.
    Select(Vec<Field>),
}

/// An aggregate over the spans of a spanset.
#[derive(Clone, Debug, PartialEq)]
pub enum Aggregate {
    Count,
    Avg(Expr),
    Min(Expr),
    Max(Expr),
    Sum(Expr),
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregate::Count => f.write_str("count()"),
            Aggregate::Avg(e) => write!(f, "avg({e})"),
            Aggregate::Min(e) => write!(f, "min({e})"),
            Aggregate::Max(e) => write!(f, "max({e})"),
            Aggregate::Sum(e) => write!(f, "sum({e})"),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Spans(e) => write!(f, "{e}"),
            Stage::Scalar(a, op, l) => write!(f, "{a} {} {l}", op.text()),
            Stage::By(es) => {
                let parts: Vec<String> = es.iter().map(|e| format!("{e}")).collect();
                write!(f, "by({})", parts.join(", "))
            }
            Stage::Coalesce => f.write_str("coalesce()"),
            Stage::Select(fs) => {
                let parts: Vec<String> = fs.iter().map(Field::text).collect();
                write!(f, "select({})", parts.join(", "))
            }
        }
    }
}

/// A condition on one span, inside `{ }`.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// `{}`: every span.
    True,
    Cmp(Field, Op, Literal),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    /// Every other form (literals on both sides, arithmetic, `!`, existence, the scopes and
    /// intrinsics that need the whole span): decided on the decoded span with its trace.
    Expr(Expr),
}

/// A field expression inside `{ }`, typed as Tempo types them (see docs/QUERY.md).
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Lit(Literal),
    Field(Field),
    /// `!e` (booleans).
    Not(Box<Expr>),
    /// `-e` (numbers and durations).
    Neg(Box<Expr>),
    /// `e != nil`
    Exists(Box<Expr>),
    /// `e = nil`
    NotExists(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

/// Binary operators of field expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    And,
    Or,
    Cmp(Op),
}

impl BinOp {
    /// Binding strength, as the parser reads it (higher binds tighter).
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Cmp(_) => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Cmp(op) => op.text(),
        }
    }
}

impl Expr {
    /// Whether the expression looks at a span at all (otherwise it is a constant).
    pub fn references_span(&self) -> bool {
        match self {
            Expr::Lit(_) => false,
            Expr::Field(_) => true,
            Expr::Not(e) | Expr::Neg(e) | Expr::Exists(e) | Expr::NotExists(e) => {
                e.references_span()
            }
            Expr::Bin(_, a, b) => a.references_span() || b.references_span(),
        }
    }
    /// Calls `f` on every field the expression reads.
    pub fn for_each_field<'a>(&'a self, f: &mut impl FnMut(&'a Field)) {
        match self {
            Expr::Lit(_) => {}
            Expr::Field(x) => f(x),
            Expr::Not(e) | Expr::Neg(e) | Expr::Exists(e) | Expr::NotExists(e) => {
                e.for_each_field(f)
            }
            Expr::Bin(_, a, b) => {
                a.for_each_field(f);
                b.for_each_field(f);
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Lit(l) => write!(f, "{l}"),
            Expr::Field(x) => f.write_str(&x.text()),
            // Without parentheses where none are needed, so a chain of `-`/`!` prints no
            // deeper than it parsed (the parser bounds nesting).
            Expr::Not(e) | Expr::Neg(e) => {
                let sign = if matches!(self, Expr::Not(_)) {
                    '!'
                } else {
                    '-'
                };
                if matches!(**e, Expr::Field(_) | Expr::Not(_) | Expr::Neg(_)) {
                    write!(f, "{sign}{e}")
                } else {
                    write!(f, "{sign}({e})")
                }
            }
            Expr::Exists(e) if matches!(**e, Expr::Field(_)) => write!(f, "{e} != nil"),
            Expr::NotExists(e) if matches!(**e, Expr::Field(_)) => write!(f, "{e} = nil"),
            Expr::Exists(e) => write!(f, "({e}) != nil"),
            Expr::NotExists(e) => write!(f, "({e}) = nil"),
            // Parentheses only where the parser needs them, so a long chain prints no deeper
            // than it parsed: the left operand of a left-associative operator binds at the
            // same level, the right one (and the left of `^`) only tighter.
            Expr::Bin(op, a, b) => {
                let p = op.precedence();
                let left_bare = match &**a {
                    Expr::Bin(x, ..) => {
                        x.precedence() > p || (x.precedence() == p && *op != BinOp::Pow)
                    }
                    Expr::Exists(_) | Expr::NotExists(_) => false,
                    _ => true,
                };
                let right_bare = match &**b {
                    Expr::Bin(x, ..) => {
                        x.precedence() > p || (x.precedence() == p && *op == BinOp::Pow)
                    }
                    Expr::Exists(_) | Expr::NotExists(_) => false,
                    _ => true,
                };
                if left_bare {
                    write!(f, "{a}")?;
                } else {
                    write!(f, "({a})")?;
                }
                write!(f, " {} ", op.text())?;
                if right_bare {
                    write!(f, "{b}")
                } else {
                    write!(f, "({b})")
                }
            }
        }
    }
}

/// What a condition looks at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Name,
    Status,
    Kind,
    Duration,
    StatusMessage,
    TraceRootService,
    TraceRootName,
    TraceDuration,
    /// `span.key`
    Span(String),
    /// `resource.key` (`resource.service.name` is the service)
    Resource(String),
    /// `.key`: the span attribute or the resource attribute.
    Unscoped(String),
    /// `span:id`, as 16 hex characters.
    SpanId,
    /// `span:parentID`, as 16 hex characters (nil on a root).
    ParentId,
    /// `trace:id`, as 32 hex characters.
    TraceId,
    /// `event:name` (any event of the span).
    EventName,
    /// `event:timeSinceStart` (any event of the span).
    EventTimeSinceStart,
    /// `event.key` (any event of the span).
    Event(String),
    /// `link:traceID` (any link of the span).
    LinkTraceId,
    /// `link:spanID` (any link of the span).
    LinkSpanId,
    /// `link.key` (any link of the span).
    Link(String),
    /// `instrumentation:name`
    InstrumentationName,
    /// `instrumentation:version`
    InstrumentationVersion,
    /// `instrumentation.key`
    Instrumentation(String),
    /// `parent.x`: a field of the span's parent (nil on a root).
    Parent(Box<Field>),
    /// `span:childCount`: the span's direct children in its trace.
    ChildCount,
    /// `nestedSetLeft`: the span's left bound in the trace's nested-set numbering.
    NestedSetLeft,
    /// `nestedSetRight`: the span's right bound in the trace's nested-set numbering.
    NestedSetRight,
    /// `nestedSetParent`: the parent's left bound (-1 on a root).
    NestedSetParent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// `=~`, anchored at both ends.
    Match,
    /// `!~`, anchored at both ends.
    NotMatch,
}

/// A constant on the right of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Nanoseconds.
    Duration(u64),
    Status(StatusCode),
    Kind(SpanKind),
}

/// `| fn(...) by (...)`
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub func: MetricsFn,
    pub by: Vec<Field>,
    /// Second stages applied to the series, in order: `| topk(n)`, `> 10`, ...
    pub second: Vec<SecondStage>,
}

/// A second-stage function or filter on metrics series.
#[derive(Clone, Debug, PartialEq)]
pub enum SecondStage {
    /// `| topk(n)`: at each step, the `n` series with the highest values.
    TopK(u32),
    /// `| bottomk(n)`: at each step, the `n` series with the lowest values.
    BottomK(u32),
    /// `> 10`: the samples whose value compares (the others are dropped).
    Filter(Op, f64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum MetricsFn {
    /// Matching spans per second, per step.
    Rate,
    /// Matching spans per step.
    CountOverTime,
    /// Mean span duration per step, in seconds.
    AvgOverTime,
    /// Span duration quantiles per step, in seconds, one series per quantile.
    QuantileOverTime(Vec<f64>),
    /// Shortest span duration per step, in seconds.
    MinOverTime,
    /// Longest span duration per step, in seconds.
    MaxOverTime,
    /// Total span duration per step, in seconds.
    SumOverTime,
    /// Spans per step in each power-of-two duration bucket: one series per bucket, labelled
    /// `__bucket` with the bucket's upper bound in seconds (Tempo's buckets).
    HistogramOverTime,
    /// `compare({ filter }, top, start, end)`: per attribute value, the spans of the
    /// selection (matching `filter`, within `(start, end]` when given) and of the baseline
    /// (the other spans), per step: see `docs/QUERY.md`.
    Compare {
        filter: Cond,
        top: u32,
        window: Option<(u64, u64)>,
    },
    /// Arithmetic between metrics pipelines and numbers (`({ } | rate()) * 100`): the
    /// query's own spanset is `{ }` and unused, its `by` is empty; its `second` stages apply
    /// to the combined result.
    Math(Box<MetricsMath>),
}

/// An arithmetic operator between metrics results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl MathOp {
    pub fn text(self) -> &'static str {
        match self {
            MathOp::Add => "+",
            MathOp::Sub => "-",
            MathOp::Mul => "*",
            MathOp::Div => "/",
        }
    }
    /// Tempo's arithmetic on samples: division by zero is NaN (the sample is then dropped).
    pub fn apply(self, l: f64, r: f64) -> f64 {
        match self {
            MathOp::Add => l + r,
            MathOp::Sub => l - r,
            MathOp::Mul => l * r,
            MathOp::Div if r == 0.0 => f64::NAN,
            MathOp::Div => l / r,
        }
    }
}

/// Metrics arithmetic (Tempo's "metrics math"): series matched by labels, numbers applied to
/// every sample.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricsMath {
    /// `({ ... } | fn() ...)`: a whole metrics query (its `pipeline` is set).
    Query(Box<Query>),
    /// A number; constant arithmetic is folded when parsed (integer division truncates, as
    /// Tempo's).
    Scalar(f64),
    Binary(MathOp, Box<MetricsMath>, Box<MetricsMath>),
}

impl fmt::Display for MetricsMath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsMath::Query(q) => write!(f, "({q})"),
            MetricsMath::Scalar(x) => write!(f, "{}", Literal::Float(*x)),
            // Every operation parenthesized, so the text parses back to the same tree.
            MetricsMath::Binary(op, l, r) => {
                let side = |f: &mut fmt::Formatter<'_>, m: &MetricsMath| match m {
                    MetricsMath::Binary(..) => write!(f, "({m})"),
                    _ => write!(f, "{m}"),
                };
                side(f, l)?;
                write!(f, " {} ", op.text())?;
                side(f, r)
            }
        }
    }
}

impl Field {
    /// Needs the whole trace to evaluate.
    pub fn is_trace_level(&self) -> bool {
        matches!(
            self,
            Field::TraceRootService | Field::TraceRootName | Field::TraceDuration
        )
    }
    /// `span:childCount` or a nested-set bound: needs the assembled trace's tree.
    pub fn is_tree_pos(&self) -> bool {
        matches!(
            self,
            Field::ChildCount
                | Field::NestedSetLeft
                | Field::NestedSetRight
                | Field::NestedSetParent
        )
    }
    /// A field the block executor reads from columns and indexes (a comparison on any other
    /// field is decided on the decoded span).
    pub fn is_columnar(&self) -> bool {
        matches!(
            self,
            Field::Name
                | Field::Status
                | Field::Kind
                | Field::Duration
                | Field::StatusMessage
                | Field::TraceRootService
                | Field::TraceRootName
                | Field::TraceDuration
                | Field::Span(_)
                | Field::Resource(_)
                | Field::Unscoped(_)
        )
    }
    /// The spelling of the field in TraceQL.
    pub fn text(&self) -> String {
        match self {
            Field::Name => "name".into(),
            Field::Status => "status".into(),
            Field::Kind => "kind".into(),
            Field::Duration => "duration".into(),
            Field::StatusMessage => "statusMessage".into(),
            Field::TraceRootService => "trace:rootService".into(),
            Field::TraceRootName => "trace:rootName".into(),
            Field::TraceDuration => "trace:duration".into(),
            Field::Span(k) => format!("span.{}", attr_text(k)),
            Field::Resource(k) => format!("resource.{}", attr_text(k)),
            Field::Unscoped(k) => format!(".{}", attr_text(k)),
            Field::SpanId => "span:id".into(),
            Field::ParentId => "span:parentID".into(),
            Field::TraceId => "trace:id".into(),
            Field::EventName => "event:name".into(),
            Field::EventTimeSinceStart => "event:timeSinceStart".into(),
            Field::Event(k) => format!("event.{}", attr_text(k)),
            Field::LinkTraceId => "link:traceID".into(),
            Field::LinkSpanId => "link:spanID".into(),
            Field::Link(k) => format!("link.{}", attr_text(k)),
            Field::InstrumentationName => "instrumentation:name".into(),
            Field::InstrumentationVersion => "instrumentation:version".into(),
            Field::Instrumentation(k) => format!("instrumentation.{}", attr_text(k)),
            Field::ChildCount => "span:childCount".into(),
            Field::NestedSetLeft => "nestedSetLeft".into(),
            Field::NestedSetRight => "nestedSetRight".into(),
            Field::NestedSetParent => "nestedSetParent".into(),
            Field::Parent(inner) => match &**inner {
                Field::Span(k) => format!("parent.span.{}", attr_text(k)),
                Field::Resource(k) => format!("parent.resource.{}", attr_text(k)),
                Field::Unscoped(k) => {
                    let intrinsic = crate::parser::intrinsic(k).is_some();
                    if intrinsic || k.starts_with("span.") || k.starts_with("resource.") {
                        format!("parent.{}", quote(k))
                    } else {
                        format!("parent.{}", attr_text(k))
                    }
                }
                other => format!("parent.{}", other.text()),
            },
        }
    }
}

/// Attribute names are written bare when they lex as one, quoted otherwise.
fn attr_text(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars().all(crate::lexer::is_attr_char)
        && !k.starts_with(|c: char| c == '.' || c.is_ascii_digit())
        && !k.starts_with('-')
        && !k.ends_with('.');
    if bare {
        k.to_owned()
    } else {
        quote(k)
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Op {
    pub fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Match => "=~",
            Op::NotMatch => "!~",
        }
    }
}

/// Formats nanoseconds with the largest unit that divides them.
pub fn format_duration(ns: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    for (n, u) in UNITS {
        if ns != 0 && ns % n == 0 {
            return format!("{}{u}", ns / n);
        }
    }
    format!("{ns}ns")
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => f.write_str(&quote(s)),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => {
                // Never an exponent: the lexer reads digits with an optional fraction.
                let s = format!("{x}");
                if s.contains('.') || !x.is_finite() {
                    f.write_str(&s)
                } else {
                    write!(f, "{s}.0")
                }
            }
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Duration(ns) => f.write_str(&format_duration(*ns)),
            Literal::Status(s) => f.write_str(s.as_str()),
            Literal::Kind(k) => f.write_str(k.as_str()),
        }
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cond::True => Ok(()),
            Cond::Cmp(field, op, lit) => write!(f, "{} {} {lit}", field.text(), op.text()),
            Cond::Expr(e) => write!(f, "{e}"),
            Cond::And(a, b) => {
                write_cond_operand(f, a, false)?;
                f.write_str(" && ")?;
                write_cond_operand(f, b, false)
            }
            Cond::Or(a, b) => {
                write_cond_operand(f, a, true)?;
                f.write_str(" || ")?;
                write_cond_operand(f, b, true)
            }
        }
    }
}

/// Parenthesizes every compound operand: the printed text never depends on precedence.
fn write_cond_operand(f: &mut fmt::Formatter<'_>, c: &Cond, _in_or: bool) -> fmt::Result {
    match c {
        Cond::And(..) | Cond::Or(..) | Cond::Expr(_) => write!(f, "({c})"),
        // Only the builder can nest `{}`; this is its equivalent.
        Cond::True => f.write_str("name =~ \".*\""),
        _ => write!(f, "{c}"),
    }
}

impl fmt::Display for SpansetExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bin = |f: &mut fmt::Formatter<'_>, a: &SpansetExpr, op: &str, b: &SpansetExpr| {
            write_spanset_operand(f, a)?;
            write!(f, " {op} ")?;
            write_spanset_operand(f, b)
        };
        match self {
            SpansetExpr::Filter(Cond::True) => f.write_str("{ }"),
            SpansetExpr::Filter(c) => write!(f, "{{ {c} }}"),
            SpansetExpr::And(a, b) => bin(f, a, "&&", b),
            SpansetExpr::Or(a, b) => bin(f, a, "||", b),
            SpansetExpr::Child(a, b) => bin(f, a, ">", b),
            SpansetExpr::Descendant(a, b) => bin(f, a, ">>", b),
            SpansetExpr::Struct(op, a, b) => bin(f, a, op.text(), b),
            SpansetExpr::Pipeline(input, stages) => {
                write_spanset_operand(f, input)?;
                for s in stages {
                    match s {
                        // A nested pipeline or operator expression as a stage is grouped.
                        Stage::Spans(e) if !matches!(e, SpansetExpr::Filter(_)) => {
                            write!(f, " | ({s})")?
                        }
                        _ => write!(f, " | {s}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

fn write_spanset_operand(f: &mut fmt::Formatter<'_>, e: &SpansetExpr) -> fmt::Result {
    match e {
        SpansetExpr::Filter(_) => write!(f, "{e}"),
        _ => write!(f, "({e})"),
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.func {
            MetricsFn::Rate => f.write_str("rate()")?,
            MetricsFn::CountOverTime => f.write_str("count_over_time()")?,
            MetricsFn::AvgOverTime => f.write_str("avg_over_time(duration)")?,
            MetricsFn::MinOverTime => f.write_str("min_over_time(duration)")?,
            MetricsFn::MaxOverTime => f.write_str("max_over_time(duration)")?,
            MetricsFn::SumOverTime => f.write_str("sum_over_time(duration)")?,
            MetricsFn::HistogramOverTime => f.write_str("histogram_over_time(duration)")?,
            MetricsFn::Compare {
                filter,
                top,
                window,
            } => {
                write!(f, "compare({}, {top}", SpansetExpr::Filter(filter.clone()))?;
                if let Some((lo, hi)) = window {
                    write!(f, ", {lo}, {hi}")?;
                }
                f.write_str(")")?;
            }
            MetricsFn::QuantileOverTime(qs) => {
                f.write_str("quantile_over_time(duration")?;
                for q in qs {
                    write!(f, ", {q:?}")?;
                }
                f.write_str(")")?;
            }
            MetricsFn::Math(m) => write!(f, "{m}")?,
        }
        if !self.by.is_empty() {
            let fields: Vec<String> = self.by.iter().map(Field::text).collect();
            write!(f, " by ({})", fields.join(", "))?;
        }
        for s in &self.second {
            match s {
                SecondStage::TopK(n) => write!(f, " | topk({n})")?,
                SecondStage::BottomK(n) => write!(f, " | bottomk({n})")?,
                SecondStage::Filter(op, v) => write!(f, " {} {}", op.text(), Literal::Float(*v))?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(
            p @ Pipeline {
                func: MetricsFn::Math(_),
                ..
            },
        ) = &self.pipeline
        {
            return write!(f, "{p}");
        }
        write!(f, "{}", self.spans)?;
        if let Some(p) = &self.pipeline {
            write!(f, " | {p}")?;
        }
        Ok(())
    }
}

impl SpansetExpr {
    /// The `{ }` filters, left to right.
    pub fn filters(&self) -> Vec<&Cond> {
        let mut out = Vec::new();
        self.collect_filters(&mut out);
        out
    }
    fn collect_filters<'a>(&'a self, out: &mut Vec<&'a Cond>) {
        match self {
            SpansetExpr::Filter(c) => out.push(c),
            SpansetExpr::And(a, b)
            | SpansetExpr::Or(a, b)
            | SpansetExpr::Child(a, b)
            | SpansetExpr::Descendant(a, b)
            | SpansetExpr::Struct(_, a, b) => {
                a.collect_filters(out);
                b.collect_filters(out);
            }
            // Stage filters narrow spansets: only the input finds candidate traces.
            SpansetExpr::Pipeline(input, _) => input.collect_filters(out),
        }
    }
}

impl Cond {
    /// Whether some part of the condition is a general expression ([`Cond::Expr`]).
    pub fn has_expr(&self) -> bool {
        match self {
            Cond::True | Cond::Cmp(..) => false,
            Cond::Expr(_) => true,
            Cond::And(a, b) | Cond::Or(a, b) => a.has_expr() || b.has_expr(),
        }
    }
    /// Calls `f` on every comparison.
    pub fn for_each_cmp<'a>(&'a self, f: &mut impl FnMut(&'a Field, Op, &'a Literal)) {
        match self {
            Cond::True | Cond::Expr(_) => {}
            Cond::Cmp(field, op, lit) => f(field, *op, lit),
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.for_each_cmp(f);
                b.for_each_cmp(f);
            }
        }
    }
}
