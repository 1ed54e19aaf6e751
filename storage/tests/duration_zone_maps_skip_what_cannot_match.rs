//! The duration zone maps (format version 4: per row group shortest and longest span, per
//! trace longest span) narrow a duration predicate to the rows that may hold it, and never
//! drop a row that holds it.

use roaring::RoaringBitmap;
use spandb_storage::block::{encode_block, BlockLayout, IndexRows};
use spandb_storage::BlockReader;

/// Four traces of 40 spans (1 µs each) in rows 0..160, groups of 24 rows (so groups
/// straddle traces); the first span of trace 2 (row 80, group 72..96) lasts 2 s.
fn block() -> (BlockReader, u32) {
    let mut spans = spandb_testkit::numbered_batch(0, 160, 1_000_000_000, 1_000);
    let long = spans
        .iter_mut()
        .find(|s| s.trace_id == spans_trace(2))
        .unwrap();
    long.end_ns = long.start_ns + 2_000_000_000;
    let long_id = long.span_id;
    let layout = BlockLayout {
        rows_per_group: 24,
        ..BlockLayout::default()
    };
    let block = encode_block(spans.iter().collect(), &layout).unwrap();
    let reader = BlockReader::from_bytes(block.bytes, "zones.blk").unwrap();
    let all = reader.all_spans().unwrap();
    let row = all.iter().position(|s| s.span_id == long_id).unwrap() as u32;
    (reader, row)
}

fn spans_trace(j: u64) -> spandb_storage::TraceId {
    spandb_testkit::numbered_trace(0, j)
}

/// `duration > d` as the planner asks it: (some may hold, all hold) on `[lo, hi]`.
fn longer_than(reader: &BlockReader, d: u64) -> Option<IndexRows> {
    reader
        .footer()
        .unwrap()
        .rows_by_duration_bounds(|lo, hi| (hi > d, lo > d))
}

#[test]
fn a_long_span_leaves_only_its_trace_in_its_group() {
    let (reader, row) = block();
    let Some(IndexRows::Superset(rows)) = longer_than(&reader, 500_000_000) else {
        panic!("expected a superset");
    };
    assert!(rows.contains(row));
    // Only rows of the long span's trace, and only in the long span's group.
    let f = reader.footer().unwrap();
    let t = reader.trace_of_row(row).unwrap().unwrap();
    let trace_rows = reader.trace_rows(t).unwrap().unwrap();
    let group = f
        .groups
        .iter()
        .find(|g| (g.first_row..g.first_row + g.rows).contains(&row))
        .unwrap();
    let mut want = RoaringBitmap::new();
    want.insert_range(
        trace_rows.start.max(group.first_row)..trace_rows.end.min(group.first_row + group.rows),
    );
    assert_eq!(rows, want);
    assert!(rows.len() < u64::from(group.rows));
}

#[test]
fn bounds_no_span_reaches_answer_exactly() {
    let (reader, _) = block();
    // Longer than the longest span: nothing.
    assert_eq!(
        longer_than(&reader, 3_000_000_000).map(|r| r.is_exact() && r.rows().is_empty()),
        Some(true)
    );
    // Shorter than 1 ms holds for every group but the long span's, which must be checked row
    // by row: no row can be left out, so the zone maps leave the block to the column.
    assert!(reader
        .footer()
        .unwrap()
        .rows_by_duration_bounds(|lo, hi| (lo < 1_000_000, hi < 1_000_000))
        .is_none());
    // At least 1 µs: every span.
    let all = reader
        .footer()
        .unwrap()
        .rows_by_duration_bounds(|lo, hi| (hi >= 1_000, lo >= 1_000))
        .unwrap();
    assert!(all.is_exact());
    assert_eq!(all.rows().len(), u64::from(reader.footer().unwrap().rows));
}
