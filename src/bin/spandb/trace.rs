//! `spandb trace <id>`: a readable tree (the query crate assembles it), or OTLP JSON (the
//! shape `import` takes).

use std::path::Path;
use std::process::ExitCode;

use spandb::query::{cli::format_duration_ns, TraceTree};
use spandb::{Error, Result, TraceId};

use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Trace id, 32 hex characters.
    trace_id: String,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let id = TraceId::from_hex(args.trace_id.trim())?;
    let db = crate::open_existing(db_dir)?;
    let spans = db.trace(&id)?;
    let Some(tree) = TraceTree::from_spans(spans) else {
        return Err(Error::InvalidInput(format!("trace {id} not found")));
    };
    match format {
        Format::Json => outln!("{}", spandb::otlp::json::encode_json_request(&tree.spans)),
        Format::Table => out!("{}", render_tree(&tree)),
    }
    Ok(ExitCode::SUCCESS)
}

/// An indented tree: service, name, kind, offset from the trace start, duration, marks for
/// errors and for spans whose parent is missing (shown as extra roots).
fn render_tree(tree: &TraceTree) -> String {
    let mut out = format!(
        "trace {}: {} spans, {} services, {}\n",
        tree.trace_id,
        tree.spans.len(),
        tree.services.len(),
        format_duration_ns(tree.duration_ns())
    );
    for i in tree.depth_first() {
        let node = &tree.nodes[i];
        let s = &tree.spans[node.span];
        let mut marks = String::new();
        if s.is_error() {
            marks.push_str("  ERROR");
            if !s.status_message.is_empty() {
                marks.push_str(&format!(" ({})", s.status_message));
            }
        }
        if node.orphan {
            marks.push_str("  (parent missing)");
        }
        out.push_str(&format!(
            "{:indent$}{} {} [{}] +{} {}{}\n",
            "",
            s.service(),
            s.name,
            s.kind.as_str(),
            format_duration_ns(s.start_ns.saturating_sub(tree.start_ns)),
            format_duration_ns(s.duration_ns()),
            marks,
            indent = node.depth as usize * 2
        ));
    }
    out
}
