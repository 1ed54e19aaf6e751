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

use crate::ast::{Cond, Field, Literal, MetricsFn, Op, Pipeline, Query, SpansetExpr};

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
    fn cmp(self, op: Op, v: impl IntoLiteral) -> Cond {
        Cond::Cmp(self.0, op, v.into_literal())
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
        Cond::Cmp(self.0, Op::Match, Literal::Str(re.into()))
    }
    /// `!~`
    pub fn not_matches(self, re: impl Into<String>) -> Cond {
        Cond::Cmp(self.0, Op::NotMatch, Literal::Str(re.into()))
    }
}

impl Cond {
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
    /// `by (...)` on a metrics query (no effect on a search).
    pub fn by(mut self, fields: impl IntoIterator<Item = FieldRef>) -> Query {
        if let Some(p) = &mut self.pipeline {
            p.by = fields.into_iter().map(|f| f.0).collect();
        }
        self
    }
}
