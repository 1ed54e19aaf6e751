//! `spandb explain <trace-id>`: a short account of one trace, in sentences (or JSON).

use std::path::Path;
use std::process::ExitCode;

use spandb::{Result, TraceId};

use crate::output::json;
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Trace id, 32 hex characters.
    trace_id: TraceId,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    let e = db.explain(&args.trace_id)?;
    let logs = db.snapshot()?.logs_of_trace(&args.trace_id)?;
    let logs_line = logs_sentence(&logs);
    match format {
        Format::Json => {
            let mut v =
                serde_json::to_value(&e).map_err(|err| spandb::Error::invalid(err.to_string()))?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("logs".into(), serde_json::json!(logs.len()));
                obj.insert(
                    "errorLogs".into(),
                    serde_json::json!(logs.iter().filter(|l| l.severity_number >= 17).count()),
                );
            }
            outln!("{}", json(&v))
        }
        // Table (main.rs refused the image formats for this command).
        _ => {
            for line in &e.summary {
                outln!("{line}");
            }
            if let Some(l) = logs_line {
                outln!("{l}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "It logged N records (M error or worse), the first error: ..." or nothing without logs.
fn logs_sentence(logs: &[spandb::LogRecord]) -> Option<String> {
    if logs.is_empty() {
        return None;
    }
    let mut errors: Vec<&spandb::LogRecord> =
        logs.iter().filter(|l| l.severity_number >= 17).collect();
    errors.sort_by_key(|l| l.timestamp_ns());
    let mut s = format!(
        "It logged {} records ({} error or worse; `spandb trace` shows them under their spans)",
        logs.len(),
        errors.len()
    );
    if let Some(first) = errors.first() {
        s.push_str(&format!(
            "; the first error, from {}: {}",
            first.service(),
            first.body_text()
        ));
    }
    s.push('.');
    Some(s)
}
