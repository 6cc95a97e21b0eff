"""Codec benchmark, Python side: dashfeed vs msgpack-python (+ gzip.compress above 1 KiB, the reference
notes' serializer), orjson and json, in one run on the same messages.

Run: python bench/codec.py [--rounds 7] [--seconds 0.2]
Prints a Markdown table: median ns/op over the rounds, and the speed ratio peer_ns / dashfeed_ns
(> 1 means dashfeed is faster). The machine is noisy: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from typing import Any, Callable

import msgpack
import orjson

import dashfeed

UPDATE = {
    "dashboard_id": "ops",
    "metric_name": "cpu_utilization",
    "value": 0.4231,
    "timestamp": 1764288000123,
    "metadata": {"host": "web-1", "region": "eu-west-1"},
}


def make_batch() -> dict[str, Any]:
    return {
        "dashboard_id": "ops",
        "window": {"start": 1764288000000, "end": 1764288001000},
        "metrics": [
            {
                "metric_name": f"service_{i:02d}_latency_ms",
                "value": 12.5 + i * 0.731,
                "timestamp": 1764288000000 + i * 7,
                "metadata": {"host": f"web-{i % 8}", "region": "eu-west-1", "unit": "ms"},
            }
            for i in range(50)
        ],
    }


BATCH = make_batch()


def ref_serialize(data: Any) -> bytes:
    packed = msgpack.packb(data)
    return gzip.compress(packed) if len(packed) > 1024 else packed


def ref_deserialize(data: bytes) -> Any:
    # The reference notes' version tries gzip and catches; we give it the magic-byte check so it is not
    # penalised by the exception path.
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return msgpack.unpackb(data)


def bench(fn: Callable[[], Any], seconds: float, rounds: int) -> float:
    """Median ns per call over `rounds` rounds of ~`seconds` each."""
    n = 1
    while True:  # calibrate: at most ~20 doublings
        t = time.perf_counter_ns()
        for _ in range(n):
            fn()
        el = time.perf_counter_ns() - t
        if el > seconds * 1e9 / 4 or n > 1 << 20:
            break
        n *= 2
    n = max(1, int(n * (seconds * 1e9 / max(el, 1)) / 1))
    samples = []
    for _ in range(rounds):
        t = time.perf_counter_ns()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter_ns() - t) / n)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.2)
    args = ap.parse_args()

    codec = dashfeed.Codec("msgpack", compress_over=1024)
    codec9 = dashfeed.Codec("msgpack", compress_over=1024, level=9)
    jcodec = dashfeed.Codec("json", compress_over=None)
    rows = []
    for case, msg in (("update (reference msg)", UPDATE), ("batch 50 metrics", BATCH)):
        packed = msgpack.packb(msg)
        enc_df = codec.encode(msg)
        enc_ref = ref_serialize(msg)
        js = json.dumps(msg).encode()
        size = f"{len(packed)} B msgpack, {len(enc_df)} B on the wire"
        ops = {
            "encode": {
                "dashfeed (msgpack+gzip)": lambda m=msg: codec.encode(m),
                "msgpack-python + gzip.compress": lambda m=msg: ref_serialize(m),
                "dashfeed, gzip level 9 (as gzip.compress)": lambda m=msg: codec9.encode(m),
                "dashfeed json": lambda m=msg: jcodec.encode(m),
                "orjson": lambda m=msg: orjson.dumps(m),
                "json": lambda m=msg: json.dumps(m),
            },
            "decode": {
                "dashfeed (msgpack+gzip)": lambda b=enc_df: codec.decode(b),
                "msgpack-python + gzip.decompress": lambda b=enc_ref: ref_deserialize(b),
                "dashfeed json": lambda b=js: jcodec.decode(b),
                "orjson": lambda b=js: orjson.loads(b),
                "json": lambda b=js: json.loads(b),
            },
        }
        for op, fns in ops.items():
            base = None
            for name, fn in fns.items():
                ns = bench(fn, args.seconds, args.rounds)
                if base is None:
                    base = ns
                rows.append((case, size, op, name, ns, ns / base))
    print(f"python {'.'.join(map(str, __import__('sys').version_info[:3]))}, dashfeed {dashfeed.__version__}, "
          f"msgpack {msgpack.version}, orjson {orjson.__version__}; median of {args.rounds} rounds\n")
    print("| message | op | library | ns/op (median) | peer / dashfeed |")
    print("|---|---|---|---:|---:|")
    for case, size, op, name, ns, ratio in rows:
        rel = "1.00 (baseline)" if name.startswith("dashfeed (") else f"{ratio:.2f}x"
        print(f"| {case} ({size}) | {op} | {name} | {ns:,.0f} | {rel} |")


if __name__ == "__main__":
    main()
