"""The reference notes' ``RealTimeDashboardFeed``, rewritten with dashfeed.

    python examples/python/reference_pipeline.py --brokers localhost:9092 --redis redis://localhost:6379

What it shows: the notes' pipeline — a Kafka consumer on ``dashboard-metrics``, the latest value per metric
cached in the Redis hash ``dashboard:{id}`` as ``{"value", "timestamp", "metadata"}``, and a broadcast to the
WebSocket clients of ``ws://HOST:PORT/dashboard/{id}`` — as three dashfeed objects wired to one ``Hub``:

    KafkaSource ──▶ Hub ──▶ RedisCache   (HSET dashboard:{id}, one pipelined round trip per batch)
                     └───▶ Server       (WebSocket /dashboard/{id} and /ws, SSE /sse/{id}, /api/dashboards/{id})

What the notes' class did by hand, dashfeed does on its own threads, without a Python object per message:
the consumer stores an offset only after its event was applied (at least once); a message that does not
parse is counted and skipped instead of ending the loop (the counts are printed at exit); every broker link
reconnects with backoff behind a circuit breaker; a slow WebSocket client gets the latest values (conflate)
instead of growing a buffer; a client that reconnects resumes where it left off. At start the hub is seeded
from the Redis hashes, so a restarted feed serves the last values at once.

The notes' producers write JSON ``{"dashboard_id", "metric_name", "value", "timestamp", "metadata"}``; that is
accepted as it is (as are dashfeed's own shape and MessagePack). Each event is published as it arrives, as
in the notes: ``{"cpu": {"value", "timestamp", "metadata"}}``, except that string-valued metadata names the
series (``cpu{host=h1}``), so two hosts' ``cpu`` never overwrite each other in the hash.
``dashfeed serve --config examples/dashfeed.toml`` is the same pipeline with 1 s windows and no code at all
(and with the links' health in ``/healthz`` and ``/metrics``).

Settings come from flags or the environment: ``--brokers`` / ``KAFKA_BROKERS``, ``--redis`` / ``REDIS_URL``,
``--port`` / ``PORT`` (0 picks a free one), ``--topic``, ``--group``, ``--session-timeout-ms``,
``--kafka-property KEY=VALUE``. It prints its URL and runs until SIGINT or SIGTERM, then stops gracefully:
the source commits what was applied, the server closes its clients with 1001, the cache flushes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Optional, Sequence

import dashfeed


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description="Kafka -> Redis hash dashboard:{id} -> WebSocket clients, with dashfeed")
    p.add_argument("--brokers", default=env("KAFKA_BROKERS", "localhost:9092"), help="Kafka bootstrap servers")
    p.add_argument("--redis", default=env("REDIS_URL", "redis://localhost:6379"), help="Redis URL")
    p.add_argument("--topic", default=env("KAFKA_TOPIC", "dashboard-metrics"), help="topic to consume")
    p.add_argument("--group", default=env("KAFKA_GROUP", "dashboard-feed"), help="consumer group")
    p.add_argument("--host", default=env("HOST", "127.0.0.1"), help="interface of the WebSocket server")
    p.add_argument("--port", type=int, default=int(env("PORT", "8080")), help="port (0 picks a free one)")
    p.add_argument("--ttl", type=int, default=int(env("CACHE_TTL_S", "86400")), help="TTL of the hashes, seconds")
    p.add_argument("--session-timeout-ms", type=int, default=int(env("KAFKA_SESSION_TIMEOUT_MS", "10000")),
                   help="consumer group session timeout (a smaller one joins and rebalances sooner)")
    p.add_argument("--kafka-property", action="append", default=[], metavar="KEY=VALUE",
                   help="a librdkafka setting (security.protocol, sasl.mechanisms, ...); repeatable")
    args = p.parse_args(argv)
    if any("=" not in kv for kv in args.kafka_property):
        p.error("--kafka-property takes KEY=VALUE")
    args.properties = dict(kv.split("=", 1) for kv in args.kafka_property)
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()  # set by SIGINT / SIGTERM
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        # Fan-out with history: a client that reconnects with (epoch, seq) gets what it missed.
        hub = dashfeed.Hub(history=256, policy="conflate")
        # self.redis_client.hset(f"dashboard:{dashboard_id}", metric_name, json.dumps({...}))
        cache = dashfeed.RedisCache(url=args.redis, ttl_s=args.ttl)
        # KafkaConsumer('dashboard-metrics', bootstrap_servers=[...], value_deserializer=json.loads)
        source = dashfeed.KafkaSource(brokers=args.brokers, topics=[args.topic], group=args.group,
                                      session_timeout_ms=args.session_timeout_ms, properties=args.properties)
        try:
            seeded = cache.seed(hub)  # the last values of a previous run, from the dashboard:{id} hashes
        except dashfeed.DashfeedError as e:  # Redis not up yet: start empty, the cache's link reconnects
            print(f"reference_pipeline: not seeded from Redis: {e} (code {e.code})", file=sys.stderr, flush=True)
            seeded = 0
        # Leaving the block stops them in reverse order: the source commits, the server closes its clients
        # with 1001, the cache flushes.
        with cache.attach(hub), dashfeed.Server(hub, host=args.host, port=args.port) as server, \
                source.attach(hub):
            # self.active_connections + broadcast_to_dashboard: the server's subscribers.
            print(f"reference_pipeline: listening at {server.url}  (WebSocket {server.ws_url}/dashboard/{{id}}, "
                  f"{seeded} dashboards seeded from Redis; Ctrl-C to stop)", flush=True)
            while not stop.wait(0.5):  # ends on the first SIGINT / SIGTERM
                pass
            stats = source.stats()
            print(f"reference_pipeline: stopping after {stats['events']} events, rejected {stats['rejected']} "
                  "(the source commits, the cache flushes)", flush=True)
    except dashfeed.DashfeedError as e:
        print(f"reference_pipeline: {e} (code {e.code})", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
