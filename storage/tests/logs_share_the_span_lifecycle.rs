//! Log records go through the span machinery: the log (replayed on reopen), the memtable
//! (visible at once), the sealer (a log block beside the span block, one catalog batch), the
//! trace index, compaction, retention and check, and a damaged log block is quarantined.

use std::sync::Arc;

use spandb_storage::{
    Durability, KeyValue, LogRecord, Options, Resource, Scope, SpanId, TraceId, Value,
};
use spandb_testkit::{numbered_batch, numbered_trace};

fn logs_of(i: u64, per: u64, t0: u64) -> Vec<LogRecord> {
    let res = Arc::new(Resource {
        attributes: vec![KeyValue::new(
            "service.name",
            Value::Str(format!("svc{}", i % 3)),
        )],
        ..Resource::default()
    });
    let scope = Arc::new(Scope::default());
    (0..per)
        .map(|k| LogRecord {
            time_ns: t0 + i * 1_000_000 + k,
            observed_time_ns: t0 + i * 1_000_000 + k + 5,
            severity_number: if k % 4 == 0 { 17 } else { 9 },
            severity_text: String::new(),
            body: Value::Str(format!("batch {i} record {k} timeout after {k}ms")),
            attributes: vec![KeyValue::new("k", Value::Int((k % 3) as i64))],
            dropped_attributes_count: 0,
            flags: 1,
            trace_id: if k % 5 == 4 {
                TraceId::default()
            } else {
                numbered_trace(i, 0)
            },
            span_id: SpanId([k as u8 + 1; 8]),
            event_name: String::new(),
            resource: res.clone(),
            scope: scope.clone(),
        })
        .collect()
}

fn opts() -> Options {
    Options::new()
        .durability(Durability::Sync)
        .block_max_spans(400)
        .compact_below_spans(1000)
        .maintenance_interval(None)
}

#[test]
fn logs_are_logged_sealed_indexed_compacted_retained_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000_000_000u64;
    let trace = numbered_trace(3, 0);
    {
        let db = opts().open(dir.path()).unwrap();
        for i in 0..10 {
            db.write(numbered_batch(i, 20, t0 + i * 1_000_000, 1000))
                .unwrap();
            db.write_logs(logs_of(i, 30, t0)).unwrap();
        }
        // Visible before sealing; 24 of batch 3's 30 records carry its trace id.
        let snap = db.snapshot().unwrap();
        assert_eq!(snap.trace_logs(&trace).unwrap().len(), 24);
        drop(snap);
        db.close().unwrap();
    }
    // Reopen replays the unsealed records from the log.
    let db = opts().open(dir.path()).unwrap();
    assert_eq!(db.stats().unwrap().logs, 300);
    assert_eq!(db.snapshot().unwrap().trace_logs(&trace).unwrap().len(), 24);
    db.flush().unwrap();
    let snap = db.snapshot().unwrap();
    let log_blocks = snap.log_blocks().count();
    assert!(log_blocks >= 2, "{log_blocks} log blocks");
    assert_eq!(snap.unsealed_log_count(), 0);
    let mut got = snap.trace_logs(&trace).unwrap();
    got.sort_by_key(|l| l.time_ns);
    let mut want: Vec<LogRecord> = logs_of(3, 30, t0)
        .into_iter()
        .filter(|l| l.trace() == Some(trace))
        .collect();
    want.sort_by_key(|l| l.time_ns);
    assert_eq!(got, want, "sealed records come back field for field");
    drop(snap);
    let report = db.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.logs_checked, 300);
    // Compaction merges the small log blocks too.
    let c = db.compact().unwrap();
    assert_eq!(c.logs_rewritten, 300);
    let snap = db.snapshot().unwrap();
    assert_eq!(snap.log_blocks().count(), 1);
    assert_eq!(snap.trace_logs(&trace).unwrap().len(), 24);
    drop(snap);
    assert!(db.check().unwrap().is_ok());
    // Retention drops log blocks past the horizon like span blocks.
    let r = db.retain_since(u64::MAX).unwrap();
    assert_eq!(r.logs_dropped, 300);
    assert_eq!(db.stats().unwrap().logs, 0);
    assert!(db
        .snapshot()
        .unwrap()
        .trace_logs(&trace)
        .unwrap()
        .is_empty());
    assert!(db.check().unwrap().is_ok());
}

#[test]
fn a_damaged_log_block_is_reported_and_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let db = opts().open(dir.path()).unwrap();
    db.write_logs(logs_of(1, 50, 1_000_000_000)).unwrap();
    db.flush().unwrap();
    let path = db
        .snapshot()
        .unwrap()
        .log_blocks()
        .next()
        .unwrap()
        .path()
        .to_owned();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let report = db.check().unwrap();
    assert!(!report.is_ok());
    let repaired = db.repair().unwrap();
    assert_eq!(repaired.logs_lost, 50);
    assert!(db.check().unwrap().is_ok());
}

#[test]
fn log_records_and_their_source_positions_are_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000_000_000u64;
    let source = "kafka/spandb/otlp_logs/1";
    {
        let db = opts().open(dir.path()).unwrap();
        db.write_logs_with_sources(logs_of(0, 10, t0), &[(source.into(), 4)])
            .unwrap();
        // A batch of skipped messages: only the position moves.
        db.write_logs_with_sources(Vec::new(), &[(source.into(), 6)])
            .unwrap();
        assert_eq!(
            db.source_positions("kafka/").unwrap(),
            vec![(source.to_owned(), 6)]
        );
        // Bad records are refused whole: neither the records nor the position are stored.
        let mut bad = logs_of(1, 3, t0);
        bad[2].severity_number = 99;
        assert!(db
            .write_logs_with_sources(bad, &[(source.into(), 9)])
            .is_err());
        db.close().unwrap();
    }
    // The log replays records and positions together.
    let db = opts().open(dir.path()).unwrap();
    assert_eq!(
        db.source_positions("kafka/").unwrap(),
        vec![(source.to_owned(), 6)]
    );
    assert_eq!(db.stats().unwrap().logs, 10);
    db.close().unwrap();
}
