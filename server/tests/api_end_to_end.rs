//! A real server on loopback, driven by an HTTP client and tonic's OTLP client: spans sent
//! over OTLP/HTTP (JSON, protobuf, gzip) and OTLP/gRPC read back through Tempo's and
//! Jaeger's APIs; bad requests get clear 4xx answers; tokens are enforced; a graceful
//! shutdown keeps every acknowledged span.

use std::io::Write as _;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use spandb::{Options, Span};
use spandb_server::{Server, ServerConfig};
use spandb_testkit::{numbered_batch, numbered_trace};

mod common;
use common::{agent, json_of, send, send_full, Running};

const T0: u64 = 1_750_000_000_000_000_000;

fn spans_of_batch(i: u64) -> Vec<Span> {
    numbered_batch(i, 20, T0 + i * 1_000_000_000, 5_000_000)
}

#[test]
fn otlp_in_tempo_and_jaeger_out() {
    let mut s = Running::start(ServerConfig::ephemeral());
    let http = agent();

    // OTLP/HTTP JSON, protobuf, gzip-compressed protobuf.
    let json = spandb::otlp::json::encode_json_request(&spans_of_batch(0)).to_string();
    let (status, body) = send(
        http.post(&s.otlp_url()),
        Some(("application/json", json.as_bytes())),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body), serde_json::json!({}));
    let proto = spandb::otlp::proto::encode_proto_request(&spans_of_batch(1));
    let (status, _) = send(
        http.post(&s.otlp_url()),
        Some(("application/x-protobuf", &proto)),
    );
    assert_eq!(status, 200);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&spandb::otlp::proto::encode_proto_request(&spans_of_batch(
        2,
    )))
    .unwrap();
    let (status, _) = send(
        http.post(&s.otlp_url()).set("Content-Encoding", "gzip"),
        Some(("application/x-protobuf", &gz.finish().unwrap())),
    );
    assert_eq!(status, 200);

    // OTLP/gRPC with tonic's generated client.
    let grpc_addr = format!("http://{}", s.server().otlp_grpc_addr);
    let data = spandb::otlp::proto::to_traces_data(&spans_of_batch(3));
    let reply = s.runtime.block_on(async {
        let mut client = TraceServiceClient::connect(grpc_addr).await.unwrap();
        client
            .export(ExportTraceServiceRequest {
                resource_spans: data.resource_spans,
            })
            .await
            .unwrap()
            .into_inner()
    });
    assert!(reply.partial_success.is_none());

    // Every span is durable and readable, field for field, through Tempo's v2 protobuf.
    for i in 0..4 {
        let expected = spans_of_batch(i);
        let trace = numbered_trace(i, 0);
        let (status, body) = send(
            http.get(&s.query_url(&format!("/api/v2/traces/{trace}")))
                .set("Accept", "application/protobuf"),
            None,
        );
        assert_eq!(status, 200);
        #[derive(prost::Message)]
        struct ByIdResponse {
            #[prost(message, optional, tag = "1")]
            trace: Option<TracesData>,
        }
        let got = ByIdResponse::decode(body.as_slice())
            .unwrap()
            .trace
            .unwrap();
        let mut spans = Vec::new();
        let mut dropped = spandb::otlp::Dropped::default();
        spandb::otlp::proto::decode_traces_data_lenient(got, &mut spans, &mut dropped).unwrap();
        let mut want: Vec<Span> = expected
            .into_iter()
            .filter(|sp| sp.trace_id == trace)
            .collect();
        spans.sort_by_key(|sp| sp.span_id);
        want.sort_by_key(|sp| sp.span_id);
        assert_eq!(spans, want, "batch {i}");
    }
    // Tempo v1 JSON and v2 JSON shapes.
    let trace = numbered_trace(1, 2);
    let (status, body) = send(
        http.get(&s.query_url(&format!("/api/traces/{trace}"))),
        None,
    );
    assert_eq!(status, 200);
    let v1 = json_of(&body);
    assert!(
        v1["batches"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap()
            .len()
            == 5,
        "{v1}"
    );
    let (_, body) = send(
        http.get(&s.query_url(&format!("/api/v2/traces/{trace}"))),
        None,
    );
    assert!(json_of(&body)["trace"]["resourceSpans"].is_array());
    let (status, _) = send(
        http.get(&s.query_url("/api/traces/0000000000000000000000000000abcd")),
        None,
    );
    assert_eq!(status, 404);

    // Search: TraceQL, and the older tags/minDuration form.
    let (status, body) = send(
        http.get(&s.query_url("/api/search"))
            .query(
                "q",
                "{ resource.service.name = \"svc-1\" && status = error }",
            )
            .query("limit", "50"),
        None,
    );
    assert_eq!(status, 200);
    let found = json_of(&body);
    let traces = found["traces"].as_array().unwrap();
    // Batch 1 is svc-1's; spans 0, 7 and 14 are errors, in traces 0, 3 and 2.
    assert_eq!(traces.len(), 3, "{found}");
    assert!(traces.iter().all(|t| t["rootServiceName"].is_string()));
    let (_, body) = send(
        http.get(&s.query_url("/api/search"))
            .query("tags", "service.name=svc-0 batch=3")
            .query("minDuration", "1ms"),
        None,
    );
    assert_eq!(json_of(&body)["traces"].as_array().unwrap().len(), 4);

    // Tags for completion: names per scope, values typed; the same from unsealed spans
    // (memory) and from sealed blocks (footers and attribute streams).
    for sealed in [false, true] {
        if sealed {
            s.db.flush().unwrap();
            assert!(s.db.stats().unwrap().blocks > 0);
        }
        let (_, body) = send(http.get(&s.query_url("/api/v2/search/tags")), None);
        let scopes = json_of(&body);
        assert_eq!(
            scopes["scopes"][0]["tags"],
            serde_json::json!(["batch"]),
            "{scopes}"
        );
        assert_eq!(
            scopes["scopes"][1]["tags"],
            serde_json::json!(["service.name"]),
            "{scopes}"
        );
        let (_, body) = send(http.get(&s.query_url("/api/search/tags")), None);
        assert_eq!(
            json_of(&body)["tagNames"],
            serde_json::json!(["batch", "service.name"])
        );
        let (_, body) = send(
            http.get(&s.query_url("/api/v2/search/tag/resource.service.name/values")),
            None,
        );
        let values = json_of(&body);
        assert_eq!(values["tagValues"].as_array().unwrap().len(), 3, "{values}");
        assert_eq!(
            values["tagValues"][0],
            serde_json::json!({"type": "string", "value": "svc-0"})
        );
        let (_, body) = send(
            http.get(&s.query_url("/api/v2/search/tag/span.batch/values")),
            None,
        );
        let values = json_of(&body);
        assert_eq!(values["tagValues"].as_array().unwrap().len(), 4, "{values}");
        assert_eq!(
            values["tagValues"][0],
            serde_json::json!({"type": "int", "value": "0"})
        );
        let (_, body) = send(http.get(&s.query_url("/api/search/tag/batch/values")), None);
        assert_eq!(
            json_of(&body)["tagValues"],
            serde_json::json!(["0", "1", "2", "3"])
        );
        let (_, body) = send(
            http.get(&s.query_url("/api/v2/search/tag/name/values")),
            None,
        );
        assert_eq!(json_of(&body)["tagValues"].as_array().unwrap().len(), 5);
    }

    // Metrics over the data: 80 spans per minute at most, all in one minute.
    let (status, body) = send(
        http.get(&s.query_url("/api/metrics/query_range"))
            .query("q", "{ } | count_over_time()")
            .query("start", &(T0 / 1_000_000_000 - 60).to_string())
            .query("end", &(T0 / 1_000_000_000 + 120).to_string())
            .query("step", "60s"),
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let series = json_of(&body);
    let total: f64 = series["series"][0]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 80.0, "{series}");

    // Exemplars: sample spans on the series they count in, each a real span of its trace.
    let (status, body) = send(
        http.get(&s.query_url("/api/metrics/query_range"))
            .query(
                "q",
                "{ } | quantile_over_time(duration, .9) by (resource.service.name)",
            )
            .query("start", &(T0 / 1_000_000_000 - 60).to_string())
            .query("end", &(T0 / 1_000_000_000 + 120).to_string())
            .query("step", "60s")
            .query("exemplars", "12"),
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let with = json_of(&body);
    let mut seen = 0;
    for series in with["series"].as_array().unwrap() {
        let service = series["labels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["key"] == "resource.service.name")
            .map(|l| l["value"]["stringValue"].as_str().unwrap().to_owned())
            .unwrap();
        for e in series["exemplars"].as_array().into_iter().flatten() {
            seen += 1;
            let trace_id = e["labels"][0]["value"]["stringValue"].as_str().unwrap();
            let span_id = e["labels"][1]["value"]["stringValue"].as_str().unwrap();
            let (status, body) = send(
                http.get(&s.query_url(&format!("/api/traces/{trace_id}"))),
                None,
            );
            assert_eq!(status, 200);
            let trace = String::from_utf8_lossy(&body).into_owned();
            assert!(
                trace.contains(&service),
                "exemplar {e} of {service}: {trace}"
            );
            assert!(trace.contains(span_id), "span {span_id} in {trace}");
            assert!(e["value"].as_f64().unwrap() > 0.0, "{e}");
        }
    }
    assert!((1..=12).contains(&seen), "{with}");

    // The same count asked by the query's hint instead of the request.
    let exemplar_count = |q: &str| {
        let (status, body) = send(
            http.get(&s.query_url("/api/metrics/query_range"))
                .query("q", q)
                .query("start", &(T0 / 1_000_000_000 - 60).to_string())
                .query("end", &(T0 / 1_000_000_000 + 120).to_string())
                .query("step", "60s"),
            None,
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        json_of(&body)["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["exemplars"].as_array().map_or(0, Vec::len))
            .sum::<usize>()
    };
    let by = "{ } | quantile_over_time(duration, .9) by (resource.service.name)";
    assert_eq!(exemplar_count(&format!("{by} with(exemplars = 12)")), seen);
    assert_eq!(exemplar_count(&format!("{by} with(exemplars = false)")), 0);
    assert_eq!(exemplar_count(by), 0);

    // Jaeger: services, operations, a search, a trace.
    let (_, body) = send(http.get(&s.query_url("/jaeger/api/services")), None);
    assert_eq!(
        json_of(&body)["data"],
        serde_json::json!(["svc-0", "svc-1", "svc-2"])
    );
    let (_, body) = send(
        http.get(&s.query_url("/jaeger/api/services/svc-0/operations")),
        None,
    );
    assert_eq!(
        json_of(&body)["data"],
        serde_json::json!(["op-0", "op-1", "op-2", "op-3", "op-4"])
    );
    let (_, body) = send(
        http.get(&s.query_url("/jaeger/api/traces"))
            .query("service", "svc-0")
            .query("tags", r#"{"error":"true"}"#)
            .query("limit", "10"),
        None,
    );
    let jt = json_of(&body);
    // Batches 0 and 3 are svc-0's, each with errors in three traces.
    assert_eq!(jt["data"].as_array().unwrap().len(), 6, "{jt}");
    let (_, body) = send(
        http.get(&s.query_url(&format!("/jaeger/api/traces/{}", numbered_trace(0, 1)))),
        None,
    );
    let one = json_of(&body);
    assert_eq!(one["data"][0]["spans"].as_array().unwrap().len(), 5);
    assert_eq!(one["data"][0]["processes"]["p1"]["serviceName"], "svc-0");

    // Operations metrics were recorded.
    let (_, body) = send(http.get(&s.query_url("/metrics")), None);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("spandb_spans_written_total 80"), "{text}");
    assert!(text.contains("endpoint=\"/api/search\""), "{text}");

    // Graceful shutdown: everything acknowledged is still there after a reopen.
    s.shutdown();
    let path = s.db.path().to_owned();
    s.db.close().unwrap();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s); // the last handles on the database go with the runtime
    let reopened = spandb::Db::open_existing(&path, Options::new()).unwrap();
    assert_eq!(reopened.stats().unwrap().spans, 80);
    drop(dir);
}

#[test]
fn bad_requests_get_clear_errors() {
    let config = ServerConfig {
        max_body_bytes: 64 * 1024,
        ..ServerConfig::ephemeral()
    };
    let mut s = Running::start(config);
    let http = agent();
    let post = |ct: &str, body: &[u8]| send(http.post(&s.otlp_url()), Some((ct, body)));

    let (status, body) = post(
        "application/json",
        b"{\"resourceSpans\": [{\"scopeSpans\": 7}]}",
    );
    assert_eq!(status, 400);
    assert!(json_of(&body)["message"]
        .as_str()
        .unwrap()
        .contains("OTLP JSON"));
    let (status, body) = post("application/x-protobuf", b"\xff\xff\xff\xff");
    assert_eq!(status, 400);
    assert!(!body.is_empty());
    assert_eq!(post("text/plain", b"hello").0, 415);
    assert_eq!(post("application/json", &vec![b' '; 100 * 1024]).0, 413);
    // A gzip bomb: 64 KiB of body that inflates past the limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b' '; 10 << 20]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 64 * 1024);
    let (status, _) = send(
        http.post(&s.otlp_url()).set("Content-Encoding", "gzip"),
        Some(("application/json", &bomb)),
    );
    assert_eq!(status, 413);
    assert_eq!(
        send(
            http.post(&s.otlp_url()).set("Content-Encoding", "br"),
            Some(("application/json", b"{}"))
        )
        .0,
        415
    );
    // A span without ids is dropped and reported in partial_success; the rest is kept.
    let (status, body) = post(
        "application/json",
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"kept","startTimeUnixNano":"1","endTimeUnixNano":"2"},
            {"traceId":"","spanId":"","name":"dropped"}]}]}]}"#,
    );
    assert_eq!(status, 200);
    let partial = json_of(&body);
    assert_eq!(partial["partialSuccess"]["rejectedSpans"], "1", "{partial}");

    let get = |path: &str| send(http.get(&s.query_url(path)), None);
    let (status, body) = get("/api/traces/not-hex");
    assert_eq!(status, 400);
    assert!(json_of(&body)["error"]
        .as_str()
        .unwrap()
        .contains("hexadecimal"));
    let (status, body) = send(
        http.get(&s.query_url("/api/search"))
            .query("q", "{ status = "),
        None,
    );
    assert_eq!(status, 400);
    let message = json_of(&body)["error"].as_str().unwrap().to_owned();
    assert!(message.contains("column"), "{message}");
    let db_path = s.db.path().to_string_lossy().into_owned();
    assert!(!message.contains(&db_path), "no paths in errors: {message}");
    assert_eq!(get("/api/search?start=10&end=5").0, 400);
    assert_eq!(get("/api/metrics/query_range?q={}&step=0").0, 400);
    assert_eq!(get("/jaeger/api/traces").0, 400);
    assert_eq!(get("/nothing/here").0, 404);
    s.shutdown();
}

#[test]
fn tokens_guard_queries_and_ingest() {
    let config = ServerConfig {
        query_token: Some("q-secret".into()),
        ingest_token: Some("i-secret".into()),
        ..ServerConfig::ephemeral()
    };
    let mut s = Running::start(config);
    let http = agent();
    let json = spandb::otlp::json::encode_json_request(&spans_of_batch(0)).to_string();
    let ingest = |token: Option<&str>| {
        let mut r = http.post(&s.otlp_url());
        if let Some(t) = token {
            r = r.set("Authorization", &format!("Bearer {t}"));
        }
        send(r, Some(("application/json", json.as_bytes()))).0
    };
    assert_eq!(ingest(None), 401);
    // The refused body was not read: the answer tells the client not to reuse the connection.
    let (status, headers, _) = send_full(
        http.post(&s.otlp_url()),
        Some(("application/json", json.as_bytes())),
    );
    assert_eq!(status, 401);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "connection" && v == "close"),
        "{headers:?}"
    );
    assert_eq!(
        ingest(Some("q-secret")),
        401,
        "the query token does not allow ingest"
    );
    assert_eq!(ingest(Some("i-secret")), 200);
    let search = |token: Option<&str>| {
        let mut r = http.get(&s.query_url("/api/search")).query("q", "{ }");
        if let Some(t) = token {
            r = r.set("Authorization", &format!("Bearer {t}"));
        }
        send(r, None).0
    };
    assert_eq!(search(None), 401);
    assert_eq!(search(Some("i-secret")), 401);
    assert_eq!(search(Some("q-secret")), 200);
    assert_eq!(
        send(http.get(&s.query_url("/ready")), None).0,
        200,
        "probes stay open"
    );
    // gRPC without the token is refused.
    let grpc_addr = format!("http://{}", s.server().otlp_grpc_addr);
    let code = s.runtime.block_on(async {
        let mut client = TraceServiceClient::connect(grpc_addr).await.unwrap();
        client
            .export(ExportTraceServiceRequest::default())
            .await
            .unwrap_err()
            .code()
    });
    assert_eq!(code, tonic::Code::Unauthenticated);
    s.shutdown();
}

#[test]
fn exposed_without_a_token_does_not_start() {
    let config = ServerConfig {
        query_addr: "0.0.0.0:0".parse().unwrap(),
        ..ServerConfig::ephemeral()
    };
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Options::new().open(dir.path()).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime.block_on(Server::start(db, config)).err().unwrap();
    assert!(err.to_string().contains("loopback"), "{err}");
}
