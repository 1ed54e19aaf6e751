//! Arbitrary bytes through `spandb import`'s reader: compression and format detection, OTLP
//! JSON (lines and documents), protobuf framing, Jaeger and Zipkin mapping. Any input gives
//! spans or an error, never a panic; every span read has a trace and span id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spandb::import::{read_spans, ImportOptions};

fuzz_target!(|data: &[u8]| {
    let opts = ImportOptions {
        skip_bad_records: data.first().is_some_and(|b| b & 1 == 1),
        batch_spans: 7,
        ..ImportOptions::default()
    };
    let _ = read_spans(data, &opts, |batch| {
        assert!(!batch.is_empty(), "no empty batches reach the sink");
        Ok(())
    });
});
