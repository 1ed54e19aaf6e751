#!/usr/bin/env python3
"""An optimistic floor of bytes per span for a span file, to judge block-format targets.

Each logical stream of the first N spans (sorted by trace id then start, like a block) is
compressed as ONE unit with the better of zstd -19 (long window) and xz -9e: no row groups,
no random access, no indexes. What a block format with row groups and a footer stores has to
be above this.

    python3 benches/bytes_floor.py /work/data/spans_1m.jsonl 300000

Needs the `zstandard` Python package. Parent span ids are left out (a block stores a row
offset for them, ~0.5 B/span).
"""
import collections
import json
import lzma
import sys

import zstandard


def uvarint(x):
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def zigzag(x):
    return (x << 1) ^ (x >> 63)


def load(path, limit):
    spans = []
    with open(path) as f:
        for line in f:
            for rs in json.loads(line)["resourceSpans"]:
                svc = next(
                    (a["value"].get("stringValue", "") for a in rs["resource"]["attributes"]
                     if a["key"] == "service.name"), "")
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        spans.append((s["traceId"], int(s["startTimeUnixNano"]), s, svc))
            if len(spans) >= limit:
                break
    spans.sort(key=lambda t: (t[0], t[1], t[2]["spanId"]))
    return spans


def streams_of(spans):
    streams = collections.defaultdict(bytearray)
    prev_trace, prev_start = None, 0
    for trace, start, s, svc in spans:
        streams["span id"] += bytes.fromhex(s["spanId"])
        if trace != prev_trace:
            prev_trace = trace
            streams["trace id"] += bytes.fromhex(trace)
            streams["trace start"] += uvarint(start)
        else:
            streams["start"] += uvarint(zigzag(start - prev_start))
        prev_start = start
        streams["duration"] += uvarint(zigzag(int(s["endTimeUnixNano"]) - start))
        streams["service, name"] += (svc + "\0" + s["name"] + "\n").encode()
        code = s.get("status", {}).get("code", 0)
        streams["kind, status"] += bytes([s.get("kind", 0) | (code << 4)])
        for a in s.get("attributes", []):
            v = a["value"]
            streams["attr " + a["key"]] += (str(next(iter(v.values()), "")) + "\n").encode()
        for e in s.get("events", []):
            streams["events"] += (e["name"] + json.dumps(e.get("attributes", [])) + "\n").encode()
    return streams


def main():
    path, limit = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    spans = load(path, limit)
    n = len(spans)
    params = zstandard.ZstdCompressionParameters.from_level(19, enable_ldm=True, window_log=27)
    zc = zstandard.ZstdCompressor(compression_params=params)
    total, attrs, rows = 0, 0, []
    streams = streams_of(spans)
    for name, raw in streams.items():
        raw = bytes(raw)
        size = min(len(zc.compress(raw)), len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)))
        total += size
        if name.startswith("attr "):
            attrs += size
        else:
            rows.append((name, size / n))
    for name, per_span in sorted(rows, key=lambda r: -r[1]):
        print(f"{name:16s} {per_span:6.2f} B/span")
    keys = sum(1 for k in streams if k.startswith("attr "))
    print(f"{'attribute values':16s} {attrs / n:6.2f} B/span ({keys} keys)")
    print(f"{n} spans: floor {total / n:.2f} B/span")


if __name__ == "__main__":
    main()
