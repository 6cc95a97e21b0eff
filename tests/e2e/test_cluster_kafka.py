"""Aggregation split over a Kafka consumer group: two `python3 -m dashfeed serve` nodes with the same
`[cluster]` Redis and a Kafka source in one group (a real tansu broker, produced to with confluent-kafka).
Each node aggregates the partitions it owns; one is killed with SIGKILL mid-stream, the other takes its
partitions over and replays them from the committed offsets. The window results published cluster-wide (the
shared history streams in Redis) must equal a single-node run of dashfeed's Aggregator over the same input:
no window lost, none published twice (dedupe by window id)."""

from __future__ import annotations

import pathlib
import queue
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))

import dashfeed  # noqa: E402
from brokers import RedisServer, TansuBroker, wait_for  # noqa: E402

PARTITIONS = 4
DASHBOARDS = [f"d{i}" for i in range(8)]
WINDOWS = 20
PER_WINDOW = 20
T0 = 1_700_000_000_000  # event time of window 0 (aligned to 1 s)


@pytest.fixture()
def brokers() -> Iterator[tuple[RedisServer, TansuBroker]]:
    redis_server = RedisServer()
    kafka = TansuBroker()
    yield redis_server, kafka
    kafka.stop()
    redis_server.kill()


class Node:
    """One `dashfeed serve` process."""

    def __init__(self, config: pathlib.Path, log: pathlib.Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "dashfeed", "serve", "--config", str(config)],
                                     stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
        lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.proc.stdout or []], daemon=True).start()
        first = lines.get(timeout=30)
        assert "listening at" in first, first
        self.url = first.split("listening at ")[1].split()[0]

    def kafka_events(self) -> float:
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith('dashfeed_connector_events_total{name="kafka:'))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def config(redis_url: str, bootstrap: str, topic: str, group: str) -> str:
    return f"""
[server]
host = "127.0.0.1"
port = 0
[hub]
history = 10000
[aggregator]
window = {{ kind = "tumbling", size = "1s" }}
[cluster]
redis = "{redis_url}"
history = 10000
[[source]]
kind = "kafka"
brokers = "{bootstrap}"
topics = ["{topic}"]
group = "{group}"
session_timeout_ms = 6000
batch = 50
"""


def event(d: int, w: int, i: int) -> dict[str, Any]:
    return {"dashboard": DASHBOARDS[d], "metric": "m", "value": float((d * 31 + w * 7 + i) % 13),
            "ts": T0 + w * 1000 + i * (1000 // PER_WINDOW)}


def produce(producer: Any, topic: str, windows: range, close: bool = False) -> list[dict[str, Any]]:
    """The events of `windows` for every dashboard (on partition dashboard % PARTITIONS); with `close`,
    one more event per dashboard in the window after, whose watermark closes the last one."""
    import json

    sent = []
    for w in list(windows) + ([windows.stop] if close else []):
        for d in range(len(DASHBOARDS)):
            for i in range(PER_WINDOW if w < windows.stop else 1):
                ev = event(d, w, i)
                producer.produce(topic, value=json.dumps(ev).encode(), key=ev["dashboard"].encode(),
                                 partition=d % PARTITIONS)
                sent.append(ev)
    assert producer.flush(15) == 0
    return sent


def published(r: Any) -> list[tuple[str, int, int, float, float, float]]:
    """Every window result in the shared history streams: (dashboard, end, count, sum, min, max)."""
    out = []
    for d in DASHBOARDS:
        # An entry holds one script call's publications for the dashboard: an array of data maps.
        for _id, fields in r.xrange(f"dashfeed:history:{d}"):
            for data in dashfeed.decode(fields[b"d"]):
                res = data["m"]
                out.append((d, res["end"], res["count"], res["sum"], res["min"], res["max"]))
    return out


def test_two_nodes_split_partitions_and_a_killed_node_loses_no_window(
    brokers: tuple[RedisServer, TansuBroker], tmp_path: pathlib.Path
) -> None:
    redis_server, kafka = brokers
    topic = f"metrics-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic, partitions=PARTITIONS)
    path = tmp_path / "node.toml"
    path.write_text(config(redis_server.url, kafka.bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}"), encoding="utf-8")
    a = Node(path, tmp_path / "a.err")
    b = Node(path, tmp_path / "b.err")
    r = redis_server.client()
    producer = kafka.producer()
    try:
        # Both nodes own partitions: warm-up events (their own dashboards, far in the past) on every
        # partition until each node has consumed some.
        import json

        for n in range(200):
            for p in range(PARTITIONS):
                ev = {"dashboard": f"warm{p}", "metric": "w", "value": 1.0, "ts": T0 - 10_000_000 + n}
                producer.produce(topic, value=json.dumps(ev).encode(), partition=p)
            producer.flush(10)
            if a.kafka_events() > 0 and b.kafka_events() > 0:
                break
            time.sleep(0.25)  # pacing of the warm-up only; the check above decides
        assert a.kafka_events() > 0 and b.kafka_events() > 0, "both nodes joined the group"

        sent = produce(producer, topic, range(0, WINDOWS // 2))
        # Windows close by watermark (event time): the last one of the first half stays open.
        first_half = {(d, T0 + (w + 1) * 1000) for d in DASHBOARDS for w in range(WINDOWS // 2 - 1)}
        wait_for("the first half's windows in Redis",
                 lambda: first_half <= {(d, end) for d, end, *_ in published(r)}, timeout=60)
        a.kill()  # SIGKILL: its uncommitted offsets and open windows are lost with it
        sent += produce(producer, topic, range(WINDOWS // 2, WINDOWS), close=True)
        everything = {(d, T0 + (w + 1) * 1000) for d in DASHBOARDS for w in range(WINDOWS)}
        try:
            wait_for("every window in Redis after the takeover",
                     lambda: everything <= {(d, end) for d, end, *_ in published(r)}, timeout=90)
        except AssertionError:
            missing = sorted(everything - {(d, end) for d, end, *_ in published(r)})
            raise AssertionError(f"missing windows {[(d, (e - T0) // 1000 - 1) for d, e in missing]}; "
                                 f"node b: {b.kafka_events()} events; {missing[0][0]}: "
                                 f"{[(x[1] - T0) // 1000 - 1 for x in published(r) if x[0] == missing[0][0]]} "
                                 f"ids {sorted(k.decode()[-30:] for k in r.keys(f'dashfeed:id:{missing[0][0]}:*'))}"
                                 f"\n{(tmp_path / 'b.err').read_text()[-3000:]}") from None

        # The single-node run: dashfeed's Aggregator over the same input.
        agg = dashfeed.Aggregator("1s")
        for ev in sent:
            agg.add(ev["dashboard"], ev["metric"], ev["value"], ev["ts"])
        last_end = T0 + WINDOWS * 1000  # the closing events' window stays open on the nodes
        expected = sorted((x.dashboard, x.end, x.count, x.sum, x.min, x.max) for x in agg.flush()
                          if x.end <= last_end)
        got = sorted(published(r))
        assert len(got) == len(expected) == len(DASHBOARDS) * WINDOWS, "each window published once"
        assert got == expected
        # The takeover replayed windows the killed node had published: dropped by their window ids.
        assert r.keys("dashfeed:id:d*"), "window ids are remembered cluster-wide"
    finally:
        a.kill()
        b.kill()
