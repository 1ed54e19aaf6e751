//! Blocks written by every released format version, committed, must keep reading back to the
//! same spans: a change to the encoding that forgets to bump `BLOCK_FORMAT_VERSION` fails
//! here. (The golden files are written by `SPANDB_WRITE_GOLDEN=1 cargo run -p spandb-storage
//! --example make_fuzz_seeds`, only when a new format version starts.)

mod common;

use spandb_storage::block::BLOCK_FORMAT_VERSION;
use spandb_storage::otlp::json::decode_json_request;
use spandb_storage::BlockReader;

fn golden_block_still_reads(version: u32) -> BlockReader {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
    let name = format!("block_v{version}.blk");
    let bytes = std::fs::read(format!("{dir}/{name}")).unwrap();
    let reader = BlockReader::from_bytes(bytes, &name).unwrap();
    let json = std::fs::read(format!("{dir}/block_v{version}.spans.json")).unwrap();
    let mut want = Vec::new();
    decode_json_request(&json, &mut want).unwrap();
    assert!(!want.is_empty());
    assert_eq!(
        common::sorted(reader.all_spans().unwrap()),
        common::sorted(want.clone())
    );
    for s in &want {
        assert!(reader.trace(&s.trace_id).unwrap().contains(s));
    }
    reader
}

#[test]
fn every_format_version_has_a_golden_file() {
    assert_eq!(
        BLOCK_FORMAT_VERSION, 5,
        "a new version needs new golden files beside these"
    );
}

#[test]
fn block_format_v1_golden_file_still_reads_without_edges() {
    let reader = golden_block_still_reads(1);
    assert!(reader.footer().unwrap().edges.is_none());
}

#[test]
fn block_format_v2_golden_file_still_reads_with_edges() {
    let reader = golden_block_still_reads(2);
    assert!(reader.footer().unwrap().edges.is_some());
    // Version 2 indexed only the scalar values of keys that may also hold arrays: its value
    // index is set aside when read, so comparisons read the attribute stream.
    assert!(reader.footer().unwrap().attr_rows.is_empty());
    assert!(!reader.footer().unwrap().unindexed_keys.is_empty());
}

#[test]
fn block_format_v3_golden_file_still_reads_with_its_value_index() {
    let reader = golden_block_still_reads(3);
    assert!(reader.footer().unwrap().edges.is_some());
    assert!(!reader.footer().unwrap().attr_rows.is_empty());
}

#[test]
fn block_format_v3_golden_file_bounds_durations_by_the_block_and_the_trace() {
    // Version 3 has no zone maps: each row group gets the block's duration bounds and each
    // trace its own duration, both upper bounds of what the spans hold.
    let reader = golden_block_still_reads(3);
    let f = reader.footer().unwrap();
    for g in &f.groups {
        assert_eq!(
            (g.min_duration_ns, g.max_duration_ns),
            (f.min_duration_ns, f.max_duration_ns)
        );
    }
    for t in &f.traces {
        assert_eq!(t.max_span_duration_ns, t.duration_ns.min(f.max_duration_ns));
    }
}

#[test]
fn block_format_v4_golden_file_still_reads_with_its_zone_maps() {
    let reader = golden_block_still_reads(4);
    let f = reader.footer().unwrap();
    let spans = reader.all_spans().unwrap();
    // Every zone map is the exact bound of the rows it covers.
    for g in &f.groups {
        let rows = &spans[g.first_row as usize..(g.first_row + g.rows) as usize];
        let lo = rows.iter().map(|s| s.duration_ns()).min().unwrap();
        let hi = rows.iter().map(|s| s.duration_ns()).max().unwrap();
        assert_eq!((g.min_duration_ns, g.max_duration_ns), (lo, hi));
    }
    for (t, e) in f.traces.iter().enumerate() {
        let rows = reader.trace_rows(t).unwrap().unwrap();
        let longest = spans[rows.start as usize..rows.end as usize]
            .iter()
            .map(|s| s.duration_ns())
            .max()
            .unwrap();
        assert_eq!(e.max_span_duration_ns, longest);
    }
}

#[test]
fn block_format_v5_golden_file_still_reads_with_its_labelled_indexes() {
    let reader = golden_block_still_reads(5);
    let f = reader.footer().unwrap();
    let spans = reader.all_spans().unwrap();
    // The service and span-name bitmaps, stored as row labels, partition the rows exactly as
    // the spans say.
    for (row, s) in spans.iter().enumerate() {
        let row = row as u32;
        let in_service: Vec<&str> = f
            .service_rows
            .iter()
            .filter(|(_, b)| b.contains(row))
            .map(|(id, _)| f.dict[*id as usize].as_str())
            .collect();
        assert_eq!(in_service, vec![s.service()]);
        let in_name: Vec<&str> = f
            .name_rows
            .iter()
            .filter(|(_, b)| b.contains(row))
            .map(|(id, _)| f.dict[*id as usize].as_str())
            .collect();
        assert_eq!(in_name, vec![s.name.as_str()]);
    }
    assert!(!f.attr_rows.is_empty());
}

#[test]
fn a_key_holding_an_array_on_some_span_gets_no_value_index() {
    use spandb_storage::block::{encode_block, BlockLayout};
    use spandb_storage::{KeyValue, Value};
    let mut spans = spandb_testkit::numbered_batch(0, 8, 1_000_000_000, 5_000);
    for (i, s) in spans.iter_mut().enumerate() {
        let tags = if i == 3 {
            Value::Array(vec![Value::Str("a".into()), Value::Str("b".into())])
        } else {
            Value::Str("b".into())
        };
        s.attributes.push(KeyValue::new("tags", tags));
    }
    let block = encode_block(spans.iter().collect(), &BlockLayout::default()).unwrap();
    let reader = BlockReader::from_bytes(block.bytes, "arrays.blk").unwrap();
    // A bitmap of the rows whose scalar value is "b" would miss the array holding "b".
    assert!(!reader.footer().unwrap().is_attribute_indexed("tags"));
    assert!(reader.footer().unwrap().is_attribute_indexed("batch"));
}
