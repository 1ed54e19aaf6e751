//! Helpers shared by the criterion micro-benchmarks and the macro-suite driver: generated
//! input data, span loading, and memory figures from `/proc`.

pub mod logs_macro;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;

use spandb::Span;

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where generated benchmark inputs are cached: `<target>/bench-data`.
pub fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("bench-data")
}

/// A generated OTLP JSON lines file of `spans` spans (seed `seed`), generated with
/// `benches/gen_spans.py` on first use and cached under [`data_dir`].
pub fn generated_spans_file(spans: usize, seed: u64) -> PathBuf {
    let dir = data_dir();
    let path = dir.join(format!("spans_{spans}_seed{seed}.jsonl"));
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("create bench-data directory");
    let tmp = path.with_extension("jsonl.tmp");
    let script = workspace_root().join("benches").join("gen_spans.py");
    let status = Command::new("python3")
        .arg(&script)
        .args(["--spans", &spans.to_string(), "--seed", &seed.to_string()])
        .arg("--out")
        .arg(&tmp)
        .status()
        .expect("run python3 benches/gen_spans.py");
    assert!(status.success(), "gen_spans.py failed: {status}");
    std::fs::rename(&tmp, &path).expect("rename generated file");
    path
}

/// Every span of an OTLP JSON lines file.
pub fn load_spans(path: &Path) -> Vec<Span> {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut out = Vec::new();
    spandb::import::read_json_lines(BufReader::new(file), false, 4096, |batch| {
        out.extend(batch);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    out
}

/// Generated spans, loaded: the usual input of a micro-benchmark.
pub fn generated_spans(spans: usize, seed: u64) -> Vec<Span> {
    load_spans(&generated_spans_file(spans, seed))
}

/// Two `kB` fields of `/proc/self/status`, in bytes; zeros where `/proc` is unavailable.
fn status_fields(a: &str, b: &str) -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    (field(a), field(b))
}

/// Resident set size now and its peak (`VmRSS`, `VmHWM` from `/proc/self/status`), in bytes.
/// Zeros where `/proc` is unavailable.
pub fn rss_bytes() -> (u64, u64) {
    status_fields("VmRSS:", "VmHWM:")
}

/// (RssAnon, RssFile) of this process in bytes: heap and other private memory, and the pages
/// of mapped files (block files are mmapped; those pages are page cache the kernel can reclaim).
pub fn rss_split_bytes() -> (u64, u64) {
    status_fields("RssAnon:", "RssFile:")
}

/// Nearest-rank percentile of sorted samples (`q` in 0..=1).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
