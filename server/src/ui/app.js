"use strict";
// spandb's web UI: one page, one section per view, chosen by the URL's hash (#/search,
// #/trace/<id>, #/map, #/red, #/errors, #/anomalies). Data comes from this server only:
// Tempo's search, tags and metrics endpoints and spandb's own /api/spandb/... . With a
// token configured, the token is kept in localStorage and sent as a bearer header.
(function () {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "spandb.token";
  const PALETTE = ["#3b7dd8", "#e8833a", "#3aa55d", "#c94f4f", "#8c62c4", "#2aa5a5", "#c9a227",
    "#d65c9e", "#6f7d8c", "#7fa33a", "#a0522d", "#4b5bd6"];

  // ---------- helpers ----------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  function svgEl(tag, attrs) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  function fmtDur(ns) {
    ns = Number(ns);
    if (!isFinite(ns)) return "–";
    if (ns >= 60e9) return (ns / 60e9).toFixed(1) + "m";
    if (ns >= 1e9) return (ns / 1e9).toFixed(2) + "s";
    if (ns >= 1e6) return (ns / 1e6).toFixed(1) + "ms";
    if (ns >= 1e3) return (ns / 1e3).toFixed(0) + "µs";
    return Math.round(ns) + "ns";
  }
  function fmtTime(ns) {
    const d = new Date(Number(BigInt(ns) / 1000000n));
    return d.toISOString().replace("T", " ").replace("Z", "");
  }
  // 1, 2 or 5 times a power of ten, at least `x`.
  function niceStep(x) {
    const p = Math.pow(10, Math.floor(Math.log10(x)));
    for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
    return 10 * p;
  }
  function pct(x) { return (100 * x).toFixed(1) + "%"; }
  function color(i) { return PALETTE[i % PALETTE.length]; }
  function setStatus(id, text, isError) {
    const s = $(id);
    s.textContent = text;
    s.classList.toggle("error", !!isError);
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function traceLink(id, text) { return el("a", { href: "#/trace/" + id, class: "mono", text: text || id }); }

  // ---------- API ----------
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function api(path, params, as) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    }
    const token = localStorage.getItem(TOKEN_KEY) || "";
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const r = await fetch(url, { headers });
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
      if (r.status === 401) askToken(true);
      throw new ApiError(r.status, msg);
    }
    return as === "text" ? r.text() : r.json();
  }

  // ---------- token ----------
  function askToken(needed) {
    $("token-box").hidden = false;
    $("token-button").classList.toggle("needed", !!needed);
    if (needed) notice("The query API wants a bearer token: enter it above.");
    $("token-input").focus();
  }
  $("token-button").addEventListener("click", () => {
    const box = $("token-box");
    box.hidden = !box.hidden;
    if (!box.hidden) $("token-input").focus();
  });
  $("token-box").addEventListener("submit", (ev) => {
    ev.preventDefault();
    localStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-input").value = "";
    $("token-box").hidden = true;
    $("token-button").classList.remove("needed");
    notice("");
    tagCache = null;
    valueCache.clear();
    loadStats().then(refresh);
  });
  $("token-clear").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    $("token-input").value = "";
  });
  function notice(text) {
    $("notice").textContent = text;
    $("notice").hidden = !text;
  }

  // ---------- time range ----------
  let dataRange = null; // {start, end} in ns (BigInt) of the stored data
  const RELATIVE = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800 };
  function rangeParams() {
    const v = $("range-select").value;
    if (RELATIVE[v]) {
      const now = Math.floor(Date.now() / 1000);
      return { start: now - RELATIVE[v], end: now + 1 };
    }
    if (v === "custom") {
      const s = Date.parse($("range-start").value + "Z"), e = Date.parse($("range-end").value + "Z");
      if (isFinite(s) && isFinite(e) && e > s) return { start: Math.floor(s / 1000), end: Math.ceil(e / 1000) };
    }
    return {};
  }
  // A closed range for the metrics endpoints: the data's own when "all data" is chosen.
  function closedRange() {
    const r = rangeParams();
    if (r.start) return r;
    if (!dataRange) return null;
    return { start: Number(dataRange.start / 1000000000n), end: Number(dataRange.end / 1000000000n) + 1 };
  }
  $("range-select").addEventListener("change", () => {
    const custom = $("range-select").value === "custom";
    $("custom-range").hidden = !custom;
    if (custom && !$("range-start").value && dataRange) {
      $("range-start").value = new Date(Number(dataRange.start / 1000000n)).toISOString().slice(0, 19);
      $("range-end").value = new Date(Number(dataRange.end / 1000000n) + 1000).toISOString().slice(0, 19);
    }
    if (!custom) refresh();
  });
  $("range-apply").addEventListener("click", refresh);

  async function loadStats() {
    try {
      const s = await api("/api/spandb/stats");
      if (s.start_ns !== null && s.end_ns !== null) {
        dataRange = { start: BigInt(s.start_ns), end: BigInt(s.end_ns) };
      }
      const span = dataRange
        ? fmtTime(dataRange.start).slice(0, 16) + "–" + fmtTime(dataRange.end).slice(11, 16) + " UTC"
        : "no data yet";
      $("data-info").textContent = s.spans.toLocaleString("en") + " spans · " +
        s.traces.toLocaleString("en") + " traces · " + span;
      services = s.services.map((x) => x.service);
    } catch (e) {
      $("data-info").textContent = "";
    }
  }
  let services = [];

  // ---------- routing ----------
  const loaded = {};
  function currentPage() {
    const h = location.hash.replace(/^#\/?/, "");
    const [page, ...rest] = h.split("/");
    return { page: page || "search", arg: rest.join("/") };
  }
  function route() {
    const { page, arg } = currentPage();
    for (const s of document.querySelectorAll(".page")) s.hidden = s.id !== "page-" + page;
    const tab = page === "trace" ? "search" : page;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === tab);
    const show = PAGES[page];
    if (show) show(arg);
  }
  function refresh() {
    for (const k of Object.keys(loaded)) delete loaded[k];
    route();
  }
  window.addEventListener("hashchange", route);

  // ---------- search ----------
  let lastSearch = null;
  async function runSearch() {
    const q = $("q").value.trim() || "{ }";
    const limit = $("limit").value || 100;
    hideComplete();
    setStatus("search-status", "searching…");
    const t0 = performance.now();
    try {
      const res = await api("/api/search", Object.assign({ q, limit }, rangeParams()));
      lastSearch = res.traces;
      const ms = Math.round(performance.now() - t0);
      setStatus("search-status", res.traces.length + " traces (" + ms + " ms)" +
        (res.traces.length >= Number(limit) ? ", the newest " + limit : ""));
      drawResults(res.traces);
    } catch (e) {
      setStatus("search-status", e.message, true);
      $("results").hidden = true;
      $("scatter").hidden = true;
    }
  }
  function serviceColors(traces) {
    const m = new Map();
    for (const t of traces) if (!m.has(t.rootServiceName)) m.set(t.rootServiceName, color(m.size));
    return m;
  }
  function drawResults(traces) {
    const tbody = $("results").querySelector("tbody");
    clear(tbody);
    const colors = serviceColors(traces);
    for (const t of traces) {
      tbody.appendChild(el("tr", {},
        el("td", {}, traceLink(t.traceID)),
        el("td", {}, el("span", { class: "chip", style: "background:" + colors.get(t.rootServiceName) }), t.rootServiceName),
        el("td", { text: t.rootTraceName }),
        el("td", { class: "mono", text: fmtTime(t.startTimeUnixNano) }),
        el("td", { class: "num", text: t.durationMs < 1 ? "<1ms" : fmtDur(t.durationMs * 1e6) }),
        el("td", { class: "num", text: t.spanSet ? t.spanSet.matched : "" })));
    }
    $("results").hidden = traces.length === 0;
    drawScatter(traces, colors);
  }
  function drawScatter(traces, colors) {
    const box = $("scatter");
    clear(box);
    box.hidden = traces.length === 0;
    if (!traces.length) return;
    const W = Math.max(box.clientWidth - 20, 400), H = 240, L = 62, R = 12, T = 12, B = 28;
    const xs = traces.map((t) => Number(BigInt(t.startTimeUnixNano) / 1000000n));
    const ys = traces.map((t) => Math.max(t.durationMs, 0));
    let x0 = Math.min(...xs), x1 = Math.max(...xs);
    if (x1 - x0 < 1000) { x0 -= 500; x1 += 500; }
    const yStep = niceStep(Math.max(...ys, 1) / 4);
    const yMax = Math.ceil(Math.max(...ys, 1) * 1.05 / yStep) * yStep;
    const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
    const sy = (y) => T + (1 - y / yMax) * (H - T - B);
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "duration by start time" });
    const axis = svgEl("g", { class: "axis" });
    for (let y = 0; y <= yMax + 1e-9; y += yStep) {
      const py = sy(y);
      axis.appendChild(svgEl("line", { x1: L, x2: W - R, y1: py, y2: py, class: "grid-line" }));
      const t = svgEl("text", { x: L - 6, y: py + 4, "text-anchor": "end" });
      t.textContent = fmtDur(y * 1e6);
      axis.appendChild(t);
    }
    for (let i = 0; i <= 5; i++) {
      const x = x0 + (x1 - x0) * i / 5;
      const t = svgEl("text", { x: sx(x), y: H - 8, "text-anchor": i === 0 ? "start" : i === 5 ? "end" : "middle" });
      t.textContent = new Date(x).toISOString().slice(11, 19);
      axis.appendChild(t);
    }
    axis.appendChild(svgEl("line", { x1: L, x2: W - R, y1: H - B, y2: H - B }));
    svg.appendChild(axis);
    traces.forEach((t, i) => {
      const c = svgEl("circle", { cx: sx(xs[i]), cy: sy(ys[i]), r: 4.5, fill: colors.get(t.rootServiceName) });
      const title = svgEl("title");
      title.textContent = `${t.rootServiceName} ${t.rootTraceName}\n${fmtDur(t.durationMs * 1e6)} · ${t.traceID}`;
      c.appendChild(title);
      c.addEventListener("click", () => { location.hash = "#/trace/" + t.traceID; });
      svg.appendChild(c);
    });
    box.appendChild(svg);
    const legend = el("div", { class: "muted" }, "duration by start time, coloured by root service: ",
      [...colors].slice(0, 12).map(([s, c]) => el("span", {}, el("span", { class: "chip", style: "background:" + c }), s + "  ")));
    box.appendChild(legend);
  }
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); runSearch(); });

  // ---------- TraceQL completion ----------
  const INTRINSICS = ["duration", "name", "status", "kind", "statusMessage", "rootName", "rootServiceName",
    "traceDuration", "span:duration", "span:name", "span:status", "span:kind", "trace:rootService"];
  let tagCache = null;
  const valueCache = new Map();
  async function tagNames() {
    if (tagCache) return tagCache;
    const res = await api("/api/v2/search/tags", rangeParams());
    const out = [];
    for (const s of res.scopes) {
      for (const t of s.tags) {
        if (s.name === "intrinsic") continue;
        out.push({ text: s.name + "." + t, hint: s.name });
      }
    }
    for (const t of INTRINSICS) out.push({ text: t, hint: "intrinsic" });
    tagCache = out;
    return out;
  }
  async function tagValues(tag) {
    if (valueCache.has(tag)) return valueCache.get(tag);
    const res = await api("/api/v2/search/tag/" + encodeURIComponent(tag) + "/values", rangeParams());
    valueCache.set(tag, res.tagValues);
    return res.tagValues;
  }
  let completion = { items: [], sel: 0, from: 0, to: 0 };
  function hideComplete() { $("complete").hidden = true; completion.items = []; }
  async function complete() {
    const input = $("q");
    const caret = input.selectionStart;
    const before = input.value.slice(0, caret);
    let m, items = [], from = caret;
    // A value after `attribute op`: `resource.service.name = "che|`.
    if ((m = /([A-Za-z_][\w.:-]*)\s*(=|!=|=~|!~)\s*("?)([^"&|}]*)$/.exec(before))) {
      const tag = m[1], prefix = m[4].toLowerCase();
      from = caret - m[4].length - m[3].length;
      let values = [];
      try { values = await tagValues(tag); } catch (_) { values = []; }
      items = values
        .filter((v) => String(v.value).toLowerCase().includes(prefix))
        .sort((a, b) => (String(b.value).toLowerCase().startsWith(prefix) - String(a.value).toLowerCase().startsWith(prefix)))
        .slice(0, 50)
        .map((v) => ({
          text: String(v.value),
          insert: v.type === "string" ? JSON.stringify(String(v.value)) : String(v.value),
          hint: v.type,
        }));
    } else if ((m = /(^|[{(&|!]\s*|&&\s*|\|\|\s*)([A-Za-z_.:][\w.:-]*)$/.exec(before)) && /\{[^}]*$/.test(before)) {
      const prefix = m[2].toLowerCase();
      from = caret - m[2].length;
      let names = [];
      try { names = await tagNames(); } catch (_) { names = []; }
      items = names
        .filter((n) => n.text.toLowerCase().includes(prefix) && n.text.toLowerCase() !== prefix)
        .sort((a, b) => (b.text.toLowerCase().startsWith(prefix) - a.text.toLowerCase().startsWith(prefix)))
        .slice(0, 50)
        .map((n) => ({ text: n.text, insert: n.text, hint: n.hint }));
    }
    // Typing may have moved on while the answer was on its way.
    if (input.selectionStart !== caret) return;
    completion = { items, sel: 0, from, to: caret };
    const ul = $("complete");
    clear(ul);
    items.forEach((it, i) => {
      ul.appendChild(el("li", {
        class: i === 0 ? "sel" : "",
        onmousedown: (ev) => { ev.preventDefault(); accept(i); },
      }, it.text, el("span", { class: "hint", text: it.hint })));
    });
    ul.hidden = items.length === 0;
  }
  function accept(i) {
    const it = completion.items[i];
    if (!it) return;
    const input = $("q");
    const v = input.value;
    // Drop a closing quote the user already typed.
    let to = completion.to;
    if (it.insert.startsWith('"') && v[to] === '"') to += 1;
    input.value = v.slice(0, completion.from) + it.insert + v.slice(to);
    const caret = completion.from + it.insert.length;
    input.setSelectionRange(caret, caret);
    hideComplete();
    input.focus();
  }
  function moveSel(d) {
    const n = completion.items.length;
    if (!n) return;
    completion.sel = (completion.sel + d + n) % n;
    const lis = $("complete").children;
    for (let i = 0; i < lis.length; i++) lis[i].classList.toggle("sel", i === completion.sel);
    lis[completion.sel].scrollIntoView({ block: "nearest" });
  }
  $("q").addEventListener("input", complete);
  $("q").addEventListener("focus", complete);
  // Hidden a moment after the box loses focus (a click on an item lands first), unless it
  // has it again by then.
  $("q").addEventListener("blur", () => setTimeout(() => {
    if (document.activeElement !== $("q")) hideComplete();
  }, 100));
  $("q").addEventListener("keydown", (ev) => {
    // A list for what was typed before the caret moved on is not accepted.
    const open = !$("complete").hidden && completion.items.length > 0 &&
      completion.to === $("q").selectionStart;
    if (ev.key === "ArrowDown" && open) { ev.preventDefault(); moveSel(1); }
    else if (ev.key === "ArrowUp" && open) { ev.preventDefault(); moveSel(-1); }
    else if ((ev.key === "Tab" || ev.key === "Enter") && open) { ev.preventDefault(); accept(completion.sel); }
    else if (ev.key === "Escape") hideComplete();
  });

  // ---------- trace ----------
  async function showTrace(id) {
    if (!id) { location.hash = "#/search"; return; }
    $("trace-id").textContent = id;
    $("trace-open").href = "/ui/trace/" + encodeURIComponent(id);
    const frame = $("trace-frame");
    const src = "/ui/trace/" + encodeURIComponent(id);
    if (frame.getAttribute("src") !== src) frame.setAttribute("src", src);
    const ul = $("explain");
    clear(ul);
    try {
      const e = await api("/api/spandb/traces/" + encodeURIComponent(id) + "/explain");
      for (const line of e.summary) ul.appendChild(el("li", { text: line }));
    } catch (e) {
      ul.appendChild(el("li", { class: "bad", text: e.message }));
    }
  }

  // ---------- service map ----------
  async function showMap() {
    if (loaded.map) return;
    loaded.map = true;
    const params = Object.assign({ q: $("map-q").value.trim() }, rangeParams());
    setStatus("map-status", "drawing…");
    try {
      const [svgText, graph] = await Promise.all([
        api("/api/spandb/graph.svg", params, "text"),
        api("/api/spandb/graph", params),
      ]);
      const holder = $("map-svg");
      clear(holder);
      const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
      const svg = doc.documentElement;
      if (svg && svg.nodeName === "svg") holder.appendChild(document.importNode(svg, true));
      const tbody = $("edges").querySelector("tbody");
      clear(tbody);
      const edges = graph.edges.slice().sort((a, b) => b.calls - a.calls);
      for (const e of edges) {
        const lat = e.server_latency || e.client_latency;
        const ratio = e.calls ? e.errors / e.calls : 0;
        tbody.appendChild(el("tr", {},
          el("td", { text: e.client }), el("td", { text: e.server }),
          el("td", {}, el("span", { class: "badge kind", text: e.kind })),
          el("td", { class: "num", text: e.calls }), el("td", { class: "num", text: e.errors }),
          el("td", { class: "num" + (ratio > 0.05 ? " bad" : ""), text: pct(ratio) }),
          el("td", { class: "num", text: lat ? fmtDur(lat.p50_ns) : "–" }),
          el("td", { class: "num", text: lat ? fmtDur(lat.p99_ns) : "–" })));
      }
      setStatus("map-status", graph.nodes.length + " nodes, " + graph.edges.length + " edges");
    } catch (e) {
      loaded.map = false;
      setStatus("map-status", e.message, true);
    }
  }
  $("map-go").addEventListener("click", () => { loaded.map = false; showMap(); });

  // ---------- RED ----------
  function kindFilter() {
    return $("red-kind").value === "entry" ? "(kind = server || kind = consumer)" : "true";
  }
  function labelOf(series, key) {
    const l = (series.labels || []).find((x) => x.key === key);
    if (!l) return undefined;
    const v = l.value;
    return v.stringValue !== undefined ? v.stringValue : v.intValue !== undefined ? v.intValue : String(v.doubleValue ?? v.boolValue ?? "");
  }
  async function showRed(arg) {
    const sel = $("red-service");
    if (arg && arg !== sel.value) sel.dataset.want = decodeURIComponent(arg);
    if (loaded.red) { if (arg) drawRedCharts(decodeURIComponent(arg)); return; }
    loaded.red = true;
    const range = closedRange();
    if (!range) { setStatus("red-status", "the database holds no spans"); return; }
    setStatus("red-status", "loading…");
    const filter = kindFilter();
    try {
      const [counts, quantiles] = await Promise.all([
        api("/api/metrics/query", Object.assign({ q: `{ ${filter} } | count_over_time() by (resource.service.name, status)` }, range)),
        api("/api/metrics/query", Object.assign({ q: `{ ${filter} } | quantile_over_time(duration, .5, .99) by (resource.service.name)` }, range)),
      ]);
      const rows = new Map();
      const row = (s) => { if (!rows.has(s)) rows.set(s, { spans: 0, errors: 0, p50: null, p99: null }); return rows.get(s); };
      for (const s of counts.series) {
        const svc = labelOf(s, "resource.service.name") || "";
        const r = row(svc);
        r.spans += s.value || 0;
        if (labelOf(s, "status") === "error") r.errors += s.value || 0;
      }
      for (const s of quantiles.series) {
        const svc = labelOf(s, "resource.service.name") || "";
        const p = Number(labelOf(s, "p"));
        const r = row(svc);
        if (Math.abs(p - 0.5) < 1e-9) r.p50 = s.value;
        if (Math.abs(p - 0.99) < 1e-9) r.p99 = s.value;
      }
      const seconds = Math.max(range.end - range.start, 1);
      const list = [...rows].filter(([, r]) => r.spans > 0).sort((a, b) => b[1].spans - a[1].spans);
      const tbody = $("red-table").querySelector("tbody");
      clear(tbody);
      for (const [svc, r] of list) {
        const ratio = r.spans ? r.errors / r.spans : 0;
        const tr = el("tr", { class: "clickable", "data-service": svc, onclick: () => { location.hash = "#/red/" + encodeURIComponent(svc); } },
          el("td", { text: svc }), el("td", { class: "num", text: Math.round(r.spans) }),
          el("td", { class: "num", text: (r.spans / seconds).toFixed(3) }),
          el("td", { class: "num", text: Math.round(r.errors) }),
          el("td", { class: "num" + (ratio > 0.05 ? " bad" : ""), text: pct(ratio) }),
          el("td", { class: "num", text: r.p50 === null ? "–" : fmtDur(r.p50 * 1e9) }),
          el("td", { class: "num", text: r.p99 === null ? "–" : fmtDur(r.p99 * 1e9) }));
        tbody.appendChild(tr);
      }
      clear(sel);
      for (const [svc] of list) sel.appendChild(el("option", { value: svc, text: svc }));
      setStatus("red-status", list.length + " services");
      const want = sel.dataset.want || (list[0] && list[0][0]);
      if (want) drawRedCharts(want);
    } catch (e) {
      loaded.red = false;
      setStatus("red-status", e.message, true);
    }
  }
  async function drawRedCharts(svc) {
    const sel = $("red-service");
    sel.value = svc;
    sel.dataset.want = svc;
    for (const tr of $("red-table").querySelectorAll("tbody tr")) tr.classList.toggle("selected", tr.dataset.service === svc);
    const range = closedRange();
    if (!range) return;
    const f = `resource.service.name = ${JSON.stringify(svc)} && ${kindFilter()}`;
    const charts = [
      ["chart-rate", `{ ${f} } | rate()`, `${svc}: requests per second`],
      ["chart-errors", `{ ${f} && status = error } | rate()`, `${svc}: errors per second`],
      ["chart-latency", `{ ${f} } | quantile_over_time(duration, .5, .99)`, `${svc}: latency p50, p99`],
    ];
    const width = Math.max(Math.min($("chart-rate").clientWidth - 10, 1400), 400);
    await Promise.all(charts.map(async ([id, q, title]) => {
      const holder = $(id);
      try {
        const text = await api("/api/spandb/chart.svg", Object.assign({ q, title, width, height: 240 }, range), "text");
        const svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
        clear(holder);
        if (svg && svg.nodeName === "svg") holder.appendChild(document.importNode(svg, true));
      } catch (e) {
        clear(holder);
        holder.appendChild(el("div", { class: "bad", text: e.message }));
      }
    }));
  }
  $("red-service").addEventListener("change", () => { location.hash = "#/red/" + encodeURIComponent($("red-service").value); });
  $("red-kind").addEventListener("change", () => { loaded.red = false; showRed(); });

  // ---------- errors ----------
  async function showErrors() {
    if (loaded.errors) return;
    loaded.errors = true;
    const baseline = $("errors-baseline").value;
    let range = rangeParams();
    if (baseline && !range.start) range = closedRange() || {};
    setStatus("errors-status", "loading…");
    try {
      const g = await api("/api/spandb/errors", Object.assign({ baseline, limit: 200 }, range));
      const tbody = $("errors-table").querySelector("tbody");
      clear(tbody);
      for (const x of g.groups) {
        const origin = x.origins && x.origins[0] ? `${x.origins[0].service} / ${x.origins[0].operation}` : "";
        tbody.appendChild(el("tr", {},
          el("td", { class: "num", text: x.count }),
          el("td", { class: "num", text: x.traces }),
          el("td", { class: "nowrap", text: x.service }),
          el("td", { class: "wrap" },
            x.new ? el("span", { class: "badge new", text: "new" }) : null,
            x.exception_type ? el("b", { text: x.exception_type + ": " }) : el("span", { class: "badge err", text: "error status" }),
            el("span", { class: "mono", text: x.template || "(no message)" })),
          el("td", { text: x.operations.slice(0, 3).map((o) => o.name).join(", ") }),
          el("td", { text: origin }),
          el("td", { class: "mono nowrap", text: fmtTime(x.last_seen_ns).slice(5, 19) }),
          el("td", { class: "nowrap" }, x.sample_trace_ids.slice(0, 2).map((id) => el("div", {}, traceLink(id, id.slice(0, 8) + "…"))))));
      }
      setStatus("errors-status", `${g.error_spans} error spans in ${g.groups.length} groups` +
        (g.baseline ? `, ${g.groups.filter((x) => x.new).length} new against the baseline` : ""));
      if (!g.groups.length) tbody.appendChild(el("tr", {}, el("td", { colspan: 8, class: "muted", text: "no errors in the range" })));
    } catch (e) {
      loaded.errors = false;
      setStatus("errors-status", e.message, true);
    }
  }
  $("errors-baseline").addEventListener("change", () => { loaded.errors = false; showErrors(); });

  // ---------- anomalies ----------
  async function showAnomalies() {
    if (loaded.anomalies) return;
    loaded.anomalies = true;
    setStatus("anomalies-status", "looking…");
    const box = $("incidents");
    try {
      const a = await api("/api/spandb/anomalies", Object.assign({ baseline: $("anomalies-baseline").value }, rangeParams()));
      clear(box);
      if (a.start_ns === undefined) {
        setStatus("anomalies-status", a.note || "");
        box.appendChild(el("div", { class: "empty", text: "no spans stored" }));
        return;
      }
      setStatus("anomalies-status", `window ${fmtTime(a.start_ns).slice(0, 19)} – ${fmtTime(a.end_ns).slice(0, 19)} UTC, ` +
        `baseline ${fmtTime(a.baseline_start_ns).slice(0, 19)} – ${fmtTime(a.baseline_end_ns).slice(0, 19)}: ` +
        `${a.incidents.length} incident${a.incidents.length === 1 ? "" : "s"}`);
      if (!a.incidents.length) box.appendChild(el("div", { class: "empty", text: "no incidents: nothing deviated from the baseline" }));
      for (const inc of a.incidents) {
        const origin = inc.origin ? `${inc.origin.service} / ${inc.origin.operation}` : "unknown origin";
        const dev = el("table", {}, el("thead", {}, el("tr", {},
          el("th", { text: "Service" }), el("th", { text: "Operation" }), el("th", { text: "Metric" }),
          el("th", { class: "num", text: "Peak" }), el("th", { class: "num", text: "Baseline" }), el("th", { class: "num", text: "Score" }))),
        el("tbody", {}, inc.deviations.slice(0, 12).map((d) => el("tr", {},
          el("td", { text: d.service }), el("td", { text: d.operation }), el("td", { text: d.metric }),
          el("td", { class: "num", text: metricValue(d.metric, d.peak) }),
          el("td", { class: "num", text: metricValue(d.metric, d.baseline) }),
          el("td", { class: "num", text: d.score.toFixed(1) })))));
        box.appendChild(el("div", { class: "incident" },
          el("h3", {}, inc.kinds.map((k) => el("span", { class: "badge err", text: k })), " in ", origin),
          el("div", { class: "muted", text: `${fmtTime(inc.start_ns).slice(0, 19)} – ${fmtTime(inc.end_ns).slice(11, 19)} UTC · score ${inc.score.toFixed(1)}` +
            (inc.affected_services.length ? ` · also affected: ${inc.affected_services.join(", ")}` : "") }),
          dev,
          inc.attributes.length ? el("div", {}, "over-represented: ", inc.attributes.map((x) =>
            el("span", { class: "mono", text: `${x.key}=${x.value} (${pct(x.anomalous_share)} vs ${pct(x.baseline_share)})  ` }))) : null,
          inc.sample_trace_ids.length ? el("div", {}, "traces: ", inc.sample_trace_ids.map((id) => [traceLink(id, id.slice(0, 12) + "…"), " "])) : null));
      }
    } catch (e) {
      loaded.anomalies = false;
      setStatus("anomalies-status", e.message, true);
    }
  }
  function metricValue(metric, v) {
    if (metric === "error_ratio") return pct(v);
    if (metric === "rate") return v.toFixed(1) + "/min";
    return fmtDur(v);
  }
  $("anomalies-baseline").addEventListener("change", () => { loaded.anomalies = false; showAnomalies(); });

  const PAGES = {
    search: () => { if (!loaded.search) { loaded.search = true; tagCache = null; valueCache.clear(); runSearch(); } },
    trace: showTrace,
    map: showMap,
    red: showRed,
    errors: showErrors,
    anomalies: showAnomalies,
  };

  // ---------- start ----------
  if (!location.hash) history.replaceState(null, "", "#/search");
  loadStats().then(route);
})();
