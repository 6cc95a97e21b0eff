"""The Aggregator from Python: per-event and numpy batch input, results, late output, hub bridge."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import dashfeed


def test_tumbling_results_have_attributes_and_to_dict() -> None:
    agg = dashfeed.Aggregator(window="1s", quantiles=[0.5, 0.99])
    for i, v in enumerate([1.0, 2.0, 3.0, 4.0]):
        agg.add("host", "cpu", v, ts=1000 + i * 100, tags={"core": "0"})
    agg.advance_to(2000)
    (r,) = agg.poll()
    assert (r.dashboard, r.metric, r.tags, r.start, r.end) == ("host", "cpu", {"core": "0"}, 1000, 2000)
    assert (r.count, r.sum, r.min, r.max, r.mean, r.first, r.last) == (4, 10.0, 1.0, 4.0, 2.5, 1.0, 4.0)
    assert r.final is True and set(r.quantiles) == {"p50", "p99"}
    d = r.to_dict()
    assert d["count"] == 4 and d["tags"] == {"core": "0"} and d["final"] is True


def test_results_are_out_of_the_cycle_collectors_reach() -> None:
    """A result holds no Python reference, so it is not tracked by the cycle collector: polling thousands of
    results must not make the collector walk them (and, in full collections, the rest of the heap)."""
    agg = dashfeed.Aggregator(window="1s")
    agg.add_many("d", ["m%d" % (i % 500) for i in range(2000)], np.ones(2000), np.arange(2000) * 10)
    polled, flushed = agg.poll(), agg.flush()
    assert len(polled) == 1900 and len(flushed) == 100
    assert not any(gc.is_tracked(r) for r in polled + flushed)
    assert gc.is_tracked(polled)  # the list itself is an ordinary list
    r = polled[0]
    del polled, flushed
    gc.collect()
    assert (r.metric, r.count, r.start) == ("m0", 1, 0)  # still alive and whole after a collection


def test_window_helpers_and_durations() -> None:
    for w in (dashfeed.tumbling("250ms"), dashfeed.hopping("10s", "1s"), dashfeed.session("30s"), dashfeed.count(10), 1000):
        dashfeed.Aggregator(window=w)
    with pytest.raises(dashfeed.InvalidInputError) as info:
        dashfeed.Aggregator(window="-5s")
    assert info.value.code == "invalid_input"
    with pytest.raises(dashfeed.InvalidInputError):
        dashfeed.Aggregator(window="1s", quantiles=[1.5])
    with pytest.raises(dashfeed.InvalidInputError):
        dashfeed.Aggregator(window={"kind": "weekly"})


def test_bad_events_are_refused_and_nothing_is_lost() -> None:
    agg = dashfeed.Aggregator(window="1s")
    agg.add("d", "m", 1.0, ts=100)
    for bad in ((float("nan"),), (float("inf"),)):
        with pytest.raises(dashfeed.InvalidInputError):
            agg.add("d", "m", bad[0], ts=200)
    with pytest.raises(dashfeed.InvalidInputError):
        agg.add("", "m", 1.0, ts=200)
    with pytest.raises(dashfeed.InvalidInputError):
        agg.add_many("d", "m", np.array([1.0, np.nan]), np.array([300, 400], dtype=np.int64))
    with pytest.raises(dashfeed.InvalidInputError):
        agg.add_many("d", "m", np.array([1.0, 2.0]), np.array([300], dtype=np.int64))
    with pytest.raises(dashfeed.InvalidInputError):
        agg.add_many("d", "m", np.array([1, 2], dtype=np.int32), 100)
    agg.advance_to(1000)
    (r,) = agg.poll()
    assert r.count == 1 and r.sum == 1.0  # the refused rows applied nothing


def test_numpy_columns_match_per_event_adds() -> None:
    rng = np.random.default_rng(7)
    n = 50_000
    values = rng.lognormal(size=n)
    ts = np.sort(rng.integers(0, 10_000, size=n)).astype(np.int64)
    metrics = [f"m{i % 7}" for i in range(n)]
    a = dashfeed.Aggregator(window="1s", quantiles=[0.5])
    b = dashfeed.Aggregator(window="1s", quantiles=[0.5])
    assert a.add_many("ops", metrics, values, ts) == n
    for m, v, t in zip(metrics, values.tolist(), ts.tolist()):
        b.add("ops", m, v, t)
    ra = [r.to_dict() for r in a.flush()]
    rb = [r.to_dict() for r in b.flush()]
    assert ra == rb and len(ra) == 70
    # Sequences work too, and a single ts for the whole batch.
    c = dashfeed.Aggregator(window="1s")
    assert c.add_many(["x", "y"], "m", [1.0, 2.0], 500) == 2
    assert sorted(r.dashboard for r in c.flush()) == ["x", "y"]


def test_add_many_releases_the_gil() -> None:
    agg = dashfeed.Aggregator(window="1s")
    n = 2_000_000
    values = np.ones(n)
    ts = np.arange(n, dtype=np.int64) // 100
    ticks = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = ticks[0]
        agg.add_many("d", "m", values, ts)
        during = ticks[0] - before
    finally:
        stop.set()
        t.join()
    # With the GIL held for the whole call, the spinning thread could not have advanced at all.
    assert during > 0


def test_late_events_are_returned_not_mixed_in() -> None:
    agg = dashfeed.Aggregator(window="1s", lateness="100ms")
    agg.add("d", "m", 1.0, ts=500)
    agg.add("d", "m", 2.0, ts=1200)  # watermark 1100: window [0, 1000) closes
    agg.add("d", "m", 99.0, ts=900, id="retry-1")  # late
    (r,) = agg.poll()
    assert r.count == 1 and r.sum == 1.0
    late = agg.take_late()
    assert late == [{"dashboard": "d", "metric": "m", "value": 99.0, "ts": 900, "id": "retry-1", "tags": {}}]
    assert agg.stats["late"] == 1


def test_idle_close_on_a_manual_clock() -> None:
    clock = dashfeed.ManualClock()
    agg = dashfeed.Aggregator(window="1s", idle_close="2s", clock=clock)
    agg.add("d", "m", 1.0, ts=100)
    assert agg.poll() == []
    clock.advance(2.0)
    assert [r.count for r in agg.poll()] == [1]


def test_publish_results_into_a_hub_in_one_line() -> None:
    hub = dashfeed.Hub()
    sub = hub.subscribe("host")
    agg = dashfeed.Aggregator(window="1s", quantiles=[0.99])
    agg.add("host", "cpu", 0.5, ts=10)
    agg.add("host", "mem", 0.7, ts=20)
    agg.advance_to(1000)
    assert hub.publish_results(agg.poll()) == [1]
    sub.recv(timeout=1)  # snapshot
    msg = sub.recv(timeout=1)
    assert msg is not None and msg.kind == "update"
    assert msg.data["cpu"]["mean"] == 0.5 and msg.data["mem"]["count"] == 1
    assert msg.data["cpu"]["quantiles"] == {"p99": 0.5}
