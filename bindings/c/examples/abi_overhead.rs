//! Overhead of the C ABI against the Rust API, on the same data: batched writes from C structs
//! (`spandb_write_spans` vs `Db::write`) and trace lookups (`spandb_trace_get` + free vs
//! `Db::trace`). The C functions are called through the rlib, which is exactly what a C caller
//! runs (the call itself is a plain function call).
//!
//! `cargo run -p spandb-c --release --example abi_overhead [batches] [batch_size]`
// Calls the C ABI from Rust, as a C program would: `unsafe` is the point here.
#![allow(unsafe_code)]
use std::ffi::CString;
use std::ptr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spandb::bench_support::{
    spans_from_c, KeyValue, Options, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId,
    Value,
};
use spandb::*;

const SERVICES: [&str; 4] = ["checkout", "cart", "payments", "inventory"];
const NAMES: [&str; 4] = ["GET /cart", "POST /charge", "SELECT stock", "publish order"];

/// Span `i` of the data set: 8 spans per trace, 4 attributes, one of 4 resources.
fn rust_span(i: u64, resources: &[Arc<Resource>], scope: &Arc<Scope>) -> Span {
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&(i / 8 + 1).to_be_bytes());
    let start = 1_700_000_000_000_000_000 + i * 1_000_000;
    Span {
        trace_id: TraceId(trace),
        span_id: SpanId((i + 1).to_be_bytes()),
        parent_span_id: (i % 8 != 0).then(|| SpanId((i - i % 8 + 1).to_be_bytes())),
        name: NAMES[(i % 4) as usize].to_string(),
        kind: SpanKind::Server,
        start_ns: start,
        end_ns: start + 1_000_000 + (i % 97) * 10_000,
        status_code: if i % 50 == 0 {
            StatusCode::Error
        } else {
            StatusCode::Ok
        },
        resource: resources[(i / 8 % 4) as usize].clone(),
        scope: scope.clone(),
        attributes: vec![
            KeyValue::new("http.method", Value::Str("GET".into())),
            KeyValue::new(
                "http.route",
                Value::Str(format!("/api/v1/items/{}", i % 100)),
            ),
            KeyValue::new("http.response.status_code", Value::Int(200)),
            KeyValue::new("net.peer.port", Value::Int(8080 + (i % 10) as i64)),
        ],
        ..Default::default()
    }
}

fn s(text: &str) -> spandb_str {
    spandb_str::of(text.as_bytes())
}

fn v_str(text: &str) -> spandb_value {
    spandb_value {
        kind: SPANDB_VALUE_STRING,
        string_value: s(text),
        ..spandb_value::EMPTY
    }
}

fn v_int(i: i64) -> spandb_value {
    spandb_value {
        kind: SPANDB_VALUE_INT,
        int_value: i,
        ..spandb_value::EMPTY
    }
}

fn ok(st: spandb_status) {
    assert_eq!(st, spandb_status::SPANDB_OK, "{:?}", unsafe {
        std::ffi::CStr::from_ptr(spandb_last_error_message())
    });
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batches = args.first().copied().unwrap_or(200);
    let batch = args.get(1).copied().unwrap_or(1000);
    let total = batches * batch;

    let resources: Vec<Arc<Resource>> = SERVICES
        .iter()
        .map(|svc| {
            Arc::new(Resource {
                attributes: vec![KeyValue::new("service.name", Value::Str(svc.to_string()))],
                ..Default::default()
            })
        })
        .collect();
    let scope = Arc::new(Scope {
        name: "bench".into(),
        ..Default::default()
    });
    let rust: Vec<Span> = (0..total)
        .map(|i| rust_span(i, &resources, &scope))
        .collect();

    // The same spans as C structs, pointing into the Rust data above.
    let c_res_attrs: Vec<spandb_key_value> = SERVICES
        .iter()
        .map(|svc| spandb_key_value {
            key: s("service.name"),
            value: v_str(svc),
        })
        .collect();
    let c_resources: Vec<spandb_resource> = c_res_attrs
        .iter()
        .map(|kv| spandb_resource {
            attributes: kv,
            attributes_len: 1,
            dropped_attributes_count: 0,
            schema_url: spandb_str::EMPTY,
        })
        .collect();
    let c_scope = spandb_scope {
        name: s("bench"),
        version: spandb_str::EMPTY,
        attributes: ptr::null(),
        attributes_len: 0,
        dropped_attributes_count: 0,
        schema_url: spandb_str::EMPTY,
    };
    let c_attrs: Vec<[spandb_key_value; 4]> = rust
        .iter()
        .map(|sp| {
            let route = match &sp.attributes[1].value {
                Value::Str(r) => r.as_str(),
                _ => unreachable!(),
            };
            let port = match sp.attributes[3].value {
                Value::Int(p) => p,
                _ => unreachable!(),
            };
            [
                spandb_key_value {
                    key: s("http.method"),
                    value: v_str("GET"),
                },
                spandb_key_value {
                    key: s("http.route"),
                    value: v_str(route),
                },
                spandb_key_value {
                    key: s("http.response.status_code"),
                    value: v_int(200),
                },
                spandb_key_value {
                    key: s("net.peer.port"),
                    value: v_int(port),
                },
            ]
        })
        .collect();
    let c_spans: Vec<spandb_span> = rust
        .iter()
        .zip(&c_attrs)
        .enumerate()
        .map(|(i, (sp, attrs))| spandb_span {
            trace_id: sp.trace_id.0,
            span_id: sp.span_id.0,
            parent_span_id: sp.parent_span_id.map(|p| p.0).unwrap_or([0; 8]),
            trace_state: spandb_str::EMPTY,
            flags: 0,
            name: s(&sp.name),
            kind: sp.kind as u32,
            start_ns: sp.start_ns,
            end_ns: sp.end_ns,
            status_code: sp.status_code as u32,
            status_message: spandb_str::EMPTY,
            resource: &c_resources[i / 8 % 4],
            scope: &c_scope,
            attributes: attrs.as_ptr(),
            attributes_len: 4,
            dropped_attributes_count: 0,
            events: ptr::null(),
            events_len: 0,
            dropped_events_count: 0,
            links: ptr::null(),
            links_len: 0,
            dropped_links_count: 0,
        })
        .collect();
    // Same data check: the converter turns the C structs into exactly the Rust spans.
    let converted = unsafe { spans_from_c(c_spans.as_ptr(), c_spans.len()) }
        .map_err(|e| e.message)
        .unwrap();
    assert_eq!(converted, rust);
    drop(converted);

    let tmp = tempfile::tempdir().unwrap();
    let rust_db = Options::new().open(tmp.path().join("rust")).unwrap();
    let path = CString::new(tmp.path().join("c").to_str().unwrap()).unwrap();
    let mut c_db = ptr::null_mut();
    ok(unsafe { spandb_open(path.as_ptr(), ptr::null(), &mut c_db) });

    // Writes, batch by batch, alternating which API goes first.
    let (mut t_rust, mut t_c) = (Duration::ZERO, Duration::ZERO);
    for b in 0..batches as usize {
        let range = b * batch as usize..(b + 1) * batch as usize;
        let run_rust = |t: &mut Duration| {
            let start = Instant::now();
            // A Rust caller hands over owned spans; building them is part of its cost as
            // converting C structs is part of the C caller's.
            rust_db.write(rust[range.clone()].to_vec()).unwrap();
            *t += start.elapsed();
        };
        let run_c = |t: &mut Duration| {
            let start = Instant::now();
            ok(unsafe { spandb_write_spans(c_db, c_spans[range.clone()].as_ptr(), range.len()) });
            *t += start.elapsed();
        };
        if b % 2 == 0 {
            run_rust(&mut t_rust);
            run_c(&mut t_c);
        } else {
            run_c(&mut t_c);
            run_rust(&mut t_rust);
        }
    }
    let per = |d: Duration, n: u64| d.as_nanos() as f64 / n as f64;
    println!("write {total} spans in batches of {batch}:");
    println!(
        "  Rust Db::write          {:8.0} ns/span",
        per(t_rust, total)
    );
    println!(
        "  C spandb_write_spans    {:8.0} ns/span   ratio C/Rust = {:.3}",
        per(t_c, total),
        t_c.as_secs_f64() / t_rust.as_secs_f64()
    );

    rust_db.flush().unwrap();
    ok(spandb_flush(c_db));
    let traces: Vec<TraceId> = (0..total / 8)
        .step_by(((total / 8) / 2000).max(1) as usize)
        .map(|t| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(t + 1).to_be_bytes());
            TraceId(id)
        })
        .collect();
    let (mut t_rust, mut t_c) = (Duration::ZERO, Duration::ZERO);
    for (i, id) in traces.iter().enumerate() {
        let run_rust = |t: &mut Duration| {
            let start = Instant::now();
            let spans = rust_db.trace(id).unwrap();
            assert_eq!(spans.len(), 8);
            *t += start.elapsed();
        };
        let run_c = |t: &mut Duration| {
            let start = Instant::now();
            let mut view = ptr::null_mut();
            ok(unsafe { spandb_trace_get(c_db, id.0.as_ptr(), &mut view) });
            assert_eq!(unsafe { (*view).span_count }, 8);
            ok(unsafe { spandb_trace_free(view) });
            *t += start.elapsed();
        };
        if i % 2 == 0 {
            run_rust(&mut t_rust);
            run_c(&mut t_c);
        } else {
            run_c(&mut t_c);
            run_rust(&mut t_rust);
        }
    }
    let n = traces.len() as u64;
    println!("trace lookup ({n} traces of 8 spans, sealed):");
    println!("  Rust Db::trace          {:8.0} ns/trace", per(t_rust, n));
    println!(
        "  C spandb_trace_get+free {:8.0} ns/trace   ratio C/Rust = {:.3}",
        per(t_c, n),
        t_c.as_secs_f64() / t_rust.as_secs_f64()
    );
    ok(spandb_db_free(c_db));
    rust_db.close().unwrap();
}
