"""Windowed aggregation benchmark, Python side, in one run on the same events:
dashfeed per-event `add`; dashfeed `add_many` with numpy values and times and the metric column as a list
of str (the same few str objects repeated, and a new object per row), a categorical `(names, codes)` pair, a pandas Categorical and a pyarrow dictionary array
(results taken by `poll()`, a WindowResult each, and for two forms also by `poll_columns()`, one Arrow
record batch per poll); a
pure-Python dict-of-windows loop; and bytewax's tumbling `fold_window` (the stream processor a Python user
would pick), when installed.

Run: python bench/window.py [--events 1000000] [--rounds 3] [--bytewax-events 200000]
1 s tumbling windows over 60 s of event time, count/sum/min/max/mean, 1k and 100k keys; plus a dashfeed
run with p50/p99. Prints ns/event (median of rounds) and the speed ratio dict loop ns / dashfeed ns.
The column conversions (to codes, Categorical, Arrow) are made before timing: they are the form the
caller already holds the data in.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import numpy as np

import dashfeed


def make_events(n: int, keys: int, seed: int = 1) -> tuple[list[str], np.ndarray, np.ndarray]:
    metrics, _, _, values, ts = make_columns(n, keys, seed)
    return metrics, values, ts


def make_columns(
    n: int, keys: int, seed: int = 1
) -> tuple[list[str], list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(metrics as str per row, the distinct names, int32 codes, values, ts)."""
    rng = np.random.default_rng(seed)
    names = [f"metric_{i}" for i in range(keys)]
    idx = rng.integers(0, keys, size=n)
    metrics = [names[i] for i in idx.tolist()]
    values = rng.lognormal(size=n)
    ts = (1_764_288_000_000 + np.sort(rng.integers(0, 60_000, size=n))).astype(np.int64)
    return metrics, names, idx.astype(np.int32), values, ts


def dict_loop(metrics: list[str], values: list[float], ts: list[int]) -> int:
    windows: dict[tuple[str, str, int], list[float]] = {}
    for m, v, t in zip(metrics, values, ts):
        k = ("ops", m, t // 1000)
        acc = windows.get(k)
        if acc is None:
            windows[k] = [1, v, v, v]
        else:
            acc[0] += 1
            acc[1] += v
            if v < acc[2]:
                acc[2] = v
            if v > acc[3]:
                acc[3] = v
    out = [(k, a[0], a[1], a[2], a[3], a[1] / a[0]) for k, a in windows.items()]
    return len(out)


def df_add(metrics: list[str], values: list[float], ts: list[int], quantiles: list[float]) -> int:
    agg = dashfeed.Aggregator(window="1s", quantiles=quantiles)
    add = agg.add
    out = 0
    for i, (m, v, t) in enumerate(zip(metrics, values, ts)):
        add("ops", m, v, t)
        if i & 0xFFFF == 0:
            out += len(agg.poll())  # results are taken as they close (the pending buffer is bounded)
    return out + len(agg.flush())


def df_batch(
    metrics: Any, values: np.ndarray, ts: np.ndarray, quantiles: list[float], columns: bool = False
) -> int:
    """add_many in batches of 65,536 rows; `metrics` is anything add_many takes that slices by rows,
    or a (names, codes) pair. `columns`: results taken with poll_columns() (one Arrow record batch
    per poll) instead of poll() (a WindowResult each)."""
    agg = dashfeed.Aggregator(window="1s", quantiles=quantiles)
    poll = agg.poll_columns if columns else agg.poll
    out = 0
    for i in range(0, len(values), 65536):
        if isinstance(metrics, tuple):
            m: Any = (metrics[0], metrics[1][i : i + 65536])
        else:
            m = metrics[i : i + 65536]
        agg.add_many("ops", m, values[i : i + 65536], ts[i : i + 65536])
        out += len(poll())
    return out + len(agg.flush_columns() if columns else agg.flush())


def column_forms(metrics: list[str], names: list[str], codes: np.ndarray) -> dict[str, Any]:
    """The metric column in each form add_many takes (those whose library is installed)."""
    forms: dict[str, Any] = {
        "list of str": metrics,
        # What json.loads or csv give: a new str object per row, equal texts or not.
        "list of str, an object per row": [m.encode().decode() for m in metrics],
        "(names, codes)": (names, codes),
    }
    try:
        import pandas as pd

        forms["pandas Categorical"] = pd.Categorical.from_codes(codes, categories=names)
    except ImportError:
        pass
    try:
        import pyarrow as pa

        forms["pyarrow dictionary"] = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names))
    except ImportError:
        pass
    return forms


def bytewax_run(metrics: list[str], values: list[float], ts: list[int]) -> int:
    import bytewax.operators as op
    import bytewax.operators.windowing as win
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main

    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    events = [(m, v, epoch + timedelta(milliseconds=t)) for m, v, t in zip(metrics, values, ts)]
    out: list[Any] = []
    flow = Dataflow("bench")
    s = op.input("in", flow, TestingSource(events, batch_size=4096))
    keyed = op.key_on("key", s, lambda e: e[0])
    clock = win.EventClock(lambda e: e[2], wait_for_system_duration=timedelta(seconds=0))
    windower = win.TumblingWindower(length=timedelta(seconds=1), align_to=epoch)

    def folder(acc: list[float], e: Any) -> list[float]:
        v = e[1]
        if not acc:
            return [1, v, v, v]
        acc[0] += 1
        acc[1] += v
        acc[2] = min(acc[2], v)
        acc[3] = max(acc[3], v)
        return acc

    def merger(a: list[float], b: list[float]) -> list[float]:
        return [a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3])]

    folded = win.fold_window("fold", keyed, clock, windower, list, folder, merger)
    op.output("out", folded.down, TestingSink(out))
    run_main(flow)
    return len(out)


def timed(fn: Callable[[], int], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bytewax-events", type=int, default=100_000)
    a = ap.parse_args()
    n = a.events
    print(f"dashfeed {dashfeed.__version__}; {n:,} events, 1 s tumbling windows over 60 s; median of {a.rounds}"
          f" rounds (bytewax: {a.bytewax_events:,} events)\n")
    print("| keys | stats | implementation | ns/event | dict loop / this |")
    print("|---:|---|---|---:|---:|")
    for keys in (1_000, 100_000):
        metrics, names, codes, values, ts = make_columns(n, keys)
        vl, tl = values.tolist(), ts.tolist()
        forms = column_forms(metrics, names, codes)
        for quantiles, label in (([], "count/sum/min/max/mean"), ([0.5, 0.99], "+ p50/p99")):
            rows: list[tuple[str, float]] = []
            for form, column in forms.items():
                if quantiles and form not in ("list of str", "(names, codes)"):
                    continue
                ns = timed(lambda: df_batch(column, values, ts, quantiles), a.rounds) / n * 1e9
                rows.append((f"dashfeed add_many ({form})", ns))
                if form in ("(names, codes)", "pyarrow dictionary"):
                    ns = timed(lambda: df_batch(column, values, ts, quantiles, True), a.rounds)
                    rows.append((f"dashfeed add_many ({form}) + poll_columns", ns / n * 1e9))
            add = timed(lambda: df_add(metrics, vl, tl, quantiles), a.rounds) / n * 1e9
            rows.append(("dashfeed add (per event)", add))
            loop = None
            if not quantiles:
                loop = timed(lambda: dict_loop(metrics, vl, tl), a.rounds) / n * 1e9
                rows.append(("pure-Python dict loop", loop))
            for name, ns in rows:
                ratio = f"{loop / ns:.1f}x" if loop else ""
                print(f"| {keys:,} | {label} | {name} | {ns:.0f} | {ratio} |")
            if quantiles:
                continue
            m = a.bytewax_events
            try:
                bw = timed(lambda: bytewax_run(metrics[:m], vl[:m], tl[:m]), 1) / m * 1e9
                print(f"| {keys:,} | {label} | bytewax fold_window | {bw:.0f} | {loop / bw:.2f}x |")
            except ImportError:
                print(f"| {keys:,} | {label} | bytewax fold_window | not installed | |")

if __name__ == "__main__":
    main()
