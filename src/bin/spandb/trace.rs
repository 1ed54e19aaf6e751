//! `spandb trace <id>`: a readable tree, or OTLP JSON (the shape `import` takes).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::ExitCode;

use spandb::{Error, Result, Span, SpanId, TraceId};

use crate::output::duration;
use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Trace id, 32 hex characters.
    trace_id: String,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let id = TraceId::from_hex(args.trace_id.trim())?;
    let db = crate::open_existing(db_dir)?;
    let mut spans = db.trace(&id)?;
    if spans.is_empty() {
        return Err(Error::InvalidInput(format!("trace {id} not found")));
    }
    spans.sort_by_key(|s| (s.start_ns, s.span_id));
    match format {
        Format::Json => println!("{}", spandb::otlp::json::encode_json_request(&spans)),
        Format::Table => print!("{}", render_tree(&id, &spans)),
    }
    Ok(ExitCode::SUCCESS)
}

/// An indented tree: each span with service, name, kind, offset from the trace start,
/// duration, and an error mark. Spans whose parent is missing are shown as roots, marked.
fn render_tree(id: &TraceId, spans: &[Span]) -> String {
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<SpanId, Vec<&Span>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        match s.parent_span_id {
            Some(p) if ids.contains(&p) && p != s.span_id => children.entry(p).or_default().push(s),
            _ => roots.push(s),
        }
    }
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
    let services: HashSet<&str> = spans.iter().map(|s| s.service()).collect();
    let mut out = format!(
        "trace {id}: {} spans, {} services, {}\n",
        spans.len(),
        services.len(),
        duration(end.saturating_sub(start))
    );
    let mut seen = HashSet::new();
    for r in roots {
        let orphan = r.parent_span_id.is_some();
        walk(r, &children, start, 0, orphan, &mut seen, &mut out);
    }
    out
}

fn walk<'a>(
    s: &'a Span,
    children: &HashMap<SpanId, Vec<&'a Span>>,
    trace_start: u64,
    depth: usize,
    orphan: bool,
    seen: &mut HashSet<SpanId>,
    out: &mut String,
) {
    if !seen.insert(s.span_id) {
        return; // a cycle in parent ids: show each span once
    }
    let mark = match (s.is_error(), orphan) {
        (true, true) => "  ERROR (parent missing)",
        (true, false) => "  ERROR",
        (false, true) => "  (parent missing)",
        _ => "",
    };
    out.push_str(&format!(
        "{:indent$}{} {} [{}] +{} {}{}\n",
        "",
        s.service(),
        s.name,
        s.kind.as_str(),
        duration(s.start_ns.saturating_sub(trace_start)),
        duration(s.duration_ns()),
        mark,
        indent = depth * 2
    ));
    if let Some(kids) = children.get(&s.span_id) {
        for k in kids {
            walk(k, children, trace_start, depth + 1, false, seen, out);
        }
    }
}
