//! Arbitrary bytes as a log record (what recovery replays from RocksDB).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spandb_storage::wal_codec::{decode_record, encode_record};

fuzz_target!(|data: &[u8]| {
    if let Ok(spans) = decode_record(data) {
        let again = decode_record(&encode_record(&spans)).expect("our own output decodes");
        assert_eq!(spans.len(), again.len());
    }
});
