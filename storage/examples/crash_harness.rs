//! Crash harness (RocksDB's db_crashtest, for spandb): a child process writes batches with
//! `Durability::Sync`, printing `ack <i>` after each acknowledged write, flushing every 5
//! batches (small blocks) while its background worker compacts and applies retention every
//! 5 ms. The parent kills it with SIGKILL at random moments (right after an ack, a few
//! milliseconds later, or while it is still opening and recovering), then reopens the
//! database, runs `check`, and verifies batch by batch:
//!
//! - every acknowledged batch is there, whole and byte-for-byte what was written, by scan and
//!   by trace lookup (old batches, which retention drops, are there whole or gone whole);
//! - the batch in flight at the kill is all there or not at all; nothing later exists.
//!
//! Long run (prints cycles run, spans lost, and what the kills interrupted):
//!
//! ```text
//! cargo run --release -p spandb-storage --example crash_harness -- --minutes 10
//! cargo run --release -p spandb-storage --example crash_harness -- --cycles 1000 --dir /tmp/x
//! ```
//!
//! A short run is in CI: `tests/kill9_during_compaction_and_retention.rs` includes this file.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spandb_storage::{Db, Durability, Options, ScanFilter, Span, Value};
use spandb_testkit::{numbered_batch, numbered_trace, Rng};

pub const PER: u64 = 40;
const DAY: u64 = 86_400 * 1_000_000_000;
/// Fresh database directory every this many cycles, so verification stays cheap.
const CYCLES_PER_DIR: u64 = 100;

/// Runs of 10 batches; every fifth run is 30 days old, past the 7-day retention.
pub fn is_old(i: u64) -> bool {
    (i / 10) % 5 == 0
}

/// Batch `i`: 40 spans over 4 traces, carrying `batch = i`; `base_ns` is the run's start.
pub fn batch(i: u64, base_ns: u64) -> Vec<Span> {
    let at = if is_old(i) {
        base_ns - 30 * DAY + i * 1_000_000
    } else {
        base_ns + i * 1_000_000
    };
    numbered_batch(i, PER, at, 700)
}

fn batch_of(s: &Span) -> u64 {
    match s.attr("batch") {
        Some(Value::Int(i)) => *i as u64,
        _ => u64::MAX,
    }
}

fn sorted(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| s.span_id);
    spans
}

pub fn child_options() -> Options {
    Options::new()
        .durability(Durability::Sync)
        .block_max_spans(10 * PER as usize)
        .compact_below_spans(10 * PER as usize - 1)
        .rows_per_group(32)
        .maintenance_interval(Some(Duration::from_millis(5)))
        .retention(Some(Duration::from_secs(7 * 86_400)))
}

/// The child: writes batches from `start` until it is killed.
pub fn child(dir: &Path, start: u64, base_ns: u64) {
    let db = child_options().open(dir).expect("child open");
    for i in start.. {
        db.write(batch(i, base_ns)).expect("child write");
        println!("ack {i}");
        if i % 5 == 4 {
            db.flush().expect("child flush");
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub cycles: u64,
    pub batches_acked: u64,
    pub spans_lost: u64,
    pub torn_batches: u64,
    pub phantom_batches: u64,
    pub check_failures: u64,
    /// Kills that left a half-written block (`.tmp`) behind: kills during a seal or a merge.
    pub kills_mid_block_write: u64,
    /// Kills before the child acknowledged anything in that cycle (during open and recovery).
    pub kills_during_open: u64,
    pub in_flight_present: u64,
    pub old_batches_dropped: u64,
    pub problems: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.spans_lost == 0
            && self.torn_batches == 0
            && self.phantom_batches == 0
            && self.check_failures == 0
    }
}

/// Runs kill cycles until `cycles` are done or `deadline` passes. `spawn(dir, start, base_ns)`
/// builds the child's command (this binary, or a test binary).
pub fn run(
    root: &Path,
    cycles: u64,
    deadline: Option<Instant>,
    seed: u64,
    spawn: impl Fn(&Path, u64, u64) -> Command,
) -> Report {
    let mut r = Report::default();
    let mut rng = Rng(seed | 1);
    let base_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut dir = PathBuf::new();
    let mut next = 0u64;
    while r.cycles < cycles && deadline.is_none_or(|d| Instant::now() < d) {
        if r.cycles % CYCLES_PER_DIR == 0 {
            dir = root.join(format!("db-{}", r.cycles / CYCLES_PER_DIR));
            let _ = std::fs::remove_dir_all(&dir);
            next = 0;
        }
        let mut child = spawn(&dir, next, base_ns)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child");
        let mut lines = BufReader::new(child.stdout.take().expect("child stdout")).lines();
        let mut last: Option<u64> = None;
        match rng.next(10) {
            // While it opens and recovers.
            0 => std::thread::sleep(Duration::from_millis(rng.next(40))),
            mode => {
                let want = 1 + rng.next(30);
                let mut seen = 0;
                while seen < want {
                    match lines.next() {
                        Some(Ok(l)) => {
                            if let Some(n) = l.strip_prefix("ack ").and_then(|n| n.parse().ok()) {
                                last = Some(n);
                                seen += 1;
                            }
                        }
                        _ => break,
                    }
                }
                // Some milliseconds later: inside a seal, a flush or a merge.
                if mode >= 5 {
                    std::thread::sleep(Duration::from_micros(rng.next(30_000)));
                }
            }
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for l in lines.map_while(Result::ok) {
            if let Some(n) = l.strip_prefix("ack ").and_then(|n| n.parse().ok()) {
                last = Some(n);
            }
        }
        if last.is_none() {
            r.kills_during_open += 1;
        }
        let acked = last.map(|l| l + 1).unwrap_or(next);
        r.batches_acked += acked.saturating_sub(next);
        let cycle = r.cycles;
        r.cycles += 1;
        let leftovers = std::fs::read_dir(dir.join("blocks"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                    .count()
            })
            .unwrap_or(0);
        if leftovers > 0 {
            r.kills_mid_block_write += 1;
        }
        next = verify(&dir, acked, base_ns, cycle, &mut r);
    }
    r
}

/// Reopens, checks, and compares with what was acknowledged; returns the next batch to write.
fn verify(dir: &Path, acked: u64, base_ns: u64, cycle: u64, r: &mut Report) -> u64 {
    let db: Db = match Options::new().maintenance_interval(None).open(dir) {
        Ok(db) => db,
        Err(e) => {
            r.check_failures += 1;
            r.problems
                .push(format!("cycle {cycle}: reopen failed: {e}"));
            return acked;
        }
    };
    match db.check() {
        Ok(rep) if rep.is_ok() => {}
        Ok(rep) => {
            r.check_failures += 1;
            r.problems
                .push(format!("cycle {cycle}: check: {:?}", rep.problems));
        }
        Err(e) => {
            r.check_failures += 1;
            r.problems.push(format!("cycle {cycle}: check failed: {e}"));
        }
    }
    let spans = match db.snapshot().and_then(|s| s.scan(&ScanFilter::default())) {
        Ok(s) => s,
        Err(e) => {
            r.check_failures += 1;
            r.problems.push(format!("cycle {cycle}: scan failed: {e}"));
            return acked;
        }
    };
    let mut by_batch: BTreeMap<u64, Vec<Span>> = BTreeMap::new();
    for s in spans {
        by_batch.entry(batch_of(&s)).or_default().push(s);
    }
    for (i, got) in &by_batch {
        if *i > acked {
            r.phantom_batches += 1;
            r.problems
                .push(format!("cycle {cycle}: batch {i} exists, never written"));
        } else if sorted(got.clone()) != sorted(batch(*i, base_ns)) {
            r.torn_batches += 1;
            r.problems.push(format!(
                "cycle {cycle}: batch {i} has {} of {PER} spans or wrong contents",
                got.len()
            ));
        }
    }
    let mut old_missing = 0;
    for i in 0..acked {
        if !by_batch.contains_key(&i) {
            if is_old(i) {
                old_missing += 1;
            } else {
                r.spans_lost += PER;
                r.problems
                    .push(format!("cycle {cycle}: acknowledged batch {i} lost"));
            }
        }
    }
    r.old_batches_dropped = r.old_batches_dropped.max(old_missing);
    if by_batch.contains_key(&acked) {
        r.in_flight_present += 1;
    }
    // The trace index agrees for the newest batches.
    for i in acked.saturating_sub(3)..=acked {
        for t in 0..4 {
            let want: Vec<Span> = match by_batch.get(&i) {
                Some(_) => batch(i, base_ns)
                    .into_iter()
                    .filter(|s| s.trace_id == numbered_trace(i, t))
                    .collect(),
                None => Vec::new(),
            };
            match db.trace(&numbered_trace(i, t)) {
                Ok(got) if sorted(got.clone()) == sorted(want) => {}
                Ok(got) => r.problems.push(format!(
                    "cycle {cycle}: trace {t} of batch {i}: {} spans by lookup",
                    got.len()
                )),
                Err(e) => r
                    .problems
                    .push(format!("cycle {cycle}: trace lookup failed: {e}")),
            }
        }
    }
    let _ = db.close();
    by_batch
        .keys()
        .next_back()
        .map(|m| (m + 1).max(acked))
        .unwrap_or(acked)
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|p| args.get(p + 1))
            .cloned()
    };
    if let Some(dir) = arg("--child") {
        let start = arg("--start").and_then(|s| s.parse().ok()).unwrap_or(0);
        let base = arg("--base").and_then(|s| s.parse().ok()).unwrap_or(0);
        child(Path::new(&dir), start, base);
        return;
    }
    let cycles = arg("--cycles")
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let minutes: Option<f64> = arg("--minutes").and_then(|s| s.parse().ok());
    let cycles = if minutes.is_none() && cycles == u64::MAX {
        200
    } else {
        cycles
    };
    let deadline = minutes.map(|m| Instant::now() + Duration::from_secs_f64(m * 60.0));
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = arg("--dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_owned());
    let exe = std::env::current_exe().expect("current exe");
    let started = Instant::now();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    let r = run(&root, cycles, deadline, seed, |dir, start, base| {
        let mut c = Command::new(&exe);
        c.arg("--child").arg(dir).args([
            "--start",
            &start.to_string(),
            "--base",
            &base.to_string(),
        ]);
        c
    });
    for p in r.problems.iter().take(20) {
        println!("problem: {p}");
    }
    println!(
        "{} cycles in {:.0} s (seed {seed}): {} batches ({} spans) acknowledged, {} spans lost, \
         {} torn batches, {} phantom batches, {} check failures; kills mid block write: {}, \
         during open: {}; in-flight batch present after {} kills; old batches dropped by \
         retention (peak): {}",
        r.cycles,
        started.elapsed().as_secs_f64(),
        r.batches_acked,
        r.batches_acked * PER,
        r.spans_lost,
        r.torn_batches,
        r.phantom_batches,
        r.check_failures,
        r.kills_mid_block_write,
        r.kills_during_open,
        r.in_flight_present,
        r.old_batches_dropped
    );
    if !r.ok() || !r.problems.is_empty() {
        std::process::exit(1);
    }
}
