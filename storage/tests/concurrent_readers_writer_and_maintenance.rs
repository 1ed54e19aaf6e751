//! Stress: one writer, three readers (trace lookups; full and filtered scans with stats on one
//! snapshot; `stats`) and a maintenance thread (`compact`, `check`) against a database whose
//! background worker compacts and applies retention every 100 ms, with tiny blocks.
//!
//! Every batch is written whole with a known shape ([`common::numbered_batch`]), so each read
//! is checked against what was written: a snapshot holds a batch entirely or not at all, holds
//! every batch acknowledged before it was taken (except old batches retention may drop, which
//! then go whole) and none started after it; filtered scans agree with the full scan of the same
//! snapshot; counts never go backwards. A watchdog fails the test when a thread stops making
//! progress (deadlock) and when RSS (from /proc/self/status) passes 1 GiB.
//!
//! Runs 12 s by default; `SPANDB_STRESS_SECS=600 cargo test --release -p spandb-storage --test
//! concurrent_readers_writer_and_maintenance -- --nocapture` for a long run.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spandb_storage::{Db, Durability, Options, ScanFilter, Snapshot, Span};
use spandb_testkit::Rng;

const PER: u64 = 16;
/// Spans per block: the builder seals itself at this size; the flusher's blocks are smaller
/// and compaction merges them (up to this size).
const BLOCK: u64 = 256;
const DAY: u64 = 86_400 * 1_000_000_000;
/// The writer stops adding batches here, so long runs keep scans affordable.
const MAX_BATCHES: u64 = 20_000;

/// Runs of 64 batches; every third run is 10 days old, past the 7-day retention.
fn is_old(i: u64) -> bool {
    (i / 64) % 3 == 0
}

struct Shared {
    db: Db,
    base_ns: u64,
    /// Batches whose `write` has begun / returned.
    started: AtomicU64,
    acked: AtomicU64,
    stop: AtomicBool,
    ops: [AtomicU64; N],
    /// Merges the maintenance thread's `compact` calls did (the background worker does more).
    merges: AtomicU64,
}

const N: usize = 6;
const OP_NAMES: [&str; N] = [
    "writes",
    "trace lookups",
    "snapshot scans",
    "stats",
    "compact+check",
    "flushes",
];

impl Shared {
    fn batch(&self, i: u64) -> Vec<Span> {
        let at = if is_old(i) {
            self.base_ns - 10 * DAY + i * 1_000_000
        } else {
            self.base_ns + i * 1_000_000
        };
        common::numbered_batch(i, PER, at)
    }
    fn new_batches_below(&self, n: u64) -> u64 {
        (0..n).filter(|i| !is_old(*i)).count() as u64
    }
    fn tick(&self, op: usize) {
        self.ops[op].fetch_add(1, Ordering::Relaxed);
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn writer(sh: &Shared) {
    let mut i = 0;
    while !sh.stop.load(Ordering::Acquire) {
        if i >= MAX_BATCHES {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        sh.started.store(i + 1, Ordering::Release);
        sh.db.write(sh.batch(i)).unwrap();
        sh.acked.store(i + 1, Ordering::Release);
        i += 1;
        sh.tick(0);
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Seals whatever the builder holds every 15 ms: blocks smaller than `BLOCK`, for compaction.
fn flusher(sh: &Shared) {
    while !sh.stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(15));
        sh.db.flush().unwrap();
        sh.tick(5);
    }
}

fn trace_reader(sh: &Shared) {
    let mut rng = Rng(0x1234_5678);
    while !sh.stop.load(Ordering::Acquire) {
        let acked = sh.acked.load(Ordering::Acquire);
        if acked == 0 {
            std::thread::yield_now();
            continue;
        }
        let i = rng.next(acked);
        let t = rng.next(4);
        let got = common::sorted(sh.db.trace(&spandb_testkit::numbered_trace(i, t)).unwrap());
        let want: Vec<Span> = common::sorted(
            sh.batch(i)
                .into_iter()
                .filter(|s| s.trace_id == spandb_testkit::numbered_trace(i, t))
                .collect(),
        );
        if is_old(i) {
            assert!(
                got.is_empty() || got == want,
                "old batch {i} trace {t}: {} spans",
                got.len()
            );
        } else {
            assert_eq!(got, want, "acknowledged batch {i} trace {t}");
        }
        // A batch not yet started must be invisible.
        let future = sh.started.load(Ordering::Acquire) + 1;
        let got = sh
            .db
            .trace(&spandb_testkit::numbered_trace(future, 0))
            .unwrap();
        if future >= sh.started.load(Ordering::Acquire) {
            assert!(got.is_empty(), "batch {future} seen before it was written");
        }
        sh.tick(1);
        if sh.ops[1].load(Ordering::Relaxed) % 64 == 0 {
            // Leave the two CI cores to the writer and the maintenance work too.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Checks one snapshot against the writer's counters; returns how many new batches it holds.
fn check_snapshot(sh: &Shared, snap: &Snapshot, acked: u64, started: u64, rng: &mut Rng) -> u64 {
    let all = snap.scan(&ScanFilter::default()).unwrap();
    let mut by_batch: BTreeMap<u64, Vec<Span>> = BTreeMap::new();
    for s in &all {
        by_batch
            .entry(common::batch_of(s))
            .or_default()
            .push(s.clone());
    }
    for (i, spans) in &by_batch {
        assert!(*i < started, "batch {i} visible before its write began");
        assert_eq!(spans.len() as u64, PER, "batch {i} is torn in a snapshot");
        if rng.next(16) == 0 {
            assert_eq!(common::sorted(spans.clone()), common::sorted(sh.batch(*i)));
        }
    }
    for i in 0..acked {
        assert!(
            is_old(i) || by_batch.contains_key(&i),
            "acknowledged batch {i} missing from a later snapshot"
        );
    }
    let st = snap.stats().unwrap();
    assert_eq!(st.spans, all.len() as u64, "stats and scan of one snapshot");
    assert_eq!(st.spans, st.sealed_spans + st.unsealed_spans);
    // Filtered scans on the same snapshot agree with the full scan.
    for _ in 0..3 {
        let lo = sh.base_ns + rng.next(acked.max(1)) * 1_000_000;
        let f = ScanFilter {
            start_ns: (rng.next(2) == 0).then_some(lo),
            end_ns: (rng.next(2) == 0).then_some(lo + 200 * 1_000_000),
            service: (rng.next(2) == 0).then(|| format!("svc-{}", rng.next(3))),
            name: (rng.next(3) == 0).then(|| format!("op-{}", rng.next(5))),
            error_only: rng.next(4) == 0,
            attributes: Vec::new(),
        };
        let got = common::sorted(snap.scan(&f).unwrap());
        let want = common::sorted(all.iter().filter(|s| f.matches(s)).cloned().collect());
        assert_eq!(got.len(), want.len(), "filter {f:?}");
        assert!(got == want, "filter {f:?} differs from the full scan");
    }
    by_batch.keys().filter(|i| !is_old(**i)).count() as u64
}

fn scan_reader(sh: &Shared) {
    let mut rng = Rng(0xdead_beef);
    let mut last_new = 0;
    while !sh.stop.load(Ordering::Acquire) {
        let acked = sh.acked.load(Ordering::Acquire);
        let snap = sh.db.snapshot().unwrap();
        let started = sh.started.load(Ordering::Acquire);
        // Holding the snapshot a while keeps retired blocks pinned under compaction.
        let new = check_snapshot(sh, &snap, acked, started, &mut rng);
        assert!(new >= last_new, "new batches went from {last_new} to {new}");
        last_new = new;
        drop(snap);
        sh.tick(2);
    }
}

fn stats_reader(sh: &Shared) {
    while !sh.stop.load(Ordering::Acquire) {
        let acked = sh.acked.load(Ordering::Acquire);
        let st = sh.db.stats().unwrap();
        let started = sh.started.load(Ordering::Acquire);
        assert_eq!(st.spans % PER, 0, "a torn batch in stats: {st:?}");
        assert!(st.spans >= sh.new_batches_below(acked) * PER, "{st:?}");
        assert!(st.spans <= started * PER, "{st:?}");
        let svc: u64 = st.services.iter().map(|s| s.spans).sum();
        assert_eq!(svc, st.spans, "service counts add up");
        sh.tick(3);
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn maintenance(sh: &Shared) {
    while !sh.stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(40));
        let merges = sh.db.compact().unwrap().merges;
        sh.merges.fetch_add(merges, Ordering::Relaxed);
        let report = sh.db.check().unwrap();
        assert!(report.is_ok(), "check under load: {:?}", report.problems);
        sh.tick(4);
    }
}

#[test]
fn readers_see_consistent_snapshots_under_writes_compaction_and_retention() {
    let secs: u64 = std::env::var("SPANDB_STRESS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let dir = common::scratch_dir();
    let db = Options::new()
        .durability(Durability::GroupCommit {
            interval: Duration::from_millis(5),
        })
        .block_max_spans(BLOCK as usize)
        .compact_below_spans(BLOCK as usize - 1)
        .rows_per_group(16)
        .maintenance_interval(Some(Duration::from_millis(100)))
        .retention(Some(Duration::from_secs(7 * 86_400)))
        .open(dir.path())
        .unwrap();
    let base_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let sh = Arc::new(Shared {
        db,
        base_ns,
        started: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        ops: Default::default(),
        merges: AtomicU64::new(0),
    });
    type Worker = (&'static str, fn(&Shared));
    let workers: [Worker; N] = [
        ("writer", writer),
        ("trace reader", trace_reader),
        ("scan reader", scan_reader),
        ("stats reader", stats_reader),
        ("maintenance", maintenance),
        ("flusher", flusher),
    ];
    let handles: Vec<(&str, JoinHandle<()>)> = workers
        .iter()
        .map(|(name, f)| {
            let sh = sh.clone();
            let f = *f;
            (*name, std::thread::spawn(move || f(&sh)))
        })
        .collect();

    let t0 = Instant::now();
    let mut max_rss = 0;
    let mut last_progress = (Instant::now(), [0u64; N]);
    let stall = Duration::from_secs(30);
    while t0.elapsed() < Duration::from_secs(secs) && handles.iter().all(|h| !h.1.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        max_rss = max_rss.max(rss_kib());
        assert!(max_rss < 1 << 20, "RSS {max_rss} KiB passed 1 GiB");
        let now: [u64; N] = std::array::from_fn(|k| sh.ops[k].load(Ordering::Relaxed));
        if (0..N).all(|k| now[k] > last_progress.1[k]) {
            last_progress = (Instant::now(), now);
        } else if last_progress.0.elapsed() > stall {
            let stuck: Vec<&str> = (0..N)
                .filter(|k| now[*k] == last_progress.1[*k])
                .map(|k| OP_NAMES[k])
                .collect();
            panic!("no progress in {stuck:?} for {stall:?}: deadlock?");
        }
    }
    sh.stop.store(true, Ordering::Release);
    let deadline = Instant::now() + stall;
    while handles.iter().any(|h| !h.1.is_finished()) {
        assert!(
            Instant::now() < deadline,
            "threads did not stop within {stall:?}: deadlock?"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for (name, h) in handles {
        if let Err(p) = h.join() {
            eprintln!("{name} thread failed");
            std::panic::resume_unwind(p);
        }
    }
    let ops: Vec<String> = (0..N)
        .map(|k| format!("{} {}", sh.ops[k].load(Ordering::Relaxed), OP_NAMES[k]))
        .collect();
    let written = sh.acked.load(Ordering::Acquire);
    sh.db.flush().unwrap();
    sh.db.compact().unwrap();
    let st = sh.db.stats().unwrap();
    let old_written = written - sh.new_batches_below(written);
    let old_kept = st.spans / PER - sh.new_batches_below(written);
    println!(
        "{:.1} s: {}; {} merges by compact(); max RSS {} MiB; {} blocks, {} spans, {} of {} old batches dropped by retention",
        t0.elapsed().as_secs_f64(),
        ops.join(", "),
        sh.merges.load(Ordering::Relaxed),
        max_rss / 1024,
        st.blocks,
        st.spans,
        old_written - old_kept,
        old_written
    );
    assert!(
        written > 100,
        "the writer made too little progress: {written}"
    );
    assert!(old_kept < old_written, "retention never dropped a block");
    assert!(
        sh.merges.load(Ordering::Relaxed) > 0,
        "compaction never merged blocks: {st:?}"
    );
    let report = sh.db.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
