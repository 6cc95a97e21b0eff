"""A clustered hub from Python: two `dashfeed.Pipeline`s with the same `cluster` Redis (a real redis-server
started here) share their dashboards — a `hub.publish` on one reaches a subscriber of the other with the
seq Redis assigned, a resume works on either, ids are deduplicated across both, the links are reported, and
a bad `cluster` setting is `invalid_input` naming it."""

from __future__ import annotations

from typing import Iterator

import pytest

import dashfeed
from brokers import RedisServer, wait_for


@pytest.fixture()
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.kill()


def test_two_pipelines_share_seq_snapshot_and_history(redis_server: RedisServer) -> None:
    config = {"server": {"port": 0}, "cluster": {"redis": redis_server.url}}
    with dashfeed.Pipeline(config) as a, dashfeed.Pipeline(config) as b:
        sub = b.hub.subscribe("ops")
        first = sub.recv(timeout=10)
        assert first is not None and first.kind == "snapshot" and first.seq == 0
        assert [a.hub.publish("ops", {"cpu": float(i)}) for i in range(1, 4)] == [1, 2, 3]
        got = [sub.recv(timeout=10) for _ in range(3)]
        assert [(m.kind, m.seq, m.data["cpu"]) for m in got if m] == [("update", i, float(i)) for i in range(1, 4)]
        assert all(m is not None and m.epoch == first.epoch for m in got)
        # Seqs are the shared feed's, whichever node publishes.
        assert b.hub.publish("ops", {"mem": 1.0}) == 4
        # A resume on the other node gets what was missed.
        resumed = a.hub.subscribe("ops", since=(first.epoch, 2))
        head = resumed.recv(timeout=10)
        assert head is not None and head.kind == "recovered" and head.missed == 2
        assert [m.seq for m in (resumed.recv(timeout=10), resumed.recv(timeout=10)) if m] == [3, 4]
        # Ids are remembered cluster-wide.
        assert a.hub.publish("ops", {"cpu": 9.0}, id="w:1") == 5
        assert b.hub.publish("ops", {"cpu": 9.0}, id="w:1") is None
        names = {link["name"]: link["up"] for link in a.links()}
        assert names == {"cluster:redis": True, "cluster:bus": True}
        # The latest-value hash every node and the reference notes' readers share.
        cached = wait_for("the snapshot hash", lambda: redis_server.client().hgetall("dashboard:ops"))
        assert set(cached) == {b"cpu", b"mem"}


def test_a_bad_cluster_setting_is_invalid_input_naming_it(redis_server: RedisServer) -> None:
    with pytest.raises(dashfeed.DashfeedError) as e:
        dashfeed.Pipeline({"server": {"port": 0}, "cluster": {"redis": redis_server.url, "batch": 0}})
    assert e.value.code == "invalid_input" and "cluster.batch" in str(e.value)
    with pytest.raises(dashfeed.DashfeedError) as e:
        dashfeed.Pipeline('[cluster]\nredis = "redis://127.0.0.1:1"\nhistroy = 5\n')
    assert e.value.code == "invalid_input" and "histroy" in str(e.value)


def test_publishing_while_redis_is_down_fails_with_a_code(redis_server: RedisServer) -> None:
    config = {"server": {"port": 0}, "cluster": {"redis": redis_server.url, "timeout_ms": 500}}
    with dashfeed.Pipeline(config) as p:
        sub = p.hub.subscribe("ops")
        assert sub.recv(timeout=10) is not None
        assert p.hub.publish("ops", {"cpu": 1.0}) == 1
        assert sub.recv(timeout=10) is not None
        redis_server.kill()
        codes = set()
        for _ in range(5):
            with pytest.raises(dashfeed.DashfeedError) as e:
                p.hub.publish("ops", {"cpu": 2.0})
            codes.add(e.value.code)
        assert codes <= {"io_error", "timeout", "circuit_open"}, codes
        snap = p.hub.snapshot("ops")
        assert snap is not None and snap.seq == 1 and snap.data == {"cpu": 1.0}, "local state kept"
