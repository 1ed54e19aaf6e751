//! The `spandb` binary on the built-in example: each command's table and JSON output against
//! golden files in cli/tests/golden/ (rewrite them with `SPANDB_UPDATE_GOLDEN=1 cargo test`),
//! and the exit statuses a shell user tests (0 ok, 2 usage, 3 not found, 4 corruption).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn spandb(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spandb"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run spandb")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("SPANDB_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (SPANDB_UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected,
        "{name} differs from {} (SPANDB_UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
}

/// A database holding examples/sample.jsonl (2000 spans), sealed into one block.
fn sample_db() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/sample.jsonl");
    let out = stdout(&spandb(
        dir.path(),
        &["import", sample.to_str().unwrap(), "--output", "json"],
    ));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["spans"], 2000, "{out}");
    assert_eq!(report["skippedLines"], 0, "{out}");
    dir
}

const SEARCH: &str = "{ status = error && kind = server }";
const METRICS: &str = "{ kind = server } | count_over_time() by (resource.service.name)";

#[test]
fn every_command_prints_its_golden_table_and_json() {
    let dir = sample_db();
    let db = dir.path();

    let search_table = stdout(&spandb(db, &["search", SEARCH, "--limit", "3"]));
    golden("search.txt", &search_table);
    let search_json = stdout(&spandb(
        db,
        &["search", SEARCH, "--limit", "3", "--output", "json"],
    ));
    golden("search.json", &search_json);
    let parsed: serde_json::Value = serde_json::from_str(&search_json).unwrap();
    let trace_id = parsed["traces"][0]["traceID"].as_str().unwrap().to_string();

    golden("trace.txt", &stdout(&spandb(db, &["trace", &trace_id])));
    golden(
        "trace_depth1_width80.txt",
        &stdout(&spandb(
            db,
            &["trace", &trace_id, "--depth", "1", "--width", "80"],
        )),
    );
    golden(
        "trace_list.txt",
        &stdout(&spandb(db, &["trace", &trace_id, "--list"])),
    );
    let otlp = stdout(&spandb(db, &["trace", &trace_id, "--output", "json"]));
    golden("trace.json", &otlp);

    let step = ["--step", "10m"];
    golden(
        "metrics.txt",
        &stdout(&spandb(db, &[&["metrics", METRICS][..], &step].concat())),
    );
    golden(
        "metrics.json",
        &stdout(&spandb(
            db,
            &[&["metrics", METRICS, "--output", "json"][..], &step].concat(),
        )),
    );

    // An instant count is the sum of the range's buckets, per series.
    let instant = stdout(&spandb(
        db,
        &["metrics", METRICS, "--instant", "--output", "json"],
    ));
    golden("metrics_instant.json", &instant);
    let instant: serde_json::Value = serde_json::from_str(&instant).unwrap();
    let range: serde_json::Value = serde_json::from_str(&stdout(&spandb(
        db,
        &[&["metrics", METRICS, "--output", "json"][..], &step].concat(),
    )))
    .unwrap();
    let series = range["series"].as_array().unwrap();
    assert_eq!(instant["series"].as_array().unwrap().len(), series.len());
    for s in series {
        let total: f64 = s["samples"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x["value"].as_f64())
            .sum();
        let one = instant["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["promLabels"] == s["promLabels"])
            .unwrap_or_else(|| panic!("no instant series for {}", s["promLabels"]));
        assert_eq!(one["value"].as_f64(), Some(total), "{}", s["promLabels"]);
    }

    golden(
        "metrics_p90.txt",
        &stdout(&spandb(
            db,
            &[
                &[
                    "metrics",
                    "{ kind = server } | quantile_over_time(duration, .9) by (resource.service.name)",
                ][..],
                &step,
            ]
            .concat(),
        )),
    );

    // Byte counts depend on RocksDB's housekeeping files: compared as present, not golden.
    let stats: serde_json::Value =
        serde_json::from_str(&stdout(&spandb(db, &["stats", "--output", "json"]))).unwrap();
    let mut stable = stats.clone();
    for volatile in ["blockBytes", "bytesOnDisk", "bytesPerSpan"] {
        assert!(stats[volatile].as_f64().unwrap() > 0.0, "{stats}");
        stable.as_object_mut().unwrap().remove(volatile);
    }
    golden("stats.json", &format!("{stable:#}\n"));
    let stats_table: String = stdout(&spandb(db, &["stats"]))
        .lines()
        .filter(|l| !l.contains("bytes"))
        .map(|l| format!("{l}\n"))
        .collect();
    golden("stats.txt", &stats_table);

    // The sample's traces are whole: a health scan over all of them finds nothing.
    let scan: serde_json::Value = serde_json::from_str(&stdout(&spandb(
        db,
        &["health", "--limit", "5000", "--output", "json"],
    )))
    .unwrap();
    assert!(scan["examined"].as_u64().unwrap() > 50, "{scan}");
    assert_eq!(scan["unhealthy"], serde_json::json!([]), "{scan}");
    golden(
        "health_scan.txt",
        &stdout(&spandb(db, &["health", "--limit", "5000"])),
    );

    golden("check.txt", &stdout(&spandb(db, &["check"])));
    golden(
        "check.json",
        &stdout(&spandb(db, &["check", "--output", "json"])),
    );
}

#[test]
fn exit_statuses_tell_usage_not_found_and_corruption_apart() {
    let dir = sample_db();
    let db = dir.path();
    let code = |args: &[&str]| spandb(db, args).status.code();

    assert_eq!(
        code(&["trace", "00000000000000000000000000000001"]),
        Some(3)
    );
    let unknown = spandb(db, &["trace", "00000000000000000000000000000001"]);
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    assert_eq!(code(&["trace", "not-hex"]), Some(2), "clap's value parser");
    assert_eq!(code(&["search", "{ status = }"]), Some(2));
    assert_eq!(code(&["search", "{ }", "--since", "yesterday"]), Some(2));
    let missing = dir.path().join("nothing-here");
    assert_eq!(spandb(&missing, &["stats"]).status.code(), Some(3));
    assert!(!missing.exists(), "a reading command creates no database");

    // Flip a byte in the middle of the block file: check reports it and exits 4.
    let block = std::fs::read_dir(db.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "blk"))
        .expect("a block file");
    let mut bytes = std::fs::read(&block).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x55;
    std::fs::write(&block, bytes).unwrap();
    let check = spandb(db, &["check"]);
    assert_eq!(check.status.code(), Some(4), "{:?}", check);
}
