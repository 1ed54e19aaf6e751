//! OTLP encodings of spans: JSON (as the Collector's `file` exporter and OTLP/HTTP write it)
//! and protobuf, one `ExportTraceServiceRequest` at a time, with spandb's errors. Reading
//! whole files is [`crate::import`]'s job.

pub use spandb_storage::otlp::Dropped;

/// OTLP JSON.
pub mod json {
    use super::Dropped;
    use crate::error::{Error, Result};
    use crate::Span;

    /// Decodes one `ExportTraceServiceRequest` in the OTLP/JSON mapping and appends its spans
    /// to `out`. Malformed input is [`Error::InvalidInput`] naming the field; `out` is then
    /// left as it was (the storage decoder appends nothing on error).
    pub fn decode_json_request(bytes: &[u8], out: &mut Vec<Span>) -> Result<()> {
        spandb_storage::otlp::json::decode_json_request(bytes, out).map_err(json_error)
    }

    /// Like [`decode_json_request`], but keeps every span it can: a span without valid ids
    /// is skipped, an invalid link or parent id is removed, an out-of-range enum becomes
    /// unspecified, each counted in `dropped`. Malformed JSON still fails the request.
    pub fn decode_json_request_lenient(
        bytes: &[u8],
        out: &mut Vec<Span>,
        dropped: &mut Dropped,
    ) -> Result<()> {
        spandb_storage::otlp::json::decode_json_request_lenient(bytes, out, dropped)
            .map_err(json_error)
    }

    fn json_error(e: spandb_storage::Error) -> Error {
        match e {
            spandb_storage::Error::InvalidInput(m) => {
                Error::invalid(format!("invalid OTLP JSON: {m}"))
            }
            other => other.into(),
        }
    }

    /// Decodes one `ExportLogsServiceRequest` in the OTLP/JSON mapping and appends its log
    /// records to `out` (nothing on error, which names the field).
    pub fn decode_json_logs_request(bytes: &[u8], out: &mut Vec<crate::LogRecord>) -> Result<()> {
        spandb_storage::otlp::json::decode_json_logs_request(bytes, out).map_err(json_error)
    }

    /// Log records as one OTLP JSON `ExportLogsServiceRequest`.
    pub fn encode_json_logs_request(logs: &[crate::LogRecord]) -> serde_json::Value {
        spandb_storage::otlp::json::encode_json_logs_request(logs)
    }

    /// One log record in the OTLP JSON mapping.
    pub fn log_record_json(log: &crate::LogRecord) -> serde_json::Value {
        spandb_storage::otlp::json::log_record_json(log)
    }

    /// `spans` as one OTLP JSON `ExportTraceServiceRequest`, grouped by resource and scope.
    pub fn encode_json_request(spans: &[Span]) -> serde_json::Value {
        spandb_storage::otlp::json::encode_json_request(spans)
    }
}

/// OTLP protobuf.
pub mod proto {
    use super::Dropped;
    use crate::error::Result;
    use crate::Span;

    /// Decodes one protobuf `ExportLogsServiceRequest` and appends its log records to `out`.
    pub fn decode_proto_logs_request(bytes: &[u8], out: &mut Vec<crate::LogRecord>) -> Result<()> {
        Ok(spandb_storage::otlp::logs_proto::decode_proto_logs_request(
            bytes, out,
        )?)
    }

    /// [`decode_proto_logs_request`] for a request a gRPC server has already decoded into
    /// `opentelemetry-proto`'s types (`ExportLogsServiceRequest` converts to `LogsData` by
    /// moving its `resource_logs`). On error nothing is appended.
    pub fn decode_logs_data(
        data: opentelemetry_proto::tonic::logs::v1::LogsData,
        out: &mut Vec<crate::LogRecord>,
    ) -> Result<()> {
        Ok(spandb_storage::otlp::logs_proto::from_logs_data(data, out)?)
    }

    /// Log records as one protobuf `ExportLogsServiceRequest`.
    pub fn encode_proto_logs_request(logs: &[crate::LogRecord]) -> Vec<u8> {
        spandb_storage::otlp::logs_proto::encode_proto_logs_request(logs)
    }

    /// Decodes one protobuf `ExportTraceServiceRequest` and appends its spans to `out`.
    pub fn decode_proto_request(bytes: &[u8], out: &mut Vec<Span>) -> Result<()> {
        Ok(spandb_storage::otlp::proto::decode_proto_request(
            bytes, out,
        )?)
    }

    /// Like [`decode_proto_request`], keeping what it can and counting what it drops (see
    /// [`super::json::decode_json_request_lenient`]).
    pub fn decode_proto_request_lenient(
        bytes: &[u8],
        out: &mut Vec<Span>,
        dropped: &mut Dropped,
    ) -> Result<()> {
        Ok(spandb_storage::otlp::proto::decode_proto_request_lenient(
            bytes, out, dropped,
        )?)
    }

    /// [`decode_proto_request_lenient`] for a request a gRPC server has already decoded
    /// into `opentelemetry-proto`'s types (`ExportTraceServiceRequest` converts to
    /// `TracesData` by moving its `resource_spans`).
    pub fn decode_traces_data_lenient(
        data: opentelemetry_proto::tonic::trace::v1::TracesData,
        out: &mut Vec<Span>,
        dropped: &mut Dropped,
    ) -> Result<()> {
        Ok(spandb_storage::otlp::proto::from_traces_data_lenient(
            data, out, dropped,
        )?)
    }

    /// `spans` in `opentelemetry-proto`'s types, grouped by resource and scope.
    pub fn to_traces_data(spans: &[Span]) -> opentelemetry_proto::tonic::trace::v1::TracesData {
        spandb_storage::otlp::proto::to_proto(spans)
    }

    /// `spans` as one protobuf `ExportTraceServiceRequest`.
    pub fn encode_proto_request(spans: &[Span]) -> Vec<u8> {
        spandb_storage::otlp::proto::encode_proto_request(spans)
    }
}
