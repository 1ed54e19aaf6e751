//! What every trace renderer (terminal, SVG, PNG, HTML) needs beyond the tree: the waterfall
//! order, self time, critical-path sections per span and a colour per service. Computed once
//! per trace from the analyses in [`crate::analysis`].

use spandb_query::analysis::{critical_path, self_times};
use spandb_query::TraceTree;
use spandb_storage::Span;

/// Service colours, in the order of [`TraceTree::services`] (most spans first), picked to be
/// told apart on white and on dark backgrounds; red is left out, it means "error".
pub const PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac",
    "#1f77b4", "#8c564b", "#17becf", "#bcbd22",
];

/// Colour for error marks.
pub const ERROR_COLOR: &str = "#d62728";

/// A trace prepared for drawing.
pub struct TraceView<'a> {
    pub tree: &'a TraceTree,
    /// Span indices in waterfall (depth-first) order.
    pub order: Vec<usize>,
    /// Self time per span index.
    pub self_ns: Vec<u64>,
    /// Critical-path sections `(start_ns, end_ns)` per span index, in time order.
    pub critical: Vec<Vec<(u64, u64)>>,
    /// Index into [`TraceTree::services`] (and the palette) per span index.
    pub service: Vec<usize>,
    /// Descendant count per span index (the rows that follow it in `order` and belong to it).
    pub subtree: Vec<usize>,
}

impl<'a> TraceView<'a> {
    pub fn new(tree: &'a TraceTree) -> TraceView<'a> {
        let n = tree.spans.len();
        let order = tree.depth_first();
        let self_ns = self_times(tree);
        let mut critical = vec![Vec::new(); n];
        for s in critical_path(tree) {
            if let Some(v) = critical.get_mut(s.span) {
                v.push((s.start_ns, s.end_ns));
            }
        }
        for v in &mut critical {
            v.sort_unstable();
        }
        let service = tree
            .spans
            .iter()
            .map(|s| {
                tree.services
                    .iter()
                    .position(|(name, _)| name == s.service())
                    .unwrap_or(0)
            })
            .collect();
        // Depth-first order: a span's descendants directly follow it, so sizes add up from
        // the back.
        let mut subtree = vec![0usize; n];
        for &i in order.iter().rev() {
            if let Some(p) = tree.nodes.get(i).and_then(|node| node.parent) {
                let add = subtree.get(i).copied().unwrap_or(0) + 1;
                if let Some(s) = subtree.get_mut(p) {
                    *s += add;
                }
            }
        }
        TraceView {
            tree,
            order,
            self_ns,
            critical,
            service,
            subtree,
        }
    }

    pub fn span(&self, i: usize) -> &Span {
        &self.tree.spans[i]
    }

    /// The palette colour of span `i`'s service.
    pub fn color(&self, i: usize) -> &'static str {
        service_color(self.service.get(i).copied().unwrap_or(0))
    }

    pub fn on_critical_path(&self, i: usize) -> bool {
        self.critical.get(i).is_some_and(|v| !v.is_empty())
    }

    /// Total critical-path time (the sum of all sections).
    pub fn critical_ns(&self) -> u64 {
        self.critical
            .iter()
            .flatten()
            .map(|(s, e)| e.saturating_sub(*s))
            .sum()
    }
}

/// The palette colour of the `k`-th service (wrapping around past 12).
pub fn service_color(k: usize) -> &'static str {
    PALETTE[k % PALETTE.len()]
}

/// `&`, `<`, `>`, `"` and `'` escaped for XML/HTML text and attribute values.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Round "nice" tick steps (1, 2, 5 × 10^k) so that about `target` ticks cover `span`.
pub fn nice_step(span: f64, target: usize) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_five() {
        assert_eq!(nice_step(100.0, 5), 20.0);
        assert_eq!(nice_step(48.5, 4), 20.0);
        assert_eq!(nice_step(7.0, 7), 1.0);
    }

    #[test]
    fn xml_escapes_markup() {
        assert_eq!(escape_xml("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
