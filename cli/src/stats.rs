//! `spandb stats`.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use spandb::render::table::{format_bytes, table};
use spandb::{Result, Stats};

use crate::output::json;
use crate::Format;

/// The JSON of `stats`: the report and the figure people ask for first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsOutput<'a> {
    #[serde(flatten)]
    stats: &'a Stats,
    bytes_per_span: f64,
}

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
            json(&StatsOutput {
                stats: &st,
                bytes_per_span: per_span,
            })
        ),
        // Table (main.rs refused the image formats for this command).
        _ => {
            let rows = vec![
                vec!["spans".into(), st.spans.to_string()],
                vec!["traces".into(), st.traces.to_string()],
                vec!["blocks".into(), st.blocks.to_string()],
                vec!["unsealed spans".into(), st.unsealed_spans.to_string()],
                vec!["bytes on disk".into(), format_bytes(st.bytes_on_disk)],
                vec!["bytes per span".into(), format!("{per_span:.1}")],
            ];
            out!("{}", table(&["FIGURE", "VALUE"], &rows, &[1]));
            outln!();
            let rows: Vec<Vec<String>> = st
                .services
                .iter()
                .map(|s| vec![s.service.clone(), s.spans.to_string()])
                .collect();
            out!("{}", table(&["SERVICE", "SPANS"], &rows, &[1]));
        }
    }
    Ok(ExitCode::SUCCESS)
}
