//! Arbitrary bytes as an OTLP JSON line; anything decoded must re-encode and decode equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spandb_storage::otlp::json::{decode_json_request, encode_json_request};

fuzz_target!(|data: &[u8]| {
    let mut spans = Vec::new();
    if decode_json_request(data, &mut spans).is_ok() {
        let text = encode_json_request(&spans).to_string();
        let mut again = Vec::new();
        decode_json_request(text.as_bytes(), &mut again).expect("our own output decodes");
        // NaN != NaN, so compare only when no double is involved.
        if !text.contains("doubleValue") {
            assert_eq!(spans, again);
        }
    }
});
