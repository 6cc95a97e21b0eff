"""Soak run (issue 16): the full pipeline under 1,000 WebSocket clients for a given time, sampled every second;
pass when nothing grows without bound, no client missed an update it was owed, and p99 latency holds.

    python3 bench/soak/run.py                      # 10 minutes, the demo's sources (dashboards host, api)
    python3 bench/soak/run.py --seconds 60         # the CI version (tests/e2e/test_soak.py), about 80 s
    python3 bench/soak/run.py --pipeline           # `dashfeed serve --config` with a Kafka source and a Redis
                                                   # cache sink (redis-server and tansu, as the tests start them)

What runs (all on 127.0.0.1, spare ports, every child killed at the end):
- the server, through bench/soak/server.py (``dashfeed.cli.main`` with the same arguments, plus a thread
  that logs glibc's heap figures): ``demo --port 0`` (its /proc and synthetic API sources publish 1 s and
  10 s windows to ``host`` and ``api``, about twice a second each; history 2000), or with ``--pipeline``
  ``serve --config`` with a Kafka source that this process feeds (``--feed-hz`` events/s to ``host`` and
  ``api``, published as they arrive), a ``redis_cache`` sink and history 2000;
- the load, bench/soak/load.js (one Node process, ``ws``): ``--clients`` clients — by default 10% slow, 10%
  resuming, 5% sending garbage, the rest normal — plus recorders and primers, and the publisher (feed.js:
  probes to ``host`` and ``api`` at ``--probe-hz``, bulk publications of ``--bulk-bytes`` to ``soak-bulk`` at
  ``--bulk-hz`` for the slow clients, so that a pause overflows the kernel's socket buffers and then the
  subscription queue). Before the clients connect it fills every history with traffic of the run's shape,
  so that a short run starts with the histories at their bound. load.js's header says what each role does
  and checks;
- the watchers, bench/soak/watch.js (another Node process): ``--watchers`` plain clients of ``host`` and
  ``api`` that measure the probes' latency. load.js's 1,000 clients share one event loop, whose backlog and
  GC pauses are part of what they measure (its lag is sampled too); the watchers keep up, so theirs is the
  server's delivery latency under the load, which the latency criterion judges.

Every second this process samples the server: RSS, threads (/proc/PID/status), open fds (/proc/PID/fd), CPU,
heap in use and free (mallinfo2), and /metrics (WebSocket connections, hub subscribers, publications,
deliveries, conflated, rejections, socket writes; the sinks' queued bytes with ``--pipeline``); and the load:
this second's updates received, latency p50 / p99 / max, open and paused clients, reconnects, resumes,
garbage answered, violations so far, its own event-loop lag; the watchers' p50 / p99. Subscription queue bytes and history bytes are
not exposed by the server (neither /metrics nor the hub's stats over HTTP have them): their CSV columns stay
empty.

At the end the load stops its chaos and its publisher, every subscription must reach the seq the server
reports then, and the load checks what it received against the publication log. Pass criteria:
- nothing grows: over the second half of the samples (the first half is the warm-up), the least-squares
  slope of the server's RSS is at most ``--rss-slope-kbs``; of its fds at most ``--fds-slope`` per s (a leak
  of one fd per reconnection would be ~25/s), of its threads ``--threads-slope`` per s; 3-13 s after the load
  closed every client, fds are back within ``--fds-after`` of the count before it connected.
  RSS limit: 32 KB/s (115 MB/h) for runs of 300 s or more — about 2x the creep a 3-minute run still showed
  at 130-180 s (~15 KB/s, glibc's free lists settling; heap in use was flat), and below what a leak of 1 KB
  per reconnection (~25/s) or of 4 bytes per delivered update (~10,000/s) would add. 512 KB/s for shorter
  runs: in 60 s the slow clients have paused once or twice and the server's per-connection write buffers and
  the allocator are still growing towards their size (100-210 KB/s measured over 30-60 s), so the CI version
  only catches gross leaks (64 bytes per delivery, every bulk publication, 20 KB per reconnection);
- no client missed an update it was owed: 0 violations (load.js: seq contiguity for normal clients and
  recorders, jumps for slow clients only as verified conflation, ``recovered: true`` with every missed seq for
  resumers, the recorders' probes equal to the publication log, every client's newest probe equal to the
  last published, the documented answer to every hostile input);
- the watchers' p99 latency of every later window (``--window`` s: 60, or a third of runs shorter than
  180 s) at most 2x the first window's (a window shorter than half of one, at the end, is not judged); the
  watchers' seqs contiguous.

Outputs in ``--out`` (test-output/): soak-<N>s.csv (one row per second), soak-<N>s.svg and .png (the series),
soak-<N>s.json (figures, checks, the load's report); the one-line verdict on stdout; exit 0 on pass, 1 on fail,
2 when the run could not be made. ``SOAK_NODE_FLAGS`` adds flags to the load's node (``--cpu-prof``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any, Callable, Dict, List, Optional, TextIO

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(ROOT, "bench", "connect"))
import report  # noqa: E402  (beside this file)
from procs import Lines, cpu_seconds, kill  # noqa: E402  (bench/connect's helpers)


def proc_sample(pid: int) -> Dict[str, float]:
    """RSS (MB), threads, open fds and CPU seconds of ``pid``."""
    out: Dict[str, float] = {"cpu_s": cpu_seconds(pid), "fds": float(len(os.listdir(f"/proc/{pid}/fd")))}
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                out["threads"] = float(line.split()[1])
    return out


def scrape(port: int) -> Dict[str, Optional[float]]:
    """The /metrics figures a row shows (sums over labels unless a label is named)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    sums: Dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:]+)(\{[^}]*\})?\s+(\S+)$", line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        if name == "dashfeed_connections" and 'transport="ws"' not in labels:
            continue
        if name == "dashfeed_hub_dropped_total" and 'policy="conflate"' not in labels:
            continue
        sums[name] = sums.get(name, 0.0) + value
    return {
        "ws_connections": sums.get("dashfeed_connections", 0.0),
        "hub_subscribers": sums.get("dashfeed_hub_subscribers", 0.0),
        "publications": sums.get("dashfeed_hub_publications_total", 0.0),
        "hub_deliveries": sums.get("dashfeed_hub_deliveries_total", 0.0),
        "conflated": sums.get("dashfeed_hub_dropped_total", 0.0),
        "rejections": sums.get("dashfeed_rejections_total", 0.0),
        "socket_writes": sums.get("dashfeed_socket_writes_total", 0.0),
        "sink_queued_bytes": sums.get("dashfeed_connector_queued_bytes"),
    }


class Heap:
    """The newest line server.py appended to the heap file (glibc's figures of the server), if any."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.f: Optional[TextIO] = None
        self.last: Dict[str, float] = {}

    def read(self) -> Dict[str, Optional[float]]:
        if self.f is None and os.path.exists(self.path):
            self.f = open(self.path, encoding="utf-8")
        if self.f is not None:
            for line in self.f:
                if line.endswith("\n"):
                    self.last = json.loads(line)
        mb = 1 / (1 << 20)
        return {"heap_in_use_mb": self.last["in_use"] * mb if self.last else None,
                "heap_free_mb": self.last["free"] * mb if self.last else None}


class Child:
    """A node child speaking JSON lines (load.js, watch.js), killed at the stack's close."""

    def __init__(self, name: str, cmd: List[str], stack: "Stack") -> None:
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        stack.add(lambda: kill(self.proc, 5))
        self.lines = Lines(self.proc)

    def send(self, op: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op}) + "\n")
        self.proc.stdin.flush()

    def read(self, what: str, timeout: float) -> Dict[str, Any]:
        msg = json.loads(self.lines.get(timeout, f"{self.name}: {what}"))
        if "error" in msg:
            raise RuntimeError(f"{self.name}: {msg['error']}")
        return dict(msg)


class Stack:
    """The children of a run, stopped in reverse order whatever happens."""

    def __init__(self) -> None:
        self.stops: List[Any] = []

    def add(self, *steps: Callable[[], Any]) -> None:
        """Steps to run at close (these in this order, after what is added later)."""
        self.stops.append(lambda: [step() for step in steps])

    def close(self) -> None:
        while self.stops:
            try:
                self.stops.pop()()
            except Exception as e:  # keep stopping the others
                print(f"soak: while stopping: {e}", file=sys.stderr)


def start_server(args: argparse.Namespace, stack: Stack, workdir: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", DASHFEED_SOAK_HEAP=os.path.join(workdir, "heap.jsonl"))
    if args.pipeline:
        sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
        from brokers import RedisServer, TansuBroker  # the test suite's brokers

        redis = RedisServer()
        stack.stops.append(redis.kill)
        kafka = TansuBroker()
        stack.stops.append(kafka.stop)
        kafka.create_topic("soak-metrics")
        cfg = os.path.join(workdir, "soak.toml")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(f"""# bench/soak --pipeline
[server]
host = "127.0.0.1"
port = 0
[hub]
history = 2000
[[source]]
kind = "kafka"
brokers = "{kafka.bootstrap}"
topics = ["soak-metrics"]
group = "soak"
[[sink]]
kind = "redis_cache"
url = "{redis.url}"
ttl_s = 3600
""")
        cmd = [sys.executable, os.path.join(HERE, "server.py"), "serve", "--config", cfg]
        args.kafka = kafka
    else:
        cmd = [sys.executable, os.path.join(HERE, "server.py"), "demo", "--port", "0"]
    log = open(os.path.join(workdir, "server.log"), "w", encoding="utf-8")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, env=env,
                            cwd=ROOT)
    stack.add(lambda: kill(proc, 15), log.close)
    lines = Lines(proc)
    deadline = time.monotonic() + 60
    while True:
        line = lines.get(max(0.1, deadline - time.monotonic()), "the server to listen")
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if m:
            args.port = int(m.group(1))
            return proc


def feeder(args: argparse.Namespace, stop: threading.Event) -> None:
    """--pipeline: the Kafka source's traffic (the reference notes' JSON events) until ``stop``."""
    producer = args.kafka.producer()
    i = 0
    every = 1.0 / args.feed_hz
    due = time.monotonic()
    while not stop.is_set():
        d = ("host", "api")[i % 2]
        ev = {"dashboard_id": d, "metric_name": ("cpu", "mem", "latency_ms")[i % 3], "value": (i * 37) % 100 / 10,
              "timestamp": time.time()}
        producer.produce("soak-metrics", json.dumps(ev).encode())
        producer.poll(0)
        i += 1
        due += every
        stop.wait(max(0.0, due - time.monotonic()))
    producer.flush(10)


def run(args: argparse.Namespace) -> int:
    os.makedirs(args.out, exist_ok=True)
    stack = Stack()
    workdir = tempfile.mkdtemp(prefix="dashfeed-soak-")
    window = args.window or (60.0 if args.seconds >= 180 else args.seconds / 3)
    pause = args.slow_pause or min(40.0, args.seconds * 0.45)
    stop_feed = threading.Event()
    try:
        server = start_server(args, stack, workdir)
        pid = server.pid
        heap = Heap(os.path.join(workdir, "heap.jsonl"))
        stack.add(lambda: heap.f.close() if heap.f else None)
        time.sleep(2)
        before = proc_sample(pid)
        if args.pipeline:
            feed = threading.Thread(target=feeder, args=(args, stop_feed), daemon=True)
            feed.start()
            stack.add(stop_feed.set, lambda: feed.join(15))
        cmd = ["node", *os.environ.get("SOAK_NODE_FLAGS", "").split(), os.path.join(HERE, "load.js"),
               "--port", str(args.port), "--clients", str(args.clients),
               "--probe-hz", str(args.probe_hz), "--slow-pause", str(pause), "--window", str(window),
               "--slow", str(args.mix[0]), "--resume", str(args.mix[1]), "--garbage", str(args.mix[2]),
               "--bulk-hz", str(args.bulk_hz), "--bulk-bytes", str(args.bulk_bytes), "--seed", str(args.seed)]
        load = Child("load", cmd, stack)
        ready = load.read("the clients to connect", 180)
        watch = Child("watchers", ["node", os.path.join(HERE, "watch.js"), "--port", str(args.port), "--clients",
                                   str(args.watchers), "--window", str(window)], stack)
        watch.read("the watchers to connect", 40)
        print(f"soak: {ready['ready']} clients connected in {ready['connect_ms'] / 1000:.1f} s {ready['roles']}, "
              f"{args.watchers} watchers; prefill {ready['prefill']['events']} events in "
              f"{ready['prefill']['ms'] / 1000:.1f} s; server pid {pid} port {args.port}; {args.seconds:.0f} s",
              flush=True)
        rows: List[Dict[str, Any]] = []
        load.send("start")
        watch.send("start")
        t0 = time.monotonic()
        prev_cpu = (t0, proc_sample(pid)["cpu_s"], cpu_seconds(load.proc.pid))
        for i in range(int(args.seconds)):
            time.sleep(max(0.0, t0 + i + 1 - time.monotonic()))
            load.send("tick")
            watch.send("tick")
            tick = load.read("a tick", 30)
            wt = watch.read("a tick", 30)
            now = time.monotonic()
            p = proc_sample(pid)
            lp = proc_sample(load.proc.pid)
            dt = now - prev_cpu[0]
            row: Dict[str, Any] = {
                "t_s": round(now - t0, 2), "rss_mb": p["rss_mb"], "fds": int(p["fds"]), "threads": int(p["threads"]),
                "cpu_pct": 100 * (p["cpu_s"] - prev_cpu[1]) / dt, "load_rss_mb": lp["rss_mb"],
                "load_cpu_pct": 100 * (lp["cpu_s"] - prev_cpu[2]) / dt, "queue_bytes": None, "history_bytes": None,
                "client_deliveries": tick["deliveries"], "lat_n": tick["lat_n"], "lat_p50_ms": tick["lat_p50"],
                "lat_p99_ms": tick["lat_p99"], "lat_max_ms": tick["lat_max"], "open_clients": tick["open"],
                "watch_n": wt["n"], "watch_p50_ms": wt["p50"], "watch_p99_ms": wt["p99"], "watch_max_ms": wt["max"],
                "watch_gaps": wt["gaps"],
                "paused_clients": tick["paused"], "reconnects": tick["reconnects"], "resumed": tick["resumed"],
                "garbage_ok": tick["garbage_ok"], "violations": tick["violations"], "load_loop_lag_ms": tick["loop_lag_ms"],
            }
            prev_cpu = (now, p["cpu_s"], lp["cpu_s"])
            row.update(scrape(args.port))
            row.update(heap.read())
            rows.append(row)
            if args.verbose or (i + 1) % args.every == 0:
                print(f"soak: t={row['t_s']:.0f}s rss={row['rss_mb']:.1f}MB fds={row['fds']} threads={row['threads']} "
                      f"cpu={row['cpu_pct']:.0f}% ws={row['ws_connections']:.0f} updates/s={row['client_deliveries']} "
                      f"p50/p99 watchers={row['watch_p50_ms'] or 0:.1f}/{row['watch_p99_ms'] or 0:.1f}ms "
                      f"all={row['lat_p50_ms'] or 0:.1f}/{row['lat_p99_ms'] or 0:.1f}ms paused={row['paused_clients']} "
                      f"conflated={row['conflated']:.0f} violations={row['violations']}", flush=True)
        stop_feed.set()
        watch.send("finish")
        load.send("finish")
        watched = watch.read("the watchers' report", 30)
        final = load.read("the final report", 120)["report"]
        final["watch"] = watched
        watch.send("quit")
        load.send("quit")
        try:
            load.proc.wait(15)
        except subprocess.TimeoutExpired:
            kill(load.proc, 1)
        time.sleep(3)  # the server closes what the clients reset; allow 10 s more before judging
        after = proc_sample(pid)
        deadline = time.monotonic() + 10
        while after["fds"] - before["fds"] > args.fds_after and time.monotonic() < deadline:
            time.sleep(0.5)
            after = proc_sample(pid)
    except (RuntimeError, TimeoutError, OSError) as e:
        print(f"soak: could not run: {e}", file=sys.stderr)
        try:
            with open(os.path.join(workdir, "server.log"), encoding="utf-8") as f:
                sys.stderr.write(f.read()[-2000:])
        except OSError:
            pass
        return 2
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)
    limits = {"rss_kbs": args.rss_slope_kbs or (32.0 if args.seconds >= 300 else 512.0),
              "fds_per_s": args.fds_slope, "threads_per_s": args.threads_slope,
              "fds_after": args.fds_after, "window_s": window}
    a = report.analyse(rows, final, before, after, limits)
    line = report.verdict(a, final, args.seconds, args.clients)
    base = os.path.join(args.out, f"soak-{int(args.seconds)}s")
    report.write_csv(base + ".csv", rows)
    title = (f"dashfeed soak: {'pipeline (Kafka + Redis)' if args.pipeline else 'demo'}, {args.clients} clients, "
             f"{args.seconds:.0f} s -- {'PASS' if a['ok'] else 'FAIL'}")
    with open(base + ".svg", "w", encoding="utf-8") as f:
        f.write(report.svg(rows, a, title))
    png = subprocess.run(["node", os.path.join(HERE, "png.js"), base + ".svg", base + ".png"], capture_output=True,
                         text=True, timeout=90, cwd=ROOT)
    if png.returncode != 0:
        print(f"soak: no PNG ({png.stderr.strip()}); the SVG is {base}.svg", file=sys.stderr)
    with open(base + ".json", "w", encoding="utf-8") as f:
        json.dump({"verdict": line, "analysis": a, "report": final, "ready": ready, "before": before, "after": after,
                   "limits": limits, "args": {k: v for k, v in vars(args).items() if k != "kafka"}}, f, indent=1,
                  default=str)
    if final.get("first_violations"):
        print("soak: first violations: " + json.dumps(final["first_violations"][:10]), flush=True)
    print(f"soak: wrote {base}.csv, .svg, .png, .json", flush=True)
    print(line, flush=True)
    return 0 if a["ok"] else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=600, help="load duration (default 600)")
    p.add_argument("--clients", type=int, default=1000, help="WebSocket clients besides the recorders (default 1000)")
    p.add_argument("--pipeline", action="store_true", help="dashfeed serve with Kafka source + Redis cache sink")
    p.add_argument("--watchers", type=int, default=20, help="latency watchers (watch.js), default 20")
    p.add_argument("--probe-hz", type=float, default=5, help="probe POSTs per second (default 5)")
    p.add_argument("--mix", type=lambda t: [float(x) for x in t.split(",")], default=[0.1, 0.1, 0.05],
                   help="shares of slow, resuming and garbage clients (default 0.1,0.1,0.05)")
    p.add_argument("--bulk-hz", type=float, default=20, help="bulk publications per second (default 20)")
    p.add_argument("--bulk-bytes", type=int, default=12000, help="padding of a bulk publication (default 12000)")
    p.add_argument("--feed-hz", type=float, default=20, help="--pipeline: Kafka events per second (default 20)")
    p.add_argument("--slow-pause", type=float, default=0, help="seconds a slow client stops reading, at most "
                   "(default min(40, 0.45 x seconds))")
    p.add_argument("--window", type=float, default=0, help="latency window, s (default 60, or seconds/3 below 180)")
    p.add_argument("--rss-slope-kbs", type=float, default=0, help="max RSS slope, KB/s, over the 2nd half (default "
                   "32, or 512 for runs shorter than 300 s: see the docstring)")
    p.add_argument("--fds-slope", type=float, default=0.5, help="max fd slope per s, 2nd half (default 0.5)")
    p.add_argument("--threads-slope", type=float, default=0.05, help="max thread slope per s (default 0.05)")
    p.add_argument("--fds-after", type=int, default=10, help="max extra fds once the clients left (default 10)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=os.path.join(ROOT, "test-output"))
    p.add_argument("--every", type=int, default=10, help="print a progress line every N s (default 10)")
    p.add_argument("--verbose", action="store_true", help="a progress line every second")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return run(args)
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
