//! The query front's merge of service graphs: Jaeger's `/api/dependencies` and spandb's
//! `/api/spandb/graph`. Nodes hold disjoint traces (Kafka partitions by trace id) and an edge
//! is a pair of spans of one trace, so every call is counted on exactly one node: calls and
//! errors add up exactly, edge by edge, node by node and minute by minute. Latency quantiles
//! do not add up, but sketches do: the front asks the nodes for every edge with its latency
//! sketches (`latency_state=true`), adds them up bucket by bucket and summarizes the sum as a
//! node summarizes its own, so p50/p90/p99 are what one node holding every span answers. An
//! edge from a node that sent no sketch (an older version) and seen on several nodes gets
//! `null` rather than an approximation.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use spandb::analysis::{EdgeLatencyState, LatencySummary};

/// Jaeger `{"data": [{"parent", "child", "callCount"}]}` answers: call counts summed per
/// (parent, child), sorted by parent then child.
pub(crate) fn merge_dependencies(answers: Vec<Value>) -> Vec<Value> {
    let mut links: BTreeMap<(String, String), u64> = BTreeMap::new();
    for a in &answers {
        for d in a
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let n = d.get("callCount").and_then(Value::as_u64).unwrap_or(0);
            *links.entry((s("parent"), s("child"))).or_default() += n;
        }
    }
    links
        .into_iter()
        .map(|((parent, child), n)| json!({"parent": parent, "child": child, "callCount": n}))
        .collect()
}

/// One edge being merged.
struct Edge {
    first: Value,
    calls: u64,
    errors: u64,
    per_minute: BTreeMap<u64, (u64, u64)>,
    seen_on: usize,
    /// The sum of the nodes' latency sketches; `None` once a node sent none.
    latency: Option<EdgeLatencyState>,
}

/// `/api/spandb/graph` answers (`ServiceGraph` as JSON, every edge with its `latency_state`)
/// merged into one, the edges cut to the `limit` with the most calls as a node does; the
/// sketches are left in only when `keep_state` (a front of fronts).
pub(crate) fn merge_graphs(answers: Vec<Value>, limit: usize, keep_state: bool) -> Value {
    let mut start_ns = u64::MAX;
    let mut end_ns = 0u64;
    let mut nodes: BTreeMap<(String, String), (Value, u64, u64)> = BTreeMap::new();
    let mut edges: BTreeMap<String, Edge> = BTreeMap::new();
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    for a in &answers {
        if let (Some(s), Some(e)) = (
            a.get("start_ns").and_then(Value::as_u64),
            a.get("end_ns").and_then(Value::as_u64),
        ) {
            start_ns = start_ns.min(s);
            end_ns = end_ns.max(e);
        }
        for n in a
            .get("nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = (n["kind"].to_string(), n["name"].to_string());
            let e = nodes.entry(key).or_insert_with(|| (n.clone(), 0, 0));
            e.1 += num(n, "calls_in");
            e.2 += num(n, "errors_in");
        }
        for e in a
            .get("edges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = ["client", "client_kind", "server", "server_kind", "kind"]
                .map(|k| e[k].to_string())
                .join("\u{0}");
            let m = edges.entry(key).or_insert_with(|| Edge {
                first: e.clone(),
                calls: 0,
                errors: 0,
                per_minute: BTreeMap::new(),
                seen_on: 0,
                latency: Some(EdgeLatencyState::default()),
            });
            m.calls += num(e, "calls");
            m.errors += num(e, "errors");
            m.seen_on += 1;
            let state = e
                .get("latency_state")
                .and_then(|v| serde_json::from_value::<EdgeLatencyState>(v.clone()).ok());
            m.latency = match (m.latency.take(), state) {
                (Some(mut sum), Some(s)) => {
                    let ok =
                        sum.client.merge(&s.client).is_ok() && sum.server.merge(&s.server).is_ok();
                    ok.then_some(sum)
                }
                _ => None,
            };
            for pm in e
                .get("per_minute")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let c = m.per_minute.entry(num(pm, "minute_ns")).or_default();
                c.0 += num(pm, "calls");
                c.1 += num(pm, "errors");
            }
        }
    }
    let mut nodes: Vec<Value> = nodes
        .into_values()
        .map(|(mut n, calls, errors)| {
            n["calls_in"] = json!(calls);
            n["errors_in"] = json!(errors);
            n
        })
        .collect();
    let mut edges: Vec<(u64, Value)> = edges
        .into_values()
        .map(|m| {
            let mut e = m.first;
            e["calls"] = json!(m.calls);
            e["errors"] = json!(m.errors);
            e["per_minute"] = Value::Array(
                m.per_minute
                    .into_iter()
                    .map(|(minute_ns, (calls, errors))| {
                        json!({"minute_ns": minute_ns, "calls": calls, "errors": errors})
                    })
                    .collect(),
            );
            match m.latency {
                Some(sum) => {
                    e["client_latency"] = json!(LatencySummary::of(&sum.client));
                    e["server_latency"] = json!(LatencySummary::of(&sum.server));
                    if keep_state {
                        e["latency_state"] = json!(sum);
                    }
                }
                None if m.seen_on > 1 => {
                    e["client_latency"] = Value::Null;
                    e["server_latency"] = Value::Null;
                }
                None => {}
            }
            if !keep_state {
                if let Some(o) = e.as_object_mut() {
                    o.remove("latency_state");
                }
            }
            (m.calls, e)
        })
        .collect();
    if edges.len() > limit {
        // Most calls first (stable: ties keep the client/server order), then back in order.
        let mut ranked: Vec<usize> = (0..edges.len()).collect();
        ranked.sort_by_key(|i| std::cmp::Reverse(edges[*i].0));
        let keep: std::collections::BTreeSet<usize> = ranked.into_iter().take(limit).collect();
        edges = edges
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, e)| e)
            .collect();
        // As a node: only the nodes the kept edges touch.
        let touched: std::collections::HashSet<String> = edges
            .iter()
            .flat_map(|(_, e)| [e["client"].to_string(), e["server"].to_string()])
            .collect();
        nodes.retain(|n| touched.contains(&n["name"].to_string()));
    }
    let mut out = Map::new();
    if start_ns <= end_ns {
        out.insert("start_ns".into(), json!(start_ns));
        out.insert("end_ns".into(), json!(end_ns));
    }
    out.insert("nodes".into(), Value::Array(nodes));
    out.insert(
        "edges".into(),
        Value::Array(edges.into_iter().map(|(_, e)| e).collect()),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_are_summed_per_pair() {
        let a = json!({"data": [{"parent": "a", "child": "b", "callCount": 2}]});
        let b = json!({"data": [{"parent": "a", "child": "b", "callCount": 3},
                                {"parent": "b", "child": "c", "callCount": 1}]});
        assert_eq!(
            merge_dependencies(vec![a, b]),
            vec![
                json!({"parent": "a", "child": "b", "callCount": 5}),
                json!({"parent": "b", "child": "c", "callCount": 1}),
            ]
        );
    }

    #[test]
    fn graph_edges_add_up_and_latency_sketches_merge() {
        use spandb::SketchState;
        let sketch = |offset: i32, counts: &[u64]| SketchState {
            zero_count: 0,
            offset,
            counts: counts.to_vec(),
        };
        let edge = |calls: u64, minute: u64, client: SketchState| {
            json!({"client": "a", "client_kind": "service", "server": "b",
                   "server_kind": "service", "kind": "rpc", "calls": calls, "errors": 1,
                   "client_latency": {"p50_ns": 1.0, "p90_ns": 2.0, "p99_ns": 3.0},
                   "server_latency": null,
                   "latency_state": {"client": client, "server": SketchState::default()},
                   "per_minute": [{"minute_ns": minute, "calls": calls, "errors": 1}]})
        };
        let node =
            |calls: u64| json!({"name": "b", "kind": "service", "calls_in": calls, "errors_in": 1});
        let g1 = json!({"start_ns": 60, "end_ns": 180, "nodes": [node(2)],
                        "edges": [edge(2, 60, sketch(500, &[1, 1]))]});
        let g2 = json!({"start_ns": 0, "end_ns": 120, "nodes": [node(3)],
                        "edges": [edge(3, 60, sketch(900, &[3]))]});
        let m = merge_graphs(vec![g1.clone(), g2.clone()], 500, false);
        assert_eq!(m["start_ns"], 0);
        assert_eq!(m["end_ns"], 180);
        assert_eq!(m["nodes"][0]["calls_in"], 5);
        assert_eq!(m["edges"][0]["calls"], 5);
        assert_eq!(m["edges"][0]["errors"], 2);
        assert_eq!(m["edges"][0]["per_minute"][0]["calls"], 5);
        // The five calls' sketch: buckets 500, 501 and 900 (x3).
        let mut all = sketch(0, &[]);
        let mut counts = vec![0; 401];
        counts[0] = 1;
        counts[1] = 1;
        counts[400] = 3;
        all.merge(&sketch(500, &counts)).unwrap();
        assert_eq!(
            m["edges"][0]["client_latency"],
            json!(LatencySummary::of(&all))
        );
        assert!(m["edges"][0]["server_latency"].is_null());
        assert!(m["edges"][0].get("latency_state").is_none());
        let kept = merge_graphs(vec![g1.clone(), g2], 500, true);
        assert_eq!(kept["edges"][0]["latency_state"]["client"], json!(all));
        // A node without sketches: a shared edge's latency is unknown, not approximated.
        let mut old = g1;
        old["edges"][0]
            .as_object_mut()
            .unwrap()
            .remove("latency_state");
        let m = merge_graphs(vec![old.clone(), old], 500, false);
        assert!(m["edges"][0]["client_latency"].is_null());
    }
}
