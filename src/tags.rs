//! Attribute names and values in a time range, for query completion ([`Db::tag_names`],
//! [`Db::tag_values`]).

use spandb_query::tags;
pub use spandb_query::tags::{TagNames, TagScope, TagValue};
use spandb_query::TimeRange;

use crate::db::{Db, Snapshot};
use crate::error::Result;

impl Db {
    /// Span and resource attribute names of spans in `range`, sorted.
    pub fn tag_names(&self, range: TimeRange) -> Result<TagNames> {
        self.snapshot()?.tag_names(range)
    }

    /// Distinct values of attribute `key` in `scope` (`None`: span or resource) among spans
    /// in `range`, at most `limit`, sorted.
    pub fn tag_values(
        &self,
        scope: Option<TagScope>,
        key: &str,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<TagValue>> {
        self.snapshot()?.tag_values(scope, key, range, limit)
    }

    /// Distinct span names in `range`, at most `limit`, sorted.
    pub fn span_names(&self, range: TimeRange, limit: usize) -> Result<Vec<String>> {
        self.snapshot()?.span_names(range, limit)
    }
}

impl Snapshot {
    /// See [`Db::tag_names`].
    pub fn tag_names(&self, range: TimeRange) -> Result<TagNames> {
        Ok(tags::tag_names(self.storage(), range)?)
    }

    /// See [`Db::tag_values`].
    pub fn tag_values(
        &self,
        scope: Option<TagScope>,
        key: &str,
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<TagValue>> {
        Ok(tags::tag_values(self.storage(), scope, key, range, limit)?)
    }

    /// See [`Db::span_names`].
    pub fn span_names(&self, range: TimeRange, limit: usize) -> Result<Vec<String>> {
        Ok(tags::span_names(self.storage(), range, limit)?)
    }
}
