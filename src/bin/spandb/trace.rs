//! `spandb trace <id>`: the trace as an indented tree, or OTLP JSON (the shape `import`
//! takes).

use std::path::Path;
use std::process::ExitCode;

use spandb::{render, Result, TraceId};

use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Trace id, 32 hex characters.
    trace_id: TraceId,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    let tree = db.trace_tree(&args.trace_id)?;
    match format {
        Format::Json => outln!("{}", spandb::otlp::json::encode_json_request(&tree.spans)),
        Format::Table => {
            out!("{}", render::table::trace_tree(&tree));
            out!(
                "{}",
                render::analysis::health_lines(&db.trace_health(&args.trace_id)?)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
