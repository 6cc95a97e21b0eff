"""Circuit breaker benchmark, Python side: dashfeed vs pybreaker (the breaker Python users pick), in one run.

Run: python bench/breaker.py [--rounds 7] [--n 200000]
Cases: a guarded no-op call in the closed state, a rejected call in the open state, and a 50% failure mix;
plus the bare unguarded call. Prints median ns per call, the overhead (guarded - bare) and the ratio
pybreaker / dashfeed (> 1: dashfeed faster).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import time
from typing import Any, Callable

import pybreaker

import dashfeed


def noop() -> None:
    return None


class Boom(Exception):
    pass


def timed(fn: Callable[[], Any], n: int, rounds: int) -> float:
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
    ap.add_argument("--n", type=int, default=200_000)
    a = ap.parse_args()
    n, r = a.n, a.rounds

    bare = timed(lambda: noop(), n, r)  # the same lambda layer as the guarded calls

    df = dashfeed.CircuitBreaker(failure_threshold=1_000_000)
    pb = pybreaker.CircuitBreaker(fail_max=1_000_000)
    closed_df = timed(lambda: df.call(noop), n, r)
    closed_pb = timed(lambda: pb.call(noop), n, r)

    df_open = dashfeed.CircuitBreaker(reset_timeout=3600)
    df_open.open()
    pb_open = pybreaker.CircuitBreaker(reset_timeout=3600)
    pb_open.open()

    def rej_df() -> None:
        try:
            df_open.call(noop)
        except dashfeed.CircuitOpenError:
            pass

    def rej_pb() -> None:
        try:
            pb_open.call(noop)
        except pybreaker.CircuitBreakerError:
            pass

    open_df = timed(rej_df, n, r)
    open_pb = timed(rej_pb, n, r)

    # 50% failures: a rate window that never trips (threshold 100%), so every call runs.
    df_mix = dashfeed.CircuitBreaker(failure_threshold=0, failure_rate=1.0, rate_window=100, minimum_calls=100)
    pb_mix = pybreaker.CircuitBreaker(fail_max=1_000_000_000)
    flip = [0]

    def half_fail() -> None:
        flip[0] ^= 1
        if flip[0]:
            raise Boom()

    def mix(b: Any) -> Callable[[], None]:
        def run() -> None:
            try:
                b.call(half_fail)
            except Boom:
                pass
            except pybreaker.CircuitBreakerError:
                pass

        return run

    def bare_mix() -> None:
        try:
            half_fail()
        except Boom:
            pass

    mix_bare = timed(bare_mix, n, r)
    mix_df = timed(mix(df_mix), n, r)
    mix_pb = timed(mix(pb_mix), n, r)

    print(f"python, dashfeed {dashfeed.__version__}, pybreaker {importlib.metadata.version('pybreaker')}; "
          f"median of {r} rounds x {n} calls\n")
    print("| case | bare ns | dashfeed ns (overhead) | pybreaker ns (overhead) | pybreaker / dashfeed (overhead) |")
    print("|---|---:|---:|---:|---:|")
    for name, b0, d, p in (
        ("closed, guarded no-op", bare, closed_df, closed_pb),
        ("open, rejected call", bare, open_df, open_pb),
        ("50% failures", mix_bare, mix_df, mix_pb),
    ):
        od, op = d - b0, p - b0
        print(f"| {name} | {b0:.0f} | {d:.0f} ({od:.0f}) | {p:.0f} ({op:.0f}) | {op / max(od, 1):.1f}x |")


if __name__ == "__main__":
    main()
