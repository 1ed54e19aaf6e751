//! Disk full: on an 8 MiB tmpfs filled by a filler file, writes fail with an error that says
//! "No space left on device" (never a panic), everything acknowledged stays readable, and once
//! the filler is deleted (and the handle reopened, if the failure poisoned it) writes succeed.
//!
//! Mounting needs CAP_SYS_ADMIN: where `mount -t tmpfs` is not permitted the test prints why
//! and returns without checking anything (the only skip in the storage tests).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use spandb_storage::{
    Db, Durability, Error, KeyValue, Options, Resource, ScanFilter, Scope, Span, SpanId, TraceId,
    Value,
};

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path) -> Result<Mount, String> {
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(at)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mount -t tmpfs failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Mount(at.to_owned()))
}

/// 50 spans with incompressible attribute values, so a little data fills a lot of disk.
fn batch(i: u64) -> Vec<Span> {
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue::new("service.name", Value::Str("filler".into()))],
        ..Resource::default()
    });
    let scope = Arc::new(Scope::default());
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..50u64)
        .map(|j| {
            let noise: String = (0..24)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    format!("{x:016x}")
                })
                .collect();
            let mut t = [0u8; 16];
            t[..8].copy_from_slice(&(i + 1).to_be_bytes());
            Span {
                trace_id: TraceId(t),
                span_id: SpanId(((i << 16) | (j + 1)).to_be_bytes()),
                name: "fill".into(),
                start_ns: 1_700_000_000_000_000_000 + i * 1_000_000 + j,
                end_ns: 1_700_000_000_000_000_000 + i * 1_000_000 + j + 10,
                resource: resource.clone(),
                scope: scope.clone(),
                attributes: vec![KeyValue::new("noise", Value::Str(noise))],
                ..Span::default()
            }
        })
        .collect()
}

fn open(dir: &Path) -> Db {
    Options::new()
        .durability(Durability::Sync)
        .block_max_spans(500)
        .maintenance_interval(None)
        .open(dir)
        .unwrap()
}

fn is_disk_full(e: &Error) -> bool {
    e.to_string().contains("No space left on device")
}

fn check_readable(db: &Db, acked: &[u64], what: &str) {
    let spans = db.snapshot().unwrap().scan(&ScanFilter::default()).unwrap();
    let mut got: Vec<u64> = spans
        .iter()
        .map(|s| {
            s.span_id.0[..6]
                .iter()
                .fold(0, |a, b| a << 8 | u64::from(*b))
        })
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(got, acked, "{what}: acknowledged batches");
    assert_eq!(spans.len(), acked.len() * 50, "{what}");
    for i in [acked[0], *acked.last().unwrap()] {
        let mut t = [0u8; 16];
        t[..8].copy_from_slice(&(i + 1).to_be_bytes());
        assert_eq!(
            db.trace(&TraceId(t)).unwrap().len(),
            50,
            "{what}: batch {i}"
        );
    }
    assert_eq!(db.stats().unwrap().spans, acked.len() as u64 * 50, "{what}");
}

#[test]
fn full_disk_fails_writes_clearly_and_recovers_skipped_if_tmpfs_mount_not_permitted() {
    let tmp = tempfile::tempdir().unwrap();
    let _mount = match mount_tmpfs(tmp.path()) {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED: cannot mount a small tmpfs to fill: {why}");
            return;
        }
    };
    let dir = tmp.path().join("db");
    let db = open(&dir);
    let mut acked: Vec<u64> = Vec::new();
    for i in 0..4 {
        db.write(batch(i)).unwrap();
        acked.push(i);
    }
    db.flush().unwrap();

    // Fill the file system.
    let filler = tmp.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0xa5u8; 64 << 10];
    let fill_err = loop {
        if let Err(e) = f.write_all(&chunk).and_then(|_| f.sync_all()) {
            break e;
        }
    };
    assert_eq!(fill_err.raw_os_error(), Some(28), "{fill_err}");
    drop(f);

    // Writes (and the seals they trigger) now fail, with an error that says why.
    let mut first_err = None;
    for i in 4..2_000 {
        let r = db.write(batch(i)).and_then(|_| {
            acked.push(i);
            if i % 5 == 0 {
                db.flush()
            } else {
                Ok(())
            }
        });
        if let Err(e) = r {
            first_err = Some(e);
            break;
        }
    }
    let err = first_err.expect("writes kept succeeding on a full disk");
    println!("first error on the full disk: {err}");
    assert!(is_disk_full(&err), "not a clear disk-full error: {err}");
    let again = db.write(batch(5_000)).unwrap_err();
    assert!(is_disk_full(&again), "later writes must say why: {again}");

    // Still readable: every acknowledged span, by scan, trace lookup and stats.
    check_readable(&db, &acked, "on the full disk");

    // Free space. A poisoned handle (failed fsync) must be reopened; then writes work again.
    std::fs::remove_file(&filler).unwrap();
    let db = match db.write(batch(6_000)) {
        Ok(()) => {
            acked.push(6_000);
            db
        }
        Err(e) => {
            println!("after freeing space the old handle says: {e}");
            assert!(matches!(e, Error::Poisoned(_) | Error::RocksDb(_)), "{e}");
            if let Err(e) = db.close() {
                println!("close: {e}");
            }
            drop(db);
            open(&dir)
        }
    };
    for i in 7_000..7_020 {
        db.write(batch(i)).unwrap();
        acked.push(i);
    }
    db.flush().unwrap();
    acked.sort();
    check_readable(&db, &acked, "after freeing space");
    let report = db.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    db.close().unwrap();
}
