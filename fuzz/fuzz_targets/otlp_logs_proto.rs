//! Arbitrary bytes as an OTLP protobuf `ExportLogsServiceRequest`: an error or records, never
//! a panic; anything decoded must re-encode and decode to the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spandb_storage::otlp::logs_proto::{decode_proto_logs_request, encode_proto_logs_request};

fuzz_target!(|data: &[u8]| {
    let mut logs = Vec::new();
    if decode_proto_logs_request(data, &mut logs).is_ok() {
        let mut again = Vec::new();
        decode_proto_logs_request(&encode_proto_logs_request(&logs), &mut again)
            .expect("our own output decodes");
        assert_eq!(logs.len(), again.len());
        for (a, b) in logs.iter().zip(&again) {
            // Every field but the values (a double may be NaN, and NaN != NaN).
            assert_eq!(
                (
                    a.time_ns,
                    a.observed_time_ns,
                    a.severity_number,
                    &a.severity_text
                ),
                (
                    b.time_ns,
                    b.observed_time_ns,
                    b.severity_number,
                    &b.severity_text
                )
            );
            assert_eq!(
                (a.trace_id, a.span_id, a.flags),
                (b.trace_id, b.span_id, b.flags)
            );
            assert_eq!(
                (
                    &a.event_name,
                    a.dropped_attributes_count,
                    a.attributes.len()
                ),
                (
                    &b.event_name,
                    b.dropped_attributes_count,
                    b.attributes.len()
                )
            );
        }
    }
});
