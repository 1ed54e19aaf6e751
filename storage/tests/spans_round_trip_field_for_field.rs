//! A span written and read back is equal, field for field: through a block, a log record,
//! OTLP JSON and OTLP protobuf.

mod common;

use proptest::prelude::*;
use spandb_storage::block::{encode_block, BlockLayout, BlockReader, SpanParts};
use spandb_storage::otlp::{json, proto};
use spandb_storage::wal_codec;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn through_a_block(spans in common::span_batch(60), rows_per_group in 1u32..20) {
        let layout = BlockLayout { rows_per_group, zstd_level: 1, attributes_zstd_level: 1 };
        let block = encode_block(spans.iter().collect(), &layout).unwrap();
        let reader = BlockReader::from_bytes(block.bytes, "test.blk").unwrap();
        prop_assert_eq!(common::sorted(reader.all_spans().unwrap()), common::sorted(spans.clone()));
        for s in &spans {
            let got = reader.trace(&s.trace_id).unwrap();
            prop_assert!(got.contains(s));
            prop_assert!(got.iter().all(|g| g.trace_id == s.trace_id));
        }
    }

    /// A projected decode gives the same spans as a full one with the parts left out emptied,
    /// whichever rows are selected (skipped rows still advance every column read).
    #[test]
    fn through_a_block_projected(
        spans in common::span_batch(60),
        rows_per_group in 1u32..20,
        parts in (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        every in 1u32..4,
    ) {
        let parts = SpanParts { attributes: parts.0, events: parts.1, links: parts.2, extra: parts.3 };
        let layout = BlockLayout { rows_per_group, zstd_level: 1, attributes_zstd_level: 1 };
        let block = encode_block(spans.iter().collect(), &layout).unwrap();
        let reader = BlockReader::from_bytes(block.bytes, "test.blk").unwrap();
        let rows: roaring::RoaringBitmap = (0..spans.len() as u32).filter(|r| r % every == 0).collect();
        let full = reader.spans_at(&rows).unwrap();
        let projected = reader.spans_at_with(&rows, parts).unwrap();
        let expected: Vec<_> = full
            .into_iter()
            .map(|(row, mut s)| {
                if !parts.attributes { s.attributes.clear(); }
                if !parts.events { s.events.clear(); }
                if !parts.links { s.links.clear(); }
                if !parts.extra {
                    s.trace_state.clear();
                    s.flags = 0;
                    s.dropped_attributes_count = 0;
                    s.dropped_events_count = 0;
                    s.dropped_links_count = 0;
                }
                (row, s)
            })
            .collect();
        prop_assert_eq!(projected, expected);
    }

    /// A row summary (what a search result shows of a span) read for chosen rows of a group,
    /// the rows in between skipped, equals the decoded span.
    #[test]
    fn row_summaries_equal_the_decoded_spans(
        spans in common::span_batch(60),
        rows_per_group in 1u32..20,
        picks in proptest::collection::vec(any::<bool>(), 60),
    ) {
        let layout = BlockLayout { rows_per_group, zstd_level: 1, attributes_zstd_level: 1 };
        let block = encode_block(spans.iter().collect(), &layout).unwrap();
        let reader = BlockReader::from_bytes(block.bytes, "test.blk").unwrap();
        let all = reader.all_spans().unwrap();
        let f = reader.footer().unwrap();
        for (g, group) in f.groups.iter().enumerate() {
            let rows: Vec<u32> = (0..group.rows)
                .filter(|i| picks.get((group.first_row + i) as usize).copied().unwrap_or(false))
                .collect();
            let got = reader.group_row_summaries(g, &rows).unwrap();
            prop_assert_eq!(got.len(), rows.len());
            for (summary, i) in got.iter().zip(&rows) {
                let span = &all[(group.first_row + i) as usize];
                prop_assert_eq!(summary.span_id, span.span_id);
                prop_assert_eq!(summary.start_ns, span.start_ns);
                prop_assert_eq!(summary.end_ns, span.end_ns);
                prop_assert_eq!(summary.duration_ns(), span.duration_ns());
                prop_assert_eq!(f.string(summary.name).unwrap(), span.name.as_str());
                prop_assert_eq!(summary.status, span.status_code);
                prop_assert_eq!(
                    f.resources[summary.resource as usize].service_name(),
                    span.service()
                );
            }
        }
    }

    #[test]
    fn through_a_log_record(spans in common::span_batch(40)) {
        let bytes = wal_codec::encode_record(&spans);
        prop_assert_eq!(wal_codec::decode_record(&bytes).unwrap(), spans);
    }

    #[test]
    fn through_otlp_json(spans in common::span_batch(40)) {
        let text = json::encode_json_request(&spans).to_string();
        let mut back = Vec::new();
        json::decode_json_request(text.as_bytes(), &mut back).unwrap();
        prop_assert_eq!(back, spans);
    }

    #[test]
    fn through_otlp_protobuf(spans in common::span_batch(40)) {
        let bytes = proto::encode_proto_request(&spans);
        let mut back = Vec::new();
        proto::decode_proto_request(&bytes, &mut back).unwrap();
        prop_assert_eq!(back, spans);
    }
}
