//! One trace as one self-contained HTML page: a waterfall with a time ruler, bars coloured by
//! service, expand/collapse, a detail panel (attributes, resource, scope, events, links), the
//! critical path on demand, a find box and a minimap. Everything is inline (CSS, JS, the
//! data as JSON); the page loads nothing, so it opens offline from disk or from a ticket.
//!
//! The data is compact for big traces: every string (names, keys, values) is interned once
//! in a string table and spans refer to it by index, so a 10,000-span trace stays well under
//! 3 MB. The page draws only the rows in view (fixed row height, absolutely positioned), so
//! scrolling stays smooth however many spans there are.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{json, Value as Json};
use spandb_query::TraceTree;
use spandb_storage::{KeyValue, SpanKind};

use super::table::format_duration;
use super::trace_view::{escape_xml, TraceView};

/// The page's style sheet and script, for a server that serves them as files (see
/// [`trace_html_shell`]).
pub const TRACE_HTML_CSS: &str = include_str!("trace_html.css");
pub const TRACE_HTML_JS: &str = include_str!("trace_html.js");
const CSS: &str = TRACE_HTML_CSS;
const JS: &str = TRACE_HTML_JS;

/// Interned strings: index by content.
#[derive(Default)]
struct Strings {
    list: Vec<String>,
    index: HashMap<String, usize>,
}

impl Strings {
    fn id(&mut self, s: &str) -> usize {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len();
        self.list.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }

    /// `[key, value, key, value, ...]` as string ids.
    fn attrs(&mut self, kvs: &[KeyValue]) -> Vec<usize> {
        let mut out = Vec::with_capacity(kvs.len() * 2);
        for kv in kvs {
            out.push(self.id(&kv.key));
            out.push(self.id(&kv.value.to_string()));
        }
        out
    }
}

fn kind_name(k: SpanKind) -> &'static str {
    k.as_str()
}

/// The page for `tree`.
pub fn trace_html(tree: &TraceTree) -> String {
    let data = trace_html_data(tree);
    let title = escape_xml(&trace_html_title(tree));
    page(
        &title,
        &format!("<style>\n{CSS}</style>"),
        &data,
        &format!("<script>\n{JS}</script>"),
    )
}

/// The page's title: trace id, span count and duration.
pub fn trace_html_title(tree: &TraceTree) -> String {
    format!(
        "trace {} · {} spans · {}",
        tree.trace_id,
        tree.spans.len(),
        format_duration(tree.duration_ns())
    )
}

/// The page without its data, style or script inline: `css_href` and `script_src` name them
/// (a server's web UI, whose Content-Security-Policy forbids inline scripts). The script at
/// `script_src` fills `#trace-data` with [`trace_html_data`] (and `h1` and the title with
/// [`trace_html_title`]) before it loads [`TRACE_HTML_JS`].
pub fn trace_html_shell(css_href: &str, script_src: &str) -> String {
    page(
        "trace",
        &format!(
            "<link rel=\"stylesheet\" href=\"{}\">",
            escape_xml(css_href)
        ),
        "",
        &format!("<script src=\"{}\"></script>", escape_xml(script_src)),
    )
}

fn page(title_html: &str, style: &str, data: &str, script: &str) -> String {
    let mut out = String::with_capacity(data.len() + style.len() + script.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title_html}</title>\n{style}\n</head>\n<body>\n\
         <header>\n<h1>{title_html}</h1>\n<div id=\"controls\">\
         <input id=\"find\" type=\"search\" placeholder=\"Find: service, name, attribute (Enter: next)\" autocomplete=\"off\">\
         <span id=\"find-count\"></span>\
         <label><input id=\"cp-toggle\" type=\"checkbox\"> critical path</label>\
         <button id=\"expand-all\" type=\"button\">expand all</button>\
         <button id=\"collapse-all\" type=\"button\">collapse all</button>\
         </div>\n<div id=\"legend\"></div>\n\
         <div id=\"minimap\"><canvas id=\"minimap-canvas\"></canvas><div id=\"minimap-view\"></div></div>\n\
         <div id=\"ruler\"><div class=\"label-col\">Service · operation</div><div id=\"ticks\"></div></div>\n\
         </header>\n<main id=\"scroller\"><div id=\"spacer\"></div></main>\n\
         <aside id=\"detail\" hidden></aside>\n\
         <script type=\"application/json\" id=\"trace-data\">{data}</script>\n\
         {script}\n</body>\n</html>\n",
    );
    out
}

/// The page's data (the JSON its script reads from `#trace-data`), with `<` escaped so it
/// can sit inside a script element.
pub fn trace_html_data(tree: &TraceTree) -> String {
    let view = TraceView::new(tree);
    let t0 = tree.start_ns;
    let mut strings = Strings::default();
    let mut resources: Vec<Vec<usize>> = Vec::new();
    let mut resource_ids: HashMap<*const spandb_storage::Resource, usize> = HashMap::new();
    let mut row_of = vec![usize::MAX; tree.spans.len()];
    for (row, &i) in view.order.iter().enumerate() {
        row_of[i] = row;
    }
    let rel = |t: u64| t.saturating_sub(t0);
    let mut rows = Vec::with_capacity(view.order.len());
    for &i in &view.order {
        let s = view.span(i);
        let node = &tree.nodes[i];
        let res_ptr = std::sync::Arc::as_ptr(&s.resource);
        let res = match resource_ids.get(&res_ptr) {
            Some(&r) => r,
            None => {
                let r = resources.len();
                resources.push(strings.attrs(&s.resource.attributes));
                resource_ids.insert(res_ptr, r);
                r
            }
        };
        let critical: Vec<[u64; 2]> = view.critical[i]
            .iter()
            .map(|&(a, b)| [rel(a), rel(b)])
            .collect();
        let events: Vec<Json> = s
            .events
            .iter()
            .map(|e| {
                json!([
                    rel(e.time_ns),
                    strings.id(&e.name),
                    strings.attrs(&e.attributes)
                ])
            })
            .collect();
        let links: Vec<Json> = s
            .links
            .iter()
            .map(|l| {
                json!([
                    l.trace_id.to_string(),
                    l.span_id.to_string(),
                    strings.attrs(&l.attributes)
                ])
            })
            .collect();
        let scope = if s.scope.version.is_empty() {
            s.scope.name.clone()
        } else {
            format!("{} {}", s.scope.name, s.scope.version)
        };
        // One array per row, in `order`; the page's JS names the fields (see `F` there).
        rows.push(json!([
            node.depth,
            node.parent
                .map_or(-1, |p| row_of.get(p).map_or(-1, |&r| r as i64)),
            rel(s.start_ns),
            s.duration_ns(),
            view.service[i],
            strings.id(&s.name),
            kind_name(s.kind),
            u8::from(s.is_error()),
            view.self_ns[i],
            view.subtree[i],
            critical,
            events,
            s.span_id.to_string(),
            strings.attrs(&s.attributes),
            res,
            strings.id(&scope),
            strings.id(&s.status_message),
            links,
            u8::from(node.orphan),
        ]));
    }
    let services: Vec<Json> = tree
        .services
        .iter()
        .enumerate()
        .map(|(k, (name, count))| json!([name, super::trace_view::service_color(k), count]))
        .collect();
    let data = json!({
        "traceId": tree.trace_id.to_string(),
        "startNs": t0.to_string(),
        "durationNs": tree.duration_ns(),
        "services": services,
        "strings": strings.list,
        "resources": resources,
        "rows": rows,
    });
    // `<` never appears raw inside the script element, so no `</script>` in a span name can
    // end it early.
    data.to_string().replace('<', "\\u003c")
}

/// Adds a trace's logs (the text of [`super::logs::trace_logs_text`]) to a page made by
/// [`trace_html`], as a section under the waterfall. Empty text leaves the page unchanged.
pub fn with_logs(page: &str, logs_text: &str) -> String {
    if logs_text.trim().is_empty() {
        return page.to_owned();
    }
    let escaped = logs_text
        .trim_start_matches('\n')
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let section = format!(
        "<section id=\"logs\"><h2 style=\"font:600 14px sans-serif\">Logs</h2>\
         <pre style=\"font:12px monospace;white-space:pre-wrap\">{escaped}</pre></section>\n"
    );
    match page.rfind("<script>") {
        Some(at) => format!("{}{section}{}", &page[..at], &page[at..]),
        None => format!("{page}{section}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spandb_storage::{Resource, Span, SpanId, TraceId, Value};

    use super::*;

    #[test]
    fn the_page_is_self_contained_and_holds_every_span() {
        let resource = Arc::new(Resource {
            attributes: vec![KeyValue::new("service.name", Value::Str("web".into()))],
            ..Resource::default()
        });
        let spans: Vec<Span> = (1..=30u8)
            .map(|id| Span {
                trace_id: TraceId([1; 16]),
                span_id: SpanId([id; 8]),
                parent_span_id: (id > 1).then_some(SpanId([1; 8])),
                name: format!("op</script>{id}"),
                start_ns: u64::from(id) * 10,
                end_ns: u64::from(id) * 10 + 5 + if id == 1 { 1000 } else { 0 },
                resource: resource.clone(),
                ..Span::default()
            })
            .collect();
        let tree = TraceTree::from_spans(spans).unwrap();
        let page = trace_html(&tree);
        assert!(page.starts_with("<!DOCTYPE html>"));
        for outside in ["<link", "src=", "href=", "http://", "https://", "@import"] {
            assert!(!page.contains(outside), "{outside} in the page");
        }
        // A span name cannot end the data script early.
        assert_eq!(page.matches("</script>").count(), 2);
        let start = page.find("id=\"trace-data\">").unwrap() + "id=\"trace-data\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let data: Json = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(data["rows"].as_array().unwrap().len(), 30);
        assert_eq!(data["services"][0][0], "web");
    }
}
