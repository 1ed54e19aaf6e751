//! OTLP protobuf logs (`ExportLogsServiceRequest`, wire-identical to `LogsData`) via the
//! `opentelemetry-proto` crate's prost types.

use std::sync::Arc;

use opentelemetry_proto::tonic::logs::v1 as pl;
use prost::Message;

use super::proto::{attrs_from, attrs_to, value_from, value_to};
use crate::error::{Error, Result};
use crate::model::{LogRecord, Resource, Scope, SpanId, TraceId, Value};

/// Decodes an OTLP protobuf `ExportLogsServiceRequest` (or `LogsData`), appending its records
/// to `out`. On error nothing is appended.
pub fn decode_proto_logs_request(bytes: &[u8], out: &mut Vec<LogRecord>) -> Result<()> {
    let data = pl::LogsData::decode(bytes)
        .map_err(|e| Error::InvalidInput(format!("not an OTLP protobuf logs request: {e}")))?;
    let before = out.len();
    from_logs_data(data, out).inspect_err(|_| out.truncate(before))
}

fn id<const N: usize>(b: &[u8], path: &str) -> Result<[u8; N]> {
    if b.is_empty() {
        return Ok([0; N]);
    }
    <[u8; N]>::try_from(b)
        .map_err(|_| Error::InvalidInput(format!("{path}: must be {N} bytes, got {}", b.len())))
}

/// Converts a request already decoded into `opentelemetry-proto`'s types (what a gRPC server
/// receives). On error nothing is appended.
pub fn from_logs_data(data: pl::LogsData, out: &mut Vec<LogRecord>) -> Result<()> {
    let before = out.len();
    let r = convert(data, out);
    if r.is_err() {
        out.truncate(before);
    }
    r
}

fn convert(data: pl::LogsData, out: &mut Vec<LogRecord>) -> Result<()> {
    for (ri, rl) in data.resource_logs.into_iter().enumerate() {
        let r = rl.resource.unwrap_or_default();
        let resource = Arc::new(Resource {
            attributes: attrs_from(r.attributes),
            dropped_attributes_count: r.dropped_attributes_count,
            schema_url: rl.schema_url,
        });
        for (si, sl) in rl.scope_logs.into_iter().enumerate() {
            let sc = sl.scope.unwrap_or_default();
            let scope = Arc::new(Scope {
                name: sc.name,
                version: sc.version,
                attributes: attrs_from(sc.attributes),
                dropped_attributes_count: sc.dropped_attributes_count,
                schema_url: sl.schema_url,
            });
            for (li, l) in sl.log_records.into_iter().enumerate() {
                let path = format!("resourceLogs[{ri}].scopeLogs[{si}].logRecords[{li}]");
                let severity_number = u8::try_from(l.severity_number)
                    .ok()
                    .filter(|n| *n <= 24)
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "{path}.severityNumber: {} is not a severity number (0-24)",
                            l.severity_number
                        ))
                    })?;
                out.push(LogRecord {
                    time_ns: l.time_unix_nano,
                    observed_time_ns: l.observed_time_unix_nano,
                    severity_number,
                    severity_text: l.severity_text,
                    body: l.body.map(value_from).unwrap_or(Value::Empty),
                    attributes: attrs_from(l.attributes),
                    dropped_attributes_count: l.dropped_attributes_count,
                    flags: l.flags,
                    trace_id: TraceId(id(&l.trace_id, &format!("{path}.traceId"))?),
                    span_id: SpanId(id(&l.span_id, &format!("{path}.spanId"))?),
                    event_name: l.event_name,
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Encodes records as an OTLP protobuf `ExportLogsServiceRequest`.
pub fn encode_proto_logs_request(logs: &[LogRecord]) -> Vec<u8> {
    let mut data = pl::LogsData::default();
    let same_res = |a: &LogRecord, b: &LogRecord| {
        Arc::ptr_eq(&a.resource, &b.resource) || a.resource == b.resource
    };
    let same_scope =
        |a: &LogRecord, b: &LogRecord| Arc::ptr_eq(&a.scope, &b.scope) || a.scope == b.scope;
    for run in logs.chunk_by(same_res) {
        let Some(first) = run.first() else { continue };
        let r = &first.resource;
        let mut rl = pl::ResourceLogs {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: attrs_to(&r.attributes),
                dropped_attributes_count: r.dropped_attributes_count,
                ..Default::default()
            }),
            schema_url: r.schema_url.clone(),
            ..Default::default()
        };
        for group in run.chunk_by(same_scope) {
            let Some(first) = group.first() else { continue };
            let sc = &first.scope;
            rl.scope_logs.push(pl::ScopeLogs {
                scope: Some(
                    opentelemetry_proto::tonic::common::v1::InstrumentationScope {
                        name: sc.name.clone(),
                        version: sc.version.clone(),
                        attributes: attrs_to(&sc.attributes),
                        dropped_attributes_count: sc.dropped_attributes_count,
                    },
                ),
                schema_url: sc.schema_url.clone(),
                log_records: group
                    .iter()
                    .map(|l| pl::LogRecord {
                        time_unix_nano: l.time_ns,
                        observed_time_unix_nano: l.observed_time_ns,
                        severity_number: i32::from(l.severity_number),
                        severity_text: l.severity_text.clone(),
                        body: (l.body != Value::Empty).then(|| value_to(&l.body)),
                        attributes: attrs_to(&l.attributes),
                        dropped_attributes_count: l.dropped_attributes_count,
                        flags: l.flags,
                        trace_id: l.trace().map(|t| t.0.to_vec()).unwrap_or_default(),
                        span_id: l.span().map(|s| s.0.to_vec()).unwrap_or_default(),
                        event_name: l.event_name.clone(),
                    })
                    .collect(),
            });
        }
        data.resource_logs.push(rl);
    }
    data.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_round_trips_and_bad_ids_are_named() {
        let line = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"7","severityNumber":9,"body":{"stringValue":"hi"},"traceId":"1027c4d1c386bbc4cd613e30d8f16adf","spanId":"6c0fd4f5f8130c43"},{"timeUnixNano":"8","body":{"intValue":"3"}}]}]}]}"#;
        let mut logs = Vec::new();
        crate::otlp::json::decode_json_logs_request(line.as_bytes(), &mut logs).unwrap();
        let bytes = encode_proto_logs_request(&logs);
        let mut back = Vec::new();
        decode_proto_logs_request(&bytes, &mut back).unwrap();
        assert_eq!(back, logs);
        let mut bad = pl::LogsData::decode(bytes.as_slice()).unwrap();
        bad.resource_logs[0].scope_logs[0].log_records[1].trace_id = vec![1, 2, 3];
        let err = decode_proto_logs_request(&bad.encode_to_vec(), &mut back)
            .unwrap_err()
            .to_string();
        assert!(err.contains("logRecords[1].traceId"), "{err}");
        assert_eq!(back.len(), 2);
        assert!(decode_proto_logs_request(b"\xff\xff\xff", &mut back).is_err());
    }
}
