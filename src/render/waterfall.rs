//! The terminal waterfall: the span tree on the left, a time bar per span on a shared axis on
//! the right, duration and self time between them.
//!
//! ```text
//!   SPAN                             DURATION    SELF  0        20ms       40ms
//!   api-gateway POST /api/tokens       48.5ms   600us  ████████████████████████████
//!   └─ api-gateway GET                 47.9ms   700us   ▒▒████████████████████████
//! ! └─ catalog GET /api/categorys      47.2ms   1.1ms   ▒▒███████████x████████████
//! ```
//!
//! `█` is time on the critical path, `▒` time off it, `|` an event, `x` an exception event,
//! `!` in the first column an error span. Folding keeps big traces readable: `max_depth`,
//! `services` (those spans and their ancestors) and `max_rows`; runs of more than
//! [`RUN_MIN`] sibling leaves with the same service and name (N+1 queries, fan-outs) are
//! shown as their first [`RUN_KEEP`] and one summary row.

use std::fmt::Write as _;

use spandb_query::TraceTree;

use super::table::format_duration;
use super::trace_view::TraceView;

/// Sibling leaf runs longer than this are folded.
pub const RUN_MIN: usize = 5;
/// Spans of a folded run still shown one by one.
pub const RUN_KEEP: usize = 2;
/// Beyond this many rows (and no folding asked for) the header suggests a `--depth`.
pub const HINT_ROWS: usize = 500;

/// How to draw the waterfall.
#[derive(Clone, Debug)]
pub struct WaterfallOptions {
    /// Terminal columns. Defaults to 120.
    pub width: usize,
    /// ANSI colours (service colours, red errors). Defaults to off.
    pub color: bool,
    /// Deepest level shown (roots are 0). Defaults to all.
    pub max_depth: Option<u32>,
    /// At most this many rows. Defaults to all.
    pub max_rows: Option<usize>,
    /// Only spans of these services (and their ancestors). Defaults to all.
    pub services: Vec<String>,
}

impl Default for WaterfallOptions {
    fn default() -> Self {
        WaterfallOptions {
            width: 120,
            color: false,
            max_depth: None,
            max_rows: None,
            services: Vec::new(),
        }
    }
}

/// ANSI foreground codes for services, in palette order; red (31) is for errors only.
const ANSI: [&str; 12] = [
    "34", "33", "32", "35", "36", "93", "94", "37", "96", "95", "92", "90",
];

enum Row {
    Span {
        span: usize,
        prefix: String,
        /// Descendants not shown (folded by depth or service).
        hidden: usize,
    },
    /// A folded run of sibling leaves.
    Run { spans: Vec<usize>, prefix: String },
}

/// The waterfall of `tree` as text, one line per row, ending in a newline.
pub fn waterfall(tree: &TraceTree, opts: &WaterfallOptions) -> String {
    let view = TraceView::new(tree);
    let rows = rows(&view, opts);
    let total_rows = rows.len();
    let shown = opts.max_rows.unwrap_or(usize::MAX).min(total_rows);

    let width = opts.width.max(60);
    let dur_w = 8;
    let label_max = rows
        .iter()
        .take(shown)
        .map(|r| label(&view, r).chars().count())
        .max()
        .unwrap_or(10);
    let label_w = label_max.clamp(12, (width * 45 / 100).max(12));
    // "! " + label + " " + dur + " " + self + "  " + bar
    let bar_w = width
        .saturating_sub(2 + label_w + 1 + dur_w + 1 + dur_w + 2)
        .max(10);

    let mut out = String::new();
    let paint = |code: &str, text: &str| -> String {
        if opts.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let errors = tree.spans.iter().filter(|s| s.is_error()).count();
    let _ = writeln!(
        out,
        "trace {}: {} spans, {} services, {}, critical path {} ({} spans){}",
        tree.trace_id,
        tree.spans.len(),
        tree.services.len(),
        format_duration(tree.duration_ns()),
        format_duration(view.critical_ns()),
        (0..tree.spans.len())
            .filter(|&i| view.on_critical_path(i))
            .count(),
        if errors > 0 {
            format!(", {errors} errors")
        } else {
            String::new()
        }
    );
    // The service legend, wrapped to the width.
    let mut legend = String::from("services:");
    let mut legend_cols = legend.len();
    for (k, (name, count)) in tree.services.iter().enumerate() {
        let item = format!(" ■ {name} ({count})");
        let cols = item.chars().count();
        if legend_cols + cols > width {
            legend.push_str("\n         ");
            legend_cols = 9;
        }
        legend_cols += cols;
        let _ = write!(
            legend,
            " {} {name} ({count})",
            paint(ANSI[k % ANSI.len()], "■")
        );
    }
    out.push_str(&legend);
    out.push('\n');
    let unfolded = opts.max_depth.is_none() && opts.max_rows.is_none() && opts.services.is_empty();
    if unfolded && total_rows > HINT_ROWS {
        // The deepest level that keeps the picture under HINT_ROWS spans.
        let mut per_depth: Vec<usize> = Vec::new();
        for node in &tree.nodes {
            let d = node.depth as usize;
            if per_depth.len() <= d {
                per_depth.resize(d + 1, 0);
            }
            per_depth[d] += 1;
        }
        let mut total = 0;
        let mut depth = 0;
        for (d, n) in per_depth.iter().enumerate() {
            total += n;
            if total > HINT_ROWS {
                break;
            }
            depth = d;
        }
        let _ = writeln!(
            out,
            "{total_rows} rows: fold with --depth {depth} (spans down to that level), --service NAME or --max-spans N"
        );
    }

    let _ = writeln!(
        out,
        "  {:<label_w$} {:>dur_w$} {:>dur_w$}  {}",
        "SPAN",
        "DURATION",
        "SELF",
        ruler(tree.duration_ns(), bar_w)
    );
    for row in rows.iter().take(shown) {
        let (mark, err) = match row {
            Row::Span { span, .. } => (view.span(*span).is_error(), false),
            Row::Run { spans, .. } => (false, spans.iter().any(|&i| view.span(i).is_error())),
        };
        let mark = if mark || err {
            paint("1;31", "!")
        } else {
            " ".into()
        };
        let text = fit(&label(&view, row), label_w);
        let pad = label_w.saturating_sub(text.chars().count());
        let (prefix_len, svc) = match row {
            Row::Span { span, prefix, .. } => (prefix.chars().count(), view.service[*span]),
            Row::Run { spans, prefix } => (
                prefix.chars().count(),
                spans.first().map_or(0, |&i| view.service[i]),
            ),
        };
        // Colour the service name inside the label (after the tree glyphs).
        let coloured = if opts.color {
            let (head, tail) = split_chars(&text, prefix_len);
            let svc_len = match row {
                Row::Span { span, .. } => view.span(*span).service().chars().count(),
                Row::Run { .. } => 0,
            };
            let (svc_txt, rest) = split_chars(tail, svc_len);
            format!("{head}{}{rest}", paint(ANSI[svc % ANSI.len()], svc_txt))
        } else {
            text.clone()
        };
        let (dur, self_t) = match row {
            Row::Span { span, .. } => (
                format_duration(view.span(*span).duration_ns()),
                format_duration(view.self_ns[*span]),
            ),
            Row::Run { spans, .. } => (
                format_duration(spans.iter().map(|&i| view.span(i).duration_ns()).sum()),
                "Σ".into(),
            ),
        };
        let bar = bar(&view, row, bar_w);
        let bar = if opts.color {
            paint(ANSI[svc % ANSI.len()], &bar)
        } else {
            bar
        };
        let _ = writeln!(
            out,
            "{mark} {coloured}{:pad$} {dur:>dur_w$} {self_t:>dur_w$}  {}",
            "",
            bar.trim_end()
        );
    }
    if shown < total_rows {
        let rest: usize = rows
            .iter()
            .skip(shown)
            .map(|r| match r {
                Row::Span { hidden, .. } => 1 + hidden,
                Row::Run { spans, .. } => spans.len(),
            })
            .sum();
        let _ = writeln!(
            out,
            "… {} more rows ({rest} spans) not shown (--max-spans)",
            total_rows - shown
        );
    }
    let folded: usize = rows
        .iter()
        .map(|r| match r {
            Row::Span { hidden, .. } => *hidden,
            Row::Run { spans, .. } => spans.len(),
        })
        .sum();
    if folded > 0 {
        let _ = writeln!(out, "{folded} spans folded into the rows above (+N, ×N)");
    }
    let _ = writeln!(
        out,
        "█ on the critical path  ▒ off it  | event  x exception  ! error"
    );
    out
}

/// The rows to draw, in waterfall order, with folding applied.
fn rows(view: &TraceView<'_>, opts: &WaterfallOptions) -> Vec<Row> {
    let tree = view.tree;
    let n = tree.spans.len();
    // Which spans are shown: within the depth, and (with a service filter) of a listed
    // service or an ancestor of one.
    let mut keep = vec![opts.services.is_empty(); n];
    if !opts.services.is_empty() {
        for &i in view.order.iter().rev() {
            if opts.services.iter().any(|s| s == tree.spans[i].service()) {
                keep[i] = true;
            }
            if keep[i] {
                if let Some(p) = tree.nodes[i].parent {
                    keep[p] = true;
                }
            }
        }
    }
    if let Some(d) = opts.max_depth {
        for (i, k) in keep.iter_mut().enumerate() {
            *k = *k && tree.nodes[i].depth <= d;
        }
    }
    // Hidden descendants, counted on the nearest shown ancestor.
    let mut hidden = vec![0usize; n];
    let mut anchor = vec![usize::MAX; n];
    for &i in &view.order {
        anchor[i] = if keep[i] {
            i
        } else {
            tree.nodes[i].parent.map_or(usize::MAX, |p| anchor[p])
        };
        if !keep[i] && anchor[i] != usize::MAX {
            hidden[anchor[i]] += 1;
        }
    }
    let shown_children = |i: usize| -> Vec<usize> {
        tree.nodes[i]
            .children
            .iter()
            .copied()
            .filter(|&c| keep[c])
            .collect()
    };
    let is_leaf = |i: usize| tree.nodes[i].children.iter().all(|&c| !keep[c]);

    enum Item {
        Span(usize, String, String),
        Run(Vec<usize>, String),
    }
    let mut out = Vec::new();
    // (span, this row's glyph prefix, its children's continuation prefix)
    let mut stack: Vec<Item> = tree
        .roots
        .iter()
        .rev()
        .filter(|&&r| keep[r])
        .map(|&r| Item::Span(r, String::new(), String::new()))
        .collect();
    while let Some(item) = stack.pop() {
        match item {
            Item::Run(spans, prefix) => out.push(Row::Run { spans, prefix }),
            Item::Span(i, prefix, cont) => {
                out.push(Row::Span {
                    span: i,
                    prefix,
                    hidden: hidden[i],
                });
                let children = shown_children(i);
                // Group the children into runs of same-named leaves.
                let mut groups: Vec<Vec<usize>> = Vec::new();
                for c in children {
                    let same = groups.last().is_some_and(|g| {
                        let f = g[0];
                        is_leaf(f)
                            && is_leaf(c)
                            && tree.spans[f].name == tree.spans[c].name
                            && tree.spans[f].service() == tree.spans[c].service()
                    });
                    match groups.last_mut() {
                        Some(g) if same => g.push(c),
                        _ => groups.push(vec![c]),
                    }
                }
                let mut items: Vec<(Option<usize>, Option<Vec<usize>>)> = Vec::new();
                for g in groups {
                    if g.len() > RUN_MIN {
                        for &c in g.iter().take(RUN_KEEP) {
                            items.push((Some(c), None));
                        }
                        items.push((None, Some(g[RUN_KEEP..].to_vec())));
                    } else {
                        items.extend(g.into_iter().map(|c| (Some(c), None)));
                    }
                }
                let last = items.len().saturating_sub(1);
                for (k, (span, run)) in items.into_iter().enumerate().rev() {
                    let glyph = if k == last { "└─ " } else { "├─ " };
                    let next = if k == last { "   " } else { "│  " };
                    let prefix = format!("{cont}{glyph}");
                    match (span, run) {
                        (Some(c), _) => stack.push(Item::Span(c, prefix, format!("{cont}{next}"))),
                        (None, Some(r)) => stack.push(Item::Run(r, prefix)),
                        (None, None) => {}
                    }
                }
            }
        }
    }
    out
}

/// The row's label: tree glyphs, service, name, and a fold count.
fn label(view: &TraceView<'_>, row: &Row) -> String {
    match row {
        Row::Span {
            span,
            prefix,
            hidden,
        } => {
            let s = view.span(*span);
            let prefix = cap_prefix(prefix);
            if *hidden > 0 {
                format!("{prefix}{} {} (+{hidden})", s.service(), s.name)
            } else {
                format!("{prefix}{} {}", s.service(), s.name)
            }
        }
        Row::Run { spans, prefix } => {
            let first = spans.first().map(|&i| view.span(i));
            format!(
                "{}×{} more {} {}",
                cap_prefix(prefix),
                spans.len(),
                first.map_or("", |s| s.service()),
                first.map_or("", |s| s.name.as_str())
            )
        }
    }
}

/// Deep trees keep their last 16 levels of glyphs behind a `⋯`.
fn cap_prefix(prefix: &str) -> String {
    const MAX: usize = 16 * 3;
    let n = prefix.chars().count();
    if n <= MAX {
        prefix.to_owned()
    } else {
        let tail: String = prefix.chars().skip(n - MAX).collect();
        format!("⋯{tail}")
    }
}

/// `s` cut to `w` characters, ending in `…` when cut.
fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn split_chars(s: &str, n: usize) -> (&str, &str) {
    let at = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
    s.split_at(at)
}

/// Tick labels over the bar area: nice round offsets from the trace start.
fn ruler(duration_ns: u64, w: usize) -> String {
    let mut line = vec![' '; w];
    let d = duration_ns.max(1) as f64;
    let step = super::trace_view::nice_step(d, (w / 10).max(3));
    let mut t = 0.0;
    while t <= d {
        let col = ((t / d) * w as f64).floor() as usize;
        let text = if t == 0.0 {
            "0".to_owned()
        } else {
            format_duration(t as u64)
        };
        let text: Vec<char> = format!("|{text}").chars().collect();
        if col + text.len() <= w && line[col..col + text.len()].iter().all(|c| *c == ' ') {
            line[col..col + text.len()].copy_from_slice(&text);
        }
        t += step;
    }
    line.into_iter().collect::<String>().trim_end().to_owned()
}

/// The row's bar: `█` critical, `▒` other span time, `|`/`x` events.
fn bar(view: &TraceView<'_>, row: &Row, w: usize) -> String {
    let tree = view.tree;
    let t0 = tree.start_ns;
    let d = tree.duration_ns().max(1) as f64;
    let col = |t: u64| -> f64 { (t.saturating_sub(t0) as f64 / d) * w as f64 };
    let mut cells = vec![' '; w];
    let fill = |start: u64, end: u64, c: char, cells: &mut Vec<char>| {
        let a = col(start).floor() as usize;
        let b = (col(end).ceil() as usize).max(a + 1).min(w);
        for cell in cells.iter_mut().take(b).skip(a.min(w.saturating_sub(1))) {
            *cell = c;
        }
    };
    let spans: Vec<usize> = match row {
        Row::Span { span, .. } => vec![*span],
        Row::Run { spans, .. } => spans.clone(),
    };
    for &i in &spans {
        let s = view.span(i);
        fill(s.start_ns, s.end_ns.max(s.start_ns), '▒', &mut cells);
    }
    for &i in &spans {
        for &(a, b) in &view.critical[i] {
            // Only whole cells count as critical, so a short section does not paint over
            // a long non-critical stretch.
            let ca = col(a);
            let cb = col(b);
            if cb - ca >= 0.5 || view.span(i).duration_ns() == b - a {
                fill(a, b, '█', &mut cells);
            }
        }
    }
    if let Row::Span { span, .. } = row {
        for e in &view.span(*span).events {
            let c = (col(e.time_ns).floor() as usize).min(w - 1);
            cells[c] = if e.name == "exception" { 'x' } else { '|' };
        }
    }
    cells.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spandb_storage::{Event, KeyValue, Resource, Span, SpanId, StatusCode, TraceId, Value};

    use super::*;

    fn span(id: u8, parent: Option<u8>, service: &str, name: &str, start: u64, end: u64) -> Span {
        Span {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: parent.map(|p| SpanId([p; 8])),
            name: name.into(),
            start_ns: start,
            end_ns: end,
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::new("service.name", Value::Str(service.into()))],
                ..Resource::default()
            }),
            ..Span::default()
        }
    }

    fn sample() -> TraceTree {
        let mut spans = vec![
            span(1, None, "web", "GET /", 0, 100_000_000),
            span(2, Some(1), "api", "load", 10_000_000, 90_000_000),
        ];
        for k in 0..10u8 {
            let t = 20_000_000 + u64::from(k) * 5_000_000;
            spans.push(span(10 + k, Some(2), "db", "SELECT", t, t + 4_000_000));
        }
        spans[1].status_code = StatusCode::Error;
        spans[1].events.push(Event {
            time_ns: 50_000_000,
            name: "exception".into(),
            ..Event::default()
        });
        TraceTree::from_spans(spans).unwrap()
    }

    #[test]
    fn rows_have_tree_glyphs_units_and_a_shared_axis() {
        let out = waterfall(&sample(), &WaterfallOptions::default());
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].contains("12 spans, 3 services, 100.0ms"), "{out}");
        assert!(
            lines[2].contains("DURATION") && lines[2].contains("|0"),
            "{out}"
        );
        assert!(lines[3].starts_with("  web GET /"), "{out}");
        assert!(lines[3].contains("100.0ms"), "{out}");
        assert!(lines[4].starts_with("! └─ api load"), "{out}");
        assert!(lines[4].contains('x'), "exception tick: {out}");
        // The 10 SELECTs: 2 shown, 8 folded into one row.
        assert_eq!(out.matches("db SELECT").count(), 3, "{out}");
        assert!(out.contains("×8 more db SELECT"), "{out}");
        // Every line fits the width.
        assert!(out.lines().all(|l| l.chars().count() <= 120), "{out}");
        assert!(!out.contains('\x1b'), "no colour unless asked: {out}");
    }

    #[test]
    fn depth_and_service_folding_count_what_they_hide() {
        let tree = sample();
        let out = waterfall(
            &tree,
            &WaterfallOptions {
                max_depth: Some(1),
                ..WaterfallOptions::default()
            },
        );
        assert!(out.contains("api load (+10)"), "{out}");
        assert!(!out.contains("SELECT"), "{out}");
        let out = waterfall(
            &tree,
            &WaterfallOptions {
                services: vec!["api".into()],
                ..WaterfallOptions::default()
            },
        );
        assert!(
            out.contains("web GET /") && out.contains("api load (+10)"),
            "{out}"
        );
        let out = waterfall(
            &tree,
            &WaterfallOptions {
                max_rows: Some(1),
                ..WaterfallOptions::default()
            },
        );
        assert!(out.contains("more rows (11 spans) not shown"), "{out}");
    }

    #[test]
    fn big_traces_get_a_folding_hint() {
        // 20 children, each with 40 distinct grandchildren: 821 rows.
        let mut spans = vec![span32(0, None, "web", "root", 0, 1_000_000)];
        let mut id = 1u32;
        for c in 0..20u64 {
            let cid = id;
            spans.push(span32(cid, Some(0), "api", "call", c * 100, c * 100 + 90));
            id += 1;
            for g in 0..40u64 {
                spans.push(span32(
                    id,
                    Some(cid),
                    "db",
                    &format!("q{g}"),
                    c * 100 + g,
                    c * 100 + g + 1,
                ));
                id += 1;
            }
        }
        let out = waterfall(
            &TraceTree::from_spans(spans).unwrap(),
            &WaterfallOptions::default(),
        );
        assert!(
            out.lines()
                .nth(2)
                .unwrap()
                .starts_with("821 rows: fold with --depth 1"),
            "{out}"
        );
    }

    fn span32(
        id: u32,
        parent: Option<u32>,
        service: &str,
        name: &str,
        start: u64,
        end: u64,
    ) -> Span {
        let mut s = span(0, None, service, name, start, end);
        s.span_id = SpanId(u64::from(id + 1).to_be_bytes());
        s.parent_span_id = parent.map(|p| SpanId(u64::from(p + 1).to_be_bytes()));
        s
    }

    #[test]
    fn colour_is_ansi_when_asked() {
        let out = waterfall(
            &sample(),
            &WaterfallOptions {
                color: true,
                ..WaterfallOptions::default()
            },
        );
        assert!(out.contains("\x1b[1;31m!"), "{out}");
    }
}
