//! A load generator for `spandb serve`: measures OTLP ingest and query latency over loopback.
//!
//! Ingest: reads spans from an OTLP JSON lines file (benches/gen_spans.py writes them), cuts
//! them into requests of `--batch` spans, encodes every request as a protobuf
//! `ExportTraceServiceRequest` up front, then sends them all over `--connections`
//! keep-alive connections, to OTLP/HTTP (`--http URL`) or OTLP/gRPC (`--grpc URL`, one
//! HTTP/2 connection per client). A refused request (429 / `Unavailable`) is retried after
//! a short pause and counted. Prints spans/s acknowledged and request latency p50/p99.
//! `--write-proto FILE` writes the same requests, each behind a 4-byte big-endian length,
//! for `spandb import --format otlp-proto FILE`: the in-process import of the same bytes.
//!
//! Queries: `--query URL --seconds S` alternates Tempo's trace by id (ids from the file)
//! and searches over `--connections` clients for S seconds and prints p50/p99 of each.
//!
//! ```sh
//! cargo build -p spandb-server --release --examples
//! target/release/examples/otlp_load --spans spans.jsonl --http http://127.0.0.1:4318/v1/traces --connections 8
//! target/release/examples/otlp_load --spans spans.jsonl --grpc http://127.0.0.1:4317 --connections 8
//! target/release/examples/otlp_load --spans spans.jsonl --query http://127.0.0.1:3200 --seconds 10
//! ```

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use spandb::{Span, TraceId};

struct Args {
    spans: PathBuf,
    batch: usize,
    connections: usize,
    http: Option<String>,
    grpc: Option<String>,
    query: Option<String>,
    seconds: u64,
    write_proto: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: otlp_load --spans FILE [--batch N] [--connections N] \
         (--http URL | --grpc URL | --query URL [--seconds S] | --write-proto FILE)"
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut a = Args {
        spans: PathBuf::new(),
        batch: 500,
        connections: 8,
        http: None,
        grpc: None,
        query: None,
        seconds: 10,
        write_proto: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        let number = |v: String| v.parse::<usize>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--spans" => a.spans = value().into(),
            "--batch" => a.batch = number(value()).max(1),
            "--connections" => a.connections = number(value()).max(1),
            "--http" => a.http = Some(value()),
            "--grpc" => a.grpc = Some(value()),
            "--query" => a.query = Some(value()),
            "--seconds" => a.seconds = number(value()) as u64,
            "--write-proto" => a.write_proto = Some(value().into()),
            _ => usage(),
        }
    }
    if a.spans.as_os_str().is_empty() {
        usage()
    }
    a
}

/// Latencies of one kind of request, in microseconds.
#[derive(Default)]
struct Latencies(Mutex<Vec<u64>>);

impl Latencies {
    fn add(&self, d: Duration) {
        if let Ok(mut v) = self.0.lock() {
            v.push(d.as_micros() as u64);
        }
    }
    /// `count p50 p99` in milliseconds.
    fn summary(&self) -> String {
        let mut v = self.0.lock().map(|v| v.clone()).unwrap_or_default();
        v.sort_unstable();
        let q = |p: f64| {
            v.get(((v.len() as f64 - 1.0) * p).round() as usize)
                .map_or(0.0, |us| *us as f64 / 1e3)
        };
        format!(
            "requests={} p50={:.2}ms p99={:.2}ms",
            v.len(),
            q(0.5),
            q(0.99)
        )
    }
}

fn main() {
    let a = args();
    let started = Instant::now();
    let spans = spandb_testkit::load_json_lines(&a.spans).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    if let Some(base) = &a.query {
        let mut ids: Vec<TraceId> = spans.iter().map(|s| s.trace_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let services: Vec<String> = {
            let mut s: Vec<String> = spans.iter().map(|s| s.service().to_owned()).collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        drop(spans);
        return queries(base, &ids, &services, &a);
    }
    let bodies: Vec<(usize, Vec<u8>)> = spans
        .chunks(a.batch)
        .map(|c| (c.len(), spandb::otlp::proto::encode_proto_request(c)))
        .collect();
    let total: usize = spans.len();
    drop::<Vec<Span>>(spans);
    eprintln!(
        "{total} spans in {} requests of <= {} spans, {:.1} MB of protobuf, prepared in {:.1}s",
        bodies.len(),
        a.batch,
        bodies.iter().map(|(_, b)| b.len()).sum::<usize>() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &a.write_proto {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        for (_, b) in &bodies {
            out.write_all(&(b.len() as u32).to_be_bytes()).unwrap();
            out.write_all(b).unwrap();
        }
        out.flush().unwrap();
        return;
    }
    // gRPC clients send messages, not bytes: build them before the clock starts.
    let messages: Arc<Vec<(usize, ExportTraceServiceRequest)>> = Arc::new(if a.grpc.is_some() {
        bodies
            .iter()
            .map(|(n, b)| (*n, prost::Message::decode(b.as_slice()).unwrap()))
            .collect()
    } else {
        Vec::new()
    });
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Latencies::default());
    let t0 = Instant::now();
    let what = if let Some(url) = &a.http {
        let threads: Vec<_> = (0..a.connections)
            .map(|_| {
                let (bodies, next, acked, refused, failed, latencies, url) = (
                    bodies.clone(),
                    next.clone(),
                    acked.clone(),
                    refused.clone(),
                    failed.clone(),
                    latencies.clone(),
                    url.clone(),
                );
                std::thread::spawn(move || {
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(60))
                        .max_idle_connections_per_host(1)
                        .build();
                    while let Some((n, body)) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                        loop {
                            let sent = Instant::now();
                            let r = agent
                                .post(&url)
                                .set("Content-Type", "application/x-protobuf")
                                .send_bytes(body);
                            match r {
                                Ok(_) => {
                                    latencies.add(sent.elapsed());
                                    acked.fetch_add(*n, Ordering::Relaxed);
                                    break;
                                }
                                Err(ureq::Error::Status(429 | 503, _)) => {
                                    refused.fetch_add(1, Ordering::Relaxed);
                                    std::thread::sleep(Duration::from_millis(20));
                                }
                                Err(e) => {
                                    eprintln!("request failed: {e}");
                                    failed.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        "OTLP/HTTP protobuf"
    } else if let Some(url) = &a.grpc {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..a.connections {
                let channel = tonic::transport::Endpoint::from_shared(url.clone())
                    .unwrap()
                    .connect()
                    .await
                    .unwrap_or_else(|e| {
                        eprintln!("cannot connect to {url}: {e}");
                        std::process::exit(1)
                    });
                let (messages, next, acked, refused, failed, latencies) = (
                    messages.clone(),
                    next.clone(),
                    acked.clone(),
                    refused.clone(),
                    failed.clone(),
                    latencies.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let mut client = TraceServiceClient::new(channel);
                    while let Some((n, request)) =
                        messages.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        loop {
                            let sent = Instant::now();
                            match client.export(request.clone()).await {
                                Ok(_) => {
                                    latencies.add(sent.elapsed());
                                    acked.fetch_add(*n, Ordering::Relaxed);
                                    break;
                                }
                                Err(s) if s.code() == tonic::Code::Unavailable => {
                                    refused.fetch_add(1, Ordering::Relaxed);
                                    tokio::time::sleep(Duration::from_millis(20)).await;
                                }
                                Err(s) => {
                                    eprintln!("export failed: {s}");
                                    failed.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        "OTLP/gRPC"
    } else {
        usage()
    };
    let secs = t0.elapsed().as_secs_f64();
    let acked = acked.load(Ordering::Relaxed);
    println!(
        "{what}: connections={} acked_spans={acked} of {total} seconds={secs:.2} \
         spans_per_s={:.0} refused={} failed={} {}",
        a.connections,
        acked as f64 / secs,
        refused.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        latencies.summary()
    );
    if failed.load(Ordering::Relaxed) > 0 || acked != total {
        std::process::exit(1);
    }
}

/// Trace by id and search latency for `--seconds`, over Tempo's API.
fn queries(base: &str, ids: &[TraceId], services: &[String], a: &Args) {
    let by_id = Arc::new(Latencies::default());
    let search = Arc::new(Latencies::default());
    let failed = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let threads: Vec<_> = (0..a.connections)
        .map(|c| {
            let (by_id, search, failed) = (by_id.clone(), search.clone(), failed.clone());
            let base = base.trim_end_matches('/').to_owned();
            let ids: Vec<TraceId> = ids.iter().skip(c).step_by(a.connections).copied().collect();
            let services = services.to_vec();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(60))
                    .build();
                let mut i = 0usize;
                while Instant::now() < deadline {
                    let id = ids[i % ids.len().max(1)];
                    let sent = Instant::now();
                    match agent.get(&format!("{base}/api/traces/{id}")).call() {
                        Ok(_) => by_id.add(sent.elapsed()),
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let service = &services[i % services.len().max(1)];
                    let q = match i % 3 {
                        0 => format!("{{ resource.service.name = \"{service}\" }}"),
                        1 => {
                            format!("{{ resource.service.name = \"{service}\" && status = error }}")
                        }
                        _ => "{ duration > 500ms }".to_owned(),
                    };
                    let sent = Instant::now();
                    match agent
                        .get(&format!("{base}/api/search"))
                        .query("q", &q)
                        .query("limit", "20")
                        .call()
                    {
                        Ok(_) => search.add(sent.elapsed()),
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    println!(
        "trace by id: {}\nsearch (limit 20): {}\nfailed={}",
        by_id.summary(),
        search.summary(),
        failed.load(Ordering::Relaxed)
    );
}
