#!/usr/bin/env python3
"""Precision, recall, localization and time to detect of `spandb anomalies` on generated data
with injected incidents (benches/gen_spans.py --incident, ground truth from --truth).

    python3 benches/anomalies/evaluate.py                 # the default scenario, 400k spans, 2 h
    python3 benches/anomalies/evaluate.py --check         # exit 1 unless every incident is found
                                                          # and localized, and <= 1 false per hour

A detected incident *matches* an injected one when their time ranges overlap; it is
*localized* when its origin service is the injected service. Detected incidents matching
nothing are false. Time to detect = detected start - injected start (minute granularity).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SCENARIO = [
    "payment:errors:1200:600:0.3",
    "inventory:latency:2400:300:5",
    "auth:errors:4200:300:0.5",
    "search:latency:5700:600:4",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=400000)
    ap.add_argument("--window-s", type=int, default=7200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--incident", action="append", help="override the scenario (repeatable)")
    ap.add_argument("--bin", default=None, help="the spandb binary (default: target/release/spandb)")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = args.bin or os.path.join(target, "release", "spandb")
    incidents = args.incident or SCENARIO
    with tempfile.TemporaryDirectory() as tmp:
        spans, truth_path, db = (os.path.join(tmp, n) for n in ("spans.jsonl", "truth.json", "db"))
        cmd = [sys.executable, os.path.join(ROOT, "benches", "gen_spans.py"), "--spans", str(args.spans),
               "--seed", str(args.seed), "--window-s", str(args.window_s), "--out", spans, "--truth", truth_path]
        for i in incidents:
            cmd += ["--incident", i]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([binary, "--db", db, "import", spans], check=True, stdout=subprocess.DEVNULL)
        truth = json.load(open(truth_path))
        start = truth["start_unix_ns"]
        end = start + truth["window_s"] * 10**9
        t = time.perf_counter()
        out = subprocess.run([binary, "--db", db, "--output", "json", "anomalies", "--start", str(start),
                              "--end", str(end)], check=True, stdout=subprocess.PIPE, text=True).stdout
        seconds = time.perf_counter() - t
    found = json.loads(out)["incidents"]
    matched, localized, delays = set(), 0, []
    false = []
    for d in found:
        hits = [i for i, inj in enumerate(truth["incidents"])
                if d["start_ns"] < inj["end_unix_ns"] and inj["start_unix_ns"] < d["end_ns"]]
        if not hits:
            false.append(d)
            continue
        for i in hits:
            inj = truth["incidents"][i]
            origin = (d.get("origin") or {}).get("service")
            if i not in matched:
                matched.add(i)
                localized += origin == inj["service"]
                if origin != inj["service"]:
                    print(f"mislocalized: {inj['spec']} -> {d.get('origin')} (also: {d['affected_services']})", file=sys.stderr)
                delays.append((d["start_ns"] - inj["start_unix_ns"]) / 1e9)
    n = len(truth["incidents"])
    hours = truth["window_s"] / 3600
    report = {
        "spans": args.spans,
        "hours": hours,
        "injected": n,
        "detected": len(found),
        "recall": len(matched) / n if n else 1.0,
        "precision": (len(found) - len(false)) / len(found) if found else 1.0,
        "localized": localized,
        "false_incidents": len(false),
        "false_per_hour": len(false) / hours,
        "time_to_detect_s": delays,
        "anomalies_command_s": round(seconds, 3),
    }
    print(json.dumps(report, indent=1))
    for i, inj in enumerate(truth["incidents"]):
        if i not in matched:
            print(f"missed: {inj['spec']} ({inj['affected_spans']} spans affected)", file=sys.stderr)
    for d in false:
        print(f"false incident: {d['kinds']} at {d['start_ns']} origin {d.get('origin')}", file=sys.stderr)
    if args.check:
        ok = len(matched) == n and localized == n and len(false) / hours <= 1.0
        if not ok:
            print("anomaly detection below target", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
