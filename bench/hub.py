"""In-process fan-out benchmark, Python side: dashfeed Hub with asyncio consumers (`async for`) vs an
asyncio.Queue-per-subscriber broadcast, in one run.

Run: python bench/hub.py [--rounds 3]
One publisher, 1 / 100 / 1000 subscribers, ~200 B and ~4 KiB MessagePack updates. Both sides hand each
consumer the same pre-encoded bytes (dashfeed: `msg.raw()`, encoded once by the hub; baseline: one
`msgpack.packb` per publication put in every queue). Reports deliveries per CPU-second of the process,
p50/p99 publish→receive latency, and the ratio dashfeed / asyncio (> 1: dashfeed better).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any, Callable

import msgpack

import dashfeed

BURST = 50


_PAYLOADS: dict[int, list[dict[str, Any]]] = {}


def payload(size: int, i: int) -> dict[str, Any]:
    """One of 64 prebuilt updates of about `size` MessagePack bytes (building dicts is not what we measure)."""
    if size not in _PAYLOADS:
        n = max(1, size // 24)
        _PAYLOADS[size] = [{f"metric_{k:03d}": j + k * 0.5 for k in range(n)} for j in range(64)]
    return _PAYLOADS[size][i % 64]


async def run_dashfeed(subs: int, pubs: int, size: int) -> tuple[float, list[float]]:
    hub = dashfeed.Hub(compress_over=None, queue=pubs + 10, queue_bytes=1 << 30)
    sent: list[int] = [0] * (pubs + 1)
    lat: list[float] = []
    done = asyncio.Event()
    remaining = [subs]

    async def consume(sub: dashfeed.Subscription, record: bool) -> None:
        async for msg in sub:
            _ = msg.raw()
            if msg.seq:
                if record:
                    lat.append((time.perf_counter_ns() - sent[msg.seq]) / 1000)
                if msg.seq == pubs:
                    break
        remaining[0] -= 1
        if remaining[0] == 0:
            done.set()

    tasks = [asyncio.create_task(consume(hub.subscribe("b"), i % max(1, subs // 10) == 0)) for i in range(subs)]
    await asyncio.sleep(0)
    c0 = time.process_time()
    for i in range(1, pubs + 1):
        sent[i] = time.perf_counter_ns()
        hub.publish("b", payload(size, i))
        if i % BURST == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(done.wait(), timeout=120)
    cpu = time.process_time() - c0
    for t in tasks:
        t.cancel()
    return subs * pubs / cpu, lat


async def run_asyncio(subs: int, pubs: int, size: int) -> tuple[float, list[float]]:
    queues: list[asyncio.Queue[tuple[int, bytes]]] = [asyncio.Queue() for _ in range(subs)]
    sent: list[int] = [0] * (pubs + 1)
    lat: list[float] = []
    done = asyncio.Event()
    remaining = [subs]

    async def consume(q: asyncio.Queue[tuple[int, bytes]], record: bool) -> None:
        while True:
            seq, _raw = await q.get()
            if record:
                lat.append((time.perf_counter_ns() - sent[seq]) / 1000)
            if seq == pubs:
                break
        remaining[0] -= 1
        if remaining[0] == 0:
            done.set()

    tasks = [asyncio.create_task(consume(q, i % max(1, subs // 10) == 0)) for i, q in enumerate(queues)]
    await asyncio.sleep(0)
    c0 = time.process_time()
    for i in range(1, pubs + 1):
        sent[i] = time.perf_counter_ns()
        raw = msgpack.packb(payload(size, i))
        for q in queues:
            q.put_nowait((i, raw))
        if i % BURST == 0:
            await asyncio.sleep(0)
    await asyncio.wait_for(done.wait(), timeout=120)
    cpu = time.process_time() - c0
    for t in tasks:
        t.cancel()
    return subs * pubs / cpu, lat


def median_run(fn: Callable[..., Any], rounds: int, *args: Any) -> tuple[float, float, float]:
    rates, p50s, p99s = [], [], []
    for _ in range(rounds):
        rate, lat = asyncio.run(fn(*args))
        lat.sort()
        rates.append(rate)
        p50s.append(lat[len(lat) // 2])
        p99s.append(lat[int(len(lat) * 0.99)])
    return statistics.median(rates), statistics.median(p50s), statistics.median(p99s)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print(f"dashfeed {dashfeed.__version__}; median of {a.rounds} rounds; latency µs publish→receive\n")
    print("| subscribers | update | dashfeed deliveries/CPU-s | p50 / p99 µs | asyncio.Queue deliveries/CPU-s "
          "| p50 / p99 µs | dashfeed / asyncio |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for subs, pubs in ((1, 20000), (100, 2000), (1000, 300)):
        for size, label in ((200, "200 B"), (4096, "4 KiB")):
            d = median_run(run_dashfeed, a.rounds, subs, pubs, size)
            q = median_run(run_asyncio, a.rounds, subs, pubs, size)
            print(f"| {subs} | {label} | {d[0]:,.0f} | {d[1]:.0f} / {d[2]:.0f} | {q[0]:,.0f} | {q[1]:.0f} / {q[2]:.0f} "
                  f"| {d[0] / q[0]:.2f}x |")


if __name__ == "__main__":
    main()
