use std::io::Write as _;

use super::*;
use crate::{SpanKind, StatusCode, Value};

const GOOD: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000"}]}]}]}"#;

fn read_all(bytes: &[u8], opts: &ImportOptions) -> Result<(ImportReport, Vec<Span>)> {
    let mut spans = Vec::new();
    let report = read_spans(bytes, opts, |b| {
        spans.extend(b);
        Ok(())
    })?;
    Ok((report, spans))
}

fn auto(bytes: &[u8]) -> (ImportReport, Vec<Span>) {
    read_all(bytes, &ImportOptions::default()).unwrap()
}

#[test]
fn bad_lines_stop_the_import_or_are_skipped_and_counted() {
    let text = format!("{GOOD}\n\n{{not json\n{GOOD}\n");
    let mut got = 0;
    let err = read_json_lines(text.as_bytes(), false, 1000, |b| {
        got += b.len();
        Ok(())
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                position: Some(Position { line: 3, .. }),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(got, 1, "spans before the bad line are delivered, not lost");
    let report = read_json_lines(text.as_bytes(), true, 1000, |_| Ok(())).unwrap();
    assert_eq!((report.spans, report.skipped_lines), (2, 1));
    assert!(report.first_errors[0].starts_with("line 3:"), "{report:?}");
    let opts = ImportOptions {
        skip_bad_records: true,
        ..ImportOptions::default()
    };
    let (report, spans) = read_all(text.as_bytes(), &opts).unwrap();
    assert_eq!((spans.len(), report.skipped_records), (2, 1));
}

#[test]
fn otlp_json_lines_documents_and_concatenations_read_alike() {
    let one = auto(GOOD.as_bytes()).1;
    assert_eq!(one.len(), 1);
    let doc: serde_json::Value = serde_json::from_str(GOOD).unwrap();
    let pretty = serde_json::to_string_pretty(&doc).unwrap();
    let upper = pretty.replace(
        "5b8efff798038103d269b633813fc60c",
        "5B8EFFF798038103D269B633813FC60C",
    );
    for (what, text) in [
        ("lines", format!("{GOOD}\n{GOOD}\n")),
        ("pretty documents", format!("{pretty}\n{upper}")),
        ("documents back to back", format!("{GOOD}{GOOD}")),
        ("leading blank lines", format!("\n\n{pretty}\n{GOOD}\n")),
    ] {
        let (report, spans) = auto(text.as_bytes());
        assert_eq!(report.format, Format::OtlpJson, "{what}");
        assert_eq!(spans, vec![one[0].clone(), one[0].clone()], "{what}");
    }
    let e = read_all(b"{\"resourceSpans\": [", &ImportOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidInput {
                position: Some(_),
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn zstd_and_gzip_are_detected_and_streamed() {
    let plain = format!("{GOOD}\n").repeat(50);
    let mut zstd_bytes = zstd::encode_all(plain.as_bytes(), 3).unwrap();
    // A second frame, as the Collector appends one per flush.
    zstd_bytes.extend(zstd::encode_all(plain.as_bytes(), 3).unwrap());
    let (report, spans) = auto(&zstd_bytes);
    assert_eq!(report.compression, Compression::Zstd);
    assert_eq!(spans.len(), 100);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(plain.as_bytes()).unwrap();
    let gz_bytes = gz.finish().unwrap();
    let (report, spans) = auto(&gz_bytes);
    assert_eq!(report.compression, Compression::Gzip);
    assert_eq!(spans.len(), 50);
}

#[test]
fn protobuf_streams_and_single_requests_both_read() {
    let spans = auto(GOOD.as_bytes()).1;
    let one = proto::encode_proto_request(&spans);
    let mut stream = Vec::new();
    for _ in 0..3 {
        stream.extend_from_slice(&(one.len() as u32).to_be_bytes());
        stream.extend_from_slice(&one);
    }
    for (bytes, want) in [(&one, 1), (&stream, 3)] {
        let (report, got) = auto(bytes);
        assert_eq!(report.format, Format::OtlpProto);
        assert_eq!(got.len(), want);
        assert_eq!(got[0], spans[0]);
    }
    let cut = &stream[..stream.len() - 3];
    let e = read_all(cut, &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
}

/// A Jaeger UI download: two processes, a CHILD_OF parent, a FOLLOWS_FROM link to another
/// trace, span.kind / error / otel.status tags, a log with an `event` field.
const JAEGER: &str = r#"{"data":[{"traceID":"00000000000000007b","spans":[
 {"traceID":"00000000000000007b","spanID":"0000000000000001","operationName":"GET /cart",
  "references":[],"startTime":1700000000000000,"duration":1500,
  "tags":[{"key":"span.kind","type":"string","value":"server"},
          {"key":"http.status_code","type":"int64","value":500},
          {"key":"error","type":"bool","value":true}],
  "logs":[{"timestamp":1700000000000100,"fields":[{"key":"event","type":"string","value":"exception"},
                                                   {"key":"exception.type","type":"string","value":"IOError"}]}],
  "processID":"p1","warnings":null},
 {"traceID":"7b","spanID":"2","operationName":"SELECT",
  "references":[{"refType":"CHILD_OF","traceID":"7b","spanID":"1"},
                {"refType":"FOLLOWS_FROM","traceID":"00000000000000000000000000000abc","spanID":"9"}],
  "startTime":1700000000000200,"duration":700,
  "tags":[{"key":"span.kind","type":"string","value":"client"},
          {"key":"otel.status_code","type":"string","value":"OK"},
          {"key":"db.rows","type":"float64","value":2.5}],
  "logs":[],"processID":"p2"}],
 "processes":{"p1":{"serviceName":"cart","tags":[{"key":"hostname","type":"string","value":"h1"}]},
              "p2":{"serviceName":"db","tags":[]}}}],"total":0,"limit":0,"offset":0,"errors":null}"#;

#[test]
fn jaeger_json_maps_to_the_opentelemetry_model() {
    let (report, spans) = auto(JAEGER.as_bytes());
    assert_eq!(report.format, Format::Jaeger);
    assert_eq!(spans.len(), 2);
    let (root, child) = (&spans[0], &spans[1]);
    assert_eq!(
        root.trace_id.to_string(),
        "0000000000000000000000000000007b"
    );
    assert_eq!(root.service(), "cart");
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.status_code, StatusCode::Error);
    assert_eq!(root.start_ns, 1_700_000_000_000_000_000);
    assert_eq!(root.end_ns - root.start_ns, 1_500_000);
    assert_eq!(root.attr("http.status_code"), Some(&Value::Int(500)));
    assert_eq!(
        root.attr("error"),
        None,
        "mapped to the status, not kept as a tag"
    );
    assert_eq!(root.events[0].name, "exception");
    assert_eq!(
        root.events[0].attributes,
        vec![crate::KeyValue::new(
            "exception.type",
            Value::Str("IOError".into())
        )]
    );
    assert_eq!(
        root.resource.attributes[1],
        crate::KeyValue::new("hostname", Value::Str("h1".into()))
    );
    assert_eq!(child.parent_span_id, Some(root.span_id));
    assert_eq!(child.kind, SpanKind::Client);
    assert_eq!(child.status_code, StatusCode::Ok);
    assert_eq!(child.attr("db.rows"), Some(&Value::Double(2.5)));
    assert_eq!(child.links.len(), 1);
    assert_eq!(
        child.links[0].trace_id.to_string(),
        "00000000000000000000000000000abc"
    );
    assert_eq!(child.service(), "db");
    let e = read_all(
        br#"{"data":[{"spans":[{"traceID":"1","spanID":"1","startTime":1,"processID":"nope"}],"processes":{}}]}"#,
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

/// Zipkin v2: a server span with endpoints, tags, an annotation, and its client child.
const ZIPKIN: &str = r#"[
 {"traceId":"86154a4ba6e91385","id":"86154a4ba6e91385","kind":"SERVER","name":"get /api",
  "timestamp":1700000000000000,"duration":207000,
  "localEndpoint":{"serviceName":"frontend","ipv4":"172.17.0.13","port":8080},
  "remoteEndpoint":{"ipv4":"110.170.201.178","port":63678},
  "tags":{"http.method":"GET","http.path":"/api","error":"timeout"},
  "annotations":[{"timestamp":1700000000100000,"value":"retry"}]},
 {"traceId":"86154a4ba6e91385","parentId":"86154a4ba6e91385","id":"4d1e00c0db9010db","kind":"CLIENT",
  "name":"get","timestamp":1700000000010000,"duration":1000,
  "localEndpoint":{"serviceName":"frontend"},"remoteEndpoint":{"serviceName":"backend"}}]"#;

#[test]
fn zipkin_v2_json_maps_to_the_opentelemetry_model() {
    let (report, spans) = auto(ZIPKIN.as_bytes());
    assert_eq!(report.format, Format::Zipkin);
    let (server, client) = (&spans[0], &spans[1]);
    assert_eq!(
        server.trace_id.to_string(),
        "000000000000000086154a4ba6e91385"
    );
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.service(), "frontend");
    assert_eq!(server.status_code, StatusCode::Error);
    assert_eq!(server.status_message, "timeout");
    assert_eq!(server.end_ns - server.start_ns, 207_000_000);
    assert_eq!(server.attr("http.method"), Some(&Value::Str("GET".into())));
    assert_eq!(server.attr("net.host.port"), Some(&Value::Int(8080)));
    assert_eq!(
        server.attr("net.peer.ip"),
        Some(&Value::Str("110.170.201.178".into()))
    );
    assert_eq!(server.events[0].name, "retry");
    assert_eq!(client.parent_span_id, Some(server.span_id));
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(
        client.attr("peer.service"),
        Some(&Value::Str("backend".into()))
    );
    assert!(
        std::sync::Arc::ptr_eq(&server.resource, &client.resource),
        "one resource per service"
    );
}

#[test]
fn a_forced_format_overrides_detection() {
    let opts = ImportOptions {
        format: Some(Format::Zipkin),
        ..ImportOptions::default()
    };
    let e = read_all(GOOD.as_bytes(), &opts).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
}

#[test]
fn protobuf_logs_and_protobuf_spans_are_told_apart() {
    let spans = auto(GOOD.as_bytes()).1;
    let logs = vec![
        LogRecord {
            time_ns: 1_700_000_000_000_000_000,
            severity_number: 17,
            body: Value::Str("card declined".into()),
            trace_id: spans[0].trace_id,
            span_id: spans[0].span_id,
            ..LogRecord::default()
        },
        LogRecord {
            observed_time_ns: 1_700_000_000_000_000_001,
            body: Value::Str("no time, no trace".into()),
            ..LogRecord::default()
        },
    ];
    let framed = |one: &[u8], times: usize| {
        let mut stream = Vec::new();
        for _ in 0..times {
            stream.extend_from_slice(&(one.len() as u32).to_be_bytes());
            stream.extend_from_slice(one);
        }
        stream
    };
    let read = |bytes: &[u8]| {
        let (mut got_spans, mut got_logs) = (Vec::new(), Vec::new());
        let report = read_telemetry(
            bytes,
            &ImportOptions::default(),
            |b| {
                got_spans.extend(b);
                Ok(())
            },
            |l| {
                got_logs.extend(l);
                Ok(())
            },
        )
        .unwrap();
        (report, got_spans, got_logs)
    };
    let one_logs = proto::encode_proto_logs_request(&logs);
    let one_spans = proto::encode_proto_request(&spans);
    for (bytes, times) in [(one_logs.clone(), 1), (framed(&one_logs, 3), 3)] {
        let (report, got_spans, got_logs) = read(&bytes);
        assert_eq!(report.format, Format::OtlpLogsProto);
        assert_eq!((report.spans, report.logs), (0, 2 * times as u64));
        assert!(got_spans.is_empty());
        assert_eq!(got_logs[0].body, logs[0].body);
        assert_eq!(got_logs[1].observed_time_ns, logs[1].observed_time_ns);
        assert_eq!(got_logs[0].trace_id, spans[0].trace_id);
    }
    for (bytes, times) in [(one_spans.clone(), 1), (framed(&one_spans, 2), 2)] {
        let (report, got_spans, got_logs) = read(&bytes);
        assert_eq!(report.format, Format::OtlpProto);
        assert_eq!((report.spans, report.logs), (times as u64, 0));
        assert_eq!(got_spans[0], spans[0]);
        assert!(got_logs.is_empty());
    }
    // Compressed too; and `read_spans` refuses logs with a clear error.
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&framed(&one_logs, 2)).unwrap();
        e.finish().unwrap()
    };
    let (report, _, got_logs) = read(&gz);
    assert_eq!((report.format, got_logs.len()), (Format::OtlpLogsProto, 4));
    let e = read_all(&one_logs, &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().contains("log records"), "{e}");
    // A truncated logs stream is an error, not a silent partial import.
    let stream = framed(&one_logs, 2);
    let e = read_telemetry(
        &stream[..stream.len() - 2],
        &ImportOptions::default(),
        |_| Ok(()),
        |_| Ok(()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
}
