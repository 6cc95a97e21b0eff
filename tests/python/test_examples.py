"""The runnable examples of examples/python as real processes, checked with real clients (issue 13).

- examples/python/reference_pipeline.py against a redis-server and the tansu Kafka broker started here: the
  reference notes' producers write to Kafka (confluent-kafka), a plain WebSocket client on
  ``/dashboard/{id}`` gets the updates, the Redis hash ``dashboard:{id}`` has the values, and a restart is
  seeded from it.
- examples/python/fastapi_app.py: the app's own routes and dashfeed on one asyncio loop — its POST route
  publishes, a WebSocket client of the feed gets the updates, the app's own subscriber task sees them, and
  SIGTERM ends both (clients get close 1001).
- examples/cluster.toml: two ``dashfeed serve`` nodes sharing one feed through the redis-server started here.
  (examples/dashfeed.toml is run by test_connect.py; examples/browser by tests/e2e/examples_browser.test.js.)

Every wait is bounded; brokers and examples listen on loopback spare ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from brokers import RedisServer, TansuBroker, unique, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "python"


class Example:
    """An example running as a child process; its stdout lines are read by a thread (stderr goes to a file,
    so a chatty child never blocks on a full pipe)."""

    def __init__(self, args: List[str], err: pathlib.Path) -> None:
        self.err_path = err
        self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=err.open("w"), text=True)
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.seen: List[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout or []:  # ends at EOF, when the child exits
            self.lines.put(line)

    def expect(self, pattern: str, timeout: float = 20.0) -> "re.Match[str]":
        """The first (new) stdout line matching ``pattern``."""
        deadline = time.monotonic() + timeout
        for _ in range(1000):  # at most this many lines
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.01, left))
            except queue.Empty:
                break
            self.seen.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"no line matching {pattern!r} in {timeout} s; stdout {self.seen!r}, "
                             f"stderr {self.err_path.read_text()[-2000:]!r}")

    def terminate(self, timeout: float = 30.0) -> Tuple[int, str]:
        """SIGTERM, then the exit status and the rest of stdout."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float = 30.0) -> Tuple[int, str]:
        """The exit status (SIGKILL after ``timeout``) and the rest of stdout."""
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        self.reader.join(10)
        rest = "".join(self.lines.get_nowait() for _ in range(self.lines.qsize()))
        return code, rest

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@contextlib.contextmanager
def example(args: List[str], err: pathlib.Path) -> Iterator[Example]:
    ex = Example(args, err)
    try:
        yield ex
    finally:
        ex.kill()


def http(method: str, url: str, body: Optional[Any] = None) -> Tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_reference_pipeline_kafka_to_redis_and_websocket_clients(
    redis_server: RedisServer, kafka: TansuBroker, tmp_path: pathlib.Path
) -> None:
    topic, group = unique("dashboard-metrics"), unique("feed")
    kafka.create_topic(topic, partitions=2)
    dashboard = unique("ops")
    r = redis_server.client()
    # A value cached by an earlier run: the example seeds its hub from the hashes at start.
    r.hset(f"dashboard:{dashboard}", "disk_percent",
           json.dumps({"value": 71.5, "timestamp": 1764288000000, "metadata": {}}))
    args = [str(EXAMPLES / "reference_pipeline.py"), "--brokers", kafka.bootstrap, "--redis", redis_server.url,
            "--topic", topic, "--group", group, "--port", "0",
            # a short session makes tansu's group join short (it waits about half of it)
            "--session-timeout-ms", "2000", "--kafka-property", "heartbeat.interval.ms=500"]

    with example(args, tmp_path / "run1.err") as ex:
        m = ex.expect(r"listening at (http://\S+) .* (\d+) dashboards seeded")
        url, seeded = m.group(1), int(m.group(2))
        assert seeded >= 1
        ws_url = url.replace("http://", "ws://") + f"/dashboard/{dashboard}"

        # The reference notes' producer: JSON {dashboard_id, metric_name, value, timestamp, metadata}.
        now = time.time()
        cpu = [round(0.05 * i, 2) for i in range(1, 21)]
        producer = kafka.producer()
        for i, v in enumerate(cpu):
            producer.produce(topic, key=dashboard.encode(), value=json.dumps(
                {"dashboard_id": dashboard, "metric_name": "cpu", "value": v, "timestamp": now + i / 1000,
                 "metadata": {"host": "h1"}}).encode())
        producer.produce(topic, key=dashboard.encode(), value=b"{not json")  # counted and skipped, not fatal
        producer.produce(topic, key=dashboard.encode(), value=json.dumps(
            {"dashboard_id": dashboard, "metric_name": "mem", "value": 0.5, "timestamp": now}).encode())
        assert producer.flush(15) == 0

        async def watch() -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
            """A plain client (no subprotocol): JSON text frames, as the notes' `JSON.parse(event.data)`."""
            async with connect(ws_url) as ws:
                snap = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert snap["type"] == "snapshot" and snap["data"]["disk_percent"] == 71.5, snap  # seeded
                state, updates = dict(snap["data"]), []
                for _ in range(200):  # one update per event at most
                    frame = await asyncio.wait_for(ws.recv(), 30)
                    assert isinstance(frame, str), "a plain client gets text frames"
                    msg = json.loads(frame)
                    updates.append(msg)
                    state.update(msg["data"])
                    if "mem" in state and state.get("cpu{host=h1}", {}).get("value") == cpu[-1]:
                        return state, updates
                raise AssertionError(f"never saw the last values: {state}")

        state, updates = asyncio.run(watch())
        seqs = [u["seq"] for u in updates]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
        seen = [u["data"]["cpu{host=h1}"]["value"] for u in updates if "cpu{host=h1}" in u["data"]]
        assert seen == sorted(seen) and seen[-1] == cpu[-1], "one partition: in produce order"
        last = state["cpu{host=h1}"]
        assert last["metadata"] == {"host": "h1"} and abs(last["timestamp"] - (now + 0.019) * 1000) <= 1, last
        assert state["mem"] == 0.5 and state["disk_percent"] == 71.5

        # The reference notes' cache: HSET dashboard:{id} {metric} {"value", "timestamp", "metadata"}.
        def cached() -> Any:
            h = r.hgetall(f"dashboard:{dashboard}")
            entry = h.get(b"cpu{host=h1}")
            return h if entry and json.loads(entry)["value"] == cpu[-1] and b"mem" in h else None

        h = wait_for("the Redis hash", cached, timeout=10)
        assert json.loads(h[b"cpu{host=h1}"]) == last
        assert json.loads(h[b"mem"])["value"] == 0.5
        assert 0 < r.ttl(f"dashboard:{dashboard}") <= 86400

        with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
            assert resp.status == 200
        code, rest = ex.terminate()
        assert code == 0, (tmp_path / "run1.err").read_text()
        stopped = re.search(r"stopping after (\d+) events, rejected (\{.*?\})", rest)
        assert stopped and int(stopped.group(1)) >= len(cpu), rest  # the last count may trail its publication
        assert stopped.group(2) == "{'decode_error': 1}", "the bad message was counted and skipped"

    # A restart serves the last values at once, from Redis, before Kafka delivers anything.
    with example(args, tmp_path / "run2.err") as ex:
        url = ex.expect(r"listening at (http://\S+)").group(1)
        status, snap = http("GET", f"{url}/api/dashboards/{dashboard}")
        assert status == 200 and snap["data"]["mem"] == 0.5, snap
        assert snap["data"]["cpu{host=h1}"]["value"] == cpu[-1]
        code, _ = ex.terminate()
        assert code == 0, (tmp_path / "run2.err").read_text()


def test_fastapi_app_and_dashfeed_share_one_loop(tmp_path: pathlib.Path) -> None:
    args = [str(EXAMPLES / "fastapi_app.py"), "--port", "0", "--feed-port", "0"]
    orders = [("tea", 4.5), ("cake", 3.25), ("coffee", 2.0)]
    with example(args, tmp_path / "app.err") as ex:
        app = ex.expect(r"app at (http://\S+)").group(1)
        # The app's own route (uvicorn serves the socket the example bound and printed).
        assert http("GET", app + "/") == (200, {"service": "shop", "orders": 0})
        status, info = http("GET", app + "/dashfeed")
        assert status == 200 and info["dashboard"] == "shop" and info["seq"] == 0, info
        feed_ws = info["url"].replace("http://", "ws://")

        async def scenario() -> Tuple[List[Dict[str, Any]], Dict[str, Any], Optional[int]]:
            async with connect(feed_ws + "/ws", subprotocols=["dashfeed.v1.json"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"op": "subscribe", "dashboard": "shop"}))
                snap = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert snap["type"] == "snapshot" and snap["seq"] == 0, snap
                updates = []
                for item, amount in orders:  # the app's own POST route publishes; the feed delivers
                    status, placed = await asyncio.to_thread(http, "POST", app + "/orders",
                                                             {"item": item, "amount": amount})
                    assert status == 201, placed
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    assert msg["type"] == "update" and msg["seq"] == placed["seq"], (msg, placed)
                    updates.append(msg)
                # The app's own validation still answers; nothing is published for a refused order.
                status, _ = await asyncio.to_thread(http, "POST", app + "/orders", {"item": "", "amount": -1})
                assert status == 422

                # The app's subscriber task runs on the app's loop: it saw the three updates too.
                def followed() -> Any:
                    status, info = http("GET", app + "/dashfeed")
                    return info if status == 200 and info["followed_by_app"]["updates"] == 3 else None

                info = await asyncio.to_thread(wait_for, "the app's own subscriber", followed, 10.0)
                assert http("GET", app + "/orders")[1][-1] == {"id": 3, "item": "coffee", "amount": 2.0}
                # SIGTERM: uvicorn runs the lifespan's exit, which stops the feed: this client gets 1001.
                ex.proc.send_signal(signal.SIGTERM)
                try:
                    extra = await asyncio.wait_for(ws.recv(), 20)
                except ConnectionClosed as closed:
                    return updates, info, closed.rcvd.code if closed.rcvd else None
                raise AssertionError(f"unexpected message after the last order: {extra!r}")

        updates, info, close_code = asyncio.run(scenario())
        assert [u["data"]["orders"] for u in updates] == [1, 2, 3]
        assert [u["data"]["revenue"] for u in updates] == [4.5, 7.75, 9.75]
        assert updates[-1]["data"]["last_amount"] == 2.0
        assert info["seq"] == 3 and info["snapshot"] == updates[-1]["data"], info
        assert info["followed_by_app"] == {"updates": 3, "seq": 3, "revenue": 9.75}, info
        assert close_code == 1001
        code, rest = ex.wait_exit()  # SIGTERM was sent above (a second one would make uvicorn force its exit)
        # uvicorn re-raises the SIGTERM it handled once its shutdown (and the lifespan's exit) is done.
        assert code in (0, -signal.SIGTERM), (code, (tmp_path / "app.err").read_text())
        assert "dashfeed stopped" in rest, rest


def cluster_config(redis_url: str, bootstrap: str, topic: str, group: str) -> str:
    """examples/cluster.toml with the addresses of the brokers started here, loopback and port 0."""
    text = (ROOT / "examples" / "cluster.toml").read_text(encoding="utf-8")
    swaps = {
        'host = "0.0.0.0"': 'host = "127.0.0.1"',
        "port = 8080": "port = 0",
        'redis = "redis://localhost:6379"': f'redis = "{redis_url}"',
        # a short session: tansu answers a group join after about half of it, and a stop waits for that answer
        'brokers = "localhost:9092"': f'brokers = "{bootstrap}"\nsession_timeout_ms = 2000\n'
                                      'properties = { "heartbeat.interval.ms" = "500" }',
        'topics = ["dashboard-metrics"]': f'topics = ["{topic}"]',
        'group = "dashfeed"': f'group = "{group}"',
    }
    for old, new in swaps.items():
        assert old in text, f"examples/cluster.toml no longer has {old!r}"
        text = text.replace(old, new)
    return text


def test_cluster_example_two_nodes_share_one_feed(
    redis_server: RedisServer, kafka: TansuBroker, tmp_path: pathlib.Path
) -> None:
    """Two `dashfeed serve --config examples/cluster.toml` nodes: a window of events ingested at node A reaches
    a WebSocket client of node B, numbered once in Redis (and in the latest-value hash)."""
    topic = unique("dashboard-metrics")
    kafka.create_topic(topic, partitions=2)
    path = tmp_path / "cluster.toml"
    path.write_text(cluster_config(redis_server.url, kafka.bootstrap, topic, unique("g")), encoding="utf-8")
    check = subprocess.run([sys.executable, "-m", "dashfeed", "serve", "--config", str(path), "--check"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    dashboard = unique("web")
    args = ["-m", "dashfeed", "serve", "--config", str(path)]
    with example(args, tmp_path / "a.err") as a, example(args, tmp_path / "b.err") as b:
        url_a = a.expect(r"listening at (http://\S+)").group(1)
        url_b = b.expect(r"listening at (http://\S+)").group(1)
        t0 = (int(time.time() * 1000) // 1000 - 5) * 1000  # a whole window in the past

        async def scenario() -> Dict[str, Any]:
            async with connect(url_b.replace("http://", "ws://") + f"/dashboard/{dashboard}") as ws:
                snap = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert snap["type"] == "snapshot", snap
                events = [{"dashboard": dashboard, "metric": "rps", "value": float(i), "ts": t0 + i * 10}
                          for i in range(50)]
                events.append({"dashboard": dashboard, "metric": "rps", "value": 0.0, "ts": t0 + 1500})
                status, body = await asyncio.to_thread(http, "POST", url_a + "/api/events", events)
                assert status == 202 and body["accepted"] == len(events), body
                for _ in range(10):  # the closed window, possibly after other updates
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    result = msg.get("data", {}).get("rps")
                    if msg["type"] == "update" and result and result["start"] == t0:
                        return dict(result)
                raise AssertionError("node B never delivered the window")

        result = asyncio.run(scenario())
        assert result["count"] == 50 and result["sum"] == float(sum(range(50))), result
        r = redis_server.client()
        cached = wait_for("the shared latest-value hash", lambda: r.hget(f"dashboard:{dashboard}", "rps"))
        assert json.loads(cached)["value"]["start"] == t0
        for node in (a, b):  # both at once: a node leaving alone would make the other wait for a rebalance
            node.proc.send_signal(signal.SIGTERM)
        assert [node.wait_exit()[0] for node in (a, b)] == [0, 0]


def header(path: pathlib.Path) -> str:
    """The header of an example: a notebook's first cell, a module docstring, or the leading comment lines."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        return "".join(cells[0]["source"]) if cells else ""
    quotes = '"""'
    if path.suffix == ".py" and text.startswith(quotes):
        return text[: text.index(quotes, 3) + 3]
    if path.suffix == ".html" and "-->" in text:
        return text[: text.index("-->")]
    head = []
    for line in text.splitlines():
        stripped = line.strip()
        if head and stripped and not stripped.startswith(("#", "//", "<", "*", "/*")):
            break
        head.append(line)
    return "\n".join(head)


def test_every_example_is_listed_with_the_command_its_header_gives() -> None:
    """examples/README.md has a row per example; the row's command is the one in the example's own header."""
    readme = (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| \[([^\]]+)\]\([^)]+\) \| [^|]+ \| `([^`]+)`", readme, flags=re.M)
    listed = {name: command for name, command in rows}
    assert {"dashfeed.toml", "cluster.toml", "python/reference_pipeline.py", "python/fastapi_app.py",
            "browser/index.html", "node/socketio_server.js", "notebook/live.ipynb"} <= set(listed), listed
    for name, command in listed.items():
        path = ROOT / "examples" / name
        assert path.exists(), f"examples/README.md lists examples/{name}, which does not exist"
        assert command in header(path), f"examples/{name}: its header does not give `{command}`"
    programs = {".py", ".js", ".mjs", ".html", ".toml", ".ipynb"}
    for path in (ROOT / "examples").rglob("*"):
        rel = path.relative_to(ROOT / "examples").as_posix()
        skipped = any(part.startswith((".", "__")) or part == "node_modules" for part in rel.split("/"))
        if path.is_file() and path.suffix in programs and not skipped:
            assert rel in readme, f"examples/{rel} is not in examples/README.md"
