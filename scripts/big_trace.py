#!/usr/bin/env python3
"""Writes one big trace (default 10,000 spans) as OTLP JSON lines, for the renderers' tests
and screenshots: 12 services, nesting up to 12 levels, fan-outs of same-named calls (N+1
queries), events, a few errors with exception events, and one link.

    python3 scripts/big_trace.py --spans 10000 --out /tmp/big.jsonl

Deterministic: the same arguments give the same bytes."""
import argparse
import json
import random

SERVICES = ["frontend", "checkout", "cart", "catalog", "inventory", "pricing", "payment",
            "shipping", "email", "auth", "search", "recommend"]
OPS = {
    "frontend": ["GET /checkout", "render page"],
    "checkout": ["PlaceOrder", "validate cart"],
    "cart": ["GetCart", "HGETALL"],
    "catalog": ["GetProduct", "SELECT products"],
    "inventory": ["Reserve", "UPDATE stock"],
    "pricing": ["Quote", "SELECT prices"],
    "payment": ["Charge", "POST /v1/charges"],
    "shipping": ["Estimate", "compute route"],
    "email": ["SendConfirmation", "SMTP send"],
    "auth": ["Verify", "GET token"],
    "search": ["Query", "POST /_search"],
    "recommend": ["ForUser", "model inference"],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    trace_id = "%032x" % rnd.getrandbits(128)
    t0 = 1748772000_000_000_000
    spans = []  # dicts with service, depth, start, end

    def new_span(parent, service, name, start, end):
        s = {"service": service, "name": name, "start": start, "end": end,
             "id": "%016x" % rnd.getrandbits(64), "parent": parent["id"] if parent else None,
             "depth": parent["depth"] + 1 if parent else 0, "events": [], "error": False,
             "kind": 2 if parent is None or rnd.random() < 0.4 else 3}
        spans.append(s)
        return s

    root = new_span(None, "frontend", "GET /checkout", t0, t0 + 2_400_000_000)
    frontier = [root]
    while len(spans) < args.spans:
        k = rnd.randrange(max(0, len(frontier) - 40), len(frontier))
        parent = frontier[k]
        length = parent["end"] - parent["start"]
        if parent["depth"] >= 12 or length < 20000:
            # Too deep or too short to hold children: never picked again (the root stays).
            if parent is not root:
                frontier.pop(k)
            continue
        service = parent["service"] if rnd.random() < 0.4 else rnd.choice(SERVICES)
        if rnd.random() < 0.05 and len(spans) + 30 < args.spans:
            # N+1: a run of same-named sequential queries.
            count = rnd.randint(8, 30)
            step = length // (count + 1)
            for k in range(count):
                a = parent["start"] + k * step + step // 4
                new_span(parent, parent["service"], "SELECT order_items", a, a + step // 2)
            continue
        a = parent["start"] + rnd.randrange(0, max(1, length // 2))
        b = a + max(1000, int((parent["end"] - a) * rnd.uniform(0.05, 0.9)))
        s = new_span(parent, service, rnd.choice(OPS[service]), a, min(b, parent["end"]))
        if rnd.random() < 0.1:
            s["events"].append({"timeUnixNano": str((s["start"] + s["end"]) // 2),
                                "name": "cache miss", "attributes": []})
        if rnd.random() < 0.01:
            s["error"] = True
            s["events"].append({
                "timeUnixNano": str(s["end"] - (s["end"] - s["start"]) // 10),
                "name": "exception",
                "attributes": [
                    {"key": "exception.type", "value": {"stringValue": "TimeoutError"}},
                    {"key": "exception.message", "value": {"stringValue": "deadline exceeded after 2s"}},
                ]})
        frontier.append(s)
    spans = spans[:args.spans]

    by_service = {}
    for s in spans:
        by_service.setdefault(s["service"], []).append(s)
    resource_spans = []
    for service, group in sorted(by_service.items()):
        otlp = []
        for s in group:
            o = {"traceId": trace_id, "spanId": s["id"], "name": s["name"], "kind": s["kind"],
                 "startTimeUnixNano": str(s["start"]), "endTimeUnixNano": str(s["end"]),
                 "attributes": [
                     {"key": "http.route", "value": {"stringValue": "/" + s["name"].split()[-1].lower()}},
                     {"key": "net.peer.name", "value": {"stringValue": service + ".svc"}},
                     {"key": "thread.id", "value": {"intValue": str(rnd.randint(1, 64))}},
                 ],
                 "status": {"code": 2, "message": "deadline exceeded"} if s["error"] else {}}
            if s["parent"]:
                o["parentSpanId"] = s["parent"]
            if s["events"]:
                o["events"] = s["events"]
            if s is root:
                o["links"] = [{"traceId": "%032x" % 1, "spanId": "%016x" % 2, "attributes": []}]
            otlp.append(o)
        resource_spans.append({
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": service}},
                {"key": "host.name", "value": {"stringValue": service + "-7d9f-1"}}]},
            "scopeSpans": [{"scope": {"name": "big_trace.py", "version": "1"}, "spans": otlp}]})
    with open(args.out, "w") as f:
        f.write(json.dumps({"resourceSpans": resource_spans}) + "\n")
    print(trace_id)


if __name__ == "__main__":
    main()
