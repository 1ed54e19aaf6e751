//! OTLP logs into a real server: `POST /v1/logs` (JSON, protobuf, gzip) and gRPC
//! `LogsService/Export`. Malformed requests get a clear 400 and store nothing; good ones are
//! durable when answered, found by `Db::logs` and joined to the trace's spans; the ingest
//! token guards both; `/metrics` counts them.

use std::io::Write as _;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use spandb::{KeyValue, LogRecord, Resource, Span, TimeRange, Value};
use spandb_server::ServerConfig;
use spandb_testkit::numbered_batch;

mod common;
use common::{agent, json_of, send, Running};

const T0: u64 = 1_750_000_000_000_000_000;

/// One record per span of `spans`, carrying its trace and span ids, plus one record without
/// trace context; `tag` goes into the body and an attribute so each request's records can
/// be told apart.
fn logs_for(spans: &[Span], tag: &str) -> Vec<LogRecord> {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", Value::Str("logsvc".into()))],
        ..Resource::default()
    });
    let mut logs: Vec<LogRecord> = spans
        .iter()
        .map(|s| LogRecord {
            time_ns: s.start_ns + 1,
            observed_time_ns: s.start_ns + 2,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Value::Str(format!("{tag} payment declined for {}", s.span_id)),
            attributes: vec![KeyValue::new("request.tag", Value::Str(tag.into()))],
            trace_id: s.trace_id,
            span_id: s.span_id,
            flags: 1,
            event_name: "payment.declined".into(),
            resource: resource.clone(),
            ..LogRecord::default()
        })
        .collect();
    logs.push(LogRecord {
        time_ns: T0,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Value::Str(format!("{tag} no trace context")),
        attributes: vec![KeyValue::new("request.tag", Value::Str(tag.into()))],
        resource,
        ..LogRecord::default()
    });
    logs
}

fn logs_url(s: &Running) -> String {
    format!("http://{}/v1/logs", s.server().otlp_http_addr)
}

fn stored(s: &Running, query: &str) -> Vec<LogRecord> {
    s.db.logs(query, TimeRange::ALL, 10_000).unwrap()
}

fn metric(s: &Running, name: &str) -> u64 {
    let (status, body) = send(agent().get(&s.query_url("/metrics")), None);
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

#[test]
fn malformed_log_requests_get_clear_errors_and_store_nothing() {
    let config = ServerConfig {
        max_body_bytes: 64 * 1024,
        ..ServerConfig::ephemeral()
    };
    let mut s = Running::start(config);
    let http = agent();
    let post = |ct: &str, body: &[u8]| send(http.post(&logs_url(&s)), Some((ct, body)));

    let (status, body) = post(
        "application/json",
        b"{\"resourceLogs\": [{\"scopeLogs\": 7}]}",
    );
    assert_eq!(status, 400);
    let message = json_of(&body)["message"].as_str().unwrap().to_owned();
    assert!(message.contains("scopeLogs"), "{message}");
    // A bad trace id in one record refuses the whole request.
    let (status, body) = post(
        "application/json",
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
            {"timeUnixNano":"1","body":{"stringValue":"fine"}},
            {"timeUnixNano":"2","body":{"stringValue":"bad"},"traceId":"xyz"}]}]}]}"#,
    );
    assert_eq!(status, 400);
    let message = json_of(&body)["message"].as_str().unwrap().to_owned();
    assert!(message.contains("logRecords[1]"), "{message}");
    let (status, body) = post(
        "application/json",
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":99}]}]}]}"#,
    );
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, body) = post("application/x-protobuf", b"\xff\xff\xff\xff");
    assert_eq!(status, 400);
    assert!(!body.is_empty());
    assert_eq!(post("text/plain", b"hello").0, 415);
    assert_eq!(post("application/json", &vec![b' '; 100 * 1024]).0, 413);
    let (status, _) = send(
        http.post(&logs_url(&s)).set("Content-Encoding", "gzip"),
        Some(("application/json", b"not gzip at all")),
    );
    assert_eq!(status, 400);
    // gRPC: a span id of the wrong length is InvalidArgument.
    let grpc_addr = format!("http://{}", s.server().otlp_grpc_addr);
    let mut bad = opentelemetry_proto::tonic::logs::v1::LogsData::decode(
        &spandb::otlp::proto::encode_proto_logs_request(&logs_for(&[], "bad"))[..],
    )
    .unwrap();
    bad.resource_logs[0].scope_logs[0].log_records[0].span_id = vec![1, 2, 3];
    let status = s
        .runtime
        .block_on(async {
            let mut client = LogsServiceClient::connect(grpc_addr).await.unwrap();
            client
                .export(ExportLogsServiceRequest {
                    resource_logs: bad.resource_logs,
                })
                .await
        })
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("spanId"), "{}", status.message());

    assert!(stored(&s, "").is_empty(), "nothing stored");
    assert_eq!(metric(&s, "spandb_log_requests_invalid_total"), 6);
    assert_eq!(metric(&s, "spandb_logs_written_total"), 0);
    s.shutdown();
}

#[test]
fn logs_over_http_and_grpc_are_stored_and_joined_to_their_trace() {
    let mut s = Running::start(ServerConfig::ephemeral());
    let http = agent();
    let spans = numbered_batch(0, 8, T0, 5_000_000);
    let json = spandb::otlp::json::encode_json_request(&spans).to_string();
    let (status, _) = send(
        http.post(&s.otlp_url()),
        Some(("application/json", json.as_bytes())),
    );
    assert_eq!(status, 200);

    // JSON, protobuf, gzip-compressed protobuf, gRPC: each with its own tag.
    let sent_json = logs_for(&spans[0..2], "json");
    let body = spandb::otlp::json::encode_json_logs_request(&sent_json).to_string();
    let (status, reply) = send(
        http.post(&logs_url(&s)),
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    assert_eq!(json_of(&reply), serde_json::json!({}));
    let proto = spandb::otlp::proto::encode_proto_logs_request(&logs_for(&spans[2..4], "proto"));
    let (status, reply) = send(
        http.post(&logs_url(&s)),
        Some(("application/x-protobuf", &proto)),
    );
    assert_eq!(status, 200);
    assert!(
        opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse::decode(
            &reply[..]
        )
        .unwrap()
        .partial_success
        .is_none()
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&spandb::otlp::proto::encode_proto_logs_request(&logs_for(
        &spans[4..6],
        "gzip",
    )))
    .unwrap();
    let (status, _) = send(
        http.post(&logs_url(&s)).set("Content-Encoding", "gzip"),
        Some(("application/x-protobuf", &gz.finish().unwrap())),
    );
    assert_eq!(status, 200);
    let grpc_addr = format!("http://{}", s.server().otlp_grpc_addr);
    let data = opentelemetry_proto::tonic::logs::v1::LogsData::decode(
        &spandb::otlp::proto::encode_proto_logs_request(&logs_for(&spans[6..8], "grpc"))[..],
    )
    .unwrap();
    s.runtime.block_on(async {
        let mut client = LogsServiceClient::connect(grpc_addr).await.unwrap();
        client
            .export(ExportLogsServiceRequest {
                resource_logs: data.resource_logs,
            })
            .await
            .unwrap();
    });

    // Answered means durable and visible: every record is there with all its fields.
    for tag in ["json", "proto", "gzip", "grpc"] {
        let got = stored(&s, &format!("{{ log.request.tag = \"{tag}\" }}"));
        assert_eq!(got.len(), 3, "{tag}: {got:?}");
    }
    let got = stored(&s, "{ log.request.tag = \"json\" && severity = error }");
    let mut got_sorted = got.clone();
    got_sorted.sort_by_key(|l| l.time_ns);
    for (g, want) in got_sorted.iter().zip(&sent_json[..2]) {
        assert_eq!(g.body, want.body);
        assert_eq!(g.trace_id, want.trace_id);
        assert_eq!(g.span_id, want.span_id);
        assert_eq!(g.severity_text, "ERROR");
        assert_eq!(g.observed_time_ns, want.observed_time_ns);
        assert_eq!(g.event_name, "payment.declined");
        assert_eq!(g.flags, 1);
    }
    assert_eq!(stored(&s, "|= \"no trace context\"").len(), 4);

    // The trace join: the logs of span 0's trace hang under their spans.
    let tree = s.db.trace_tree(&spans[0].trace_id).unwrap();
    let joined = s.db.trace_logs(&tree, false).unwrap();
    let of_trace = spans
        .iter()
        .filter(|sp| sp.trace_id == spans[0].trace_id)
        .count();
    assert_eq!(joined.total(), of_trace);
    assert_eq!(joined.other.len(), 0);
    assert_eq!(metric(&s, "spandb_logs_written_total"), 12);
    assert_eq!(metric(&s, "spandb_logs_received_total"), 12);
    assert_eq!(metric(&s, "spandb_log_requests_invalid_total"), 0);
    s.shutdown();
}

#[test]
fn the_ingest_token_guards_logs() {
    let config = ServerConfig {
        ingest_token: Some("secret-ingest".into()),
        ..ServerConfig::ephemeral()
    };
    let mut s = Running::start(config);
    let http = agent();
    let body = spandb::otlp::json::encode_json_logs_request(&logs_for(&[], "token")).to_string();
    let (status, _) = send(
        http.post(&logs_url(&s)),
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(status, 401);
    let grpc_addr = format!("http://{}", s.server().otlp_grpc_addr);
    let code = s.runtime.block_on(async {
        let mut client = LogsServiceClient::connect(grpc_addr).await.unwrap();
        client
            .export(ExportLogsServiceRequest::default())
            .await
            .unwrap_err()
            .code()
    });
    assert_eq!(code, tonic::Code::Unauthenticated);
    assert!(stored(&s, "").is_empty());
    let (status, _) = send(
        http.post(&logs_url(&s))
            .set("Authorization", "Bearer secret-ingest"),
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(status, 200);
    assert_eq!(stored(&s, "").len(), 1);
    s.shutdown();
}
