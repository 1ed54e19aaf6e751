//! `spandb export` and `spandb import` in every export variant give back the same spans,
//! field for field, on random spans (the storage tests' span strategy).

#[path = "../storage/tests/common/mod.rs"]
mod common;

use proptest::prelude::*;
use spandb::export::{ExportFormat, SpanWriter};
use spandb::import::{read_spans, ImportOptions};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn export_then_import_is_lossless(
        spans in common::span_batch(40),
        proto in any::<bool>(),
        zstd in any::<bool>(),
        batch in 1usize..17,
    ) {
        let format = if proto { ExportFormat::OtlpProto } else { ExportFormat::OtlpJson };
        let mut writer = SpanWriter::new(Vec::new(), format, zstd).unwrap();
        for chunk in spans.chunks(batch) {
            writer.write(chunk).unwrap();
        }
        let bytes = writer.finish().unwrap();
        let mut back = Vec::new();
        read_spans(bytes.as_slice(), &ImportOptions::default(), |b| {
            back.extend(b);
            Ok(())
        })
        .unwrap();
        prop_assert_eq!(common::sorted(back), common::sorted(spans));
    }
}
