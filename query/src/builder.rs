//! A typed builder for queries, for code that would rather not build strings. Every query the
//! parser accepts can be built, and `Query`'s `Display` prints the TraceQL text.
//!
//! ```
//! use spandb_query::builder::{attr, field, spanset};
//! use spandb_query::{parse, StatusCode};
//! use std::time::Duration;
//!
//! let q = spanset(
//!     field::service().eq("checkout")
//!         .and(field::status().eq(StatusCode::Error))
//!         .and(field::duration().gt(Duration::from_millis(200)))
//!         .and(attr::span("http.response.status_code").ge(500)),
//! )
//! .query();
//! assert_eq!(
//!     q,
//!     parse(r#"{ resource.service.name = "checkout" && status = error && duration > 200ms && span.http.response.status_code >= 500 }"#).unwrap()
//! );
//! let red = spanset(field::kind().eq(spandb_query::SpanKind::Server))
//!     .rate()
//!     .by([field::service(), field::name()]);
//! assert_eq!(red.to_string(), "{ kind = server } | rate() by (resource.service.name, name)");
//! ```

use std::time::Duration;

use spandb_storage::{SpanKind, StatusCode};

use crate::ast::{
    Cond, Expr, Field, Literal, MetricsFn, Op, Pipeline, Query, SecondStage, SpansetExpr, Stage,
    StructOp,
};

/// A field to compare: start from [`field`] or [`attr`].
#[derive(Clone, Debug, PartialEq)]
pub struct FieldRef(pub Field);

/// Intrinsic fields.
pub mod field {
    use super::FieldRef;
    use crate::ast::Field;
    pub fn name() -> FieldRef {
        FieldRef(Field::Name)
    }
    pub fn status() -> FieldRef {
        FieldRef(Field::Status)
    }
    pub fn kind() -> FieldRef {
        FieldRef(Field::Kind)
    }
    pub fn duration() -> FieldRef {
        FieldRef(Field::Duration)
    }
    pub fn status_message() -> FieldRef {
        FieldRef(Field::StatusMessage)
    }
    /// `resource.service.name`
    pub fn service() -> FieldRef {
        FieldRef(Field::Resource("service.name".into()))
    }
    pub fn trace_root_service() -> FieldRef {
        FieldRef(Field::TraceRootService)
    }
    pub fn trace_root_name() -> FieldRef {
        FieldRef(Field::TraceRootName)
    }
    pub fn trace_duration() -> FieldRef {
        FieldRef(Field::TraceDuration)
    }
    /// `span:id`
    pub fn span_id() -> FieldRef {
        FieldRef(Field::SpanId)
    }
    /// `span:parentID`
    pub fn parent_id() -> FieldRef {
        FieldRef(Field::ParentId)
    }
    /// `trace:id`
    pub fn trace_id() -> FieldRef {
        FieldRef(Field::TraceId)
    }
    /// `event:name`
    pub fn event_name() -> FieldRef {
        FieldRef(Field::EventName)
    }
    /// `event:timeSinceStart`
    pub fn event_time_since_start() -> FieldRef {
        FieldRef(Field::EventTimeSinceStart)
    }
    /// `link:traceID`
    pub fn link_trace_id() -> FieldRef {
        FieldRef(Field::LinkTraceId)
    }
    /// `link:spanID`
    pub fn link_span_id() -> FieldRef {
        FieldRef(Field::LinkSpanId)
    }
    /// `instrumentation:name`
    pub fn instrumentation_name() -> FieldRef {
        FieldRef(Field::InstrumentationName)
    }
    /// `instrumentation:version`
    pub fn instrumentation_version() -> FieldRef {
        FieldRef(Field::InstrumentationVersion)
    }
    /// `span:childCount`
    pub fn child_count() -> FieldRef {
        FieldRef(Field::ChildCount)
    }
    /// `nestedSetLeft`
    pub fn nested_set_left() -> FieldRef {
        FieldRef(Field::NestedSetLeft)
    }
    /// `nestedSetRight`
    pub fn nested_set_right() -> FieldRef {
        FieldRef(Field::NestedSetRight)
    }
    /// `nestedSetParent`
    pub fn nested_set_parent() -> FieldRef {
        FieldRef(Field::NestedSetParent)
    }
}

/// Attributes.
pub mod attr {
    use super::FieldRef;
    use crate::ast::Field;
    /// `span.key`
    pub fn span(key: impl Into<String>) -> FieldRef {
        FieldRef(Field::Span(key.into()))
    }
    /// `resource.key`
    pub fn resource(key: impl Into<String>) -> FieldRef {
        FieldRef(Field::Resource(key.into()))
    }
    /// `.key`: span or resource attribute.
    pub fn any(key: impl Into<String>) -> FieldRef {
        FieldRef(Field::Unscoped(key.into()))
    }
    /// `event.key`: an attribute of any event of the span.
    pub fn event(key: impl Into<String>) -> FieldRef {
        FieldRef(Field::Event(key.into()))
    }
    /// `link.key`: an attribute of any link of the span.
    pub fn link(key: impl Into<String>) -> FieldRef {
        FieldRef(Field::Link(key.into()))
    }
    /// `instrumentation.key`: an attribute of the instrumentation scope.
    pub fn instrumentation(key: impl Into<String>) -> FieldRef {
        FieldRef(Field::Instrumentation(key.into()))
    }
    /// `parent.…`: the same field of the span's parent.
    pub fn parent(of: FieldRef) -> FieldRef {
        FieldRef(Field::Parent(Box::new(of.0)))
    }
}

/// Anything usable as the right side of a comparison.
pub trait IntoLiteral {
    fn into_literal(self) -> Literal;
}
impl IntoLiteral for &str {
    fn into_literal(self) -> Literal {
        Literal::Str(self.to_owned())
    }
}
impl IntoLiteral for String {
    fn into_literal(self) -> Literal {
        Literal::Str(self)
    }
}
impl IntoLiteral for i64 {
    fn into_literal(self) -> Literal {
        Literal::Int(self)
    }
}
impl IntoLiteral for i32 {
    fn into_literal(self) -> Literal {
        Literal::Int(i64::from(self))
    }
}
impl IntoLiteral for f64 {
    fn into_literal(self) -> Literal {
        Literal::Float(self)
    }
}
impl IntoLiteral for bool {
    fn into_literal(self) -> Literal {
        Literal::Bool(self)
    }
}
impl IntoLiteral for Duration {
    fn into_literal(self) -> Literal {
        Literal::Duration(u64::try_from(self.as_nanos()).unwrap_or(u64::MAX))
    }
}
impl IntoLiteral for StatusCode {
    fn into_literal(self) -> Literal {
        Literal::Status(self)
    }
}
impl IntoLiteral for SpanKind {
    fn into_literal(self) -> Literal {
        Literal::Kind(self)
    }
}
impl IntoLiteral for Literal {
    fn into_literal(self) -> Literal {
        self
    }
}

impl FieldRef {
    /// The same tree the parser builds for `field op literal`.
    fn cmp(self, op: Op, v: impl IntoLiteral) -> Cond {
        crate::parser::comparison(self.0, op, v.into_literal())
    }
    /// `field != nil`: the field has a value.
    pub fn exists(self) -> Cond {
        Cond::Expr(Expr::Exists(Box::new(Expr::Field(self.0))))
    }
    /// `field = nil`: the field is absent.
    pub fn missing(self) -> Cond {
        Cond::Expr(Expr::NotExists(Box::new(Expr::Field(self.0))))
    }
    pub fn eq(self, v: impl IntoLiteral) -> Cond {
        self.cmp(Op::Eq, v)
    }
    pub fn ne(self, v: impl IntoLiteral) -> Cond {
        self.cmp(Op::Ne, v)
    }
    pub fn gt(self, v: impl IntoLiteral) -> Cond {
        self.cmp(Op::Gt, v)
    }
    pub fn ge(self, v: impl IntoLiteral) -> Cond {
        self.cmp(Op::Ge, v)
    }
    pub fn lt(self, v: impl IntoLiteral) -> Cond {
        self.cmp(Op::Lt, v)
    }
    pub fn le(self, v: impl IntoLiteral) -> Cond {
        self.cmp(Op::Le, v)
    }
    /// `=~` (anchored regular expression).
    pub fn matches(self, re: impl Into<String>) -> Cond {
        self.cmp(Op::Match, Literal::Str(re.into()))
    }
    /// `!~`
    pub fn not_matches(self, re: impl Into<String>) -> Cond {
        self.cmp(Op::NotMatch, Literal::Str(re.into()))
    }
}

impl Cond {
    /// `!(self)`, as the parser builds it.
    pub fn negate(self) -> Cond {
        if self == Cond::True {
            return Cond::Expr(Expr::Lit(Literal::Bool(false)));
        }
        match crate::parse(&format!("{{ !({self}) }}")) {
            Ok(Query {
                spans: SpansetExpr::Filter(c),
                ..
            }) => c,
            // Every printed condition parses; keep the meaning if that ever fails.
            _ => Cond::Expr(Expr::Not(Box::new(Expr::Lit(Literal::Bool(false))))),
        }
    }
    /// `self && other` (`{}` conditions vanish).
    pub fn and(self, other: Cond) -> Cond {
        match (self, other) {
            (Cond::True, c) | (c, Cond::True) => c,
            (a, b) => Cond::And(Box::new(a), Box::new(b)),
        }
    }
    /// `self || other` (`{}` absorbs).
    pub fn or(self, other: Cond) -> Cond {
        match (self, other) {
            (Cond::True, _) | (_, Cond::True) => Cond::True,
            (a, b) => Cond::Or(Box::new(a), Box::new(b)),
        }
    }
}

/// `{ cond }`
pub fn spanset(cond: Cond) -> SpansetExpr {
    SpansetExpr::Filter(cond)
}

/// `{ }`: every span.
pub fn all_spans() -> SpansetExpr {
    SpansetExpr::Filter(Cond::True)
}

impl SpansetExpr {
    /// `self && other`: both in the same trace.
    pub fn and(self, other: SpansetExpr) -> SpansetExpr {
        SpansetExpr::And(Box::new(self), Box::new(other))
    }
    /// `self || other`
    pub fn or(self, other: SpansetExpr) -> SpansetExpr {
        SpansetExpr::Or(Box::new(self), Box::new(other))
    }
    /// `self > other`: spans of `other` whose parent is in `self`.
    pub fn child(self, other: SpansetExpr) -> SpansetExpr {
        SpansetExpr::Child(Box::new(self), Box::new(other))
    }
    /// `self >> other`: spans of `other` with an ancestor in `self`.
    pub fn descendant(self, other: SpansetExpr) -> SpansetExpr {
        SpansetExpr::Descendant(Box::new(self), Box::new(other))
    }
    /// `self op other` for the other structural operators (`<`, `<<`, `~`, negated, union).
    pub fn structural(self, op: StructOp, other: SpansetExpr) -> SpansetExpr {
        SpansetExpr::Struct(op, Box::new(self), Box::new(other))
    }
    /// `self | stage`: adds a pipeline stage (see [`stage`]).
    pub fn then(self, s: Stage) -> SpansetExpr {
        match self {
            SpansetExpr::Pipeline(input, mut stages) => {
                stages.push(s);
                SpansetExpr::Pipeline(input, stages)
            }
            other => SpansetExpr::Pipeline(Box::new(other), vec![s]),
        }
    }
    /// `| min_over_time(duration)`
    pub fn min_duration_over_time(self) -> Query {
        self.pipe(MetricsFn::MinOverTime)
    }
    /// `| max_over_time(duration)`
    pub fn max_duration_over_time(self) -> Query {
        self.pipe(MetricsFn::MaxOverTime)
    }
    /// `| sum_over_time(duration)`
    pub fn sum_duration_over_time(self) -> Query {
        self.pipe(MetricsFn::SumOverTime)
    }
    /// A search query.
    pub fn query(self) -> Query {
        Query {
            spans: self,
            pipeline: None,
        }
    }
    fn pipe(self, func: MetricsFn) -> Query {
        Query {
            spans: self,
            pipeline: Some(Pipeline {
                second: Vec::new(),
                func,
                by: Vec::new(),
            }),
        }
    }
    /// `| rate()`
    pub fn rate(self) -> Query {
        self.pipe(MetricsFn::Rate)
    }
    /// `| count_over_time()`
    pub fn count_over_time(self) -> Query {
        self.pipe(MetricsFn::CountOverTime)
    }
    /// `| avg_over_time(duration)`
    pub fn avg_duration_over_time(self) -> Query {
        self.pipe(MetricsFn::AvgOverTime)
    }
    /// `| quantile_over_time(duration, q...)`
    pub fn duration_quantiles_over_time(self, qs: impl IntoIterator<Item = f64>) -> Query {
        self.pipe(MetricsFn::QuantileOverTime(qs.into_iter().collect()))
    }
}

impl Query {
    /// A second stage on a metrics query (`| topk(n)`, `> 10`; no effect on a search).
    pub fn then(mut self, s: SecondStage) -> Query {
        if let Some(p) = &mut self.pipeline {
            p.second.push(s);
        }
        self
    }
    /// `by (...)` on a metrics query (no effect on a search).
    pub fn by(mut self, fields: impl IntoIterator<Item = FieldRef>) -> Query {
        if let Some(p) = &mut self.pipeline {
            p.by = fields.into_iter().map(|f| f.0).collect();
        }
        self
    }
}

/// Pipeline stages, for [`SpansetExpr::then`].
pub mod stage {
    use super::{FieldRef, IntoLiteral};
    use crate::ast::{Aggregate, Expr, Op, Stage};

    /// `count() op n`
    pub fn count(op: Op, n: i64) -> Stage {
        Stage::Scalar(Aggregate::Count, op, crate::ast::Literal::Int(n))
    }
    /// `avg(field) op value`
    pub fn avg(f: FieldRef, op: Op, v: impl IntoLiteral) -> Stage {
        Stage::Scalar(Aggregate::Avg(Expr::Field(f.0)), op, v.into_literal())
    }
    /// `min(field) op value`
    pub fn min(f: FieldRef, op: Op, v: impl IntoLiteral) -> Stage {
        Stage::Scalar(Aggregate::Min(Expr::Field(f.0)), op, v.into_literal())
    }
    /// `max(field) op value`
    pub fn max(f: FieldRef, op: Op, v: impl IntoLiteral) -> Stage {
        Stage::Scalar(Aggregate::Max(Expr::Field(f.0)), op, v.into_literal())
    }
    /// `sum(field) op value`
    pub fn sum(f: FieldRef, op: Op, v: impl IntoLiteral) -> Stage {
        Stage::Scalar(Aggregate::Sum(Expr::Field(f.0)), op, v.into_literal())
    }
    /// `by(field, ...)`
    pub fn by(fields: impl IntoIterator<Item = FieldRef>) -> Stage {
        Stage::By(fields.into_iter().map(|f| Expr::Field(f.0)).collect())
    }
    /// `coalesce()`
    pub fn coalesce() -> Stage {
        Stage::Coalesce
    }
    /// `select(field, ...)`
    pub fn select(fields: impl IntoIterator<Item = FieldRef>) -> Stage {
        Stage::Select(fields.into_iter().map(|f| f.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn the_builder_builds_what_the_parser_parses() {
        let cases = vec![
            (
                spanset(field::event_name().eq("exception").and(attr::span("x").exists()))
                    .query(),
                r#"{ event:name = "exception" && span.x != nil }"#,
            ),
            (
                spanset(attr::parent(field::name()).eq("a").or(field::parent_id().missing()))
                    .query(),
                r#"{ parent.name = "a" || span:parentID = nil }"#,
            ),
            (
                spanset(field::status().eq(StatusCode::Error).negate()).query(),
                "{ !(status = error) }",
            ),
            (
                spanset(field::kind().eq(SpanKind::Server))
                    .structural(StructOp::NotAncestor, all_spans())
                    .then(stage::by([field::service()]))
                    .then(stage::count(Op::Gt, 2))
                    .then(stage::avg(field::duration(), Op::Ge, Duration::from_secs(1)))
                    .then(stage::select([attr::span("http.route")]))
                    .query(),
                "{ kind = server } !<< { } | by(resource.service.name) | count() > 2 | avg(duration) >= 1s | select(span.http.route)",
            ),
            (
                all_spans()
                    .max_duration_over_time()
                    .by([field::name()])
                    .then(SecondStage::TopK(3))
                    .then(SecondStage::Filter(Op::Gt, 0.5)),
                "{ } | max_over_time(duration) by (name) | topk(3) > 0.5",
            ),
        ];
        for (built, text) in cases {
            assert_eq!(built, parse(text).unwrap(), "{text}");
            assert_eq!(parse(&built.to_string()).unwrap(), built, "{built}");
        }
    }
}
