//! The block executor: deciding a condition on a block's rows without building spans, a
//! bitmap at a time. Search, metrics scans and candidate traces all run through it.
//!
//! Every comparison the index planner (`crate::plan`) answers exactly becomes its roaring
//! bitmap; a superset narrows the rows; the rest is decided on one column at a
//! time, and only for the rows still in play: `&&` evaluates its right side on the rows its
//! left side kept, `||` on the rows its left side rejected. Columns are decoded at most once
//! per row group and query (durations, kind/status, status message, resource id, or one
//! attribute key's stream of the attribute chunk).

use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;
use spandb_storage::block::{Column, FooterRef, IndexRows};
use spandb_storage::codec::value::ScalarRef;
use spandb_storage::{BlockReader, SpanKind, SpanParts, StatusCode};

use crate::ast::{Field, Literal, Op};
use crate::error::Result;
use crate::eval::{compare, compare_value, resource_leaf, Leaf, Matcher, Operand};
use crate::expr::{CompiledExpr, Ctx};
use crate::plan;

/// Columns of one row group decoded so far.
#[derive(Default)]
struct GroupCols {
    durations: Option<Vec<u64>>,
    kind_status: Option<Vec<(SpanKind, StatusCode)>>,
    messages: Option<Vec<u32>>,
    resources: Option<Vec<u32>>,
    names: Option<Vec<u32>>,
}

/// Row evaluation over one block, caching decoded columns.
pub(crate) struct BlockRows<'b> {
    pub block: &'b BlockReader,
    /// The block's decoded footer, held while the block is evaluated.
    footer: FooterRef,
    groups: Vec<GroupCols>,
    /// Per leaf (by address) and resource index: the leaf's answer on that resource.
    resource_answers: FxHashMap<usize, Vec<bool>>,
    /// Per leaf (by address): the index planner's answer on this block.
    index_answers: FxHashMap<usize, Option<IndexRows>>,
    /// Traces of this block (trace-table indexes) that also have spans elsewhere: other blocks
    /// or the memtable. `None`: not known, any trace may.
    split_traces: Option<RoaringBitmap>,
}

fn scalar_operand<'a>(v: ScalarRef<'a>) -> Option<Operand<'a>> {
    match v {
        ScalarRef::Str(s) => Some(Operand::Str(s)),
        ScalarRef::Int(i) => Some(Operand::Int(i)),
        ScalarRef::Double(x) => Some(Operand::Float(x)),
        ScalarRef::Bool(b) => Some(Operand::Bool(b)),
        ScalarRef::Other => None,
    }
}

impl<'b> BlockRows<'b> {
    pub(crate) fn new(block: &'b BlockReader) -> Result<Self> {
        let footer = block.footer()?;
        Ok(BlockRows {
            block,
            groups: (0..footer.groups.len())
                .map(|_| GroupCols::default())
                .collect(),
            footer,
            resource_answers: FxHashMap::default(),
            index_answers: FxHashMap::default(),
            split_traces: None,
        })
    }

    /// Tells which traces of the block have spans elsewhere: for the others, the trace table
    /// holds the whole trace's duration and root, which trace-level comparisons then read.
    pub(crate) fn with_split_traces(mut self, split: RoaringBitmap) -> Self {
        self.split_traces = Some(split);
        self
    }

    /// Every row of the block.
    pub(crate) fn all(&self) -> RoaringBitmap {
        self.footer.all_rows()
    }

    /// The rows of `cand` where `m` holds. Trace-level comparisons cannot be decided on a
    /// row: they keep every row, so the answer is then a superset, for a caller that decides
    /// on the assembled trace.
    pub(crate) fn eval(&mut self, m: &Matcher, cand: &RoaringBitmap) -> Result<RoaringBitmap> {
        self.eval_at(m, cand)
    }

    fn eval_at(&mut self, m: &Matcher, cand: &RoaringBitmap) -> Result<RoaringBitmap> {
        if cand.is_empty() {
            return Ok(RoaringBitmap::new());
        }
        match m {
            Matcher::True => Ok(cand.clone()),
            Matcher::False => Ok(RoaringBitmap::new()),
            // Nothing to do where the block cannot hold the attribute an existence test asks
            // for. An expression on the span alone is decided exactly on the candidate rows,
            // decoding only the parts it reads; one that needs the trace (its root, a parent,
            // the tree) keeps every candidate row for the caller to decide on the trace.
            Matcher::Expr(c) => {
                if plan::absent_in_block(&c.expr, &self.footer) {
                    Ok(RoaringBitmap::new())
                } else if let crate::ast::Expr::Exists(f) = &c.expr {
                    match &**f {
                        crate::ast::Expr::Field(Field::Span(k)) => self.has_span_attr(c, k, cand),
                        _ => self.expr_rows(c, cand),
                    }
                } else if let Some(leaf) = c.event_name_leaf() {
                    self.event_name_rows(&leaf, cand)
                } else if c.is_span_local() {
                    self.expr_rows(c, cand)
                } else {
                    Ok(cand.clone())
                }
            }
            Matcher::And(a, b) => {
                // The side the indexes answer first: it narrows the rows the other decodes.
                let (first, second) = if !self.is_cheap(a) && self.is_cheap(b) {
                    (b, a)
                } else {
                    (a, b)
                };
                let x = self.eval_at(first, cand)?;
                self.eval_at(second, &x)
            }
            Matcher::Or(a, b) => {
                let (first, second) = if !self.is_cheap(a) && self.is_cheap(b) {
                    (b, a)
                } else {
                    (a, b)
                };
                let x = self.eval_at(first, cand)?;
                let rest = cand - &x;
                if rest.is_empty() {
                    return Ok(x);
                }
                let y = self.eval_at(second, &rest)?;
                Ok(x | y)
            }
            Matcher::Cmp(leaf) => self.leaf(leaf, cand),
        }
    }

    /// Whether every comparison of `m` is answered exactly by the footer's indexes.
    pub(crate) fn is_cheap(&mut self, m: &Matcher) -> bool {
        let mut all = !m.has_expr();
        m.for_each_leaf(&mut |l| all &= self.index(l).is_some_and(IndexRows::is_exact));
        all
    }

    /// The planner's answer for `leaf` on this block, computed once per leaf.
    fn index(&mut self, leaf: &Leaf) -> Option<&IndexRows> {
        let footer = &self.footer;
        self.index_answers
            .entry(leaf as *const Leaf as usize)
            .or_insert_with(|| plan::leaf_index(leaf, footer))
            .as_ref()
    }

    fn leaf(&mut self, leaf: &Leaf, cand: &RoaringBitmap) -> Result<RoaringBitmap> {
        let narrowed;
        let cand = match self.index(leaf) {
            Some(IndexRows::Exact(rows)) => return Ok(rows & cand),
            Some(IndexRows::Superset(rows)) => {
                narrowed = rows & cand;
                &narrowed
            }
            None => cand,
        };
        match &leaf.field {
            Field::Duration => self.per_row(cand, |s, g, rows, out| {
                let d = s.durations(g)?;
                for (i, r) in rows {
                    if d.get(i)
                        .is_some_and(|d| compare(leaf, Operand::Duration(*d)))
                    {
                        out.push(r);
                    }
                }
                Ok(())
            }),
            Field::Status | Field::Kind => self.per_row(cand, |s, g, rows, out| {
                let ks = s.kind_status(g)?;
                for (i, r) in rows {
                    let Some((kind, status)) = ks.get(i) else {
                        continue;
                    };
                    let o = if leaf.field == Field::Kind {
                        Operand::Kind(*kind)
                    } else {
                        Operand::Status(*status)
                    };
                    if compare(leaf, o) {
                        out.push(r);
                    }
                }
                Ok(())
            }),
            Field::Name | Field::StatusMessage => {
                let column = if leaf.field == Field::Name {
                    Column::Name
                } else {
                    Column::StatusMessage
                };
                let mut memo: FxHashMap<u32, bool> = FxHashMap::default();
                let f = self.footer.clone();
                let dict = &f.dict;
                self.per_row(cand, |s, g, rows, out| {
                    let ids = s.ids(g, column)?;
                    for (i, r) in rows {
                        let Some(id) = ids.get(i) else { continue };
                        let ok = *memo.entry(*id).or_insert_with(|| {
                            let text = dict.get(*id as usize).map(String::as_str).unwrap_or("");
                            compare(leaf, Operand::Str(text))
                        });
                        if ok {
                            out.push(r);
                        }
                    }
                    Ok(())
                })
            }
            Field::TraceDuration | Field::TraceRootService | Field::TraceRootName => {
                self.trace_table_rows(leaf, cand)
            }
            Field::Resource(key) => self.resource_rows(leaf, key, cand),
            Field::Span(key) => self.span_rows(leaf, key, cand),
            Field::Unscoped(key) => {
                let res = self.resource_rows(leaf, key, cand)?;
                let rest = cand - &res;
                let span = self.span_rows(leaf, key, &rest)?;
                Ok(res | span)
            }
            // Decided on the assembled trace (other fields never reach a leaf).
            _ => Ok(cand.clone()),
        }
    }

    /// The rows of `cand` in traces that may satisfy the trace-level `leaf`, from the trace
    /// table: a superset, as for every trace-level comparison, decided again on the assembled
    /// trace. A trace wholly in this block has its duration and root in the table. One with
    /// spans elsewhere lasts at least as long as its part here, so only `<` and `<=` rule it
    /// out, and its root may be elsewhere.
    fn trace_table_rows(&self, leaf: &Leaf, cand: &RoaringBitmap) -> Result<RoaringBitmap> {
        let f = &self.footer;
        let may_have_more = |t: usize| {
            self.split_traces
                .as_ref()
                .is_none_or(|s| s.contains(t as u32))
        };
        let mut root_answers: FxHashMap<u32, bool> = FxHashMap::default();
        let mut out = RoaringBitmap::new();
        for (t, e) in f.traces.iter().enumerate() {
            let Some(rows) = f.trace_rows(t) else {
                continue;
            };
            let keep = match leaf.field {
                Field::TraceDuration => {
                    compare(leaf, Operand::Duration(e.duration_ns))
                        || (may_have_more(t) && !matches!(leaf.op, Op::Lt | Op::Le))
                }
                Field::TraceRootService | Field::TraceRootName => match e.root {
                    Some((svc, name)) if !may_have_more(t) => {
                        let id = if leaf.field == Field::TraceRootService {
                            svc
                        } else {
                            name
                        };
                        match root_answers.get(&id) {
                            Some(&ok) => ok,
                            None => {
                                let ok = compare(leaf, Operand::Str(f.string(id)?));
                                root_answers.insert(id, ok);
                                ok
                            }
                        }
                    }
                    _ => true,
                },
                _ => true,
            };
            if keep {
                out.insert_range(rows);
            }
        }
        out &= cand;
        Ok(out)
    }

    fn resource_rows(
        &mut self,
        leaf: &Leaf,
        key: &str,
        cand: &RoaringBitmap,
    ) -> Result<RoaringBitmap> {
        let f = self.footer.clone();
        let resources = &f.resources;
        let answers = self
            .resource_answers
            .entry(leaf as *const Leaf as usize)
            .or_insert_with(|| {
                resources
                    .iter()
                    .map(|r| resource_leaf(leaf, r, key))
                    .collect()
            })
            .clone();
        if !answers.iter().any(|a| *a) {
            return Ok(RoaringBitmap::new());
        }
        if answers.iter().all(|a| *a) {
            return Ok(cand.clone());
        }
        self.per_row(cand, |s, g, rows, out| {
            let ids = s.ids(g, Column::Resource)?;
            for (i, r) in rows {
                if ids
                    .get(i)
                    .and_then(|id| answers.get(*id as usize))
                    .copied()
                    .unwrap_or(false)
                {
                    out.push(r);
                }
            }
            Ok(())
        })
    }

    fn span_rows(&mut self, leaf: &Leaf, key: &str, cand: &RoaringBitmap) -> Result<RoaringBitmap> {
        if let Some(IndexRows::Exact(rows)) = plan::span_attr_index(leaf, &self.footer, key) {
            return Ok(rows & cand);
        }
        let f = self.footer.clone();
        let Some(key_id) = f.string_id(key) else {
            return Ok(RoaringBitmap::new());
        };
        let block = self.block;
        let mut out: Vec<u32> = Vec::new();
        // Rows where the key holds an array (or another non-scalar): decided on the decoded
        // attributes, where any element may match.
        let mut arrays = RoaringBitmap::new();
        for (g, group) in f.groups.iter().enumerate() {
            let (lo, hi) = (group.first_row, group.first_row + group.rows);
            if cand.range_cardinality(lo..hi) == 0 {
                continue;
            }
            block.group_attr_values(g, key_id, |i, v| {
                let r = lo + i as u32;
                if !cand.contains(r) {
                    return;
                }
                match scalar_operand(v) {
                    Some(o) if compare(leaf, o) => out.push(r),
                    Some(_) => {}
                    None => {
                        arrays.insert(r);
                    }
                }
            })?;
        }
        let scalars = RoaringBitmap::from_sorted_iter(out).unwrap_or_default();
        if arrays.is_empty() {
            return Ok(scalars);
        }
        let parts = SpanParts {
            attributes: true,
            ..SpanParts::CORE
        };
        let from_arrays = self.decoded_rows(&arrays, parts, |span| {
            span.attr(key).is_some_and(|v| compare_value(leaf, v))
        })?;
        Ok(scalars | from_arrays)
    }

    /// Runs `f(self, group, [(in-group row, block row)], out)` for each group holding rows of
    /// `cand`; `f` pushes the block rows that hold, in order.
    fn per_row(
        &mut self,
        cand: &RoaringBitmap,
        mut f: impl FnMut(
            &mut Self,
            usize,
            &mut dyn Iterator<Item = (usize, u32)>,
            &mut Vec<u32>,
        ) -> Result<()>,
    ) -> Result<RoaringBitmap> {
        let mut out: Vec<u32> = Vec::new();
        let groups: Vec<(u32, u32)> = self
            .footer
            .groups
            .iter()
            .map(|g| (g.first_row, g.first_row + g.rows))
            .collect();
        for (g, (lo, hi)) in groups.into_iter().enumerate() {
            if cand.range_cardinality(lo..hi) == 0 {
                continue;
            }
            let mut rows = cand.range(lo..hi).map(|r| ((r - lo) as usize, r));
            f(self, g, &mut rows, &mut out)?;
        }
        Ok(RoaringBitmap::from_sorted_iter(out).unwrap_or_default())
    }

    /// The rows of `cand` that hold span attribute `key` (`span.key != nil`), from that key's
    /// stream of the attribute chunk alone; rows where it holds a non-scalar (an array may
    /// be empty, a map is nil) are decided on the decoded span.
    fn has_span_attr(
        &mut self,
        c: &CompiledExpr,
        key: &str,
        cand: &RoaringBitmap,
    ) -> Result<RoaringBitmap> {
        let f = self.footer.clone();
        let Some(key_id) = f.string_id(key) else {
            return Ok(RoaringBitmap::new());
        };
        let block = self.block;
        let mut present: Vec<u32> = Vec::new();
        let mut unsure = RoaringBitmap::new();
        for (g, group) in f.groups.iter().enumerate() {
            let (lo, hi) = (group.first_row, group.first_row + group.rows);
            if cand.range_cardinality(lo..hi) == 0 {
                continue;
            }
            block.group_attr_values(g, key_id, |i, v| {
                let r = lo + i as u32;
                if cand.contains(r) {
                    if matches!(v, ScalarRef::Other) {
                        unsure.insert(r);
                    } else {
                        present.push(r);
                    }
                }
            })?;
        }
        let present = RoaringBitmap::from_sorted_iter(present).unwrap_or_default();
        if unsure.is_empty() {
            return Ok(present);
        }
        Ok(present | self.expr_rows(c, &unsure)?)
    }

    /// The rows of `cand` where `event:name op "text"` holds: any event's name matches (for
    /// `!=` / `!~` every one does; a span without events never matches), read from the
    /// events chunk alone, each distinct name compared once.
    fn event_name_rows(&mut self, leaf: &Leaf, cand: &RoaringBitmap) -> Result<RoaringBitmap> {
        let block = self.block;
        let f = self.footer.clone();
        if let (Op::Eq, Literal::Str(text)) = (leaf.op, &leaf.lit) {
            if f.string_id(text).is_none() {
                // Event names are in the block dictionary: no event has this one.
                return Ok(RoaringBitmap::new());
            }
        }
        let every = matches!(leaf.op, Op::Ne | Op::NotMatch);
        let dict = &f.dict;
        let mut memo: FxHashMap<u32, bool> = FxHashMap::default();
        let mut out: Vec<u32> = Vec::new();
        for (g, group) in f.groups.iter().enumerate() {
            let (lo, hi) = (group.first_row, group.first_row + group.rows);
            if cand.range_cardinality(lo..hi) == 0 {
                continue;
            }
            block.group_event_names(g, |i, names| {
                let r = lo + i as u32;
                if names.is_empty() || !cand.contains(r) {
                    return;
                }
                let mut holds = |id: &u32| {
                    *memo.entry(*id).or_insert_with(|| {
                        let name = dict.get(*id as usize).map_or("", String::as_str);
                        compare(leaf, Operand::Str(name))
                    })
                };
                let hit = if every {
                    names.iter().all(&mut holds)
                } else {
                    names.iter().any(&mut holds)
                };
                if hit {
                    out.push(r);
                }
            })?;
        }
        Ok(RoaringBitmap::from_sorted_iter(out).unwrap_or_default())
    }

    /// The rows of `cand` where a span-local expression holds, on spans decoded with only the
    /// parts the expression reads.
    fn expr_rows(&mut self, c: &CompiledExpr, cand: &RoaringBitmap) -> Result<RoaringBitmap> {
        self.decoded_rows(cand, c.span_parts(), |span| {
            let ctx = Ctx {
                span,
                trace: None,
                parent: None,
                pos: None,
            };
            c.matches(&ctx) == Some(true)
        })
    }

    /// The rows of `cand` whose span, decoded with only `parts`, satisfies `holds`.
    fn decoded_rows(
        &mut self,
        cand: &RoaringBitmap,
        parts: SpanParts,
        mut holds: impl FnMut(&spandb_storage::Span) -> bool,
    ) -> Result<RoaringBitmap> {
        let block = self.block;
        self.per_row(cand, |_, g, rows, out| {
            let rows: Vec<(usize, u32)> = rows.collect();
            let Some(&(first, r0)) = rows.first() else {
                return Ok(());
            };
            let lo = r0 - first as u32;
            let wanted: RoaringBitmap = rows.iter().map(|&(_, r)| r).collect();
            for (i, span) in
                block.decode_group_with(g, parts, |i| wanted.contains(lo + i as u32))?
            {
                if holds(&span) {
                    out.push(lo + i as u32);
                }
            }
            Ok(())
        })
    }

    fn cols(&mut self, g: usize) -> &mut GroupCols {
        if self.groups.len() <= g {
            self.groups.resize_with(g + 1, GroupCols::default);
        }
        &mut self.groups[g]
    }

    pub(crate) fn durations(&mut self, g: usize) -> Result<&[u64]> {
        if self.cols(g).durations.is_none() {
            let d = self.block.group_durations(g)?;
            self.cols(g).durations = Some(d);
        }
        Ok(self.cols(g).durations.as_deref().unwrap_or_default())
    }

    pub(crate) fn kind_status(&mut self, g: usize) -> Result<&[(SpanKind, StatusCode)]> {
        if self.cols(g).kind_status.is_none() {
            let d = self.block.group_kind_status(g)?;
            self.cols(g).kind_status = Some(d);
        }
        Ok(self.cols(g).kind_status.as_deref().unwrap_or_default())
    }

    pub(crate) fn ids(&mut self, g: usize, c: Column) -> Result<&[u32]> {
        let missing = match c {
            Column::Name => self.cols(g).names.is_none(),
            Column::StatusMessage => self.cols(g).messages.is_none(),
            _ => self.cols(g).resources.is_none(),
        };
        if missing {
            let d = self.block.group_ids(g, c)?;
            let cols = self.cols(g);
            match c {
                Column::Name => cols.names = Some(d),
                Column::StatusMessage => cols.messages = Some(d),
                _ => cols.resources = Some(d),
            }
        }
        let cols = self.cols(g);
        Ok(match c {
            Column::Name => cols.names.as_deref(),
            Column::StatusMessage => cols.messages.as_deref(),
            _ => cols.resources.as_deref(),
        }
        .unwrap_or_default())
    }
}
