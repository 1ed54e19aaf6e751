//! OTLP JSON, as the OpenTelemetry Collector `file` exporter writes it: one
//! `ExportTraceServiceRequest` object a line, hex ids, 64-bit integers as decimal strings
//! (numbers accepted too), enums as integers (names accepted too), unknown fields ignored.
//!
//! - `scan`: a JSON scanner (objects, arrays, strings, proto3 JSON numbers and enums)
//! - `decode`: a request object into spans, hand-written over `scan`
//! - `encode`: spans into a request object
//! - `schema`, `values`: the serde structs of the OTLP JSON mapping and their conversion to
//!   model values (the logs decoder's; `reference`, the span decoder `decode` replaced, is
//!   kept in tests to check it against)
//!
//! Reading whole files (JSON lines, framing, batching) is the `spandb` facade's `import`
//! module: storage decodes one request at a time.

mod decode;
#[cfg(test)]
mod differential;
mod encode;
mod logs;
#[cfg(test)]
mod reference;
mod scan;
mod schema;
mod values;

pub use decode::{decode_json_request, decode_json_request_lenient};
pub use encode::encode_json_request;
pub use logs::{decode_json_logs_request, encode_json_logs_request, log_record_json};

/// One well-formed request line, for the unit tests.
#[cfg(test)]
const GOOD: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},"scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /x","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"d","value":{"doubleValue":1.5}}],"status":{"code":2,"message":"boom"}}]}]}]}"#;
