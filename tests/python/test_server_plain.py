"""What a new user of the reference notes' stack sees: the hub's memory under gzip, plain WebSocket clients
(no subprotocol: JSON text frames), /metrics counting every publication of the served hub (read with the
real prometheus_client parser), and the reference notes' event shape on POST /api/events."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

import dashfeed


def test_a_gzipping_hub_with_history_keeps_rss_bounded() -> None:
    # Issue 10's snippet, in a fresh interpreter so that nothing else moves its RSS.
    script = textwrap.dedent(
        """
        import dashfeed
        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096
        hub = dashfeed.Hub(history=2000)
        sub = hub.subscribe("d2", policy="drop_oldest", queue=50)
        before = rss()
        for i in range(3000):
            hub.publish("d2", {"blob": "x" * 4096, "i": i})
        assert hub.stats["topics"]["d2"]["history"] == 2000
        print(rss() - before)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    grown = int(out.stdout.strip())
    assert grown < 64 << 20, f"RSS grew {grown / 2**20:.1f} MB"


def metric_samples(text: str, name: str) -> dict[str, float]:
    """`{dashboard_id: value}` of one metric family, parsed by prometheus_client."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[s.labels["dashboard_id"]] = s.value
    return out


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


def post_json(url: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, json.loads(r.read())


async def test_metrics_count_publications_from_python_and_connections_per_dashboard() -> None:
    hub = dashfeed.Hub()
    loop = asyncio.get_running_loop()
    async with dashfeed.Server(hub) as server:
        for i in range(5):
            hub.publish("py", {"cpu": i / 10})
        agg = dashfeed.Aggregator(window="1s")
        agg.add("results", "cpu", 0.5, ts=1000)
        agg.add("results", "cpu", 0.7, ts=2500)
        assert len(hub.publish_results(agg.poll())) == 1
        async with connect(server.ws_url + "/dashboard/py") as a, connect(server.ws_url + "/dashboard/py") as b:
            for ws in (a, b):
                json.loads(await asyncio.wait_for(ws.recv(), 5))
            _, body = await loop.run_in_executor(None, get, server.url + "/metrics")
        text = body.decode()
        assert metric_samples(text, "dashboard_messages_processed_total") == {"py": 5.0, "results": 1.0}
        assert metric_samples(text, "dashboard_active_connections")["py"] == 2.0
        _, body = await loop.run_in_executor(None, get, server.url + "/metrics")
        assert metric_samples(body.decode(), "dashboard_active_connections")["py"] == 0.0


async def test_the_reference_client_reads_json_text_and_the_reference_event_shape_is_ingested() -> None:
    # compress_over=64: every update below is over the threshold, and still a plain client reads text.
    hub = dashfeed.Hub(compress_over=64)
    loop = asyncio.get_running_loop()
    async with dashfeed.Server(hub) as server:
        async with connect(server.ws_url + "/dashboard/ops") as ws:
            first = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(first, str) and json.loads(first)["type"] == "snapshot"
            events = [
                {"dashboard_id": "ops", "metric_name": "cpu", "value": 0.5, "timestamp": 1764288000123, "metadata": {"host": "a"}},
                {"dashboardId": "ops", "metric": "rps", "value": 120, "metadata": {"host": "a", "cores": 8}},
            ]
            status, body = await loop.run_in_executor(None, post_json, server.url + "/api/events", events)
            assert (status, body) == (202, {"received": 2, "accepted": 2, "rate_limited": 0})
            updates = [await asyncio.wait_for(ws.recv(), 5) for _ in range(2)]
        assert all(isinstance(u, str) for u in updates), "plain clients never get binary frames"
        datas = [json.loads(u)["data"] for u in updates]
        # string-only metadata is tags: part of the series name, and kept in the reference layout
        assert datas[0] == {"cpu{host=a}": {"value": 0.5, "timestamp": 1764288000123, "metadata": {"host": "a"}}}
        rps = datas[1]["rps"]
        assert rps["value"] == 120 and rps["metadata"] == {"host": "a", "cores": 8}
        ambiguous = {"dashboard": "ops", "dashboard_id": "other", "metric": "m", "value": 1}
        with pytest.raises(urllib.error.HTTPError) as e:
            await loop.run_in_executor(None, post_json, server.url + "/api/events", ambiguous)
        assert e.value.code == 400 and json.loads(e.value.read())["code"] == "invalid_input"
        assert hub.snapshot("other") is None, "nothing of the refused body was published"


@pytest.mark.parametrize("workers", ["1", "3", "0", "two"])
def test_tokio_worker_threads_sets_the_runtime_worker_count(workers: str) -> None:
    # Several nodes on few cores do better with one worker each (bench/cluster): the standard tokio
    # variable is honoured, and a value tokio would refuse is refused with the input code. The
    # runtime's threads are counted by name (a thread names itself when it first runs: polled).
    script = textwrap.dedent(
        """
        import asyncio, os, sys, time
        import dashfeed

        def workers():
            names = []
            for t in os.listdir("/proc/self/task"):
                try:
                    with open(f"/proc/self/task/{t}/comm") as f:
                        names.append(f.read().strip())
                except FileNotFoundError:
                    pass
            return sum(1 for n in names if n == "dashfeed-worker")

        async def main(expected):
            async with dashfeed.Server(dashfeed.Hub()) as server:
                assert server.port > 0
                deadline = time.monotonic() + 10
                while workers() != expected and time.monotonic() < deadline:
                    time.sleep(0.01)
                print(workers())

        try:
            asyncio.run(main(int(sys.argv[1])))
        except dashfeed.DashfeedError as e:
            print(e.code, e)
        """
    )
    env = {**os.environ, "TOKIO_WORKER_THREADS": workers}
    expected = workers if workers.isdigit() and int(workers) > 0 else "0"
    out = subprocess.run(
        [sys.executable, "-c", script, expected], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    if expected != "0":
        assert out.stdout.strip() == workers
    else:
        assert out.stdout.startswith("invalid_input "), out.stdout
        assert f'TOKIO_WORKER_THREADS must be a positive integer, not "{workers}"' in out.stdout
