//! Message templates: a Drain-style miner (He et al., "Drain: An Online Log Parsing Approach
//! with Fixed Depth Tree", ICWS 2017; as in Drain3) that turns messages such as
//! `user 4711 not found in /data/users.db` into `user <*> not found in <*>`.
//!
//! 1. **Masking.** Quoted values (`'...'`, `"..."`) are replaced first (they may hold
//!    spaces), then the message is split on whitespace and each token that is a variable by
//!    its shape becomes `<*>`: numbers (with units: `5000ms`, `3.5s`, `-1`), hex (`0x1f`, or
//!    8+ hex digits), UUIDs, IPv4 addresses (with port), paths (`/a/b`, `C:\x`), URLs,
//!    e-mail addresses, and any token holding a digit and no letter run of 4+ (ids such as
//!    `a1b2c3`, `user-42`). Punctuation around a token (`(`, `,`, `:`) is kept.
//! 2. **Parse tree.** Messages are routed by token count, then by their first
//!    [`MinerParams::depth`] tokens (a token node per distinct token; `<*>` tokens, and any
//!    token once a node has [`MinerParams::max_children`] children, go to the `<*>` child).
//!    A leaf holds clusters.
//! 3. **Similarity.** In the leaf, the cluster whose template has the most positions equal
//!    to the message (`<*>` positions do not count) wins if that share of the tokens is at
//!    least [`MinerParams::similarity`]; its template turns every differing position into
//!    `<*>`. Otherwise the message starts a new cluster.
//!
//! Templates only ever generalize, so a message always matches the final template of the
//! cluster it joined. Mining a template again yields itself (masking leaves `<*>` alone).
//! The result depends on the order of messages; callers that need a deterministic answer
//! feed them in a fixed order (the error groups sort them).

use std::collections::HashMap;

/// The wildcard token of templates.
pub const WILDCARD: &str = "<*>";

/// Parameters of the miner. The defaults are Drain3's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinerParams {
    /// Prefix tokens used to route a message below the length layer. Defaults to 2.
    pub depth: usize,
    /// Least share of equal tokens for a message to join a cluster. Defaults to 0.4.
    pub similarity: f64,
    /// Children of a tree node before further tokens go to its `<*>` child. Defaults to 100.
    pub max_children: usize,
}

impl Default for MinerParams {
    fn default() -> Self {
        MinerParams {
            depth: 2,
            similarity: 0.4,
            max_children: 100,
        }
    }
}

/// A cluster id: an index into [`TemplateMiner::templates`].
pub type ClusterId = usize;

#[derive(Default)]
struct Node {
    children: HashMap<String, Node>,
    clusters: Vec<ClusterId>,
}

/// The miner: feed messages with [`TemplateMiner::add`], read templates at the end.
pub struct TemplateMiner {
    params: MinerParams,
    /// Root's children by token count.
    by_len: HashMap<usize, Node>,
    templates: Vec<Vec<String>>,
}

impl Default for TemplateMiner {
    fn default() -> Self {
        Self::new(MinerParams::default())
    }
}

impl TemplateMiner {
    pub fn new(params: MinerParams) -> Self {
        TemplateMiner {
            params,
            by_len: HashMap::new(),
            templates: Vec::new(),
        }
    }

    /// Adds a message; returns the cluster it joined or started.
    pub fn add(&mut self, message: &str) -> ClusterId {
        let tokens = mask(message);
        let params = self.params;
        let mut node = self.by_len.entry(tokens.len()).or_default();
        for token in tokens.iter().take(params.depth) {
            let key = if token == WILDCARD
                || (!node.children.contains_key(token)
                    && node.children.len() + 1 >= params.max_children)
            {
                WILDCARD
            } else {
                token.as_str()
            };
            node = node.children.entry(key.to_owned()).or_default();
        }
        let best = node
            .clusters
            .iter()
            .map(|&c| (c, similarity(&self.templates[c], &tokens)))
            .filter(|&(_, sim)| sim >= params.similarity)
            // The most similar; the oldest cluster wins a tie, so results do not depend on
            // iteration order.
            .fold(
                None,
                |best: Option<(ClusterId, f64)>, (c, sim)| match best {
                    Some((_, b)) if b >= sim => best,
                    _ => Some((c, sim)),
                },
            );
        match best {
            Some((c, _)) => {
                for (t, m) in self.templates[c].iter_mut().zip(&tokens) {
                    if t != m {
                        *t = WILDCARD.to_owned();
                    }
                }
                c
            }
            None => {
                let c = self.templates.len();
                self.templates.push(tokens);
                node.clusters.push(c);
                c
            }
        }
    }

    /// The current template of cluster `c` (tokens joined by single spaces).
    pub fn template(&self, c: ClusterId) -> String {
        self.templates
            .get(c)
            .map(|t| t.join(" "))
            .unwrap_or_default()
    }

    /// Number of clusters.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}

/// Share of positions where the template has the message's token. A `<*>` in the template
/// counts only against a value the message had masked there too (as Drain3's `<NUM>`-style
/// masks compare equal): a template made only of wildcards does not swallow every message of
/// its length, and messages that are mostly values (`DELETE /orders/7 200 3ms`) still join
/// one cluster instead of starting one each.
fn similarity(template: &[String], tokens: &[String]) -> f64 {
    if tokens.is_empty() {
        return 1.0;
    }
    let equal = template.iter().zip(tokens).filter(|(t, m)| t == m).count();
    equal as f64 / tokens.len() as f64
}

/// The message's tokens with variables masked (step 1 of the module docs).
pub fn mask(message: &str) -> Vec<String> {
    mask_quotes(message)
        .split_whitespace()
        .map(mask_token)
        .collect()
}

/// Replaces quoted spans with `<*>`; an unmatched quote is left as it is.
fn mask_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(pos) = rest.find(['\'', '"']) {
        let (before, from_quote) = rest.split_at(pos);
        let quote = from_quote.chars().next().unwrap_or('"');
        // An apostrophe inside a word (`can't`) is not a quote.
        let in_word = quote == '\''
            && before
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
        match from_quote[1..].find(quote) {
            Some(end) if !in_word => {
                out.push_str(before);
                out.push_str(WILDCARD);
                rest = &from_quote[1 + end + 1..];
            }
            _ => {
                out.push_str(before);
                out.push(quote);
                rest = &from_quote[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Punctuation kept around a masked token.
const EDGE: &[char] = &['(', ')', '[', ']', '{', '}', ',', ';', ':', '.', '='];

fn mask_token(token: &str) -> String {
    let trimmed_start = token.trim_start_matches(EDGE);
    let core = trimmed_start.trim_end_matches(EDGE);
    if core.is_empty() || core == WILDCARD {
        return token.to_owned();
    }
    let prefix = &token[..token.len() - trimmed_start.len()];
    let suffix = &trimmed_start[core.len()..];
    let masked = match core.split_once('=') {
        // `key=value`: keep the key, judge the value.
        Some((key, value))
            if key
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.') =>
        {
            format!("{key}={}", mask_token(value))
        }
        _ if is_variable(core) => WILDCARD.to_owned(),
        _ => return token.to_owned(),
    };
    format!("{prefix}{masked}{suffix}")
}

/// Whether a token (without surrounding punctuation) is a value rather than a word.
fn is_variable(t: &str) -> bool {
    let has_digit = t.chars().any(|c| c.is_ascii_digit());
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return true;
    }
    if t.starts_with('/') && t.len() > 1 || t.starts_with("./") || t.starts_with("~/") {
        return true; // a path
    }
    if t.len() > 2 && t.as_bytes().get(1) == Some(&b':') && t.contains('\\') {
        return true; // a Windows path
    }
    if t.contains('@') && t.contains('.') {
        return true; // an e-mail address
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return true;
        }
    }
    if t.len() >= 8 && has_digit && t.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return true; // hex ids and UUIDs
    }
    if !has_digit {
        return false;
    }
    // A digit and no run of 4+ letters: numbers with units (`5000ms`), ids (`a1b2`,
    // `user-42`), versions, IPs, times. Words with a digit (`http2`, `utf8`) stay words.
    let mut run = 0;
    let mut longest = 0;
    for c in t.chars() {
        if c.is_alphabetic() {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest < 4 || t.chars().filter(|c| c.is_ascii_digit()).count() * 2 >= t.len()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn template_of(messages: &[&str]) -> Vec<String> {
        let mut m = TemplateMiner::default();
        let ids: Vec<ClusterId> = messages.iter().map(|msg| m.add(msg)).collect();
        ids.into_iter().map(|c| m.template(c)).collect()
    }

    #[test]
    fn masks_values_by_shape() {
        assert_eq!(
            mask("pool exhausted: no connection available within 5000ms").join(" "),
            "pool exhausted: no connection available within <*>"
        );
        assert_eq!(
            mask("user 'john doe' not found at /var/lib/x.db (id=0x1F, req 550e8400-e29b-41d4-a716-446655440000)")
                .join(" "),
            "user <*> not found at <*> (id=<*>, req <*>)"
        );
        assert_eq!(
            mask("dial tcp 10.0.0.7:5432: connect: connection refused").join(" "),
            "dial tcp <*>: connect: connection refused"
        );
        assert_eq!(
            mask("index out of range [3] with length 3").join(" "),
            "index out of range [<*>] with length <*>"
        );
        assert_eq!(
            mask("can't use http2 here").join(" "),
            "can't use http2 here"
        );
    }

    #[test]
    fn similar_messages_share_a_template_and_different_ones_do_not() {
        let t = template_of(&[
            "payment for order 17 declined by bank alpha",
            "payment for order 18 declined by bank beta",
            "connection reset by peer",
        ]);
        assert_eq!(t[0], "payment for order <*> declined by bank <*>");
        assert_eq!(t[1], t[0]);
        assert_eq!(t[2], "connection reset by peer");
    }

    #[test]
    fn unrelated_messages_of_one_length_stay_apart() {
        let t = template_of(&["context deadline exceeded", "certificate has expired"]);
        assert_eq!(t[0], "context deadline exceeded");
        assert_eq!(t[1], "certificate has expired");
    }

    #[test]
    fn messages_mostly_of_values_share_one_template() {
        let mut miner = TemplateMiner::default();
        let clusters: Vec<ClusterId> = (0..50)
            .map(|i| miner.add(&format!("DELETE /api/v1/orders/{i} 20{} {i}.3ms", i % 3)))
            .collect();
        assert!(clusters.iter().all(|&c| c == clusters[0]), "{clusters:?}");
        assert_eq!(miner.len(), 1);
        assert_eq!(miner.template(clusters[0]), "DELETE <*> <*> <*>");
        // Words in the value positions still keep messages apart.
        let other = miner.add("DELETE cascade tables now");
        assert_ne!(other, clusters[0]);
    }

    #[test]
    fn empty_message_has_an_empty_template() {
        assert_eq!(template_of(&["", "  "]), vec!["".to_owned(), "".to_owned()]);
    }

    proptest! {
        /// Mining a template again gives the template itself.
        #[test]
        fn mining_is_idempotent(words in prop::collection::vec("[a-z]{1,6}|[0-9]{1,5}|'[a-z ]{0,8}'|/[a-z]{1,4}/[a-z0-9]{1,4}|0x[0-9a-f]{1,6}", 0..12)) {
            let message = words.join(" ");
            let first = template_of(&[&message])[0].clone();
            let second = template_of(&[&first])[0].clone();
            prop_assert_eq!(first, second);
        }

        /// A message matches the final template of the cluster it joined.
        #[test]
        fn messages_match_their_final_template(msgs in prop::collection::vec(prop::collection::vec("[a-c]{1,2}|[0-9]{1,3}", 1..6), 1..30)) {
            let msgs: Vec<String> = msgs.iter().map(|w| w.join(" ")).collect();
            let mut m = TemplateMiner::default();
            let ids: Vec<ClusterId> = msgs.iter().map(|s| m.add(s)).collect();
            for (msg, c) in msgs.iter().zip(ids) {
                let tokens = mask(msg);
                let template = m.template(c);
                let template: Vec<&str> = template.split(' ').filter(|t| !t.is_empty()).collect();
                prop_assert_eq!(template.len(), tokens.len());
                for (t, tok) in template.iter().zip(&tokens) {
                    prop_assert!(*t == WILDCARD || t == tok);
                }
            }
        }
    }
}
