//! A layered ("Sugiyama-style") layout for the service map, small enough to read in one
//! sitting, so that most edges point one way (left to right, caller to callee):
//!
//! 1. **Cycles broken**: a depth-first search from the nodes without callers (then from any
//!    node left) marks an edge into a node still on the search stack as a back edge; back
//!    edges are ignored for layering and drawn as arcs below.
//! 2. **Layers by longest path**: a node sits one layer right of its furthest caller, so
//!    every forward edge points right.
//! 3. **Order within a layer by barycentre**: four sweeps (left to right, then back) move
//!    each node to the mean position of its neighbours in the previous layer, which removes
//!    most crossings. No dummy nodes are inserted for edges that skip layers; those are drawn
//!    as curves and may pass behind nodes (a documented simplification: service maps are
//!    shallow, rarely more than 5 layers).
//! 4. **Coordinates**: one column per layer, nodes spread evenly and centred vertically.

/// Where one node goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    pub layer: usize,
    /// Position within its layer, from the top.
    pub order: usize,
    /// Top-left corner, in pixels.
    pub x: f64,
    pub y: f64,
}

/// A finished layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub nodes: Vec<Placed>,
    /// Per input edge: it closes a cycle (drawn backwards).
    pub back: Vec<bool>,
    pub width: f64,
    pub height: f64,
}

/// Sizes of the drawing.
#[derive(Clone, Copy, Debug)]
pub struct Spacing {
    pub node_w: f64,
    pub node_h: f64,
    pub gap_x: f64,
    pub gap_y: f64,
    pub margin: f64,
}

/// Lays out `n` nodes joined by `edges` (`(from, to)` indices; self-loops are ignored).
pub fn layered(n: usize, edges: &[(usize, usize)], sp: Spacing) -> Layout {
    let mut out_adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    let mut has_caller = vec![false; n];
    for (k, &(a, b)) in edges.iter().enumerate() {
        if a < n && b < n && a != b {
            out_adj[a].push((b, k));
            has_caller[b] = true;
        }
    }
    // 1. Back edges by iterative DFS (colour: 0 new, 1 on stack, 2 done).
    let mut back = vec![false; edges.len()];
    let mut colour = vec![0u8; n];
    let starts: Vec<usize> = (0..n).filter(|&v| !has_caller[v]).chain(0..n).collect();
    for s in starts {
        if colour[s] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(s, 0)];
        colour[s] = 1;
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&(w, k)) = out_adj[v].get(*next) {
                *next += 1;
                match colour[w] {
                    0 => {
                        colour[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => back[k] = true,
                    _ => {}
                }
            } else {
                colour[v] = 2;
                stack.pop();
            }
        }
    }
    // 2. Longest-path layers over the forward edges (Kahn's order).
    let forward: Vec<(usize, usize)> = edges
        .iter()
        .enumerate()
        .filter(|&(k, &(a, b))| !back[k] && a < n && b < n && a != b)
        .map(|(_, &e)| e)
        .collect();
    let mut indeg = vec![0usize; n];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &forward {
        indeg[b] += 1;
        succ[a].push(b);
        pred[b].push(a);
    }
    let mut layer = vec![0usize; n];
    let mut queue: std::collections::VecDeque<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    while let Some(v) = queue.pop_front() {
        for &w in &succ[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indeg[w] -= 1;
            if indeg[w] == 0 {
                queue.push_back(w);
            }
        }
    }
    let layers = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut by_layer: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for v in 0..n {
        by_layer[layer[v]].push(v);
    }
    // 3. Barycentre sweeps.
    let mut pos = vec![0f64; n];
    let set_pos = |by_layer: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for l in by_layer {
            for (i, &v) in l.iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    };
    set_pos(&by_layer, &mut pos);
    for sweep in 0..4 {
        let down = sweep % 2 == 0;
        let range: Vec<usize> = if down {
            (1..layers).collect()
        } else {
            (0..layers.saturating_sub(1)).rev().collect()
        };
        for l in range {
            let mut keyed: Vec<(f64, usize)> = by_layer[l]
                .iter()
                .map(|&v| {
                    let nb = if down { &pred[v] } else { &succ[v] };
                    let bary = if nb.is_empty() {
                        pos[v]
                    } else {
                        nb.iter().map(|&u| pos[u]).sum::<f64>() / nb.len() as f64
                    };
                    (bary, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            by_layer[l] = keyed.into_iter().map(|(_, v)| v).collect();
            for (i, &v) in by_layer[l].iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    }
    // 4. Coordinates.
    let tallest = by_layer.iter().map(Vec::len).max().unwrap_or(0);
    let col_h = |count: usize| count as f64 * sp.node_h + count.saturating_sub(1) as f64 * sp.gap_y;
    let height = col_h(tallest) + 2.0 * sp.margin;
    let width =
        layers as f64 * sp.node_w + layers.saturating_sub(1) as f64 * sp.gap_x + 2.0 * sp.margin;
    let mut nodes = vec![
        Placed {
            layer: 0,
            order: 0,
            x: 0.0,
            y: 0.0
        };
        n
    ];
    for (l, vs) in by_layer.iter().enumerate() {
        let top = sp.margin + (col_h(tallest) - col_h(vs.len())) / 2.0;
        for (i, &v) in vs.iter().enumerate() {
            nodes[v] = Placed {
                layer: l,
                order: i,
                x: sp.margin + l as f64 * (sp.node_w + sp.gap_x),
                y: top + i as f64 * (sp.node_h + sp.gap_y),
            };
        }
    }
    Layout {
        nodes,
        back,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SP: Spacing = Spacing {
        node_w: 100.0,
        node_h: 40.0,
        gap_x: 50.0,
        gap_y: 20.0,
        margin: 10.0,
    };

    #[test]
    fn callers_sit_left_of_callees_and_cycles_point_back() {
        // 0 -> 1 -> 2 -> 3, 0 -> 3, and 3 -> 1 closing a cycle.
        let edges = [(0, 1), (1, 2), (2, 3), (0, 3), (3, 1)];
        let l = layered(4, &edges, SP);
        let layers: Vec<usize> = l.nodes.iter().map(|p| p.layer).collect();
        assert_eq!(layers, vec![0, 1, 2, 3]);
        assert_eq!(l.back, vec![false, false, false, false, true]);
        for (k, &(a, b)) in edges.iter().enumerate() {
            if !l.back[k] {
                assert!(l.nodes[a].x < l.nodes[b].x, "edge {a}->{b} points right");
            }
        }
    }

    #[test]
    fn barycentres_uncross_two_parallel_chains() {
        // 0 -> 3, 1 -> 2: the second layer orders 3 above 2 to follow 0 above 1.
        let l = layered(4, &[(0, 3), (1, 2)], SP);
        assert!(l.nodes[0].y < l.nodes[1].y);
        assert!(l.nodes[3].y < l.nodes[2].y);
    }
}
