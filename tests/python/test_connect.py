"""Connectors and `dashfeed serve` from Python against real brokers: redis-server (driven with redis-py) and the
tansu Kafka-protocol broker (produced to with confluent-kafka), both started here on spare loopback ports.

The example config of the README (examples/dashfeed.toml) runs through the real console script with the
addresses of these brokers; every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import pathlib
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect

import dashfeed
from brokers import RedisServer, TansuBroker, unique, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]


def example_config(redis_url: str, bootstrap: str, topic: str, group: str) -> str:
    """examples/dashfeed.toml with the addresses of the brokers started here (and port 0)."""
    text = (ROOT / "examples" / "dashfeed.toml").read_text(encoding="utf-8")
    swaps = {
        'brokers = "localhost:9092"': f'brokers = "{bootstrap}"\nsession_timeout_ms = 6000',
        'url = "redis://localhost:6379"': f'url = "{redis_url}"',
        'topics = ["dashboard-metrics"]': f'topics = ["{topic}"]',
        'group = "dashfeed"': f'group = "{group}"',
        "port = 8080": "port = 0",
    }
    for old, new in swaps.items():
        assert old in text, f"examples/dashfeed.toml no longer has {old!r}"
        text = text.replace(old, new)
    return text


def window_start(now_ms: int) -> int:
    """The start of the second after the next one: every event of a test falls in one 1 s window."""
    return (now_ms // 1000 + 2) * 1000


def test_example_config_runs_the_reference_pipeline(
    redis_server: RedisServer, kafka: TansuBroker, tmp_path: pathlib.Path
) -> None:
    """Kafka topic → 1 s windows → hub → Redis hash + WebSocket clients, from `dashfeed serve --config`."""
    topic = unique("dashboard-metrics")
    kafka.create_topic(topic, partitions=3)
    path = tmp_path / "dashfeed.toml"
    path.write_text(example_config(redis_server.url, kafka.bootstrap, topic, unique("g")), encoding="utf-8")

    check = subprocess.run([sys.executable, "-m", "dashfeed", "serve", "--config", str(path), "--check"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr

    proc = subprocess.Popen([sys.executable, "-m", "dashfeed", "serve", "--config", str(path)],
                            stdout=subprocess.PIPE, stderr=(tmp_path / "serve.err").open("w"), text=True)
    lines: "queue.Queue[str]" = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=30)
        assert "listening at" in first, first
        url = first.split("listening at ")[1].split()[0]
        ws_url = url.replace("http://", "ws://")

        t0 = window_start(int(time.time() * 1000))
        sent: dict[str, float] = {"web-1": 0.0, "web-2": 0.0}
        producer = kafka.producer()
        n = 300
        for i in range(n):
            dashboard = "web-1" if i % 3 else "web-2"
            value = float(i % 17)
            sent[dashboard] += value
            body = {"dashboard_id": dashboard, "metric_name": "latency_ms", "value": value,
                    "timestamp": t0 + i, "metadata": {"host": "h1"}}
            producer.produce(topic, key=dashboard.encode(), value=json.dumps(body).encode())
        assert producer.flush(15) == 0

        async def watch() -> dict[str, Any]:
            async with connect(ws_url + "/ws", subprotocols=["dashfeed.v1.json"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"op": "subscribe", "dashboard": "web-1"}))
                snap = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert snap["type"] == "snapshot"
                while True:  # bounded by wait_for: one final result per window
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    # string-valued metadata is taken as tags: the series is `latency_ms{host=h1}`
                    series = (msg.get("data") or {}).get("latency_ms{host=h1}")
                    if series and series["final"]:
                        return dict(series)

        result = asyncio.run(watch())
        web1 = 200  # i % 3 != 0
        assert result["count"] == web1 and result["sum"] == sent["web-1"]
        assert result["start"] == t0 and result["end"] == t0 + 1000

        # The latest-value hash of the reference notes: dashboard:{id} {metric} {value, timestamp, metadata}.
        r = redis_server.client()
        cached = wait_for("the cache write", lambda: r.hgetall("dashboard:web-2"))
        entry = json.loads(cached[b"latency_ms{host=h1}"])
        assert entry["value"]["count"] == n - web1 and entry["value"]["sum"] == sent["web-2"]
        assert r.ttl("dashboard:web-1") > 80_000

        # /healthz names the links and they are up.
        import urllib.request

        with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        assert 'dashfeed_connector_events_total{name="kafka:' in metrics, metrics[:2000]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=10)  # stdout is read by `reader` only: it ends at EOF
    err = (tmp_path / "serve.err").read_text()  # a file: a chatty child never blocks on a full pipe
    assert proc.returncode == 0, err
    out = "".join(lines.get_nowait() for _ in range(lines.qsize()))
    assert "stopping" in out, out


def test_check_names_the_key_and_the_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[server]\nport = 0\n\n[[source]]\nkind = "kafka"\ntopics = ["x"]\nbatchsize = 5\n')
    run = subprocess.run([sys.executable, "-m", "dashfeed", "serve", "--config", str(path), "--check"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    assert "`batchsize`: unknown field" in run.stderr and "line 7" in run.stderr and "invalid_input" in run.stderr
    with pytest.raises(dashfeed.InvalidInputError) as e:
        dashfeed.Pipeline.from_file(path)
    assert e.value.code == "invalid_input" and "bad.toml" in str(e.value)


def test_redis_stream_source_and_sinks_from_python(redis_server: RedisServer) -> None:
    r = redis_server.client()
    stream, dlq = unique("metrics"), unique("rejected")
    hub = dashfeed.Hub()
    sub = hub.subscribe("web", format="json")
    first = sub.recv(timeout=5)
    assert first is not None and first.kind == "snapshot" and first.seq == 0
    with dashfeed.RedisCache(url=redis_server.url, prefix="py:", ttl_s=60).attach(hub) as cache, \
            dashfeed.RedisStreamSink(url=redis_server.url, stream=stream + ":out", maxlen=1000).attach(hub) as out, \
            dashfeed.RedisStreamSource(url=redis_server.url, stream=stream, group="g", block_ms=50,
                                       dead_letter=dlq).attach(hub) as src:
        for i in range(100):
            r.xadd(stream, {"data": json.dumps({"dashboard": "web", "metric": f"m{i % 5}", "value": i})})
        r.xadd(stream, {"data": "{not json"})
        r.xadd(stream, {"data": json.dumps({"dashboard": "web", "metric": "after_bad", "value": 1})})

        got = []
        for _ in range(101):
            msg = sub.recv(timeout=20)
            assert msg is not None
            got.append(msg.seq)
        assert got == list(range(1, 102)), "every event once, in stream order"
        # Counters move just after the publication a subscriber sees: wait for them, bounded.
        wait_for("the bad entry and every event counted",
                 lambda: src.stats()["rejected"].get("decode_error") == 1 and src.stats()["events"] == 101)
        stats = src.stats()
        assert stats["events"] == 101 and stats["up"] and stats["breaker"] == "closed"
        assert r.xlen(dlq) == 1, "the bad entry is copied to the dead-letter stream"
        wait_for("everything acknowledged", lambda: r.xpending(stream, "g")["pending"] == 0)

        cache.flush()
        out.flush()
        cached = r.hgetall("py:web")
        assert set(cached) == {b"m0", b"m1", b"m2", b"m3", b"m4", b"after_bad"}
        assert json.loads(cached[b"m4"])["value"] == 99
        assert cache.load("web")["m4"] == 99
        assert r.xlen(stream + ":out") == 101

    # A restarted node: a fresh hub serves the cached state at once.
    fresh = dashfeed.Hub()
    seeder = dashfeed.RedisCache(url=redis_server.url, prefix="py:")
    assert seeder.seed(fresh) == 1
    snap = fresh.snapshot("web")
    assert snap is not None and snap.data["m3"] == 98
    seeder.close()


def test_kafka_source_into_an_aggregator_and_a_kafka_sink(kafka: TansuBroker) -> None:
    topic, out = unique("in"), unique("dashboard-updates")
    kafka.create_topic(topic, partitions=2)
    kafka.create_topic(out, partitions=1)
    agg = dashfeed.Aggregator("1s", quantiles=[0.5])
    t0 = window_start(int(time.time() * 1000))
    producer = kafka.producer()
    for i in range(200):
        producer.produce(topic, key=b"k%d" % (i % 2), value=dashfeed.encode(
            {"dashboard": "d", "metric": "rps", "value": 1.0, "ts": t0 + i}, "msgpack"))
    producer.produce(topic, key=b"k0", value=b"\xc1 not msgpack")
    assert producer.flush(15) == 0
    src = dashfeed.KafkaSource(brokers=kafka.bootstrap, topics=[topic], group=unique("g"), session_timeout_ms=6000)
    with src.attach(agg):
        wait_for("every event applied and the bad message counted",
                 lambda: src.stats()["events"] == 200 and src.stats()["rejected"] == {"decode_error": 1}, timeout=40)
    agg.advance_to(t0 + 5_000)
    results = agg.poll()
    assert [(r.count, r.sum) for r in results] == [(200, 200.0)]

    hub = dashfeed.Hub()
    with dashfeed.KafkaSink(brokers=kafka.bootstrap, topic=out).attach(hub) as sink:
        seqs = hub.publish_results(results)
        sink.flush(15)
        assert sink.stats()["events"] == len(seqs) == 1
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": unique("check"),
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([out])
    try:
        def published() -> Any:
            m = consumer.poll(0.5)
            return m if m is not None and m.error() is None else None

        msg = wait_for("the published result on the topic", published, timeout=40)
        assert msg.error() is None and msg.key() == b"d"
        body = json.loads(msg.value())
        assert body["dashboard"] == "d" and body["data"]["rps"]["count"] == 200
    finally:
        consumer.close()


def test_bad_options_name_the_key() -> None:
    with pytest.raises(dashfeed.InvalidInputError) as e:
        dashfeed.RedisCache(url="redis://127.0.0.1:1", ttl="60")
    assert e.value.code == "invalid_input" and "`ttl`: unknown field" in str(e.value), str(e.value)
    with pytest.raises(dashfeed.InvalidInputError) as e:
        dashfeed.RedisStreamSink(url="redis://127.0.0.1:1", queue={"linger_ms": 10_001})
    assert e.value.code == "invalid_input" and "linger_ms" in str(e.value)
    with pytest.raises(dashfeed.InvalidInputError) as e:
        dashfeed.RedisCache(url="redis://127.0.0.1:1", kind="kafka")
    assert "`kind` is set by the class" in str(e.value)
    with pytest.raises(dashfeed.InvalidInputError) as e:
        dashfeed.KafkaSource(brokers="127.0.0.1:1")
    assert "topics" in str(e.value)
    with pytest.raises(dashfeed.InvalidInputError):
        dashfeed.Source()


def test_a_full_sink_refuses_publications_and_loses_nothing(redis_server: RedisServer) -> None:
    """The queue bound crossed: `slow_consumer`, nothing applied, other subscribers and the snapshot intact."""
    hub = dashfeed.Hub()
    sub = hub.subscribe("ops", format="json")
    sink = dashfeed.RedisStreamSink(url="redis://127.0.0.1:1", stream="never",
                                    queue={"max_records": 10, "batch": 5})
    sink.attach(hub)
    accepted = 0
    refused = None
    for i in range(1000):
        try:
            hub.publish("ops", {"cpu": i})
            accepted += 1
        except dashfeed.SlowConsumerError as err:
            refused = err
            break
    assert refused is not None and refused.code == "slow_consumer"
    assert 10 <= accepted <= 15, f"queue bound 10 (+ one batch in flight): {accepted}"
    snap = hub.snapshot("ops")
    assert snap is not None and snap.seq == accepted and snap.data == {"cpu": accepted - 1}
    seqs = []
    for _ in range(accepted + 1):
        msg = sub.recv(timeout=5)
        assert msg is not None
        seqs.append(msg.seq)
    assert seqs == list(range(accepted + 1)) and sub.recv(timeout=0.05) is None
    stats = sink.stats()
    assert stats["queued"] <= 10 and stats["full"] >= 1
    with pytest.raises(dashfeed.TimeoutError):
        sink.close(timeout=0.2)
    with pytest.raises(dashfeed.ClosedError):
        sink.attach(hub)  # a closed sink would refuse every publication of the hub it tapped
    assert hub.publish("ops", {"cpu": -1.0}) == accepted + 1, "the hub publishes again once the sink is gone"


def _healthz(url: str) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_healthz_names_a_link_that_is_down_and_the_cache_is_rewritten_after_a_restart() -> None:
    """kill -9 redis-server under a running pipeline: /healthz 503 naming the link, publications kept in
    the sink's queue, then written once redis-server is back (empty)."""
    redis = RedisServer()
    try:
        config = {"server": {"port": 0}, "sink": [{"kind": "redis_cache", "url": redis.url, "prefix": "hz:"}]}
        with dashfeed.Pipeline(config) as p:
            status, body = _healthz(p.url)
            assert status == 200 and body["status"] == "ok", body
            redis.kill()
            for i in range(5):
                p.hub.publish("ops", {"cpu": float(i)})

            def down() -> Any:
                s, b = _healthz(p.url)
                return s == 503 and b

            body = wait_for("/healthz to say the cache is down", down)
            assert body["status"] == "down"
            assert any(name.startswith("redis_cache") for name, state in body["checks"].items() if state != "up"), body
            redis.start()
            wait_for("/healthz up again", lambda: _healthz(p.url)[0] == 200, timeout=30)
            p.flush(15)
            cached = redis.client().hgetall("hz:ops")
            assert json.loads(cached[b"cpu"])["value"] == 4.0, "the last value reached the restarted redis"
    finally:
        redis.kill()


def test_leaving_with_keeps_the_blocks_own_exception_and_a_missing_file_is_named() -> None:
    from dashfeed.connect import _end

    def failing_stop() -> None:
        raise dashfeed.TimeoutError("1 record still queued")

    block_error = ValueError("the block failed")
    _end(failing_stop, block_error)  # does not raise: the block's own error is the one that propagates
    assert any("leaving the block failed too" in n for n in getattr(block_error, "__notes__", [])), block_error
    with pytest.raises(dashfeed.TimeoutError):
        _end(failing_stop, None)  # no error in the block: the stop's failure is raised
    with pytest.raises(dashfeed.DashfeedError) as e:
        dashfeed.Pipeline.from_config("missing-dashfeed.toml")
    assert "missing-dashfeed.toml" in str(e.value) and "TOML parse error" not in str(e.value), str(e.value)
