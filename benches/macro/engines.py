"""DuckDB and ClickHouse (chDB) sides of the macro suite.

Each engine runs in its own worker process (``run.py --worker ENGINE ...``) so that peak RSS
is the engine's own and the first pass of trace lookups starts cold. A worker prints one JSON
object in the same shape as ``spandb_macro`` (see that binary's doc comment).

Both engines load the OTLP JSON lines file with their own JSON reader (no Python parsing
in the timed path) and flatten it in SQL, as a user of either would. Schemas and queries are
documented in benches/README.md ("Schemas").
"""

import json
import os
import time

NS_PER_MIN = 60_000_000_000


def rss():
    """(VmRSS, VmHWM) of this process in bytes."""
    cur = peak = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    return cur, peak


def dir_size(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


def summary(samples_ms):
    s = sorted(samples_ms)
    if not s:
        return {"n": 0}

    def pct(q):
        import math

        rank = min(max(math.ceil(q * len(s)), 1), len(s))
        return s[rank - 1]

    return {"n": len(s), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": s[-1], "mean_ms": sum(s) / len(s)}


# --------------------------------------------------------------------------------------------
# Shared query shapes. A search returns trace summaries as spandb's (and Tempo's) search does:
# traces having a span that matches the predicate and starts in the window, newest trace start
# first (ties by trace id), with the trace's start, duration, span count, matched-span count and
# root service/name.


def search_sql(dialect, table, pred, start_ns, end_ns, limit):
    if dialect == "duckdb":
        cond = f"({pred}) AND start_ns >= {start_ns} AND start_ns < {end_ns}"
        lim = f"LIMIT {limit}" if limit else ""
        return f"""
SELECT trace_id, min(start_ns) AS st, max(end_ns) - min(start_ns) AS dur, count(*) AS n,
       count(*) FILTER (WHERE {cond}) AS matched,
       any_value(service) FILTER (WHERE parent_span_id = '') AS root_service,
       any_value(name) FILTER (WHERE parent_span_id = '') AS root_name
FROM {table}
WHERE trace_id IN (SELECT trace_id FROM {table} WHERE {cond})
GROUP BY trace_id ORDER BY st DESC, trace_id {lim}"""
    ts = "toUnixTimestamp64Nano(Timestamp)"
    cond = (
        f"({pred}) AND Timestamp >= fromUnixTimestamp64Nano(toInt64({start_ns})) "
        f"AND Timestamp < fromUnixTimestamp64Nano(toInt64({min(end_ns, 2**63 - 1)}))"
    )
    lim = f"LIMIT {limit}" if limit else ""
    return f"""
SELECT TraceId, min({ts}) AS st, max({ts} + Duration) - min({ts}) AS dur, count() AS n,
       countIf({cond}) AS matched,
       anyIf(ServiceName, ParentSpanId = '') AS root_service,
       anyIf(SpanName, ParentSpanId = '') AS root_name
FROM {table}
WHERE TraceId IN (SELECT TraceId FROM {table} WHERE {cond})
GROUP BY TraceId ORDER BY st DESC, TraceId {lim}"""


def search_matched_sql(dialect, table, match_sql, limit):
    """A search whose matching spans come from `match_sql` (rows of trace id, span id): the
    TraceQL forms a per-span predicate cannot express (pipelines, structural operators)."""
    lim = f"LIMIT {limit}" if limit else ""
    if dialect == "duckdb":
        return f"""
WITH mc AS (SELECT trace_id, count(*) AS c FROM ({match_sql}) GROUP BY trace_id)
SELECT t.trace_id, min(t.start_ns) AS st, max(t.end_ns) - min(t.start_ns) AS dur, count(*) AS n,
       any_value(mc.c) AS matched,
       any_value(t.service) FILTER (WHERE t.parent_span_id = '') AS root_service,
       any_value(t.name) FILTER (WHERE t.parent_span_id = '') AS root_name
FROM {table} t JOIN mc ON t.trace_id = mc.trace_id
GROUP BY t.trace_id ORDER BY st DESC, t.trace_id {lim}"""
    ts = "toUnixTimestamp64Nano(t.Timestamp)"
    return f"""
WITH mc AS (SELECT TraceId, count() AS c FROM ({match_sql}) GROUP BY TraceId)
SELECT t.TraceId AS TraceId, min({ts}) AS st, max({ts} + t.Duration) - min({ts}) AS dur, count() AS n,
       any(mc.c) AS matched,
       anyIf(t.ServiceName, t.ParentSpanId = '') AS root_service,
       anyIf(t.SpanName, t.ParentSpanId = '') AS root_name
FROM {table} AS t INNER JOIN mc ON t.TraceId = mc.TraceId
GROUP BY t.TraceId ORDER BY st DESC, t.TraceId {lim}"""


def match_sql(dialect, table, search):
    """Rows (trace id, span id) of the spans a new-form search matches, or None for the
    plain predicate searches."""
    k = search["kind"]
    duck = dialect == "duckdb"
    if k == "exists":
        key = search["key"]
        if duck:
            return f"SELECT trace_id, span_id FROM {table} WHERE attributes['{key}'] IS NOT NULL"
        return f"SELECT TraceId, SpanId FROM {table} WHERE mapContains(SpanAttributes, '{key}')"
    if k == "event":
        name = search["event"]
        if duck:
            return (f"SELECT trace_id, span_id FROM {table} "
                    f"WHERE len(list_filter(events, lambda e: e.name = '{name}')) > 0")
        return f"SELECT TraceId, SpanId FROM {table} WHERE has(Events.Name, '{name}')"
    if k == "error_count":
        n = search["more_than"]
        if duck:
            return (f"SELECT trace_id, span_id FROM {table} WHERE status_code = 2 AND trace_id IN "
                    f"(SELECT trace_id FROM {table} WHERE status_code = 2 GROUP BY trace_id HAVING count(*) > {n})")
        return (f"SELECT TraceId, SpanId FROM {table} WHERE StatusCode = 2 AND TraceId IN "
                f"(SELECT TraceId FROM {table} WHERE StatusCode = 2 GROUP BY TraceId HAVING count() > {n})")
    if k == "error_under_failed_server":
        if duck:
            return (f"SELECT c.trace_id, c.span_id FROM {table} c JOIN {table} p "
                    f"ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id "
                    f"WHERE p.kind = 2 AND p.status_code = 2 AND c.status_code = 2")
        return (f"SELECT c.TraceId AS TraceId, c.SpanId AS SpanId FROM {table} AS c INNER JOIN {table} AS p "
                f"ON c.TraceId = p.TraceId AND c.ParentSpanId = p.SpanId "
                f"WHERE p.SpanKind = 2 AND p.StatusCode = 2 AND c.StatusCode = 2")
    return None


def red_sql(dialect, table):
    if dialect == "duckdb":
        return f"""
SELECT service, start_ns // {NS_PER_MIN} AS minute, count(*) AS n,
       count(*) FILTER (WHERE status_code = 2) AS errors,
       avg(duration_ns) / 1e9 AS avg_s,
       quantile_disc(duration_ns, 0.99) / 1e9 AS p99_s
FROM {table} GROUP BY ALL"""
    return f"""
SELECT ServiceName, intDiv(toUnixTimestamp64Nano(Timestamp), {NS_PER_MIN}) AS minute, count() AS n,
       countIf(StatusCode = 2) AS errors,
       avg(Duration) / 1e9 AS avg_s,
       quantileExactLow(0.99)(Duration) / 1e9 AS p99_s
FROM {table} GROUP BY ServiceName, minute"""


def red_ref_sql(dialect, table):
    """Untimed, for verification only: the exact p99 at spandb's rank convention
    (`floor(q * (n - 1))`, 0-based), which spandb's DDSketch answer must be within 1% of."""
    if dialect == "duckdb":
        return f"""
SELECT service, start_ns // {NS_PER_MIN} AS minute,
       list_sort(list(duration_ns))[CAST(floor(0.99 * (count(*) - 1)) AS BIGINT) + 1] / 1e9
FROM {table} GROUP BY ALL"""
    return f"""
SELECT ServiceName, intDiv(toUnixTimestamp64Nano(Timestamp), {NS_PER_MIN}) AS minute,
       arrayElement(arraySort(groupArray(Duration)), toUInt64(floor(0.99 * (count() - 1))) + 1) / 1e9
FROM {table} GROUP BY ServiceName, minute"""


def graph_sql(dialect, table):
    """The service graph's cross-service calls (a span and its parent in another service):
    calls and errors per (client service, server service). spandb's direct and messaging
    edges are the same pairs; its database and peer edges have no SQL counterpart here."""
    if dialect == "duckdb":
        return f"""
SELECT p.service AS client, c.service AS server, count(*) AS calls,
       count(*) FILTER (WHERE p.status_code = 2 OR c.status_code = 2) AS errors
FROM {table} c JOIN {table} p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
WHERE c.service <> p.service GROUP BY ALL"""
    return f"""
SELECT p.ServiceName AS client, c.ServiceName AS server, count() AS calls,
       countIf(p.StatusCode = 2 OR c.StatusCode = 2) AS errors
FROM {table} AS c INNER JOIN {table} AS p ON c.TraceId = p.TraceId AND c.ParentSpanId = p.SpanId
WHERE c.ServiceName != p.ServiceName GROUP BY client, server"""


def run_queries(spec, lookup, query_rows):
    """Runs the spec's lookups, searches and RED query. `lookup(trace_id) -> rows`,
    `query_rows(kind, sql) -> list of tuples`."""
    repeats = spec.get("repeats", 5)
    out = {"lookup": {}, "searches": []}
    counts = {}
    for pass_name in ("cold", "warm"):
        samples = []
        for tid in spec["trace_ids"]:
            t = time.perf_counter()
            n = lookup(tid)
            samples.append((time.perf_counter() - t) * 1e3)
            counts[tid] = n
        out["lookup"][pass_name] = summary(samples)
    out["lookup"]["spans_per_trace"] = counts
    out["rss_after_lookups_bytes"] = rss()[0]
    for s in spec["searches"]:
        times, top = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            top = query_rows("search", s["sql_top"])
            times.append((time.perf_counter() - t) * 1e3)
        all_times, rows = [], []
        for _ in range(min(repeats, 3)):
            t = time.perf_counter()
            rows = query_rows("search", s["sql_all"])
            all_times.append((time.perf_counter() - t) * 1e3)
        out["searches"].append(
            {
                "name": s["name"],
                "first_ms": times[0],
                "top": summary(times),
                "all": summary(all_times),
                "top_traces": [[r[0], int(r[1]), int(r[3])] for r in top],
                "all_traces": len(rows),
                "all_matched_spans": sum(int(r[4]) for r in rows),
            }
        )
    times, rows = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        rows = query_rows("red", spec["sql_red"])
        times.append((time.perf_counter() - t) * 1e3)
    cells = {}
    for service, minute, n, errors, avg_s, p99_s in rows:
        cells.setdefault(service, {})[str(int(minute))] = [float(n), float(errors), float(avg_s), float(p99_s)]
    ref = {}
    for service, minute, p99_s in query_rows("red", spec["sql_red_ref"]):
        ref.setdefault(service, {})[str(int(minute))] = float(p99_s)
    out["red"] = {"first_ms": times[0], "time": summary(times), "cells": cells, "p99_at_spandb_rank": ref}
    times, rows = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        rows = query_rows("graph", spec["sql_graph"])
        times.append((time.perf_counter() - t) * 1e3)
    edges = {f"{client}|{server}": [int(calls), int(errors)] for client, server, calls, errors in rows}
    out["graph"] = {"first_ms": times[0], "time": summary(times), "edges": edges}
    return out


# --------------------------------------------------------------------------------------------
# DuckDB

KV_DUCK = (
    'STRUCT("key" VARCHAR, "value" STRUCT("stringValue" VARCHAR, "intValue" VARCHAR, '
    '"doubleValue" DOUBLE, "boolValue" BOOLEAN))[]'
)
SPAN_DUCK = (
    'STRUCT("traceId" VARCHAR, "spanId" VARCHAR, "parentSpanId" VARCHAR, "traceState" VARCHAR, '
    '"flags" UBIGINT, "name" VARCHAR, "kind" INTEGER, "startTimeUnixNano" VARCHAR, '
    f'"endTimeUnixNano" VARCHAR, "attributes" {KV_DUCK}, '
    f'"events" STRUCT("timeUnixNano" VARCHAR, "name" VARCHAR, "attributes" {KV_DUCK})[], '
    f'"links" STRUCT("traceId" VARCHAR, "spanId" VARCHAR, "traceState" VARCHAR, "attributes" {KV_DUCK})[], '
    '"status" STRUCT("code" INTEGER, "message" VARCHAR))'
)
RS_DUCK = (
    f'STRUCT("resource" STRUCT("attributes" {KV_DUCK}), "scopeSpans" STRUCT("scope" STRUCT("name" VARCHAR, '
    f'"version" VARCHAR), "spans" {SPAN_DUCK}[])[])[]'
)

DUCK_SCHEMA = """
CREATE TABLE spans (
    trace_id        VARCHAR NOT NULL,   -- 32 hex characters, as OTLP JSON has it
    span_id         VARCHAR NOT NULL,
    parent_span_id  VARCHAR NOT NULL,   -- '' for a root span
    trace_state     VARCHAR,
    flags           UINTEGER,
    name            VARCHAR NOT NULL,
    kind            UTINYINT NOT NULL,
    start_ns        UBIGINT NOT NULL,
    end_ns          UBIGINT NOT NULL,
    duration_ns     UBIGINT NOT NULL,
    status_code     UTINYINT NOT NULL,
    status_message  VARCHAR,
    service         VARCHAR NOT NULL,
    resource_attributes MAP(VARCHAR, VARCHAR),
    scope_name      VARCHAR,
    scope_version   VARCHAR,
    attributes      MAP(VARCHAR, VARCHAR),
    events          STRUCT(time_ns UBIGINT, name VARCHAR, attributes MAP(VARCHAR, VARCHAR))[],
    links           STRUCT(trace_id VARCHAR, span_id VARCHAR, trace_state VARCHAR, attributes MAP(VARCHAR, VARCHAR))[]
)"""


def duck_map(expr):
    val = "coalesce(a.value.stringValue, a.value.intValue, CAST(a.value.doubleValue AS VARCHAR), CAST(a.value.boolValue AS VARCHAR), '')"
    return f"map_from_entries(list_transform(coalesce({expr}, []), lambda a: struct_pack(k := a.key, v := {val})))"


def duck_load_sql(path):
    p = path.replace("'", "''")
    return f"""
INSERT INTO spans
SELECT sp.traceId, sp.spanId, coalesce(sp.parentSpanId, ''), coalesce(sp.traceState, ''),
       coalesce(sp.flags, 0), sp.name, coalesce(sp.kind, 0),
       CAST(sp.startTimeUnixNano AS UBIGINT), CAST(sp.endTimeUnixNano AS UBIGINT),
       CAST(sp.endTimeUnixNano AS UBIGINT) - CAST(sp.startTimeUnixNano AS UBIGINT),
       coalesce(sp.status.code, 0), coalesce(sp.status.message, ''),
       coalesce(list_filter(res.attributes, lambda a: a.key = 'service.name')[1].value.stringValue, ''),
       {duck_map('res.attributes')},
       coalesce(scope.name, ''), coalesce(scope.version, ''),
       {duck_map('sp.attributes')},
       list_transform(coalesce(sp.events, []), lambda e: struct_pack(time_ns := CAST(e.timeUnixNano AS UBIGINT),
                      name := e.name, attributes := {duck_map('e.attributes')})),
       list_transform(coalesce(sp.links, []), lambda l: struct_pack(trace_id := l.traceId, span_id := l.spanId,
                      trace_state := coalesce(l.traceState, ''), attributes := {duck_map('l.attributes')}))
FROM (
  SELECT res, ss.scope AS scope, unnest(ss.spans) AS sp FROM (
    SELECT rs.resource AS res, unnest(rs.scopeSpans) AS ss FROM (
      SELECT unnest(resourceSpans) AS rs
      FROM read_json('{p}', format = 'newline_delimited', maximum_object_size = 268435456,
                     columns = {{'resourceSpans': '{RS_DUCK}'}})
    )
  )
)"""


def duck_pred(search):
    k = search["kind"]
    if k == "service_error":
        return f"service = '{search['service']}' AND status_code = 2"
    if k == "attribute":
        return f"attributes['{search['key']}'] = '{search['value']}'"
    if k == "duration":
        return f"duration_ns > {search['min_duration_ns']}"
    raise ValueError(k)


def duckdb_ingest(data, dbdir):
    import duckdb

    os.makedirs(dbdir, exist_ok=True)
    path = os.path.join(dbdir, "spans.duckdb")
    base = rss()[0]
    t0 = time.perf_counter()
    con = duckdb.connect(path)
    con.execute(DUCK_SCHEMA)
    con.execute(duck_load_sql(data))
    t_load = time.perf_counter()
    # What a user adds for trace-id lookups: an ART index (DuckDB's only secondary index).
    con.execute("CREATE INDEX spans_trace_id ON spans (trace_id)")
    con.execute("CHECKPOINT")
    t_end = time.perf_counter()
    n = con.execute("SELECT count(*) FROM spans").fetchone()[0]
    con.close()
    size = dir_size(dbdir)
    cur, peak = rss()
    return {
        "engine": "duckdb",
        "version": duckdb.__version__,
        "spans": n,
        "seconds": t_end - t0,
        "load_seconds": t_load - t0,
        "index_and_checkpoint_seconds": t_end - t_load,
        "spans_per_second": n / (t_end - t0),
        "peak_rss_bytes": peak,
        "rss_start_bytes": base,
        "rss_end_bytes": cur,
        "bytes_on_disk": size,
        "bytes_per_span": size / max(n, 1),
    }


def duckdb_query(dbdir, spec):
    import duckdb

    before = rss()[0]
    t = time.perf_counter()
    con = duckdb.connect(os.path.join(dbdir, "spans.duckdb"), read_only=True)
    open_ms = (time.perf_counter() - t) * 1e3
    after_open = rss()[0]
    for s in spec["searches"]:
        m = match_sql("duckdb", "spans", s)
        if m is not None:
            s["sql_top"] = search_matched_sql("duckdb", "spans", m, s["limit"])
            s["sql_all"] = search_matched_sql("duckdb", "spans", m, None)
            continue
        pred = duck_pred(s)
        s["sql_top"] = search_sql("duckdb", "spans", pred, s["start_ns"], s["end_ns"], s["limit"])
        s["sql_all"] = search_sql("duckdb", "spans", pred, s["start_ns"], s["end_ns"], None)
    spec["sql_red"] = red_sql("duckdb", "spans")
    spec["sql_red_ref"] = red_ref_sql("duckdb", "spans")
    spec["sql_graph"] = graph_sql("duckdb", "spans")

    def lookup(tid):
        return len(con.execute("SELECT * FROM spans WHERE trace_id = ?", [tid]).fetchall())

    def query_rows(_kind, sql):
        return con.execute(sql).fetchall()

    out = run_queries(spec, lookup, query_rows)
    cur, peak = rss()
    out.update(
        engine="duckdb",
        open_ms=open_ms,
        rss={"before_open_bytes": before, "after_open_bytes": after_open,
             "after_lookups_bytes": out.pop("rss_after_lookups_bytes"), "end_bytes": cur, "peak_bytes": peak},
    )
    con.close()
    return out


# --------------------------------------------------------------------------------------------
# ClickHouse through chDB: the OpenTelemetry Collector ClickHouse exporter's `otel_traces`
# table (ZSTD(1) and Delta codecs, a bloom-filter skip index on TraceId, ORDER BY
# (ServiceName, SpanName, toDateTime(Timestamp))), with kind/status as small integers.

CH_SCHEMA = """
CREATE TABLE bench.otel_traces (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind UInt8 CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode UInt8 CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""

KV_CH = "Array(Tuple(key String, value Tuple(stringValue Nullable(String), intValue Nullable(String), doubleValue Nullable(Float64), boolValue Nullable(Bool))))"
RS_CH = (
    "resourceSpans Array(Tuple(resource Tuple(attributes " + KV_CH + "), scopeSpans Array(Tuple("
    "scope Tuple(name String, version String), spans Array(Tuple(traceId String, spanId String, "
    "parentSpanId String, traceState String, flags UInt32, name String, kind UInt8, "
    "startTimeUnixNano String, endTimeUnixNano String, attributes " + KV_CH + ", "
    "events Array(Tuple(timeUnixNano String, name String, attributes " + KV_CH + ")), "
    "links Array(Tuple(traceId String, spanId String, traceState String, attributes " + KV_CH + ")), "
    "status Tuple(code UInt8, message String)))))))"
)


def te(expr, path):
    for p in path.split("."):
        expr = f"tupleElement({expr}, '{p}')"
    return expr


def ch_map(expr):
    v = te("a", "value")
    val = (
        f"ifNull(coalesce({te(v, 'stringValue')}, {te(v, 'intValue')}, toString({te(v, 'doubleValue')}), "
        f"toString({te(v, 'boolValue')})), '')"
    )
    return f"mapFromArrays(arrayMap(a -> {te('a', 'key')}, {expr}), arrayMap(a -> {val}, {expr}))"


def ch_load_sql(path):
    p = path.replace("'", "\\'")
    sp = "sp"
    start = f"toUInt64({te(sp, 'startTimeUnixNano')})"
    end = f"toUInt64({te(sp, 'endTimeUnixNano')})"
    res_attrs = te("rs", "resource.attributes")
    ev = te(sp, "events")
    lk = te(sp, "links")
    return f"""
INSERT INTO bench.otel_traces
SELECT fromUnixTimestamp64Nano(toInt64({start})), {te(sp, 'traceId')}, {te(sp, 'spanId')},
       {te(sp, 'parentSpanId')}, {te(sp, 'traceState')}, {te(sp, 'flags')}, {te(sp, 'name')}, {te(sp, 'kind')},
       {te(f"arrayFirst(a -> {te('a', 'key')} = 'service.name', {res_attrs})", 'value.stringValue')},
       {ch_map(res_attrs)},
       {te('ss', 'scope.name')}, {te('ss', 'scope.version')},
       {ch_map(te(sp, 'attributes'))},
       {end} - {start},
       {te(sp, 'status.code')}, {te(sp, 'status.message')},
       arrayMap(e -> fromUnixTimestamp64Nano(toInt64(toUInt64({te('e', 'timeUnixNano')}))), {ev}),
       arrayMap(e -> {te('e', 'name')}, {ev}),
       arrayMap(e -> {ch_map(te('e', 'attributes'))}, {ev}),
       arrayMap(l -> {te('l', 'traceId')}, {lk}),
       arrayMap(l -> {te('l', 'spanId')}, {lk}),
       arrayMap(l -> {te('l', 'traceState')}, {lk}),
       arrayMap(l -> {ch_map(te('l', 'attributes'))}, {lk})
FROM file('{p}', 'JSONEachRow', '{RS_CH}')
ARRAY JOIN resourceSpans AS rs
ARRAY JOIN {te('rs', 'scopeSpans')} AS ss
ARRAY JOIN {te('ss', 'spans')} AS sp
SETTINGS input_format_skip_unknown_fields = 1,
         input_format_json_ignore_unknown_keys_in_named_tuple = 1,
         input_format_json_defaults_for_missing_elements_in_named_tuple = 1,
         input_format_json_named_tuples_as_objects = 1"""


def ch_pred(search):
    k = search["kind"]
    if k == "service_error":
        return f"ServiceName = '{search['service']}' AND StatusCode = 2"
    if k == "attribute":
        return f"SpanAttributes['{search['key']}'] = '{search['value']}'"
    if k == "duration":
        return f"Duration > {search['min_duration_ns']}"
    raise ValueError(k)


def ch_check(res):
    if res.has_error():
        raise RuntimeError(res.error_message())
    return res


def chdb_ingest(data, dbdir):
    import chdb
    from chdb import session

    os.makedirs(dbdir, exist_ok=True)
    base = rss()[0]
    t0 = time.perf_counter()
    sess = session.Session(dbdir)
    sess.query("CREATE DATABASE IF NOT EXISTS bench")
    sess.query(CH_SCHEMA)
    sess.query(ch_load_sql(os.path.abspath(data)))
    t_load = time.perf_counter()
    sess.query("OPTIMIZE TABLE bench.otel_traces FINAL")
    t_end = time.perf_counter()
    n = int(sess.query("SELECT count() FROM bench.otel_traces", "CSV").bytes())
    parts = sess.query(
        "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'bench' AND table = 'otel_traces' AND active",
        "CSV",
    ).bytes()
    sess.close()
    size = dir_size(dbdir)
    cur, peak = rss()
    return {
        "engine": "chdb",
        "version": chdb.__version__,
        "spans": n,
        "seconds": t_load - t0,
        "optimize_seconds": t_end - t_load,
        "spans_per_second": n / (t_load - t0),
        "peak_rss_bytes": peak,
        "rss_start_bytes": base,
        "rss_end_bytes": cur,
        # The table's active parts: the session directory also holds the parts OPTIMIZE
        # replaced (deleted after old_parts_lifetime) and system tables.
        "bytes_on_disk": int(parts),
        "session_dir_bytes": size,
        "bytes_per_span": int(parts) / max(n, 1),
    }


def chdb_query(dbdir, spec):
    from chdb import session

    before = rss()[0]
    t = time.perf_counter()
    sess = session.Session(dbdir)
    ch_check(sess.query("SELECT 1"))
    open_ms = (time.perf_counter() - t) * 1e3
    after_open = rss()[0]
    tbl = "bench.otel_traces"
    for s in spec["searches"]:
        m = match_sql("chdb", tbl, s)
        if m is not None:
            s["sql_top"] = search_matched_sql("chdb", tbl, m, s["limit"])
            s["sql_all"] = search_matched_sql("chdb", tbl, m, None)
            continue
        pred = ch_pred(s)
        s["sql_top"] = search_sql("chdb", tbl, pred, s["start_ns"], s["end_ns"], s["limit"])
        s["sql_all"] = search_sql("chdb", tbl, pred, s["start_ns"], s["end_ns"], None)
    spec["sql_red"] = red_sql("chdb", tbl)
    spec["sql_red_ref"] = red_ref_sql("chdb", tbl)
    spec["sql_graph"] = graph_sql("chdb", tbl)

    def lookup(tid):
        res = ch_check(sess.query(f"SELECT * FROM {tbl} WHERE TraceId = '{tid}'", "TabSeparated"))
        return res.bytes().count(b"\n")

    def query_rows(_kind, sql):
        res = ch_check(sess.query(sql, "JSONCompact"))
        return json.loads(res.bytes())["data"]

    out = run_queries(spec, lookup, query_rows)
    cur, peak = rss()
    out.update(
        engine="chdb",
        open_ms=open_ms,
        rss={"before_open_bytes": before, "after_open_bytes": after_open,
             "after_lookups_bytes": out.pop("rss_after_lookups_bytes"), "end_bytes": cur, "peak_bytes": peak},
    )
    sess.close()
    return out


# --------------------------------------------------------------------------------------------
# The logs part: the same OTLP JSON log lines in each engine, bytes per record, the logs of one
# trace (warm), and a word search (newest `limit` records whose body contains the word, and
# their total count). Each worker prints the same shape as `spandb_macro logs`.
LR_DUCK = (
    f'STRUCT("resource" STRUCT("attributes" {KV_DUCK}), "scopeLogs" STRUCT("scope" STRUCT("name" VARCHAR, '
    '"version" VARCHAR), "logRecords" STRUCT("timeUnixNano" VARCHAR, "observedTimeUnixNano" VARCHAR, '
    '"severityNumber" INTEGER, "severityText" VARCHAR, "body" STRUCT("stringValue" VARCHAR), '
    f'"attributes" {KV_DUCK}, "flags" UINTEGER, "traceId" VARCHAR, "spanId" VARCHAR)[])[])[]'
)

DUCK_LOGS_SCHEMA = """
CREATE TABLE logs (
    time_ns         UBIGINT NOT NULL,
    observed_ns     UBIGINT,
    severity_number UTINYINT,
    severity_text   VARCHAR,
    body            VARCHAR,
    attributes      MAP(VARCHAR, VARCHAR),
    trace_id        VARCHAR,            -- '' without trace context
    span_id         VARCHAR,
    flags           UINTEGER,
    service         VARCHAR,
    resource        MAP(VARCHAR, VARCHAR),
    scope_name      VARCHAR
)"""


def duck_logs_load_sql(path):
    p = path.replace("'", "''")
    return f"""
INSERT INTO logs
SELECT CAST(lr.timeUnixNano AS UBIGINT), CAST(lr.observedTimeUnixNano AS UBIGINT),
       coalesce(lr.severityNumber, 0), coalesce(lr.severityText, ''), coalesce(lr.body.stringValue, ''),
       {duck_map('lr.attributes')}, coalesce(lr.traceId, ''), coalesce(lr.spanId, ''), coalesce(lr.flags, 0),
       coalesce(list_filter(res.attributes, lambda a: a.key = 'service.name')[1].value.stringValue, ''),
       {duck_map('res.attributes')}, coalesce(scope.name, '')
FROM (
  SELECT res, sl.scope AS scope, unnest(sl.logRecords) AS lr FROM (
    SELECT rl.resource AS res, unnest(rl.scopeLogs) AS sl FROM (
      SELECT unnest(resourceLogs) AS rl
      FROM read_json('{p}', format = 'newline_delimited', maximum_object_size = 268435456,
                     columns = {{'resourceLogs': '{LR_DUCK}'}})
    )
  )
)"""


def logs_queries(spec, trace_rows, newest_times, word_total):
    """Runs the logs spec through an engine's three callables; the shared answer shape."""
    per_trace, warm = {}, []
    for rnd in range(2):
        for t in spec["trace_ids"]:
            s = time.perf_counter()
            per_trace[t] = trace_rows(t)
            if rnd == 1:
                warm.append((time.perf_counter() - s) * 1e3)
    times, newest = [], []
    for _ in range(max(spec.get("repeats", 5), 1)):
        s = time.perf_counter()
        newest = newest_times(spec["word"], spec["limit"])
        times.append((time.perf_counter() - s) * 1e3)
    return {
        "trace_logs": {"warm": summary(warm), "per_trace": per_trace},
        "word_search": {"word": spec["word"], "limit": spec["limit"], "times": summary(times),
                        "newest_times_ns": [int(x) for x in newest], "total": word_total(spec["word"])},
    }


def like(word):
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("'", "''") + "%"


def duckdb_logs(data, dbdir, spec):
    import duckdb

    os.makedirs(dbdir, exist_ok=True)
    path = os.path.join(dbdir, "logs.duckdb")
    t0 = time.perf_counter()
    con = duckdb.connect(path)
    con.execute(DUCK_LOGS_SCHEMA)
    con.execute(duck_logs_load_sql(data))
    con.execute("CREATE INDEX logs_trace_id ON logs (trace_id)")
    con.execute("CHECKPOINT")
    secs = time.perf_counter() - t0
    n = con.execute("SELECT count(*) FROM logs").fetchone()[0]
    con.close()
    size = dir_size(dbdir)
    con = duckdb.connect(path, read_only=True)

    def trace_rows(t):
        return len(con.execute("SELECT * FROM logs WHERE trace_id = ?", [t]).fetchall())

    def newest_times(word, limit):
        sql = f"SELECT time_ns FROM logs WHERE body LIKE '{like(word)}' ESCAPE '\\' ORDER BY time_ns DESC LIMIT {int(limit)}"
        return [r[0] for r in con.execute(sql).fetchall()]

    def word_total(word):
        return con.execute(f"SELECT count(*) FROM logs WHERE body LIKE '{like(word)}' ESCAPE '\\'").fetchone()[0]

    out = logs_queries(spec, trace_rows, newest_times, word_total)
    con.close()
    return {"engine": "duckdb", "version": duckdb.__version__, "records": n, "ingest_seconds": secs,
            "records_per_second": n / secs, "bytes_on_disk": size, "bytes_per_record": size / max(n, 1),
            "peak_rss_bytes": rss()[1], **out}


LR_CH = (
    "resourceLogs Array(Tuple(resource Tuple(attributes " + KV_CH + "), scopeLogs Array(Tuple("
    "scope Tuple(name String, version String), logRecords Array(Tuple(timeUnixNano String, "
    "observedTimeUnixNano String, severityNumber UInt8, severityText String, body Tuple(stringValue String), "
    "attributes " + KV_CH + ", flags UInt32, traceId String, spanId String))))))"
)

# The OpenTelemetry Collector ClickHouse exporter's otel_logs table (its default schema).
CH_LOGS_SCHEMA = """
CREATE TABLE bench.otel_logs (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    ObservedTimestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree
PARTITION BY toDate(TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
SETTINGS index_granularity = 8192"""


def ch_logs_load_sql(path):
    p = path.replace("'", "\\'")
    lr, res = "lr", te("rl", "resource.attributes")
    t = f"toUInt64({te(lr, 'timeUnixNano')})"
    return f"""
INSERT INTO bench.otel_logs (Timestamp, ObservedTimestamp, TraceId, SpanId, TraceFlags, SeverityText,
    SeverityNumber, ServiceName, Body, ResourceAttributes, ScopeName, LogAttributes)
SELECT fromUnixTimestamp64Nano(toInt64({t})),
       fromUnixTimestamp64Nano(toInt64(toUInt64({te(lr, 'observedTimeUnixNano')}))),
       {te(lr, 'traceId')}, {te(lr, 'spanId')}, {te(lr, 'flags')}, {te(lr, 'severityText')},
       {te(lr, 'severityNumber')},
       {te(f"arrayFirst(a -> {te('a', 'key')} = 'service.name', {res})", 'value.stringValue')},
       {te(lr, 'body.stringValue')}, {ch_map(res)}, {te('sl', 'scope.name')}, {ch_map(te(lr, 'attributes'))}
FROM file('{p}', 'JSONEachRow', '{LR_CH}')
ARRAY JOIN resourceLogs AS rl
ARRAY JOIN {te('rl', 'scopeLogs')} AS sl
ARRAY JOIN {te('sl', 'logRecords')} AS lr
SETTINGS input_format_skip_unknown_fields = 1,
         input_format_json_ignore_unknown_keys_in_named_tuple = 1,
         input_format_json_defaults_for_missing_elements_in_named_tuple = 1,
         input_format_json_named_tuples_as_objects = 1"""


def chdb_logs(data, dbdir, spec):
    import chdb
    from chdb import session

    os.makedirs(dbdir, exist_ok=True)
    t0 = time.perf_counter()
    sess = session.Session(dbdir)
    ch_check(sess.query("CREATE DATABASE IF NOT EXISTS bench"))
    ch_check(sess.query(CH_LOGS_SCHEMA))
    ch_check(sess.query(ch_logs_load_sql(os.path.abspath(data))))
    ch_check(sess.query("OPTIMIZE TABLE bench.otel_logs FINAL"))
    secs = time.perf_counter() - t0
    n = int(sess.query("SELECT count() FROM bench.otel_logs", "CSV").bytes())
    size = int(sess.query(
        "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'bench' AND table = 'otel_logs' AND active",
        "CSV").bytes())
    tbl = "bench.otel_logs"

    def trace_rows(t):
        res = ch_check(sess.query(f"SELECT * FROM {tbl} WHERE TraceId = '{t}'", "TabSeparated"))
        return res.bytes().count(b"\n")

    def rows(sql):
        return json.loads(ch_check(sess.query(sql, "JSONCompact")).bytes())["data"]

    def newest_times(word, limit):
        sql = (f"SELECT toUnixTimestamp64Nano(Timestamp) FROM {tbl} WHERE Body LIKE '{like(word)}' "
               f"ORDER BY Timestamp DESC LIMIT {int(limit)}")
        return [int(r[0]) for r in rows(sql)]

    def word_total(word):
        return int(rows(f"SELECT count() FROM {tbl} WHERE Body LIKE '{like(word)}'")[0][0])

    out = logs_queries(spec, trace_rows, newest_times, word_total)
    sess.close()
    return {"engine": "chdb", "version": chdb.__version__, "records": n, "ingest_seconds": secs,
            "records_per_second": n / secs, "bytes_on_disk": size, "bytes_per_record": size / max(n, 1),
            "peak_rss_bytes": rss()[1], **out}
