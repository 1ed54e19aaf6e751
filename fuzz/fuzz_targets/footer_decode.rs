//! Arbitrary bytes straight into the decoders behind the checksums: a decompressed footer and
//! an attribute chunk. Checksums keep random corruption away from these in practice; this
//! makes sure that even bytes that pass them can never panic the reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spandb_storage::block::Footer;
use spandb_storage::codec::attr_columns::AttrColumnsDecoder;

fuzz_target!(|data: &[u8]| {
    let _ = Footer::decode(data, 1);
    let _ = Footer::decode(data, 2);
    if let Ok(mut attrs) = AttrColumnsDecoder::new(data) {
        let dict = vec![String::new(), "k".to_string(), "v".to_string()];
        for _ in 0..64 {
            if attrs.next_row(&dict).is_err() {
                break;
            }
        }
    }
});
