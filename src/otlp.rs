//! OTLP encodings of spans: JSON (as the Collector's `file` exporter and OTLP/HTTP write it)
//! and protobuf, one `ExportTraceServiceRequest` at a time, with spandb's errors. Reading
//! whole files is [`crate::import`]'s job.

/// OTLP JSON.
pub mod json {
    use crate::error::{Error, Result};
    use crate::Span;

    /// Decodes one `ExportTraceServiceRequest` in the OTLP/JSON mapping and appends its spans
    /// to `out`. Malformed input is [`Error::InvalidInput`] naming the field; `out` is then
    /// left as it was.
    pub fn decode_json_request(bytes: &[u8], out: &mut Vec<Span>) -> Result<()> {
        let before = out.len();
        spandb_storage::otlp::json::decode_json_request(bytes, out).map_err(|e| {
            out.truncate(before);
            match e {
                spandb_storage::Error::InvalidInput(m) => {
                    Error::invalid(format!("invalid OTLP JSON: {m}"))
                }
                other => other.into(),
            }
        })
    }

    /// `spans` as one OTLP JSON `ExportTraceServiceRequest`, grouped by resource and scope.
    pub fn encode_json_request(spans: &[Span]) -> serde_json::Value {
        spandb_storage::otlp::json::encode_json_request(spans)
    }
}

/// OTLP protobuf.
pub mod proto {
    use crate::error::Result;
    use crate::Span;

    /// Decodes one protobuf `ExportTraceServiceRequest` and appends its spans to `out`.
    pub fn decode_proto_request(bytes: &[u8], out: &mut Vec<Span>) -> Result<()> {
        Ok(spandb_storage::otlp::proto::decode_proto_request(
            bytes, out,
        )?)
    }

    /// `spans` as one protobuf `ExportTraceServiceRequest`.
    pub fn encode_proto_request(spans: &[Span]) -> Vec<u8> {
        spandb_storage::otlp::proto::encode_proto_request(spans)
    }
}
