//! General field expressions (`Cond::Expr`): their static types, checked when a query is
//! parsed (Tempo's `validate` rules), and their evaluation on a decoded span with its trace.
//!
//! Values are dynamically typed. A comparison between values of types that do not compare
//! (a string with a number, anything with nil) is false, for `!=` too; arithmetic on such
//! values is nil. A field that holds several values (an array attribute, the events or links of
//! a span) matches when any element matches, and `!=` / `!~` when every element does.

use std::borrow::Cow;

use regex::Regex;
use rustc_hash::FxHashMap;
use spandb_storage::model::find_attr;
use spandb_storage::{KeyValue, Span, SpanKind, SpanParts, StatusCode, Value};

use crate::ast::{BinOp, Expr, Field, Literal, Op};
use crate::eval::TraceCtx;
use crate::trace_tree::TreePos;

/// Static types: what the parser knows of an expression before seeing a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Bool,
    Int,
    Float,
    Str,
    Duration,
    Status,
    Kind,
    /// An attribute: its type is known only per span.
    Attr,
}

impl Ty {
    fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Duration)
    }
    /// Two operands that may be compared or combined.
    fn matches(self, other: Ty) -> bool {
        self == Ty::Attr
            || other == Ty::Attr
            || self == other
            || (self.numeric() && other.numeric())
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            Ty::Bool => "a boolean",
            Ty::Int => "an integer",
            Ty::Float => "a float",
            Ty::Str => "a string",
            Ty::Duration => "a duration",
            Ty::Status => "a status",
            Ty::Kind => "a kind",
            Ty::Attr => "an attribute",
        }
    }
}

pub(crate) fn field_ty(f: &Field) -> Ty {
    match f {
        Field::Name
        | Field::StatusMessage
        | Field::TraceRootService
        | Field::TraceRootName
        | Field::SpanId
        | Field::ParentId
        | Field::TraceId
        | Field::EventName
        | Field::LinkTraceId
        | Field::LinkSpanId
        | Field::InstrumentationName
        | Field::InstrumentationVersion => Ty::Str,
        Field::Status => Ty::Status,
        Field::Kind => Ty::Kind,
        Field::Duration | Field::TraceDuration | Field::EventTimeSinceStart => Ty::Duration,
        Field::Span(_)
        | Field::Resource(_)
        | Field::Unscoped(_)
        | Field::Event(_)
        | Field::Link(_)
        | Field::Instrumentation(_) => Ty::Attr,
        Field::Parent(inner) => field_ty(inner),
        Field::ChildCount
        | Field::NestedSetLeft
        | Field::NestedSetRight
        | Field::NestedSetParent => Ty::Int,
    }
}

pub(crate) fn lit_ty(l: &Literal) -> Ty {
    match l {
        Literal::Str(_) => Ty::Str,
        Literal::Int(_) => Ty::Int,
        Literal::Float(_) => Ty::Float,
        Literal::Bool(_) => Ty::Bool,
        Literal::Duration(_) => Ty::Duration,
        Literal::Status(_) => Ty::Status,
        Literal::Kind(_) => Ty::Kind,
    }
}

/// The type of `op` applied to operands of types `l` and `r`, or what is wrong.
pub(crate) fn bin_ty(op: BinOp, l: Ty, r: Ty) -> Result<Ty, String> {
    let bad = || {
        Err(format!(
            "operands that `{}` accepts ({} and {} do not go together)",
            op.text(),
            l.name(),
            r.name()
        ))
    };
    match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow => {
            let ok = |t: Ty| t.numeric() || t == Ty::Attr;
            if !ok(l) || !ok(r) {
                return bad();
            }
            Ok(match (l, r) {
                (Ty::Attr, _) | (_, Ty::Attr) => Ty::Attr,
                (Ty::Int, Ty::Int) => Ty::Int,
                _ => Ty::Float,
            })
        }
        BinOp::And | BinOp::Or => {
            let ok = |t: Ty| t == Ty::Bool || t == Ty::Attr;
            if !ok(l) || !ok(r) {
                return bad();
            }
            Ok(Ty::Bool)
        }
        BinOp::Cmp(Op::Eq | Op::Ne) => {
            if !l.matches(r) {
                return bad();
            }
            Ok(Ty::Bool)
        }
        BinOp::Cmp(Op::Match | Op::NotMatch) => {
            let ok = |t: Ty| t == Ty::Str || t == Ty::Attr;
            if !ok(l) || !ok(r) {
                return bad();
            }
            Ok(Ty::Bool)
        }
        BinOp::Cmp(_) => {
            let unordered = |t: Ty| matches!(t, Ty::Bool | Ty::Status | Ty::Kind);
            if !l.matches(r) || unordered(l) || unordered(r) {
                return bad();
            }
            Ok(Ty::Bool)
        }
    }
}

/// A runtime value.
#[derive(Clone, Debug)]
pub(crate) enum Val<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// Nanoseconds.
    Dur(i64),
    Status(StatusCode),
    Kind(SpanKind),
    /// Several values (an array, or one per event or link): any element may match.
    Many(Vec<Val<'a>>),
}

impl<'a> Val<'a> {
    pub(crate) fn of_value(v: Option<&'a Value>) -> Val<'a> {
        match v {
            Some(Value::Str(s)) => Val::Str(Cow::Borrowed(s)),
            Some(Value::Int(i)) => Val::Int(*i),
            Some(Value::Double(x)) => Val::Float(*x),
            Some(Value::Bool(b)) => Val::Bool(*b),
            Some(Value::Array(items)) => {
                Val::Many(items.iter().map(|x| Val::of_value(Some(x))).collect())
            }
            _ => Val::Nil,
        }
    }
    fn of_lit(l: &'a Literal) -> Val<'a> {
        match l {
            Literal::Str(s) => Val::Str(Cow::Borrowed(s)),
            Literal::Int(i) => Val::Int(*i),
            Literal::Float(x) => Val::Float(*x),
            Literal::Bool(b) => Val::Bool(*b),
            Literal::Duration(d) => Val::Dur(i64::try_from(*d).unwrap_or(i64::MAX)),
            Literal::Status(s) => Val::Status(*s),
            Literal::Kind(k) => Val::Kind(*k),
        }
    }
    /// Back to a literal, for constant folding.
    pub(crate) fn into_literal(self) -> Option<Literal> {
        Some(match self {
            Val::Bool(b) => Literal::Bool(b),
            Val::Int(i) => Literal::Int(i),
            Val::Float(x) if x.is_finite() => Literal::Float(x),
            Val::Str(s) => Literal::Str(s.into_owned()),
            Val::Dur(d) => Literal::Duration(u64::try_from(d).ok()?),
            Val::Status(s) => Literal::Status(s),
            Val::Kind(k) => Literal::Kind(k),
            _ => return None,
        })
    }
    fn is_nil(&self) -> bool {
        match self {
            Val::Nil => true,
            Val::Many(v) => v.is_empty(),
            _ => false,
        }
    }
    /// A number (durations in nanoseconds), for aggregates.
    pub(crate) fn number(&self) -> Option<f64> {
        self.num()
    }
    fn num(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(x) => Some(*x),
            Val::Dur(d) => Some(*d as f64),
            _ => None,
        }
    }
}

/// What an expression sees: the span, its trace (for `trace:` intrinsics) and its parent
/// (for `parent.`). `None` for either means "not known here": the answer is then unknown.
pub(crate) struct Ctx<'a> {
    pub span: &'a Span,
    pub trace: Option<&'a TraceCtx>,
    /// `Some(None)`: the span has no parent in its trace.
    pub parent: Option<Option<&'a Span>>,
    /// The span's place in its assembled trace (child count, nested set).
    pub pos: Option<TreePos>,
}

/// A compiled expression: the tree plus its regular expressions, compiled once.
#[derive(Debug)]
pub(crate) struct CompiledExpr {
    pub expr: Expr,
    regexes: FxHashMap<String, Regex>,
}

impl CompiledExpr {
    pub(crate) fn new(expr: &Expr) -> CompiledExpr {
        let mut regexes = FxHashMap::default();
        collect_regexes(expr, &mut regexes);
        CompiledExpr {
            expr: expr.clone(),
            regexes,
        }
    }

    /// `Some(true)` when the span matches, `None` when the context lacks what it needs.
    /// Reads the span alone: no trace-level intrinsic, parent or place in the tree.
    pub(crate) fn is_span_local(&self) -> bool {
        let mut local = true;
        self.expr.for_each_field(&mut |f| {
            local &= !(f.is_trace_level() || f.is_tree_pos() || matches!(f, Field::Parent(_)))
        });
        local
    }

    /// `event:name op "text"` as a leaf, for the executor's events-chunk path.
    pub(crate) fn event_name_leaf(&self) -> Option<crate::eval::Leaf> {
        let Expr::Bin(BinOp::Cmp(op), a, b) = &self.expr else {
            return None;
        };
        let (Expr::Field(Field::EventName), Expr::Lit(lit @ Literal::Str(text))) = (&**a, &**b)
        else {
            return None;
        };
        Some(crate::eval::Leaf {
            field: Field::EventName,
            op: *op,
            lit: lit.clone(),
            re: self.regexes.get(text).cloned(),
        })
    }

    /// The parts of a span the expression reads (the core is always there).
    pub(crate) fn span_parts(&self) -> SpanParts {
        let mut parts = SpanParts::CORE;
        self.expr.for_each_field(&mut |f| match f {
            Field::Span(_) | Field::Unscoped(_) => parts.attributes = true,
            Field::EventName | Field::EventTimeSinceStart | Field::Event(_) => parts.events = true,
            Field::LinkTraceId | Field::LinkSpanId | Field::Link(_) => parts.links = true,
            _ => {}
        });
        parts
    }

    pub(crate) fn matches(&self, ctx: &Ctx<'_>) -> Option<bool> {
        Some(matches!(self.eval(&self.expr, ctx)?, Val::Bool(true)))
    }

    /// The value of the whole expression on a span (`None`: context missing).
    pub(crate) fn value<'a>(&'a self, ctx: &Ctx<'a>) -> Option<Val<'a>> {
        self.eval(&self.expr, ctx)
    }

    fn eval<'a>(&self, e: &'a Expr, ctx: &Ctx<'a>) -> Option<Val<'a>> {
        Some(match e {
            Expr::Lit(l) => Val::of_lit(l),
            Expr::Field(f) => field_val(f, ctx)?,
            Expr::Not(x) => match self.eval(x, ctx)? {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Nil,
            },
            Expr::Neg(x) => match self.eval(x, ctx)? {
                Val::Int(i) => Val::Int(i.wrapping_neg()),
                Val::Float(f) => Val::Float(-f),
                Val::Dur(d) => Val::Dur(d.saturating_neg()),
                _ => Val::Nil,
            },
            Expr::Exists(x) => Val::Bool(!self.eval(x, ctx)?.is_nil()),
            Expr::NotExists(x) => Val::Bool(self.eval(x, ctx)?.is_nil()),
            Expr::Bin(op, a, b) => {
                let l = self.eval(a, ctx)?;
                let r = self.eval(b, ctx)?;
                match op {
                    BinOp::And | BinOp::Or => match (l, r) {
                        (Val::Bool(x), Val::Bool(y)) => {
                            Val::Bool(if *op == BinOp::And { x && y } else { x || y })
                        }
                        _ => Val::Bool(false),
                    },
                    BinOp::Cmp(cop) => Val::Bool(self.compare(*cop, &l, &r)),
                    _ => arith(*op, &l, &r),
                }
            }
        })
    }

    fn compare(&self, op: Op, l: &Val<'_>, r: &Val<'_>) -> bool {
        // Several values: every element for `!=` and `!~`, any element otherwise.
        let all = matches!(op, Op::Ne | Op::NotMatch);
        if let Val::Many(items) = l {
            if items.is_empty() {
                return false;
            }
            return if all {
                items.iter().all(|x| self.compare(op, x, r))
            } else {
                items.iter().any(|x| self.compare(op, x, r))
            };
        }
        if let Val::Many(items) = r {
            if items.is_empty() {
                return false;
            }
            return if all {
                items.iter().all(|x| self.compare(op, l, x))
            } else {
                items.iter().any(|x| self.compare(op, l, x))
            };
        }
        use std::cmp::Ordering;
        let ord = |o: Option<Ordering>| {
            let Some(o) = o else { return false };
            match op {
                Op::Eq => o == Ordering::Equal,
                Op::Ne => o != Ordering::Equal,
                Op::Gt => o == Ordering::Greater,
                Op::Ge => o != Ordering::Less,
                Op::Lt => o == Ordering::Less,
                Op::Le => o != Ordering::Greater,
                Op::Match | Op::NotMatch => false,
            }
        };
        match (l, r) {
            (Val::Str(s), Val::Str(p)) if matches!(op, Op::Match | Op::NotMatch) => {
                let hit = match self.regexes.get(p.as_ref()) {
                    Some(re) => re.is_match(s),
                    None => match Regex::new(&format!("^(?:{p})$")) {
                        Ok(re) => re.is_match(s),
                        Err(_) => return false,
                    },
                };
                hit == (op == Op::Match)
            }
            (_, _) if matches!(op, Op::Match | Op::NotMatch) => false,
            (Val::Str(a), Val::Str(b)) => ord(Some(a.as_ref().cmp(b.as_ref()))),
            (Val::Int(a), Val::Int(b)) => ord(Some(a.cmp(b))),
            (Val::Dur(a), Val::Dur(b)) => ord(Some(a.cmp(b))),
            (Val::Bool(a), Val::Bool(b)) if matches!(op, Op::Eq | Op::Ne) => ord(Some(a.cmp(b))),
            (Val::Status(a), Val::Status(b)) if matches!(op, Op::Eq | Op::Ne) => {
                ord(Some((*a as u8).cmp(&(*b as u8))))
            }
            (Val::Kind(a), Val::Kind(b)) if matches!(op, Op::Eq | Op::Ne) => {
                ord(Some((*a as u8).cmp(&(*b as u8))))
            }
            (a, b) => match (a.num(), b.num()) {
                (Some(x), Some(y)) => ord(x.partial_cmp(&y)),
                _ => false,
            },
        }
    }
}

fn collect_regexes(e: &Expr, out: &mut FxHashMap<String, Regex>) {
    match e {
        Expr::Bin(op, a, b) => {
            if let (BinOp::Cmp(Op::Match | Op::NotMatch), Expr::Lit(Literal::Str(p))) = (op, &**b) {
                if let Ok(re) = Regex::new(&format!("^(?:{p})$")) {
                    out.insert(p.clone(), re);
                }
            }
            collect_regexes(a, out);
            collect_regexes(b, out);
        }
        Expr::Not(x) | Expr::Neg(x) | Expr::Exists(x) | Expr::NotExists(x) => {
            collect_regexes(x, out)
        }
        Expr::Lit(_) | Expr::Field(_) => {}
    }
}

fn arith<'a>(op: BinOp, l: &Val<'a>, r: &Val<'a>) -> Val<'a> {
    if let (Val::Int(a), Val::Int(b)) = (l, r) {
        let (a, b) = (*a, *b);
        let v = match op {
            BinOp::Add => a.checked_add(b),
            BinOp::Sub => a.checked_sub(b),
            BinOp::Mul => a.checked_mul(b),
            BinOp::Div => a.checked_div(b),
            BinOp::Mod => a.checked_rem(b),
            BinOp::Pow => match u32::try_from(b) {
                Ok(e) => a.checked_pow(e),
                Err(_) => return Val::Float((a as f64).powf(b as f64)),
            },
            _ => None,
        };
        return v.map_or(Val::Nil, Val::Int);
    }
    let (Some(a), Some(b)) = (l.num(), r.num()) else {
        return Val::Nil;
    };
    let v = match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        _ => return Val::Nil,
    };
    if v.is_nan() {
        Val::Nil
    } else {
        Val::Float(v)
    }
}

fn attr_val<'a>(attrs: &'a [KeyValue], key: &str) -> Val<'a> {
    Val::of_value(find_attr(attrs, key))
}

fn hex<'a>(s: String) -> Val<'a> {
    Val::Str(Cow::Owned(s))
}

/// The value of field `f` for `ctx`; `None` when the context lacks what it needs.
fn field_val<'a>(f: &'a Field, ctx: &Ctx<'a>) -> Option<Val<'a>> {
    let s = ctx.span;
    let opt_str = |x: Option<&'a str>| x.map_or(Val::Nil, |x| Val::Str(Cow::Borrowed(x)));
    Some(match f {
        Field::Name => Val::Str(Cow::Borrowed(&s.name)),
        Field::Status => Val::Status(s.status_code),
        Field::Kind => Val::Kind(s.kind),
        Field::Duration => Val::Dur(i64::try_from(s.duration_ns()).unwrap_or(i64::MAX)),
        Field::StatusMessage => Val::Str(Cow::Borrowed(&s.status_message)),
        Field::TraceRootService => opt_str(ctx.trace?.root_service.as_deref()),
        Field::TraceRootName => opt_str(ctx.trace?.root_name.as_deref()),
        Field::TraceDuration => Val::Dur(i64::try_from(ctx.trace?.duration_ns).unwrap_or(i64::MAX)),
        Field::Span(k) => attr_val(&s.attributes, k),
        Field::Resource(k) => attr_val(&s.resource.attributes, k),
        Field::Unscoped(k) => match s.attr(k) {
            Some(v) => Val::of_value(Some(v)),
            None => attr_val(&s.resource.attributes, k),
        },
        Field::SpanId => hex(s.span_id.to_string()),
        Field::ParentId => match s.parent_span_id {
            Some(p) if !p.is_zero() => hex(p.to_string()),
            _ => Val::Nil,
        },
        Field::TraceId => hex(s.trace_id.to_string()),
        Field::EventName => Val::Many(
            s.events
                .iter()
                .map(|e| Val::Str(Cow::Borrowed(&e.name)))
                .collect(),
        ),
        Field::EventTimeSinceStart => Val::Many(
            s.events
                .iter()
                .map(|e| {
                    Val::Dur(
                        i64::try_from(e.time_ns.saturating_sub(s.start_ns)).unwrap_or(i64::MAX),
                    )
                })
                .collect(),
        ),
        Field::Event(k) => Val::Many(
            s.events
                .iter()
                .filter_map(|e| find_attr(&e.attributes, k))
                .map(|v| Val::of_value(Some(v)))
                .collect(),
        ),
        Field::LinkTraceId => Val::Many(
            s.links
                .iter()
                .map(|l| hex(l.trace_id.to_string()))
                .collect(),
        ),
        Field::LinkSpanId => {
            Val::Many(s.links.iter().map(|l| hex(l.span_id.to_string())).collect())
        }
        Field::Link(k) => Val::Many(
            s.links
                .iter()
                .filter_map(|l| find_attr(&l.attributes, k))
                .map(|v| Val::of_value(Some(v)))
                .collect(),
        ),
        Field::InstrumentationName => {
            opt_str(Some(s.scope.name.as_str()).filter(|x| !x.is_empty()))
        }
        Field::InstrumentationVersion => {
            opt_str(Some(s.scope.version.as_str()).filter(|x| !x.is_empty()))
        }
        Field::Instrumentation(k) => attr_val(&s.scope.attributes, k),
        Field::Parent(inner) => match ctx.parent? {
            None => Val::Nil,
            Some(p) => field_val(
                inner,
                &Ctx {
                    span: p,
                    trace: ctx.trace,
                    parent: None,
                    pos: None,
                },
            )?,
        },
        Field::ChildCount => Val::Int(i64::from(ctx.pos?.child_count)),
        Field::NestedSetLeft => Val::Int(ctx.pos?.left),
        Field::NestedSetRight => Val::Int(ctx.pos?.right),
        Field::NestedSetParent => Val::Int(ctx.pos?.parent),
    })
}

/// Evaluates an expression that reads no span (constant folding).
pub(crate) fn eval_const(e: &Expr) -> Option<Literal> {
    if e.references_span() {
        return None;
    }
    let span = Span::default();
    let c = CompiledExpr::new(e);
    let ctx = Ctx {
        span: &span,
        trace: None,
        parent: None,
        pos: None,
    };
    c.eval(&c.expr, &ctx)?.into_literal()
}

/// The values of `fields` on a span, for `select(...)`: present fields only, by their
/// TraceQL text (a field with several values gives its first).
pub(crate) fn selected_values(fields: &[Field], ctx: &Ctx<'_>) -> Vec<(String, crate::LabelValue)> {
    use crate::LabelValue;
    fn label(v: Val<'_>) -> Option<LabelValue> {
        Some(match v {
            Val::Nil => return None,
            Val::Bool(b) => LabelValue::Bool(b),
            Val::Int(i) => LabelValue::Int(i),
            Val::Float(x) => LabelValue::Float(x),
            Val::Str(s) => LabelValue::Str(s.into_owned()),
            Val::Dur(d) => LabelValue::Int(d),
            Val::Status(s) => LabelValue::Str(s.as_str().to_owned()),
            Val::Kind(k) => LabelValue::Str(k.as_str().to_owned()),
            Val::Many(items) => return items.into_iter().find_map(label),
        })
    }
    fields
        .iter()
        .filter_map(|f| Some((f.text(), label(field_val(f, ctx)?)?)))
        .collect()
}
