#!/usr/bin/env python3
"""spandb macro benchmark suite: spandb vs DuckDB vs ClickHouse (chDB) on the same spans.

    python3 benches/macro/run.py --spans 1000000          # the default scale
    python3 benches/macro/run.py --spans 20000 --quick    # smoke run (CI), under 3 minutes

Generates the data with benches/gen_spans.py (cached under target/bench-data), builds the
spandb driver (`cargo build --release -p spandb-benches`), then per engine, each in a fresh
process: ingest (spans/s, peak RSS, bytes on disk after the engine's own compaction or
checkpoint), then queries (trace lookups cold and warm, seven searches (three per-span predicates and four richer TraceQL forms), RED aggregations per
service per minute) with the files evicted from the page cache first. The answers are compared
across engines before any time is reported. Writes a terminal table, a JSON file with machine
info and a PNG chart into --out. See benches/README.md.
"""

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import engines  # noqa: E402

ALL_ENGINES = ["spandb", "duckdb", "chdb"]
I64_MAX = 2**63 - 1
NS_PER_MIN = 60_000_000_000


def log(msg):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


# ---------------------------------------------------------------------------------- data


def ensure_data(args):
    if args.data:
        return os.path.abspath(args.data)
    path = os.path.join(target_dir(), "bench-data", f"spans_{args.spans}_seed{args.seed}.jsonl")
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    need = args.spans * 900 * 4  # the file, plus the three engines' copies, with room to spare
    free = shutil.disk_usage(os.path.dirname(path)).free
    if free < need:
        sys.exit(f"not enough free disk for {args.spans} spans: {free >> 30} GiB free, want {need >> 30} GiB")
    log(f"generating {args.spans} spans (seed {args.seed}) into {path}")
    tmp = path + ".tmp"
    subprocess.run(
        [sys.executable, os.path.join(ROOT, "benches", "gen_spans.py"), "--spans", str(args.spans),
         "--seed", str(args.seed), "--out", tmp],
        check=True,
    )
    os.replace(tmp, path)
    return path


def ensure_logs(args):
    """The log records generated with the spans (gen_spans.py --logs, same seed), cached like
    the spans; None with --no-logs, or with --data and no --logs-data."""
    if args.no_logs:
        return None
    if args.logs_data:
        return os.path.abspath(args.logs_data)
    if args.data:
        log("--data without --logs-data: the logs part is left out")
        return None
    path = os.path.join(target_dir(), "bench-data", f"logs_{args.spans}_seed{args.seed}.jsonl")
    if os.path.exists(path):
        return path
    log(f"generating the log records of {args.spans} spans (seed {args.seed}) into {path}")
    spans_tmp, tmp = path + ".spans.tmp", path + ".tmp"
    try:
        subprocess.run(
            [sys.executable, os.path.join(ROOT, "benches", "gen_spans.py"), "--spans", str(args.spans),
             "--seed", str(args.seed), "--out", spans_tmp, "--logs", tmp],
            check=True,
        )
        os.replace(tmp, path)
    finally:
        for f in (spans_tmp, tmp):
            if os.path.exists(f):
                os.remove(f)
    return path


LOG_WORD = "timeout"  # in ~0.2% of the generated bodies: a search must pass most row groups


def logs_spec(args, path):
    """Sample trace ids of the log records (seeded), the word, the limit."""
    trace_re = re.compile(rb'"traceId":"([0-9a-f]{32})"')
    ids = set()
    with open(path, "rb") as f:
        for line in f:
            ids.update(trace_re.findall(line))
    ids = sorted(i.decode() for i in ids)
    sample = random.Random(args.seed).sample(ids, min(args.lookups, len(ids)))
    return {"trace_ids": sample, "word": LOG_WORD, "limit": 100, "repeats": args.repeats}


def engine_logs(engine, logs, dbdir, spec_path):
    if os.path.exists(dbdir):
        shutil.rmtree(dbdir)
    if engine == "spandb":
        return run_json([DRIVER[0], "logs", logs, dbdir, spec_path])
    return run_json([sys.executable, __file__, "--worker", engine, "--phase", "logs", "--data", logs,
                     "--dir", dbdir, "--spec", spec_path])


def verify_logs(results, engines_run):
    """Every engine's logs answers against the first engine's: {figure: [problems]}."""
    problems = {}
    ref_name = engines_run[0]
    ref = results[ref_name]
    for name in engines_run[1:]:
        r = results[name]
        if r["records"] != ref["records"]:
            problems.setdefault("logs: records", []).append(f"{name}: {r['records']} vs {ref_name} {ref['records']}")
        a, b = ref["trace_logs"]["per_trace"], r["trace_logs"]["per_trace"]
        diff = [t for t in a if a[t] != b.get(t)]
        if diff:
            problems.setdefault("logs: trace logs", []).append(
                f"{name}: {len(diff)} traces differ (e.g. {diff[0]}: {a[diff[0]]} vs {b.get(diff[0])})")
        wa, wb = ref["word_search"], r["word_search"]
        if wa["newest_times_ns"] != wb["newest_times_ns"] or wa["total"] != wb["total"]:
            problems.setdefault("logs: word search", []).append(
                f"{name}: {wb['total']} matches vs {ref_name} {wa['total']}, newest equal: "
                f"{wa['newest_times_ns'] == wb['newest_times_ns']}")
    return problems


def logs_table(results, engines_run):
    head = ["engine", "records/s", "B/record", "trace logs p50 ms", "p99 ms", "word search p50 ms", "matches"]
    rows = []
    for e in engines_run:
        r = results[e]
        rows.append([e, f"{r['records_per_second']:,.0f}", f"{r['bytes_per_record']:.1f}",
                     f"{r['trace_logs']['warm']['p50_ms']:.3f}", f"{r['trace_logs']['warm']['p99_ms']:.3f}",
                     f"{r['word_search']['times']['p50_ms']:.2f}", str(r["word_search"]["total"])])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head)] + [line(r) for r in rows]), head, rows


def scan_data(path):
    """Distinct trace ids and the span start range, read straight from the JSON text."""
    trace_re = re.compile(rb'"traceId":"([0-9a-f]{32})","spanId"')
    start_re = re.compile(rb'"startTimeUnixNano":"(\d+)"')
    ids = set()
    lo, hi, spans = None, None, 0
    with open(path, "rb") as f:
        while True:
            chunk = f.readlines(64 << 20)
            if not chunk:
                break
            for line in chunk:
                ids.update(trace_re.findall(line))
                starts = [int(s) for s in start_re.findall(line)]
                if starts:
                    spans += len(starts)
                    mn, mx = min(starts), max(starts)
                    lo = mn if lo is None else min(lo, mn)
                    hi = mx if hi is None else max(hi, mx)
    return sorted(i.decode() for i in ids), lo, hi, spans


def make_spec(args, ids, lo, hi):
    rng = random.Random(args.seed)
    sample = rng.sample(ids, min(args.lookups, len(ids)))
    window_start = lo - lo % NS_PER_MIN + 20 * NS_PER_MIN
    searches = [
        {
            "name": "service+error, 10 min",
            "kind": "service_error",
            "service": "mobile-bff",
            "traceql": '{ resource.service.name = "mobile-bff" && status = error }',
            "start_ns": window_start,
            "end_ns": window_start + 10 * NS_PER_MIN,
        },
        {
            "name": "attribute equality",
            "kind": "attribute",
            "key": "http.response.status_code",
            "value": "503",
            "traceql": "{ span.http.response.status_code = 503 }",
            "start_ns": 0,
            "end_ns": I64_MAX,
        },
        {
            "name": "duration > 500ms",
            "kind": "duration",
            "min_duration_ns": 500_000_000,
            "traceql": "{ duration > 500ms }",
            "start_ns": 0,
            "end_ns": I64_MAX,
        },
        # TraceQL forms beyond a per-span predicate (issue 10): attribute existence, an event
        # name, a spanset pipeline and a structural operator.
        {
            "name": "attribute exists",
            "kind": "exists",
            "key": "messaging.kafka.message.key",
            "traceql": "{ span.messaging.kafka.message.key != nil }",
            "start_ns": 0,
            "end_ns": I64_MAX,
        },
        {
            "name": "event name",
            "kind": "event",
            "event": "exception",
            "traceql": '{ event:name = "exception" }',
            "start_ns": 0,
            "end_ns": I64_MAX,
        },
        {
            "name": "errors | count() > 2",
            "kind": "error_count",
            "more_than": 2,
            "traceql": "{ status = error } | count() > 2",
            "start_ns": 0,
            "end_ns": I64_MAX,
        },
        {
            "name": "structural: failed server > error",
            "kind": "error_under_failed_server",
            "traceql": "{ kind = server && status = error } > { status = error }",
            "start_ns": 0,
            "end_ns": I64_MAX,
        },
    ]
    for s in searches:
        s["limit"] = 20
    return {
        "trace_ids": sample,
        "searches": searches,
        "metrics": {"start_ns": lo, "end_ns": hi + 1, "step_ns": NS_PER_MIN},
        "repeats": args.repeats,
    }


# ------------------------------------------------------------------------------ processes


def evict(path):
    """Drops the files under `path` from the page cache (posix_fadvise DONTNEED), so the next
    process reads them from disk: a cold start without touching anyone else's cache."""
    os.sync()
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def run_json(cmd):
    t = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"{cmd[:3]} failed with {proc.returncode}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - t
    return out


def driver_path():
    return os.path.join(target_dir(), "release", "spandb_macro")


# The run's own copy of the driver: a concurrent `cargo build` cannot swap it mid-run.
DRIVER = [driver_path()]


def engine_ingest(engine, data, dbdir):
    if os.path.exists(dbdir):
        shutil.rmtree(dbdir)
    if engine == "spandb":
        return run_json([DRIVER[0], "ingest", data, dbdir])
    return run_json([sys.executable, __file__, "--worker", engine, "--phase", "ingest", "--data", data, "--dir", dbdir])


def engine_query(engine, dbdir, spec_path):
    evict(dbdir)
    if engine == "spandb":
        return run_json([DRIVER[0], "query", dbdir, spec_path])
    return run_json([sys.executable, __file__, "--worker", engine, "--phase", "query", "--spec", spec_path, "--dir", dbdir])


def worker(args):
    if args.phase == "ingest":
        out = getattr(engines, f"{args.worker}_ingest")(args.data, args.dir)
    elif args.phase == "logs":
        with open(args.spec) as f:
            spec = json.load(f)
        out = getattr(engines, f"{args.worker}_logs")(args.data, args.dir, spec)
    else:
        with open(args.spec) as f:
            spec = json.load(f)
        out = getattr(engines, f"{args.worker}_query")(args.dir, spec)
    print(json.dumps(out))


# ---------------------------------------------------------------------------- verification


def verify(results, engines_run):
    """Compares every engine's answers with the first engine's. Returns {figure: [problems]}."""
    problems = {}
    ref_name = engines_run[0]
    ref = results[ref_name]["query"]

    def note(fig, msg):
        problems.setdefault(fig, []).append(msg)

    for name in engines_run[1:]:
        q = results[name]["query"]
        a, b = ref["lookup"]["spans_per_trace"], q["lookup"]["spans_per_trace"]
        diff = [t for t in a if a[t] != b.get(t)]
        if diff:
            note("lookup", f"{name}: {len(diff)} traces differ from {ref_name} (e.g. {diff[0]}: {a[diff[0]]} vs {b.get(diff[0])})")
        for sa, sb in zip(ref["searches"], q["searches"]):
            fig = f"search: {sa['name']}"
            if sa["top_traces"] != sb["top_traces"]:
                note(fig, f"{name}: top traces differ from {ref_name}")
            for k in ("all_traces", "all_matched_spans"):
                if sa[k] != sb[k]:
                    note(fig, f"{name}: {k} {sb[k]} vs {ref_name} {sa[k]}")
        ga, gb = ref["graph"]["edges"], q["graph"]["edges"]
        if ga != gb:
            off = sorted(set(ga) ^ set(gb)) or [k for k in ga if ga[k] != gb.get(k)]
            note("graph", f"{name}: {len(off)} edges differ from {ref_name} (e.g. {off[0]}: {ga.get(off[0])} vs {gb.get(off[0])})")
        ca, cb = ref["red"]["cells"], q["red"]["cells"]
        keys_a = {(s, m) for s in ca for m in ca[s]}
        keys_b = {(s, m) for s in cb for m in cb[s]}
        if keys_a != keys_b:
            note("red", f"{name}: {len(keys_a ^ keys_b)} (service, minute) cells differ from {ref_name}")
        # p99: the SQL engines answer exactly at their own rank convention; spandb answers from
        # a DDSketch within 1% of the exact value at rank floor(q * (n - 1)). Check spandb
        # against that exact value (computed untimed by the SQL engine), and the SQL engines'
        # own p99 against each other.
        worst = 0.0
        if ref_name == "spandb":
            exact = q["red"].get("p99_at_spandb_rank", {})
            for s, m in keys_a & keys_b:
                e = exact.get(s, {}).get(m)
                if e is None:
                    continue
                err = abs(ca[s][m][3] - e) / max(abs(e), 1e-12)
                worst = max(worst, err)
            results[name]["query"]["red"]["spandb_p99_max_rel_err"] = worst
            if worst > 0.0101:
                note("red", f"{name}: spandb p99 off by up to {worst:.2%} from the exact value (sketch bound 1%)")
    # The SQL engines' exact p99 at spandb's rank must agree with each other exactly (their
    # own timed p99 use different rank conventions: DuckDB's quantile_disc takes ceil(q*n)-1,
    # ClickHouse's quantileExactLow floor(q*n), so they legitimately differ where q*n is whole).
    sql = [e for e in engines_run if e != "spandb"]
    for other in sql[1:]:
        ra = results[sql[0]]["query"]["red"]["p99_at_spandb_rank"]
        rb = results[other]["query"]["red"]["p99_at_spandb_rank"]
        off = [(s, m) for s in ra for m in ra[s] if rb.get(s, {}).get(m) != ra[s][m]]
        if off:
            note("red", f"{other}: exact p99 differs from {sql[0]} in {len(off)} cells")
    return problems


# ------------------------------------------------------------------------------- reporting


def figures(res):
    """(figure name, unit, better, value) per engine result."""
    i, q = res["ingest"], res["query"]
    rows = [
        ("ingest", "spans/s", "higher", i["spans_per_second"]),
        ("ingest peak RSS", "MiB", "lower", i["peak_rss_bytes"] / 2**20),
        ("bytes/span on disk", "B", "lower", i["bytes_per_span"]),
        ("lookup cold p50", "ms", "lower", q["lookup"]["cold"]["p50_ms"]),
        ("lookup cold p99", "ms", "lower", q["lookup"]["cold"]["p99_ms"]),
        ("lookup warm p50", "ms", "lower", q["lookup"]["warm"]["p50_ms"]),
        ("lookup warm p99", "ms", "lower", q["lookup"]["warm"]["p99_ms"]),
    ]
    for s in q["searches"]:
        rows.append((f"search: {s['name']} (top 20)", "ms", "lower", s["top"]["p50_ms"]))
        rows.append((f"search: {s['name']} (all)", "ms", "lower", s["all"]["p50_ms"]))
    rows.append(("RED per service per minute", "ms", "lower", q["red"]["time"]["p50_ms"]))
    rows.append(("service graph, whole range", "ms", "lower", q["graph"]["time"]["p50_ms"]))
    rows.append(("RSS serving queries", "MiB", "lower", q["rss"]["end_bytes"] / 2**20))
    rows.append(("peak RSS serving queries", "MiB", "lower", q["rss"]["peak_bytes"] / 2**20))
    return rows


def verification_key(fig):
    if fig.startswith("lookup"):
        return "lookup"
    if fig.startswith("search: "):
        return fig.rsplit(" (", 1)[0]
    if fig.startswith("RED"):
        return "red"
    if fig.startswith("service graph"):
        return "graph"
    return None


def fmt(v):
    if v != v:
        return "n/a"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def table(results, engines_run, problems):
    per = {e: figures(results[e]) for e in engines_run}
    names = [f[0] for f in per[engines_run[0]]]
    others = [e for e in engines_run if e != "spandb"]
    head = ["figure", "unit"] + engines_run + [f"spandb/{o}" for o in others if "spandb" in engines_run]
    rows = []
    for k, fig in enumerate(names):
        unit, better = per[engines_run[0]][k][1], per[engines_run[0]][k][2]
        vals = {e: per[e][k][3] for e in engines_run}
        bad = problems.get(verification_key(fig) or "", [])
        row = [fig, unit] + [fmt(vals[e]) for e in engines_run]
        if "spandb" in engines_run:
            for o in others:
                if bad:
                    row.append("MISMATCH")
                    continue
                r = vals["spandb"] / vals[o] if vals[o] else float("nan")
                gain = r if better == "higher" else (1 / r if r else float("inf"))
                tag = f"{gain:.3g}x better" if gain >= 1 else f"{1 / gain:.3g}x worse"
                row.append(f"{r:.3g} ({tag})")
        rows.append(row)
    widths = [max(len(str(r[c])) for r in rows + [head]) for c in range(len(head))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines), head, rows


def machine_info():
    info = {
        "cpu_cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        with open("/proc/meminfo") as f:
            info["memory_bytes"] = int(f.readline().split()[1]) * 1024
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for key, cmd in (("rustc", ["rustc", "-V"]), ("spandb_commit", ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])):
        try:
            info[key] = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            pass
    try:
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "storage", "query", "src"], capture_output=True, text=True).stdout
        info["spandb_tree_dirty"] = bool(dirty.strip())
    except OSError:
        pass
    try:
        info["spandb_driver_built"] = datetime.datetime.fromtimestamp(os.path.getmtime(driver_path())).isoformat(timespec="seconds")
    except OSError:
        pass
    for mod in ("duckdb", "chdb"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - an engine that is not installed is reported as such
            info[mod] = None
    return info


def chart(results, engines_run, problems, path, title):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed: no chart")
        return None
    per = {e: figures(results[e]) for e in engines_run}
    names = [f[0] for f in per[engines_run[0]]]
    colors = {"spandb": "#d62728", "duckdb": "#1f77b4", "chdb": "#ff7f0e"}
    cols = 4
    nrows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows))
    for k, ax in enumerate(axes.flat):
        if k >= len(names):
            ax.axis("off")
            continue
        unit, better = per[engines_run[0]][k][1], per[engines_run[0]][k][2]
        vals = [per[e][k][3] for e in engines_run]
        bars = ax.bar(engines_run, vals, color=[colors.get(e, "gray") for e in engines_run])
        for b, v in zip(bars, vals):
            ax.annotate(fmt(v), (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
        bad = problems.get(verification_key(names[k]) or "")
        ax.set_title(("[MISMATCH] " if bad else "") + names[k], fontsize=9)
        ax.set_ylabel(f"{unit} ({better} is better)", fontsize=8)
        if max(vals) > 0 and min(vals) > 0 and max(vals) / min(vals) > 30:
            ax.set_yscale("log")
        ax.tick_params(labelsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=1_000_000, help="scale: spans to generate (default 1000000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", help="use this OTLP JSON lines file instead of generating one")
    ap.add_argument("--engines", help="comma-separated subset of spandb,duckdb,chdb (default: those installed)")
    ap.add_argument("--lookups", type=int, default=1000, help="random trace ids to look up (default 1000)")
    ap.add_argument("--repeats", type=int, default=5, help="runs per search/aggregation; the median is reported")
    ap.add_argument("--quick", action="store_true", help="smoke mode: 100 lookups, 2 repeats")
    ap.add_argument("--work", help="engine data directories (default target/bench-macro)")
    ap.add_argument("--out", help="where the JSON and PNG go (default benches/results; with --quick target/bench-macro/results)")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build for the spandb driver")
    ap.add_argument("--keep", action="store_true", help="keep the engines' data directories")
    ap.add_argument("--worker", choices=["duckdb", "chdb"], help=argparse.SUPPRESS)
    ap.add_argument("--logs-data", help="OTLP JSON log lines for the logs part (default: generated with the spans)")
    ap.add_argument("--no-logs", action="store_true", help="leave out the logs part")
    ap.add_argument("--phase", choices=["ingest", "query", "logs"], help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.quick:
        args.lookups, args.repeats = min(args.lookups, 100), min(args.repeats, 2)
    if args.engines:
        engines_run = [e.strip() for e in args.engines.split(",") if e.strip()]
    else:
        import importlib.util

        engines_run = [e for e in ALL_ENGINES if e == "spandb" or importlib.util.find_spec(e)]
        missing = sorted(set(ALL_ENGINES) - set(engines_run))
        if missing:
            log(f"not installed, skipped: {', '.join(missing)} (pip install {' '.join(missing)})")
    for e in engines_run:
        if e not in ALL_ENGINES:
            sys.exit(f"unknown engine {e}")
    # One directory per run, so that concurrent runs (a CI smoke beside a long run) never
    # delete each other's data.
    base = os.path.join(target_dir(), "bench-macro")
    work = args.work or os.path.join(base, f"run-{args.spans}-{os.getpid()}")
    if not args.out:
        args.out = os.path.join(base, "results") if args.quick else os.path.join(ROOT, "benches", "results")
    os.makedirs(work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)

    data = ensure_data(args)
    if "spandb" in engines_run and not args.no_build:
        log("building the spandb driver")
        subprocess.run(["cargo", "build", "--release", "-p", "spandb-benches", "--bin", "spandb_macro"], cwd=ROOT, check=True)
    if "spandb" in engines_run:
        DRIVER[0] = os.path.join(work, "spandb_macro")
        shutil.copy2(driver_path(), DRIVER[0])
    log(f"scanning {data}")
    ids, lo, hi, nspans = scan_data(data)
    spec = make_spec(args, ids, lo, hi)
    spec_path = os.path.join(work, "spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    log(f"{nspans} spans, {len(ids)} traces, {(hi - lo) / 1e9:.0f} s of data")

    machine = machine_info()  # before the runs: the driver's build time is the one measured
    results = {}
    for e in engines_run:
        d = os.path.join(work, e)
        log(f"{e}: ingest")
        load_before = os.getloadavg()
        ing = engine_ingest(e, data, d)
        ing["loadavg_before_after"] = [load_before, os.getloadavg()]
        log(f"{e}: {ing['spans_per_second']:,.0f} spans/s, {ing['bytes_per_span']:.1f} B/span, peak RSS {ing['peak_rss_bytes'] >> 20} MiB")
        if ing["spans"] != nspans:
            sys.exit(f"{e} ingested {ing['spans']} spans, the file has {nspans}")
        log(f"{e}: queries")
        load_before = os.getloadavg()
        q = engine_query(e, d, spec_path)
        q["loadavg_before_after"] = [load_before, os.getloadavg()]
        results[e] = {"ingest": ing, "query": q}
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)

    logs_results, logs_problems, logs_text = {}, {}, None
    logs = ensure_logs(args)
    if logs:
        lspec_path = os.path.join(work, "logs_spec.json")
        with open(lspec_path, "w") as f:
            json.dump(logs_spec(args, logs), f)
        for e in engines_run:
            d = os.path.join(work, f"{e}-logs")
            log(f"{e}: logs")
            load_before = os.getloadavg()
            r = engine_logs(e, logs, d, lspec_path)
            r["loadavg_before_after"] = [load_before, os.getloadavg()]
            logs_results[e] = r
            log(f"{e}: {r['records']} log records, {r['bytes_per_record']:.1f} B/record")
            if not args.keep:
                shutil.rmtree(d, ignore_errors=True)
        logs_problems = verify_logs(logs_results, engines_run)
        logs_text = logs_table(logs_results, engines_run)

    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    problems = verify(results, engines_run)
    problems.update(logs_problems)
    text, head, rows = table(results, engines_run, problems)
    print()
    print(f"spandb macro benchmark: {nspans:,} spans, {len(ids):,} traces, {os.cpu_count()} cores")
    print(text)
    if problems:
        print("\nANSWERS DIFFER (ratios withheld for these figures):")
        for fig, msgs in problems.items():
            for m in msgs:
                print(f"  {fig}: {m}")
    else:
        print("\nAll engines returned the same answers (lookups, searches, RED counts, errors and averages; spandb p99 within its sketch's 1% of the exact value).")
    if logs_text:
        n = logs_results[engines_run[0]]["records"]
        print(f"\nlogs: {n:,} log records; trace logs warm over {len(logs_results[engines_run[0]]['trace_logs']['per_trace'])} traces; "
              f"word search |= \"{LOG_WORD}\" newest 100")
        print(logs_text[0])
        if not logs_problems:
            print("All engines returned the same log answers (records, logs per trace, word-search matches and newest times).")
    stamp = f"{nspans // 1000}k" if nspans < 1_000_000 else f"{nspans // 1_000_000}m"
    out_json = os.path.join(args.out, f"macro_{stamp}.json")
    for e in results:  # the per-trace counts are for verification only
        results[e]["query"]["lookup"].pop("spans_per_trace", None)
        results[e]["query"]["red"].pop("cells", None)
        results[e]["query"]["red"].pop("p99_at_spandb_rank", None)
    doc = {
        "spans": nspans,
        "traces": len(ids),
        "data": data,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "spec": {k: v for k, v in spec.items() if k != "trace_ids"} | {"lookups": len(spec["trace_ids"])},
        "verification": problems or "ok",
        "table": {"head": head, "rows": rows},
        "results": results,
    }
    if logs_results:
        for r in logs_results.values():  # per-trace counts are for verification only
            r["trace_logs"].pop("per_trace", None)
        doc["logs"] = {"data": logs, "table": {"head": logs_text[1], "rows": logs_text[2]},
                       "results": logs_results}
    with open(out_json, "w") as f:
        json.dump(doc, f, indent=1)
    png = chart(results, engines_run, problems, os.path.join(args.out, f"macro_{stamp}.png"),
                f"spandb vs DuckDB vs chDB, {nspans:,} spans ({os.cpu_count()} cores)")
    print(f"\nwrote {out_json}" + (f" and {png}" if png else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
