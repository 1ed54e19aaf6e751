//! OTLP/HTTP: `POST /v1/traces` and `POST /v1/logs` with protobuf or JSON bodies, gzip or
//! not, answered as the OTLP specification says: success (with `partial_success` when spans
//! were dropped) only once the records are durable; 400 with the reason for a malformed payload; 413 when too
//! large; 415 for an unknown content type or encoding; 429 with Retry-After when the write
//! queue is full; 503 when shutting down.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use spandb::otlp::Dropped;

use crate::http::AppState;
use crate::ingest::IngestError;

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC's INVALID_ARGUMENT, RESOURCE_EXHAUSTED and UNAVAILABLE codes, used in the status body.
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;

pub async fn export_traces(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (encoding, bytes) = match read_request(&headers, body, state.config.max_body_bytes).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let mut spans = Vec::new();
    let mut dropped = Dropped::default();
    let decoded = match encoding {
        Encoding::Protobuf => {
            spandb::otlp::proto::decode_proto_request_lenient(&bytes, &mut spans, &mut dropped)
        }
        Encoding::Json => {
            spandb::otlp::json::decode_json_request_lenient(&bytes, &mut spans, &mut dropped)
        }
    };
    if let Err(e) = decoded {
        return error(
            encoding,
            StatusCode::BAD_REQUEST,
            INVALID_ARGUMENT,
            &e.to_string(),
        );
    }
    let n = spans.len() as u64;
    state.metrics.spans_received.add(n);
    state.metrics.spans_rejected.add(dropped.spans_without_ids);
    match state.ingest.write(spans).await {
        Ok(()) => success(encoding, &dropped),
        Err(e) => {
            state.metrics.spans_rejected.add(n);
            ingest_error(encoding, &state, e)
        }
    }
}

/// `POST /v1/logs`: the same body handling, limits, queue and durability as traces; the
/// answer is an `ExportLogsServiceResponse`. Log records have no required fields, so a
/// request is stored whole or refused whole (400 naming the field).
pub async fn export_logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (encoding, bytes) = match read_request(&headers, body, state.config.max_body_bytes).await {
        Ok(r) => r,
        Err(refused) => {
            if refused.status() == StatusCode::BAD_REQUEST {
                state.metrics.log_requests_invalid.add(1);
            }
            return refused;
        }
    };
    let mut logs = Vec::new();
    let decoded = match encoding {
        Encoding::Protobuf => spandb::otlp::proto::decode_proto_logs_request(&bytes, &mut logs),
        Encoding::Json => spandb::otlp::json::decode_json_logs_request(&bytes, &mut logs),
    };
    if let Err(e) = decoded {
        state.metrics.log_requests_invalid.add(1);
        return error(
            encoding,
            StatusCode::BAD_REQUEST,
            INVALID_ARGUMENT,
            &e.to_string(),
        );
    }
    let n = logs.len() as u64;
    state.metrics.logs_received.add(n);
    match state.ingest.write_logs(logs).await {
        Ok(()) => match encoding {
            Encoding::Protobuf => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                ExportLogsServiceResponse::default().encode_to_vec(),
            )
                .into_response(),
            Encoding::Json => (StatusCode::OK, axum::Json(serde_json::json!({}))).into_response(),
        },
        Err(e) => {
            state.metrics.logs_rejected.add(n);
            if matches!(
                e,
                IngestError::Rejected {
                    client_error: true,
                    ..
                }
            ) {
                state.metrics.log_requests_invalid.add(1);
            }
            ingest_error(encoding, &state, e)
        }
    }
}

/// The encoding (from Content-Type) and the decompressed body of an OTLP/HTTP request, or
/// the error answer: 415 for an unknown content type or encoding, 413 past `limit` (before
/// or after gunzip), 400 for an unreadable body or broken gzip.
async fn read_request(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(Encoding, Bytes), Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let encoding = match content_type.as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        _ => {
            return Err(plain_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/x-protobuf or application/json",
            ))
        }
    };
    let raw = match read_body(body, limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return Err(error(
                encoding,
                StatusCode::PAYLOAD_TOO_LARGE,
                RESOURCE_EXHAUSTED,
                &format!("the body is larger than {limit} bytes"),
            ))
        }
        Err(BodyError::Broken) => {
            return Err(error(
                encoding,
                StatusCode::BAD_REQUEST,
                INVALID_ARGUMENT,
                "the body could not be read",
            ))
        }
    };
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e == "identity" || e.is_empty() => false,
        Some(e) if e == "gzip" => true,
        Some(_) => {
            return Err(plain_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding must be gzip or identity",
            ))
        }
    };
    if !gzip {
        return Ok((encoding, raw));
    }
    match gunzip(&raw, limit) {
        Ok(b) => Ok((encoding, Bytes::from(b))),
        Err(GunzipError::TooLarge) => Err(error(
            encoding,
            StatusCode::PAYLOAD_TOO_LARGE,
            RESOURCE_EXHAUSTED,
            &format!("the decompressed body is larger than {limit} bytes"),
        )),
        Err(GunzipError::Corrupt(m)) => Err(error(
            encoding,
            StatusCode::BAD_REQUEST,
            INVALID_ARGUMENT,
            &format!("invalid gzip body: {m}"),
        )),
    }
}

fn ingest_error(encoding: Encoding, state: &AppState, e: IngestError) -> Response {
    let (status, code) = match &e {
        IngestError::Full { .. } => {
            state.metrics.requests_refused_full.add(1);
            (StatusCode::TOO_MANY_REQUESTS, UNAVAILABLE)
        }
        IngestError::Closed => (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        IngestError::Rejected {
            client_error: true, ..
        } => (StatusCode::BAD_REQUEST, INVALID_ARGUMENT),
        IngestError::Rejected { .. } => (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    };
    let mut r = error(encoding, status, code, &e.to_string());
    if status != StatusCode::BAD_REQUEST {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

fn success(encoding: Encoding, dropped: &Dropped) -> Response {
    let partial = partial_success(dropped);
    match encoding {
        Encoding::Protobuf => {
            let body = ExportTraceServiceResponse {
                partial_success: partial,
            }
            .encode_to_vec();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                body,
            )
                .into_response()
        }
        Encoding::Json => {
            let body = match partial {
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }}),
                None => serde_json::json!({}),
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
    }
}

/// What lenient decoding dropped, as OTLP's partial success: spans without valid ids are
/// rejected; repaired fields (invalid links or parent ids, out-of-range enums) are reported
/// as a warning with zero rejected spans, as the specification allows.
pub fn partial_success(d: &Dropped) -> Option<ExportTracePartialSuccess> {
    (d.total() > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: d.spans_without_ids as i64,
        error_message: format!(
            "{} spans without valid ids rejected; {} invalid links and {} invalid parent ids \
             removed, {} out-of-range kinds or statuses made unspecified",
            d.spans_without_ids, d.invalid_links, d.invalid_parent_ids, d.out_of_range_enums
        ),
    })
}

fn error(encoding: Encoding, status: StatusCode, code: i32, message: &str) -> Response {
    match encoding {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            RpcStatus {
                code,
                message: message.to_owned(),
            }
            .encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            status,
            axum::Json(serde_json::json!({"code": code, "message": message})),
        )
            .into_response(),
    }
}

fn plain_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": message}))).into_response()
}

enum BodyError {
    TooLarge,
    Broken,
}

/// Bytes read past the limit (and thrown away) so that a client still sending an oversized
/// body reads the 413 instead of a reset connection; beyond this the connection is dropped.
const DRAIN_FACTOR: usize = 8;

/// The body, or `TooLarge` once it passes `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    use tokio_stream::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit.saturating_mul(DRAIN_FACTOR) {
            return Err(BodyError::TooLarge);
        }
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        }
    }
    if seen > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(buf))
}

enum GunzipError {
    TooLarge,
    Corrupt(String),
}

/// Decompresses a gzip body, refusing to produce more than `limit` bytes (a small body can
/// expand a thousandfold).
fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(bytes).take(limit as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| GunzipError::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(GunzipError::TooLarge);
    }
    Ok(out)
}
