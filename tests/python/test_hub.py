"""The Hub from Python: snapshot-first subscriptions, resume, blocking and async iteration, policies."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import msgpack
import pytest

import dashfeed


def test_snapshot_then_updates_with_raw_bytes() -> None:
    hub = dashfeed.Hub()
    hub.publish("ops", {"cpu": 0.4, "mem": 0.5})
    with hub.subscribe("ops") as sub:
        first = sub.recv(timeout=1)
        assert first is not None and first.kind == "snapshot" and first.seq == 1
        assert first.data == {"cpu": 0.4, "mem": 0.5}
        hub.publish("ops", {"cpu": 0.6})
        upd = sub.recv(timeout=1)
        assert upd is not None and (upd.kind, upd.seq, upd.data) == ("update", 2, {"cpu": 0.6})
        wire = msgpack.unpackb(upd.raw("msgpack"))
        assert wire == {"type": "update", "dashboard": "ops", "epoch": upd.epoch, "seq": 2, "data": {"cpu": 0.6}}
        assert list(wire) == ["type", "dashboard", "epoch", "seq", "data"]
        assert upd.raw("json").startswith(b'{"type":"update"')
    assert sub.closed


def test_resume_with_since_and_a_stale_epoch() -> None:
    hub = dashfeed.Hub(history=10)
    for i in range(5):
        hub.publish("ops", {"n": i})
    snap = hub.snapshot("ops")
    assert snap is not None and snap.seq == 5
    for i in range(5, 8):
        hub.publish("ops", {"n": i})
    sub = hub.subscribe("ops", since=(snap.epoch, 5))
    msgs = sub.try_recv_many(100)
    assert [m.kind for m in msgs] == ["recovered", "update", "update", "update"]
    assert msgs[0].recovered is True and msgs[0].missed == 3
    assert [m.seq for m in msgs[1:]] == [6, 7, 8]
    stale = hub.subscribe("ops", since={"epoch": "gone", "seq": 1})
    m = stale.try_recv()
    assert m is not None and m.kind == "snapshot" and m.recovered is False and m.data == {"n": 7}
    again = hub.subscribe("ops", since=msgs[-1])  # a Message works as since
    hdr = again.try_recv()
    assert hdr is not None and hdr.kind == "recovered" and hdr.missed == 0


def test_since_forms_and_refusals() -> None:
    hub = dashfeed.Hub(history=10)
    for i in range(3):
        hub.publish("ops", {"n": i})
    snap = hub.snapshot("ops")
    assert snap is not None
    live = hub.subscribe("ops")
    assert [m.kind for m in live.try_recv_many(10)] == ["snapshot"]
    deep: Any = {"x": 1}
    for _ in range(20):
        deep = {"d": deep}
    # a list pair, and a message-like dict whose other keys are not looked at (however deep)
    forms: list[Any] = [[snap.epoch, 2], {"epoch": snap.epoch, "seq": 2, "data": deep}]
    for since in forms:
        hdr = hub.subscribe("ops", since=since).try_recv()
        assert hdr is not None and hdr.kind == "recovered" and hdr.missed == 1, since
    for bad in ("x", (snap.epoch,), {"epoch": snap.epoch}, (snap.epoch, -1), (snap.epoch, 1.5),
                (snap.epoch, 2**64), (snap.epoch, True), (snap.epoch, object()), object()):
        with pytest.raises(dashfeed.InvalidInputError) as info:
            hub.subscribe("ops", since=bad)  # type: ignore[arg-type]
        assert "since" in str(info.value), bad
    # the refusals lost nothing: the other subscriber still gets the next publication
    assert hub.publish("ops", {"n": 3}) == 4
    assert [(m.kind, m.seq) for m in live.try_recv_many(10)] == [("update", 4)]


def test_blocking_iteration_across_threads_and_close_ends_it() -> None:
    hub = dashfeed.Hub()
    sub = hub.subscribe("t")
    got: list[int] = []

    def consume() -> None:
        for msg in sub:
            got.append(msg.seq)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(100):
        hub.publish("t", {"i": i})
    while sub.stats["queued_messages"] and t.is_alive():
        t.join(timeout=0.01)
    sub.close()
    t.join(timeout=10)
    assert not t.is_alive()
    assert got[0] == 0 and got[1:] == list(range(1, 101))


def test_recv_timeout_returns_none() -> None:
    hub = dashfeed.Hub()
    sub = hub.subscribe("quiet")
    assert sub.recv(timeout=1) is not None  # the empty snapshot
    assert sub.recv(timeout=0.01) is None


async def test_async_for_is_woken_by_publishes_from_threads() -> None:
    hub = dashfeed.Hub()
    sub = hub.subscribe("async")
    seen: list[Any] = []

    async def consume() -> None:
        async for msg in sub:
            seen.append((msg.kind, msg.seq))
            if msg.seq == 50:
                break

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)

    def produce() -> None:
        for i in range(50):
            hub.publish("async", {"i": i})

    t = threading.Thread(target=produce)
    t.start()
    await asyncio.wait_for(task, timeout=10)
    t.join(timeout=10)
    assert seen[0] == ("snapshot", 0)
    assert [s for _, s in seen[1:]] == list(range(1, 51))


async def test_async_iteration_ends_when_closed() -> None:
    hub = dashfeed.Hub()
    sub = hub.subscribe("x")
    out: list[int] = []

    async def consume() -> None:
        async for msg in sub:
            out.append(msg.seq)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    hub.publish("x", {"a": 1})
    await asyncio.sleep(0)
    sub.close()
    await asyncio.wait_for(task, timeout=5)
    assert out[0] == 0


def test_disconnect_policy_raises_slow_consumer_and_others_are_fine() -> None:
    hub = dashfeed.Hub()
    slow = hub.subscribe("d", policy="disconnect", queue=4)
    fast = hub.subscribe("d")
    seen = [fast.try_recv()]
    for i in range(10):
        hub.publish("d", {"i": i})
        seen.extend(fast.try_recv_many(100))
    assert [m.seq for m in seen[1:]] == list(range(1, 11))
    with pytest.raises(dashfeed.SlowConsumerError) as info:
        while True:
            if slow.try_recv() is None:
                break
    assert info.value.code == "slow_consumer"
    assert hub.stats["disconnected"] == 1


def test_conflate_keeps_the_latest_value_per_metric_in_bounded_memory() -> None:
    hub = dashfeed.Hub()
    slow = hub.subscribe("c", queue=8, queue_bytes=64 * 1024)
    blob = "x" * 4096
    for i in range(3000):
        hub.publish("c", {"seq": i, f"m{i % 5}": i, "blob": blob})
    assert slow.stats["peak_bytes"] <= 64 * 1024 + 8 * 1024
    state: dict[str, Any] = {}
    for m in slow.try_recv_many(100):
        state = dict(m.data) if m.kind == "snapshot" else {**state, **m.data}
    assert state["seq"] == 2999 and state["m4"] == 2999 and state["m0"] == 2995


def test_dedupe_by_id_and_bad_input() -> None:
    hub = dashfeed.Hub()
    assert hub.publish("d", {"v": 1}, id="evt-1") == 1
    assert hub.publish("d", {"v": 1}, id="evt-1") is None
    assert hub.stats["dedupe_dropped"] == 1
    with pytest.raises(dashfeed.InvalidInputError):
        hub.publish("d", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(dashfeed.InvalidInputError):
        hub.publish("", {"v": 1})
    with pytest.raises(dashfeed.InvalidInputError):
        hub.subscribe("d", policy="yolo")  # type: ignore[arg-type]
    with pytest.raises(dashfeed.UnsupportedTypeError):
        hub.publish("d", {"v": {1, 2}})
    # Stored data is intact after every refusal.
    snap = hub.snapshot("d")
    assert snap is not None and snap.data == {"v": 1} and snap.seq == 1


def test_the_subscribers_of_a_publication_share_its_raw_bytes_each_with_its_own_message() -> None:
    # Message.raw() hands every subscriber of a publication the same bytes object
    # (bindings-python/src/wire_cache.rs); each still has its own Message and data dict.
    hub = dashfeed.Hub(compress_over=None)
    subs = [hub.subscribe("ops") for _ in range(3)]
    for s in subs:
        assert s.recv(timeout=1).kind == "snapshot"
    hub.publish("ops", {"cpu": 0.5})
    hub.publish("ops", {"cpu": 0.7})
    got = [s.try_recv_many(10) for s in subs]
    for i in range(2):
        a, b, c = (g[i] for g in got)
        assert a is not b and a.data is not b.data
        assert a.raw() is b.raw() is c.raw("MsgPack") is a.raw("msgpack")
        assert a.raw("json") is c.raw("json") and a.raw("json") != a.raw()
        assert msgpack.unpackb(a.raw())["data"] == {"cpu": [0.5, 0.7][i]}
        a.data["cpu"] = -1.0  # one subscriber's dict is its own
        assert b.data == {"cpu": [0.5, 0.7][i]}
    assert got[0][0].raw() is not got[0][1].raw()
    with pytest.raises(dashfeed.DashfeedError) as e:
        got[0][0].raw("yaml")
    assert e.value.code == "invalid_input"
    for s in subs:
        s.close()


def test_the_shared_raw_bytes_stay_within_their_budget() -> None:
    # The cache keeps the bytes objects of at most 256 publications and 4 MiB of them: here 40
    # publications of ~256 KiB each (10 MiB of raw bytes) taken and let go; what Python still holds
    # afterwards (tracemalloc: every bytes object is a Python allocation) stays within the budget.
    import tracemalloc

    hub = dashfeed.Hub(compress_over=None, history=1, queue_bytes=64 << 20)
    sub = hub.subscribe("big")
    assert sub.recv(timeout=1).kind == "snapshot"
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        made = 0
        for i in range(40):
            hub.publish("big", {"blob": str(i) * (256 * 1024 // len(str(i)))})
            m = sub.try_recv()
            made += len(m.raw()) + len(m.raw("json"))
            del m
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert made > 20 << 20
    assert held - start < (4 << 20) + (512 << 10), f"{(held - start) >> 10} KiB held"
    assert held - start > 1 << 20  # the budget's worth is kept, for the next subscribers
    hub.publish("big", {"blob": "x"})
    assert sub.try_recv().data == {"blob": "x"}
