//! Evaluating conditions on spans: the comparison rules (docs/QUERY.md, "Types") and a
//! three-valued evaluator over any view of a span, so a planner can decide a row from the
//! cheap columns when they suffice and decode the rest only when the answer is "unknown".

use std::cmp::Ordering;

use regex::Regex;
use spandb_storage::model::find_attr;
use spandb_storage::{Resource, Span, SpanKind, StatusCode, Value};

use crate::ast::{BinOp, Cond, Expr, Field, Literal, Op};
use crate::expr::{CompiledExpr, Ctx};
use crate::trace_tree::TreePos;

/// What trace-level intrinsics see.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceCtx {
    pub root_service: Option<String>,
    pub root_name: Option<String>,
    pub duration_ns: u64,
}

/// The left side of a comparison.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Operand<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Duration(u64),
    Status(StatusCode),
    Kind(SpanKind),
}

impl<'a> Operand<'a> {
    /// Scalar attribute values compare; arrays, maps, bytes and empty values never match.
    pub(crate) fn of_value(v: &'a Value) -> Option<Self> {
        match v {
            Value::Str(s) => Some(Operand::Str(s)),
            Value::Int(i) => Some(Operand::Int(*i)),
            Value::Double(x) => Some(Operand::Float(*x)),
            Value::Bool(b) => Some(Operand::Bool(*b)),
            _ => None,
        }
    }
}

/// A compiled comparison.
#[derive(Debug)]
pub(crate) struct Leaf {
    pub field: Field,
    pub op: Op,
    pub lit: Literal,
    pub re: Option<Regex>,
}

/// A compiled condition.
#[derive(Debug)]
pub(crate) enum Matcher {
    True,
    /// A condition that is false on every span (`{ false }`, `{ 1 > 2 }`).
    False,
    Cmp(Leaf),
    /// A general expression, decided on the decoded span with its trace.
    Expr(CompiledExpr),
    And(Box<Matcher>, Box<Matcher>),
    Or(Box<Matcher>, Box<Matcher>),
}

impl Matcher {
    pub(crate) fn compile(c: &Cond) -> Matcher {
        match c {
            Cond::True => Matcher::True,
            Cond::Expr(Expr::Lit(Literal::Bool(false))) => Matcher::False,
            Cond::Expr(e) => Matcher::Expr(CompiledExpr::new(e)),
            Cond::Cmp(field, op, lit) if !field.is_columnar() => {
                Matcher::Expr(CompiledExpr::new(&Expr::Bin(
                    BinOp::Cmp(*op),
                    Box::new(Expr::Field(field.clone())),
                    Box::new(Expr::Lit(lit.clone())),
                )))
            }
            Cond::Cmp(field, op, lit) => {
                let re = match (op, lit) {
                    // The parser checked the pattern; a failure here leaves `re` unset, and
                    // a regex comparison without a regex matches nothing.
                    (Op::Match | Op::NotMatch, Literal::Str(p)) => {
                        Regex::new(&format!("^(?:{p})$")).ok()
                    }
                    _ => None,
                };
                Matcher::Cmp(Leaf {
                    field: field.clone(),
                    op: *op,
                    lit: lit.clone(),
                    re,
                })
            }
            Cond::And(a, b) => Matcher::And(Box::new(Self::compile(a)), Box::new(Self::compile(b))),
            Cond::Or(a, b) => Matcher::Or(Box::new(Self::compile(a)), Box::new(Self::compile(b))),
        }
    }

    pub(crate) fn for_each_leaf<'a>(&'a self, f: &mut impl FnMut(&'a Leaf)) {
        match self {
            Matcher::True | Matcher::False | Matcher::Expr(_) => {}
            Matcher::Cmp(l) => f(l),
            Matcher::And(a, b) | Matcher::Or(a, b) => {
                a.for_each_leaf(f);
                b.for_each_leaf(f);
            }
        }
    }

    /// Needs the trace (root, duration, a parent, the tree) to decide. Expressions on the
    /// span alone are decided exactly on block rows.
    pub(crate) fn is_trace_level(&self) -> bool {
        match self {
            Matcher::True | Matcher::False => false,
            Matcher::Cmp(l) => l.field.is_trace_level(),
            Matcher::Expr(c) => !c.is_span_local(),
            Matcher::And(a, b) | Matcher::Or(a, b) => a.is_trace_level() || b.is_trace_level(),
        }
    }

    /// Holds a general expression somewhere.
    pub(crate) fn has_expr(&self) -> bool {
        match self {
            Matcher::True | Matcher::False | Matcher::Cmp(_) => false,
            Matcher::Expr(_) => true,
            Matcher::And(a, b) | Matcher::Or(a, b) => a.has_expr() || b.has_expr(),
        }
    }
}

/// A span as some stage of the executor sees it. `None` from an accessor means "not available
/// here", which makes the evaluator answer "unknown" rather than guess.
pub(crate) trait SpanView {
    fn start_ns(&self) -> u64;
    fn duration_ns(&self) -> u64;
    fn name(&self) -> &str;
    fn status(&self) -> StatusCode;
    fn kind(&self) -> SpanKind;
    fn resource(&self) -> &Resource;
    fn status_message(&self) -> Option<&str>;
    /// `Some(None)`: known to be absent.
    fn span_attr(&self, key: &str) -> Option<Option<&Value>>;
    fn trace(&self) -> Option<&TraceCtx>;
    /// The whole decoded span, when this view has it.
    fn full(&self) -> Option<&Span> {
        None
    }
    /// The span's parent in its assembled trace (`Some(None)`: no parent there), when known.
    fn parent(&self) -> Option<Option<&Span>> {
        None
    }
    /// The span's place in its assembled trace, when known.
    fn tree_pos(&self) -> Option<TreePos> {
        None
    }
}

/// A decoded span, with its trace's context when the caller has assembled it.
pub(crate) struct SpanRef<'a> {
    pub span: &'a Span,
    pub trace: Option<&'a TraceCtx>,
    /// Known only when the caller assembled the trace.
    pub parent: Option<Option<&'a Span>>,
    /// Known only when the caller assembled the trace.
    pub pos: Option<TreePos>,
}

impl SpanView for SpanRef<'_> {
    fn start_ns(&self) -> u64 {
        self.span.start_ns
    }
    fn duration_ns(&self) -> u64 {
        self.span.duration_ns()
    }
    fn name(&self) -> &str {
        &self.span.name
    }
    fn status(&self) -> StatusCode {
        self.span.status_code
    }
    fn kind(&self) -> SpanKind {
        self.span.kind
    }
    fn resource(&self) -> &Resource {
        &self.span.resource
    }
    fn status_message(&self) -> Option<&str> {
        Some(&self.span.status_message)
    }
    fn span_attr(&self, key: &str) -> Option<Option<&Value>> {
        Some(self.span.attr(key))
    }
    fn trace(&self) -> Option<&TraceCtx> {
        self.trace
    }
    fn full(&self) -> Option<&Span> {
        Some(self.span)
    }
    fn parent(&self) -> Option<Option<&Span>> {
        self.parent
    }
    fn tree_pos(&self) -> Option<TreePos> {
        self.pos
    }
}

/// Three-valued evaluation: `None` when the view lacks something the answer depends on.
pub(crate) fn eval(m: &Matcher, v: &impl SpanView) -> Option<bool> {
    match m {
        Matcher::True => Some(true),
        Matcher::False => Some(false),
        Matcher::Expr(c) => c.matches(&Ctx {
            span: v.full()?,
            trace: v.trace(),
            parent: v.parent(),
            pos: v.tree_pos(),
        }),
        Matcher::Cmp(leaf) => eval_leaf(leaf, v),
        Matcher::And(a, b) => match eval(a, v) {
            Some(false) => Some(false),
            Some(true) => eval(b, v),
            None => match eval(b, v) {
                Some(false) => Some(false),
                _ => None,
            },
        },
        Matcher::Or(a, b) => match eval(a, v) {
            Some(true) => Some(true),
            Some(false) => eval(b, v),
            None => match eval(b, v) {
                Some(true) => Some(true),
                _ => None,
            },
        },
    }
}

fn eval_leaf(l: &Leaf, v: &impl SpanView) -> Option<bool> {
    let cmp = |o: Option<Operand<'_>>| o.is_some_and(|o| compare(l, o));
    Some(match &l.field {
        Field::Name => compare(l, Operand::Str(v.name())),
        Field::Status => compare(l, Operand::Status(v.status())),
        Field::Kind => compare(l, Operand::Kind(v.kind())),
        Field::Duration => compare(l, Operand::Duration(v.duration_ns())),
        Field::StatusMessage => compare(l, Operand::Str(v.status_message()?)),
        Field::TraceRootService => cmp(v.trace()?.root_service.as_deref().map(Operand::Str)),
        Field::TraceRootName => cmp(v.trace()?.root_name.as_deref().map(Operand::Str)),
        Field::TraceDuration => compare(l, Operand::Duration(v.trace()?.duration_ns)),
        Field::Span(k) => v.span_attr(k)?.is_some_and(|x| compare_value(l, x)),
        Field::Resource(k) => resource_leaf(l, v.resource(), k),
        Field::Unscoped(k) => {
            resource_leaf(l, v.resource(), k)
                || v.span_attr(k)?.is_some_and(|x| compare_value(l, x))
        }
        // Compiled as expressions (`Matcher::compile`), never as leaves.
        _ => return None,
    })
}

/// A comparison on a resource attribute.
pub(crate) fn resource_leaf(l: &Leaf, r: &Resource, key: &str) -> bool {
    find_attr(&r.attributes, key).is_some_and(|v| compare_value(l, v))
}

/// A comparison on an attribute value. An array matches when any element does, and for
/// `!=` / `!~` when every element does (an empty array never matches), as in expressions;
/// maps, bytes and empty values never match.
pub(crate) fn compare_value(l: &Leaf, v: &Value) -> bool {
    match v {
        Value::Array(items) if items.is_empty() => false,
        Value::Array(items) if matches!(l.op, Op::Ne | Op::NotMatch) => {
            items.iter().all(|x| compare_value(l, x))
        }
        Value::Array(items) => items.iter().any(|x| compare_value(l, x)),
        _ => Operand::of_value(v).is_some_and(|o| compare(l, o)),
    }
}

fn ordered(op: Op, ord: Option<Ordering>) -> bool {
    let Some(ord) = ord else { return false };
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Match | Op::NotMatch => false,
    }
}

/// The comparison rules: strings with strings; an integer literal with integers; a float
/// literal with integers and floats; a duration with durations and integer or float
/// attributes (as nanoseconds); booleans, statuses and kinds with `=`/`!=` only. A type
/// mismatch is false, for `!=` too.
pub(crate) fn compare(l: &Leaf, lhs: Operand<'_>) -> bool {
    match (l.op, &l.lit, lhs) {
        (Op::Match, _, Operand::Str(s)) => l.re.as_ref().is_some_and(|re| re.is_match(s)),
        (Op::NotMatch, _, Operand::Str(s)) => l.re.as_ref().is_some_and(|re| !re.is_match(s)),
        (Op::Match | Op::NotMatch, _, _) => false,
        (op, Literal::Str(r), Operand::Str(s)) => ordered(op, Some(s.cmp(r.as_str()))),
        (op, Literal::Int(r), Operand::Int(x)) => ordered(op, Some(x.cmp(r))),
        (op, Literal::Float(r), Operand::Int(x)) => ordered(op, (x as f64).partial_cmp(r)),
        (op, Literal::Float(r), Operand::Float(x)) => ordered(op, x.partial_cmp(r)),
        (op, Literal::Duration(r), Operand::Duration(x)) => ordered(op, Some(x.cmp(r))),
        (op, Literal::Duration(r), Operand::Int(x)) => {
            ordered(op, Some(i128::from(x).cmp(&i128::from(*r))))
        }
        (op, Literal::Duration(r), Operand::Float(x)) => ordered(op, x.partial_cmp(&(*r as f64))),
        (Op::Eq, Literal::Bool(r), Operand::Bool(x)) => x == *r,
        (Op::Ne, Literal::Bool(r), Operand::Bool(x)) => x != *r,
        (Op::Eq, Literal::Status(r), Operand::Status(x)) => x == *r,
        (Op::Ne, Literal::Status(r), Operand::Status(x)) => x != *r,
        (Op::Eq, Literal::Kind(r), Operand::Kind(x)) => x == *r,
        (Op::Ne, Literal::Kind(r), Operand::Kind(x)) => x != *r,
        _ => false,
    }
}
