//! `spandb trace <id>`: the trace as a waterfall (terminal, HTML, SVG, PNG), the old indented
//! list (`--list`), or OTLP JSON (the shape `import` takes).

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;

use spandb::render::waterfall::{waterfall, WaterfallOptions};
use spandb::{render, Result, TraceId};

use crate::Format;

#[derive(clap::Args)]
pub struct Args {
    /// Trace id, 32 hex characters.
    trace_id: TraceId,
    /// Show spans down to this depth (the root is 0); deeper ones fold into their ancestor.
    #[arg(long)]
    depth: Option<u32>,
    /// Show at most this many rows (images: default 2000).
    #[arg(long)]
    max_spans: Option<usize>,
    /// Show only the spans of these services (and their ancestors); repeat or comma-separate.
    #[arg(long, value_delimiter = ',')]
    service: Vec<String>,
    /// Columns to fill (default: the terminal's width, or $COLUMNS, or 120 when piped);
    /// pixels for --output svg/png (default 1200).
    #[arg(long)]
    width: Option<usize>,
    /// The indented list of earlier versions instead of the waterfall.
    #[arg(long)]
    list: bool,
    /// Also join log records without trace context to the spans of their service that were
    /// running at their time (marked inferred).
    #[arg(long)]
    inferred: bool,
    /// Leave out the trace's log records.
    #[arg(long)]
    no_logs: bool,
}

pub fn run(db_dir: &Path, format: Format, args: Args) -> Result<ExitCode> {
    let db = crate::open_existing(db_dir)?;
    let tree = db.trace_tree(&args.trace_id)?;
    let logs = if args.no_logs {
        spandb::logs::TraceLogs::default()
    } else {
        db.trace_logs(&tree, args.inferred)?
    };
    match format {
        Format::Json => outln!("{}", spandb::otlp::json::encode_json_request(&tree.spans)),
        Format::Table if args.list => {
            out!("{}", render::table::trace_tree(&tree));
            out!("{}", render::logs::trace_logs_text(&tree, &logs));
            out!(
                "{}",
                render::analysis::health_lines(&db.trace_health(&args.trace_id)?)
            );
        }
        Format::Table => {
            let tty = std::io::stdout().is_terminal();
            let opts = WaterfallOptions {
                width: args
                    .width
                    .unwrap_or_else(|| crate::output::terminal_width(tty)),
                color: tty && crate::output::color_allowed(),
                max_depth: args.depth,
                max_rows: args.max_spans,
                services: args.service,
            };
            out!("{}", waterfall(&tree, &opts));
            out!("{}", render::logs::trace_logs_text(&tree, &logs));
            out!(
                "{}",
                render::analysis::health_lines(&db.trace_health(&args.trace_id)?)
            );
        }
        Format::Html => out!(
            "{}",
            render::trace_html::with_logs(
                &render::trace_html::trace_html(&tree),
                &render::logs::trace_logs_text(&tree, &logs)
            )
        ),
        Format::Svg | Format::Png => {
            let mut opts = render::trace_svg::TraceSvgOptions::default();
            if let Some(w) = args.width {
                opts.width = u32::try_from(w).unwrap_or(u32::MAX);
            }
            if let Some(n) = args.max_spans {
                opts.max_rows = n;
            }
            let svg = render::trace_svg::trace_svg(&tree, &opts);
            if format == Format::Svg {
                out!("{svg}");
            } else {
                crate::output::binary(&render::png::svg_to_png(&svg)?)?;
            }
        }
        f => return Err(f.unsupported("trace")),
    }
    Ok(ExitCode::SUCCESS)
}
