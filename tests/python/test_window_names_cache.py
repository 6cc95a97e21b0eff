"""Aggregator.add_many keeps the categorical names of its last call (bindings-python/src/names.rs): a
call whose names are the same str objects in the same order does not read them again. These tests
check that what it keeps never changes a result (names replaced, reordered or mutated in place
between calls) and what it holds: one reference per kept name, for the last names of each column
only, none past the bounds (names, bytes) or after flush(), released outside the cache's lock."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

import dashfeed

# The cache's bounds (names.rs): lists from MIN_NAMES to MAX_NAMES names are kept.
MIN_NAMES = 64
MAX_NAMES = 1 << 20
MAX_BYTES = 64 << 20


def results(agg: dashfeed.Aggregator) -> list[Any]:
    return sorted((r.dashboard, r.metric, r.start, r.count, r.sum) for r in agg.flush())


def one_by_one(calls: list[tuple[list[str], np.ndarray, int]]) -> list[Any]:
    agg = dashfeed.Aggregator(window="1s")
    for names, codes, ts in calls:
        for c in codes.tolist():
            agg.add("d", names[c], float(c), ts)
    return results(agg)


def test_names_changed_between_calls_in_the_same_list_are_read_again() -> None:
    names = [f"m{i}" for i in range(200)]
    codes = np.arange(200, dtype=np.int32)
    agg = dashfeed.Aggregator(window="1s")
    calls: list[tuple[list[str], np.ndarray, int]] = []

    def add(ns: Any, ts: int) -> None:
        agg.add_many("d", (ns, codes), codes.astype(np.float64), ts)
        calls.append((list(ns), codes, ts))

    add(names, 0)
    names[7] = "renamed"  # same list object, same length, one item replaced
    add(names, 1000)
    names.reverse()  # same objects, other order
    add(names, 2000)
    add(tuple(names), 3000)  # same objects in a tuple
    add([n for n in names], 4000)  # same objects in a new list
    add([n.encode().decode() for n in names], 5000)  # equal texts, new objects
    names.append("one more")  # a different length
    add(names[:200], 6000)
    assert results(agg) == one_by_one(calls)


def test_pandas_categories_are_kept_between_calls() -> None:
    pd = pytest.importorskip("pandas")
    cats = [f"c{i}" for i in range(100)]
    rng = np.random.default_rng(3)
    agg = dashfeed.Aggregator(window="1s")
    calls = []
    for k in range(4):
        codes = rng.integers(0, 100, 500).astype(np.int8)
        agg.add_many("d", pd.Categorical.from_codes(codes, categories=cats), codes.astype(np.float64), k * 1000)
        calls.append((cats, codes, k * 1000))
    assert results(agg) == one_by_one(calls)


def test_what_is_kept_is_one_reference_per_name_of_the_last_call_per_column() -> None:
    names = [f"name-{i}" for i in range(MIN_NAMES)]
    probe = names[5]
    base = sys.getrefcount(probe)
    agg = dashfeed.Aggregator(window="1s")
    codes = np.array([5, 6, 5], dtype=np.int32)
    agg.add_many("d", (names, codes), np.ones(3), 0)
    assert sys.getrefcount(probe) == base + 1, "kept: one reference"
    agg.add_many((names, codes), "m", np.ones(3), 0)
    assert sys.getrefcount(probe) == base + 2, "kept per column: dashboards and metrics"
    others = [f"other-{i}" for i in range(MIN_NAMES)]
    agg.add_many((others, codes), (others, codes), np.ones(3), 0)
    assert sys.getrefcount(probe) == base, "replaced by the next call's names"
    agg.add_many("d", (names, codes), np.ones(3), 0)
    assert sys.getrefcount(probe) == base + 1
    agg.flush()
    assert sys.getrefcount(probe) == base, "flush() drops what was kept"
    agg.add_many("d", (names, codes), np.ones(3), 0)
    agg.flush_columns()
    assert sys.getrefcount(probe) == base, "flush_columns() too"
    few = names[: MIN_NAMES - 1]
    agg.add_many("d", (few, codes), np.ones(3), 0)
    del few
    assert sys.getrefcount(probe) == base, f"under {MIN_NAMES} names: read every call, not kept"
    del agg
    assert sys.getrefcount(probe) == base


def test_refused_names_are_not_kept_and_change_nothing() -> None:
    names: list[Any] = [f"n{i}" for i in range(100)]
    probe = names[0]
    base = sys.getrefcount(probe)
    agg = dashfeed.Aggregator(window="1s")
    agg.add_many("d", (names, np.array([0, 1])), np.ones(2), 0)
    before = agg.stats
    names[50] = 7  # no longer all str: the kept names do not match, the list is read and refused
    with pytest.raises(dashfeed.InvalidInputError) as err:
        agg.add_many("d", (names, np.array([0, 1])), np.ones(2), 0)
    assert err.value.code == "invalid_input"
    assert agg.stats == before
    assert sys.getrefcount(probe) == base + 1, "the earlier names are still the ones kept"
    assert results(agg) == [("d", "n0", 0, 1, 1.0), ("d", "n1", 0, 1, 1.0)]


def test_names_past_the_bound_are_not_kept() -> None:
    names = [f"x{i}" for i in range(MAX_NAMES + 1)]
    probe = names[1]
    base = sys.getrefcount(probe)
    agg = dashfeed.Aggregator(window="1s")
    agg.add_many("d", (names, np.array([1, MAX_NAMES], dtype=np.int64)), np.ones(2), 0)
    assert sys.getrefcount(probe) == base
    assert sorted(r.metric for r in agg.flush()) == ["x1", f"x{MAX_NAMES}"]


def test_a_list_subclass_is_read_the_way_it_iterates_on_every_call() -> None:
    class Renaming(list):  # type: ignore[type-arg]
        """Holds the same objects call after call, but iterates other names each time."""

        k = 0

        def __iter__(self) -> Any:
            Renaming.k += 1
            if Renaming.k == 1:  # the first time, the very objects it holds
                return list.__iter__(self)
            return iter([f"{x}-{Renaming.k}" for x in list.__iter__(self)])

    names = Renaming(f"m{i}" for i in range(100))
    agg = dashfeed.Aggregator(window="1s")
    for _ in range(2):
        agg.add_many("d", (names, np.array([0], dtype=np.int32)), np.ones(1), 0)
    assert sorted(r.metric for r in agg.flush()) == ["m0", "m0-2"]


def test_each_column_keeps_its_own_names() -> None:
    dashboards = [f"d{i}" for i in range(80)]
    metrics = [f"m{i}" for i in range(80)]
    codes = np.array([3, 7, 3], dtype=np.int32)
    agg = dashfeed.Aggregator(window="1s")
    for ts in (0, 1000):
        agg.add_many((dashboards, codes), (metrics, codes[::-1].copy()), np.ones(3), ts)
    agg.add_many((metrics, codes), (dashboards, codes), np.ones(3), 2000)  # the lists swapped
    got = sorted((r.dashboard, r.metric, r.start, r.count) for r in agg.flush())
    want = sorted(
        [(d, m, t, n) for t in (0, 1000) for d, m, n in [("d3", "m3", 2), ("d7", "m7", 1)]]
        + [("m3", "d3", 2000, 2), ("m7", "d7", 2000, 1)]
    )
    assert got == want


def test_a_name_finalizer_that_calls_the_aggregator_does_not_deadlock() -> None:
    """The kept names are released outside the cache's lock: dropping the last reference to a str
    subclass runs its __del__, which here calls back into the same aggregator. Run in a child process
    with a timeout, since a deadlock would hang it."""
    code = r'''
import numpy as np, dashfeed
agg = dashfeed.Aggregator(window="1s")
calls = []
class Name(str):
    def __del__(self):
        calls.append(agg.add_many("d", ([f"x{i}" for i in range(70)], np.array([0])), np.ones(1), 0))
names = [Name(f"n{i}") for i in range(70)]
agg.add_many("d", (names, np.array([0])), np.ones(1), 0)
del names
agg.add_many("d", ([f"o{i}" for i in range(70)], np.array([1])), np.ones(1), 0)  # replaces: 70 __del__
agg.flush()
print(len(calls))
'''
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "70"


def test_names_past_the_byte_bound_are_not_kept() -> None:
    big = MAX_BYTES // (MIN_NAMES - 1) + 1  # 63 names of just over 1 MiB: over the bound together
    names = [f"{i:04d}" + "x" * big for i in range(MIN_NAMES)]
    agg = dashfeed.Aggregator(window="1s")
    # Names longer than a metric may be are refused, but only when a row uses them: code 0 is short.
    names[0] = "short"
    probe = names[0]
    base = sys.getrefcount(probe)
    agg.add_many("d", (names, np.array([0])), np.ones(1), 0)
    assert sys.getrefcount(probe) == base, "over MAX_BYTES of text: not kept"
    small = [n[:100] for n in names[1:]] + ["short2"]
    first = small[0]
    before = sys.getrefcount(first)
    agg.add_many("d", (small, np.array([0])), np.ones(1), 0)
    assert sys.getrefcount(first) == before + 1, "the same count of short names is kept"


def test_the_bytes_kept_are_the_names_of_the_last_call_and_flush_releases_them() -> None:
    """Measured with tracemalloc (the str objects the cache keeps alive are Python allocations; the
    cache's own Rust side is 24 bytes a name on top, by construction): after the caller drops its
    names, what stays allocated is those names, and flush() gives it back."""
    import gc
    import tracemalloc

    agg = dashfeed.Aggregator(window="1s")
    codes = np.array([0, 1], dtype=np.int32)
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        names = [f"metric-{i:06d}-" + "x" * 80 for i in range(50_000)]
        size = sum(sys.getsizeof(n) for n in names)  # ~140 bytes each, ~7 MB
        agg.add_many("d", (names, codes), np.ones(2), 0)
        del names
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - start
        assert size <= kept <= size + (1 << 20), f"kept {kept} bytes for {size} bytes of names"
        agg.flush()
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - start
        assert left < (1 << 20), f"{left} bytes still held after flush()"
    finally:
        tracemalloc.stop()
