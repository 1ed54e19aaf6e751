"use strict";
(function () {
  // Row fields, in the order trace_html.rs writes them.
  const DEPTH = 0, PARENT = 1, START = 2, DUR = 3, SVC = 4, NAME = 5, KIND = 6, ERR = 7,
    SELF = 8, SUBTREE = 9, CRIT = 10, EVENTS = 11, SPAN_ID = 12, ATTRS = 13, RES = 14,
    SCOPE = 15, STATUS = 16, LINKS = 17, ORPHAN = 18;
  const ROW_H = 22, OVERSCAN = 12;

  const D = JSON.parse(document.getElementById("trace-data").textContent);
  const S = D.strings, R = D.rows, N = R.length, TOTAL = Math.max(D.durationNs, 1);
  const collapsed = new Uint8Array(N);
  let visible = [];          // row indices shown, in order
  let showCp = false, selected = -1, matches = null, matchList = [], matchAt = -1;

  const $ = (id) => document.getElementById(id);
  const scroller = $("scroller"), spacer = $("spacer"), detail = $("detail");

  function fmtDur(ns) {
    if (ns >= 60e9) return (ns / 60e9).toFixed(1) + "m";
    if (ns >= 1e9) return (ns / 1e9).toFixed(2) + "s";
    if (ns >= 1e6) return (ns / 1e6).toFixed(1) + "ms";
    if (ns >= 1e3) return (ns / 1e3).toFixed(0) + "us";
    return ns + "ns";
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  function pct(ns) { return (100 * ns / TOTAL).toFixed(4) + "%"; }

  function computeVisible() {
    visible = [];
    for (let i = 0; i < N;) {
      visible.push(i);
      i += collapsed[i] ? R[i][SUBTREE] + 1 : 1;
    }
    spacer.style.height = visible.length * ROW_H + "px";
  }

  function rowHtml(i, top) {
    const r = R[i];
    const svc = D.services[r[SVC]] || ["?", "#999", 0];
    const onCp = r[CRIT].length > 0;
    let cls = "row";
    if (showCp && onCp) cls += " critical";
    if (i === selected) cls += " selected";
    if (matches && matches[i]) cls += " match";
    const kids = r[SUBTREE] > 0;
    const toggle = kids ? (collapsed[i] ? "▸" : "▾") : "";
    const hidden = kids && collapsed[i] ? `<span class="hidden-count">+${r[SUBTREE]}</span>` : "";
    const err = r[ERR] ? `<span class="err" title="error">!</span>` : "";
    let h = `<div class="${cls}" style="top:${top}px" data-row="${i}" data-span="${r[SPAN_ID]}">` +
      `<div class="label" style="padding-left:${12 + r[DEPTH] * 14}px">` +
      `<span class="toggle">${toggle}</span>${err}<span class="chip" style="background:${svc[1]}"></span>` +
      `<span class="svc">${esc(svc[0])}</span><span class="name">${esc(S[r[NAME]])}</span>${hidden}</div>` +
      `<div class="lane"><div class="bar${r[ERR] ? " error" : ""}" style="left:${pct(r[START])};width:${pct(r[DUR])};background:${svc[1]}"></div>`;
    for (const [a, b] of r[CRIT]) {
      h += `<div class="cp-seg" style="left:${pct(a)};width:${pct(Math.max(b - a, 0))}"></div>`;
    }
    for (const [t, name] of r[EVENTS]) {
      const ex = S[name] === "exception" ? " exception" : "";
      h += `<div class="ev${ex}" style="left:${pct(t)}" title="${esc(S[name])} at +${fmtDur(t)}"></div>`;
    }
    h += `<div class="dur" style="left:calc(${pct(r[START] + r[DUR])} + 4px)">${fmtDur(r[DUR])}</div></div></div>`;
    return h;
  }

  let pending = false;
  function render() {
    pending = false;
    const top = scroller.scrollTop, h = scroller.clientHeight;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(visible.length, Math.ceil((top + h) / ROW_H) + OVERSCAN);
    let html = "";
    for (let k = first; k < last; k++) html += rowHtml(visible[k], k * ROW_H);
    spacer.innerHTML = html;
    drawViewport();
  }
  function schedule() {
    if (!pending) { pending = true; requestAnimationFrame(render); }
  }

  // Minimap: every visible row as a 1px-high bar, the viewport as a box.
  const mm = $("minimap"), canvas = $("minimap-canvas"), mmView = $("minimap-view");
  function drawMinimap() {
    const w = canvas.clientWidth, h = canvas.clientHeight, dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, w * dpr); canvas.height = Math.max(1, h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.clearRect(0, 0, w, h);
    const n = Math.max(visible.length, 1), rh = Math.max(h / n, 0.5);
    for (let k = 0; k < visible.length; k++) {
      const r = R[visible[k]];
      ctx.fillStyle = r[ERR] ? "#d62728" : (D.services[r[SVC]] || [0, "#999"])[1];
      ctx.fillRect(w * r[START] / TOTAL, h * k / n, Math.max(w * r[DUR] / TOTAL, 1), Math.max(rh, 0.5));
    }
  }
  function drawViewport() {
    const total = Math.max(visible.length * ROW_H, 1), h = mm.clientHeight;
    mmView.style.top = (h * scroller.scrollTop / total) + "px";
    mmView.style.height = Math.max(3, h * Math.min(1, scroller.clientHeight / total)) + "px";
  }
  function minimapJump(ev) {
    const rect = mm.getBoundingClientRect();
    const f = (ev.clientY - rect.top) / rect.height;
    scroller.scrollTop = f * visible.length * ROW_H - scroller.clientHeight / 2;
  }
  let dragging = false;
  mm.addEventListener("mousedown", (ev) => { dragging = true; minimapJump(ev); });
  window.addEventListener("mousemove", (ev) => { if (dragging) minimapJump(ev); });
  window.addEventListener("mouseup", () => { dragging = false; });

  function drawRuler() {
    const ticks = $("ticks");
    const target = Math.max(2, Math.floor(ticks.clientWidth / 110));
    const raw = TOTAL / target, mag = Math.pow(10, Math.floor(Math.log10(raw))), norm = raw / mag;
    const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
    let html = "";
    for (let t = 0; t <= TOTAL + 1e-9; t += step) {
      html += `<div class="tick" style="left:${pct(t)}">${t === 0 ? "0" : fmtDur(t)}</div>`;
    }
    ticks.innerHTML = html;
  }

  function drawLegend() {
    $("legend").innerHTML = D.services.map(([name, color, count]) =>
      `<span><span class="chip" style="background:${color}"></span>${esc(name)} (${count})</span>`).join("");
  }

  function kvTable(ids) {
    if (!ids || ids.length === 0) return "<p>none</p>";
    let h = '<table class="attrs">';
    for (let k = 0; k + 1 < ids.length; k += 2) h += `<tr><td>${esc(S[ids[k]])}</td><td>${esc(S[ids[k + 1]])}</td></tr>`;
    return h + "</table>";
  }
  function showDetail(i) {
    const r = R[i], svc = D.services[r[SVC]] || ["?"];
    const parent = r[PARENT] >= 0 ? R[r[PARENT]][SPAN_ID] : (r[ORPHAN] ? "(missing)" : "(root)");
    let h = `<button class="close" type="button" id="detail-close">close</button>` +
      `<h2>${esc(svc[0])} · ${esc(S[r[NAME]])}</h2><table class="span-fields">` +
      `<tr><td>span id</td><td>${r[SPAN_ID]}</td></tr><tr><td>parent</td><td>${parent}</td></tr>` +
      `<tr><td>kind</td><td>${r[KIND]}</td></tr>` +
      `<tr><td>status</td><td>${r[ERR] ? "error" : "ok/unset"}${S[r[STATUS]] ? ": " + esc(S[r[STATUS]]) : ""}</td></tr>` +
      `<tr><td>start</td><td>+${fmtDur(r[START])}</td></tr><tr><td>duration</td><td>${fmtDur(r[DUR])}</td></tr>` +
      `<tr><td>self time</td><td>${fmtDur(r[SELF])}</td></tr>` +
      `<tr><td>critical path</td><td>${fmtDur(r[CRIT].reduce((a, [s, e]) => a + e - s, 0))}</td></tr>` +
      `<tr><td>scope</td><td>${esc(S[r[SCOPE]])}</td></tr></table>`;
    h += `<h3>Attributes</h3>${kvTable(r[ATTRS])}`;
    h += `<h3>Resource</h3>${kvTable(D.resources[r[RES]])}`;
    h += `<h3>Events (${r[EVENTS].length})</h3>`;
    for (const [t, name, attrs] of r[EVENTS]) h += `<p><b>+${fmtDur(t)} ${esc(S[name])}</b></p>${kvTable(attrs)}`;
    h += `<h3>Links (${r[LINKS].length})</h3>`;
    for (const [trace, span, attrs] of r[LINKS]) h += `<p>trace ${trace} span ${span}</p>${kvTable(attrs)}`;
    h += `<h3>Logs</h3><p>not stored with this trace</p>`;
    detail.innerHTML = h;
    detail.hidden = false;
    $("detail-close").addEventListener("click", () => { detail.hidden = true; selected = -1; schedule(); });
  }

  spacer.addEventListener("click", (ev) => {
    const row = ev.target.closest(".row");
    if (!row) return;
    const i = Number(row.dataset.row);
    if (ev.target.closest(".toggle") && R[i][SUBTREE] > 0) {
      collapsed[i] ^= 1;
      computeVisible(); drawMinimap();
    } else {
      selected = i; showDetail(i);
    }
    schedule();
  });
  spacer.addEventListener("dblclick", (ev) => {
    const row = ev.target.closest(".row");
    if (!row) return;
    const i = Number(row.dataset.row);
    if (R[i][SUBTREE] > 0) { collapsed[i] ^= 1; computeVisible(); drawMinimap(); schedule(); }
  });

  $("cp-toggle").addEventListener("change", (ev) => {
    showCp = ev.target.checked;
    document.body.classList.toggle("show-cp", showCp);
    schedule();
  });
  $("expand-all").addEventListener("click", () => { collapsed.fill(0); computeVisible(); drawMinimap(); schedule(); });
  $("collapse-all").addEventListener("click", () => {
    for (let i = 0; i < N; i++) collapsed[i] = R[i][DEPTH] >= 1 && R[i][SUBTREE] > 0 ? 1 : 0;
    computeVisible(); drawMinimap(); schedule();
  });

  function rowText(i) {
    const r = R[i], parts = [D.services[r[SVC]][0], S[r[NAME]], r[SPAN_ID], S[r[STATUS]]];
    for (const id of r[ATTRS]) parts.push(S[id]);
    return parts.join("\u0000").toLowerCase();
  }
  function reveal(i) {
    // Expand every collapsed ancestor, then scroll the row into the middle of the view.
    for (let p = R[i][PARENT]; p >= 0; p = R[p][PARENT]) collapsed[p] = 0;
    computeVisible(); drawMinimap();
    const k = visible.indexOf(i);
    scroller.scrollTop = Math.max(0, k * ROW_H - scroller.clientHeight / 2);
  }
  $("find").addEventListener("input", (ev) => {
    const q = ev.target.value.trim().toLowerCase();
    if (!q) { matches = null; matchList = []; $("find-count").textContent = ""; schedule(); return; }
    matches = new Uint8Array(N); matchList = [];
    for (let i = 0; i < N; i++) if (rowText(i).includes(q)) { matches[i] = 1; matchList.push(i); }
    matchAt = -1;
    $("find-count").textContent = matchList.length + (matchList.length === 1 ? " match" : " matches");
    schedule();
  });
  $("find").addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || matchList.length === 0) return;
    matchAt = (matchAt + 1) % matchList.length;
    selected = matchList[matchAt];
    showDetail(selected); reveal(selected); schedule();
    $("find-count").textContent = `${matchAt + 1} of ${matchList.length}`;
  });

  scroller.addEventListener("scroll", schedule, { passive: true });
  window.addEventListener("resize", () => { drawRuler(); drawMinimap(); schedule(); });

  computeVisible(); drawLegend(); drawRuler(); drawMinimap(); render();
  // For tests and scripts: how many spans the page holds.
  document.body.dataset.spans = String(N);
})();
