//! Arbitrary bytes as an OTLP protobuf request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spandb_storage::otlp::proto::{decode_proto_request, encode_proto_request};

fuzz_target!(|data: &[u8]| {
    let mut spans = Vec::new();
    if decode_proto_request(data, &mut spans).is_ok() {
        let mut again = Vec::new();
        decode_proto_request(&encode_proto_request(&spans), &mut again).expect("our own output decodes");
        assert_eq!(spans.len(), again.len());
    }
});
