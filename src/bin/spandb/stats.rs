//! `spandb stats`.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use spandb::Result;

use crate::output::{bytes, table};
use crate::Format;

pub fn run(db_dir: &Path, format: Format) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    let st = db.stats()?;
    let per_span = if st.spans > 0 {
        st.bytes_on_disk as f64 / st.spans as f64
    } else {
        0.0
    };
    match format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "spans": st.spans,
                "traces": st.traces,
                "blocks": st.blocks,
                "sealedSpans": st.sealed_spans,
                "unsealedSpans": st.unsealed_spans,
                "blockBytes": st.block_bytes,
                "bytesOnDisk": st.bytes_on_disk,
                "bytesPerSpan": per_span,
                "minStartTimeUnixNano": st.min_start_ns.map(|v| v.to_string()),
                "maxEndTimeUnixNano": st.max_end_ns.map(|v| v.to_string()),
                "services": st.services.iter().map(|(s, n)| json!({"service": s, "spans": n})).collect::<Vec<_>>(),
            }))
            .unwrap_or_default()
        ),
        Format::Table => {
            let rows = vec![
                vec!["spans".into(), st.spans.to_string()],
                vec!["traces".into(), st.traces.to_string()],
                vec!["blocks".into(), st.blocks.to_string()],
                vec!["unsealed spans".into(), st.unsealed_spans.to_string()],
                vec!["bytes on disk".into(), bytes(st.bytes_on_disk)],
                vec!["bytes per span".into(), format!("{per_span:.1}")],
            ];
            out!("{}", table(&["figure", "value"], &rows));
            outln!();
            let rows: Vec<Vec<String>> =
                st.services.iter().map(|(s, n)| vec![s.clone(), n.to_string()]).collect();
            out!("{}", table(&["service", "spans"], &rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}
