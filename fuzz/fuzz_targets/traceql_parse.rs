//! Arbitrary text as a TraceQL query: parse errors, never panics; what parses prints back as
//! text that parses to the same query.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(q) = spandb_query::parse(text) {
            let again = spandb_query::parse(&q.to_string()).expect("printed query parses");
            assert_eq!(q, again);
        }
    }
});
