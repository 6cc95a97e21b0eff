"""Cluster benchmark: dashfeed vs socket.io 4.8 + @socket.io/redis-adapter 8.3 on 1, 2 and 3 server nodes of
this machine sharing one redis-server, with the same clients and the same publications, in one run; a
Markdown table of medians over ``--rounds`` on stdout (the command line first).

Every run (one contender, one node count, one round) gets a fresh redis-server (tests/python/brokers.py's,
127.0.0.1, spare port, no persistence) and N fresh nodes on spare ports (``--port 0``):

- socketio: ``node bench/cluster/socketio_node.js --redis URL`` (http.createServer + socket.io Server with
  the Redis adapter on node-redis clients; ``POST /publish`` → ``io.to('dashboard-' + d).emit('update',
  {dashboard, metric, value, seq})``, which the adapter PUBLISHes to the other nodes through Redis);
- dashfeed: ``python3 -m dashfeed serve --config F`` with ``[server]`` (the ingest rate limit raised out of
  the way) and ``[cluster] redis = URL``; ``POST /api/events`` → one publication per event, data
  ``{metric: value}``, broadcast to every node's subscribers through Redis. Until the installed module
  accepts ``[cluster]`` (``serve --config F --check``), dashfeed runs on one node without it and the
  multi-node dashfeed runs are reported as not run. Each dashfeed node runs with ``--workers`` tokio
  worker threads (``TOKIO_WORKER_THREADS``, default 1 here): a socket.io node runs its JavaScript on one
  thread, and up to three nodes, redis-server, the clients and the driver share this machine's two cores,
  where one worker per node spent 9–20% less CPU than two (bench/cluster/probe.py, alternated runs).

Two phases per run, each with its own clients process (bench/cluster/clients.js: ``ws`` for dashfeed,
``socket.io-client`` with transports ['websocket'] for socket.io; client j of a dashboard on node j % N):

1. fan-out: ``--rate`` publications/s to one dashboard for ``--seconds``, ``--clients`` clients on it;
2. latency: ``--latency-rate`` publications/s spread over ``--latency-dashboards`` dashboards for
   ``--latency-seconds``, ``--latency-clients`` clients per node per dashboard.

Every client has subscribed (dashfeed: its snapshot; socket.io: the join ack) before anything is published.
The driver (this process) sends what is due every ``--batch-ms`` as one HTTP keep-alive POST, to node 1 and
node 2 alternately (node 1 only with one node; a third node only has clients). It waits for each answer: a
node that answers late gets bigger batches (all that is due), and one that cannot keep up gets fewer
publications/s than offered, shown as "(N sent)" next to the offered rate. Each event's value is
``time.time() * 1000`` at send; its metric is ``w<e>`` during the ``--warmup`` s warm-up and ``t<e>`` after,
``e`` being the entry node, so clients split same-node / cross-node latency (receive time − value, with
``performance.timeOrigin + performance.now()``). After the warm-up the driver waits until its deliveries
have arrived and checks that every client got one from each entry node (else the run fails: broadcast
across nodes broken; a failed run is reported as such and the others go on); after the measured publications it waits until the expected deliveries (accepted publications ×
clients of the dashboard) arrived, or none came for ``--quiet`` s (at most ``--drain-timeout`` s).

Measured interval: first measured send → the later of the last send and the last measured delivery.
Server CPU-s = user+sys (/proc/PID/stat, sampled every 20 ms, interpolated) of the N node processes plus
redis-server over that interval; deliveries/s received and deliveries per CPU-s use the measured
deliveries (frames: dashfeed conflates a slow subscriber's queued updates into one frame by default, so it
may deliver fewer frames than publications × clients; socket.io queues everything). Redis commands per
publication = INFO total_commands_processed delta / accepted publications. The clients process's CPU share
is shown: near 100% it, not the servers, is the limit.

Contender ``dashfeed-batch`` runs the same dashfeed nodes with clients that ask for batch frames (``?batch=1``:
the updates of one drain in one WebSocket message, docs/protocol.md), what dashfeed's own browser client does.

Run: python3 bench/cluster/run.py --rounds 3     (27 runs of 25-35 s: about 15 minutes)
     python3 bench/cluster/run.py --contenders socketio --nodes 1,2 --rounds 1 --seconds 3
Needs redis-server, node, the installed Python module and, in node_modules, socket.io, socket.io-client, ws, redis
and @socket.io/redis-adapter (``--node-path DIR/node_modules`` adds a directory where one of them is installed).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

sys.dont_write_bytecode = True  # no __pycache__ beside bench/connect's and the tests' modules
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench", "connect"))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
from procs import Lines, cpu_seconds, kill  # noqa: E402  (bench/connect's helpers)
from brokers import RedisServer  # noqa: E402  (the test suite's redis-server)
from report import details, fmt, table, versions  # noqa: E402  (beside this file)

WORKERS: List[Optional[int]] = [None]  # tokio worker threads per dashfeed node (--workers; None: the environment's)
CONTENDERS = ["socketio", "dashfeed", "dashfeed-batch"]  # dashfeed-batch: the same nodes, clients with ?batch=1


class Sampler:
    """CPU seconds of named processes every ``every`` s on the wall clock (time.time(), the clients'
    clock); ``between(names, t0, t1)`` interpolates."""

    def __init__(self, pids: Dict[str, int], every: float = 0.02) -> None:
        self.pids = dict(pids)
        self.samples: List[Tuple[float, Dict[str, float]]] = []
        self.lock = threading.Lock()
        self.stop_ = threading.Event()
        self.thread = threading.Thread(target=self.run, args=(every,), daemon=True)
        self.thread.start()

    def add(self, name: str, pid: int) -> None:
        with self.lock:
            self.pids[name] = pid

    def run(self, every: float) -> None:
        while not self.stop_.is_set():
            row: Dict[str, float] = {}
            with self.lock:
                pids = list(self.pids.items())
            for name, pid in pids:
                try:
                    row[name] = cpu_seconds(pid)
                except (OSError, ValueError):
                    pass
            with self.lock:
                self.samples.append((time.time(), row))
            self.stop_.wait(every)

    def at(self, name: str, t: float) -> float:
        with self.lock:
            pts = [(ts, row[name]) for ts, row in self.samples if name in row]
        if not pts:
            return float("nan")
        if t <= pts[0][0]:
            return pts[0][1]
        for (t0, c0), (t1, c1) in zip(pts, pts[1:]):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1
        return pts[-1][1]

    def between(self, names: List[str], t0: float, t1: float) -> float:
        return sum(self.at(n, t1) - self.at(n, t0) for n in names)

    def close(self) -> None:
        self.stop_.set()
        self.thread.join(2)


class Node:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: str) -> None:
        self.proc, self.port, self.log = proc, port, log  # a server node: its process, port and stderr file


def log_tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def dashfeed_config(path: str, redis_url: Optional[str]) -> None:
    text = """# bench/cluster: one dashfeed node (port 0: a free one, printed at start)
[server]
host = "127.0.0.1"
port = 0
ingest_rate = 10000000.0  # per dashboard; the default 1000/s would cap the offered load
ingest_burst = 10000000
"""
    if redis_url:
        text += f'\n[cluster]\nredis = "{redis_url}"\n'
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def dashfeed_cluster_support(workdir: str) -> Tuple[bool, str]:
    """Whether ``serve --check`` accepts a ``[cluster]`` section (and why not)."""
    path = os.path.join(workdir, "check.toml")
    dashfeed_config(path, "redis://127.0.0.1:6379")
    p = subprocess.run([sys.executable, "-m", "dashfeed", "serve", "--config", path, "--check"],
                       capture_output=True, text=True, timeout=60)
    return p.returncode == 0, (p.stderr or p.stdout).strip().replace("\n", " ")


def start_node(kind: str, i: int, redis_url: str, cluster: bool, workdir: str, env: Dict[str, str]) -> Node:
    log = os.path.join(workdir, f"{kind}-{os.getpid()}-{time.monotonic_ns()}-node{i}.log")
    if kind == "socketio":
        cmd = ["node", os.path.join(HERE, "socketio_node.js"), "--port", "0", "--redis", redis_url]
        pattern = r"LISTENING (\d+)"
    else:
        cfg = log[:-4] + ".toml"
        dashfeed_config(cfg, redis_url if cluster else None)
        cmd = [sys.executable, "-m", "dashfeed", "serve", "--config", cfg]
        pattern = r"listening at https?://[^:\s]+:(\d+)"
        if WORKERS[0] is not None:
            env = {**env, "TOKIO_WORKER_THREADS": str(WORKERS[0])}
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
                                env=env, cwd=ROOT)
    node = Node(proc, 0, log)
    try:
        lines = Lines(proc)
        deadline = time.monotonic() + 30
        while node.port == 0:
            line = lines.get(max(0.1, deadline - time.monotonic()), f"{kind} node {i} to listen")
            m = re.search(pattern, line)
            if m:
                node.port = int(m.group(1))
        while True:  # also ready for HTTP (dashfeed: its Redis link up)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return node
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind} node {i}: /healthz not 200 within 30 s")
            time.sleep(0.05)
    except Exception as e:
        kill(proc)
        raise RuntimeError(f"{kind} node {i} did not start: {e}\n{log_tail(log)}") from e


class Publisher:
    """HTTP keep-alive POSTs of event batches to nodes 1 and 2 alternately."""

    def __init__(self, kind: str, ports: List[int]) -> None:
        self.kind = kind
        self.ports = ports
        self.path = "/publish" if kind == "socketio" else "/api/events"
        self.conns = [self.connect(p) for p in ports]
        self.turn = 0
        self.sent_by = [0] * len(ports)  # each entry node cycles over the dashboards on its own
        self.refused = 0
        self.refusal = ""

    @staticmethod
    def connect(port: int) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def close(self) -> None:
        for c in self.conns:
            c.close()

    def post(self, node: int, body: bytes, n: int) -> int:
        """Sends one batch of ``n`` events; returns how many the node accepted (a refused batch: 0, counted
        in ``refused`` with the first answer kept in ``refusal``)."""
        for attempt in (0, 1):
            conn = self.conns[node]
            try:
                conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()  # an idle keep-alive closed by the server: reconnect once
                self.conns[node] = self.connect(self.ports[node])
                if attempt:
                    raise
                continue
            if resp.status >= 300:
                self.refused += n
                self.refusal = self.refusal or f"node {node + 1}: {resp.status} {data[:200].decode(errors='replace')}"
                return 0
            ans = json.loads(data)
            return int(ans["accepted"] if "accepted" in ans else ans["published"])
        raise AssertionError("unreachable")

    def run(self, rate: float, seconds: float, dashboards: List[str], prefix: str, batch_s: float,
            max_batch: int = 5000) -> Dict[str, Any]:
        """``rate`` publications/s for ``seconds``: every ``batch_s`` what is due (all that is due when behind)."""
        total = int(round(rate * seconds))
        sent = accepted = k = 0
        t_start = time.time()
        deadline = t_start + seconds + 60
        while sent < total:
            delay = t_start + k * batch_s - time.time()
            if delay > 0:
                time.sleep(delay)
            elif time.time() > deadline:
                break
            k = max(k, int((time.time() - t_start) / batch_s))
            n = min(min(total, int(round(rate * (k + 1) * batch_s))) - sent, max_batch)
            if n > 0:
                node = self.turn % len(self.ports)
                self.turn += 1
                metric = f"{prefix}{node}"
                value = time.time() * 1000.0
                first = self.sent_by[node]
                self.sent_by[node] += n
                events = [{"dashboard": dashboards[(first + j) % len(dashboards)], "metric": metric, "value": value}
                          for j in range(n)]
                accepted += self.post(node, json.dumps(events, separators=(",", ":")).encode(), n)
                sent += n
            k += 1
        t_end = time.time()
        return {"rate": rate, "sent": sent, "accepted": accepted, "t_start": t_start, "t_end": t_end,
                "offered_per_s": sent / max(seconds, t_end - t_start)}


class Clients:
    """bench/cluster/clients.js: ready line, then stats / report / quit over stdin."""

    def __init__(self, kind: str, ports: List[int], dashboards: List[str], per: int, env: Dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["node", os.path.join(HERE, "clients.js"), "--kind", "socketio" if kind == "socketio" else "dashfeed",
             "--batch", "1" if kind == "dashfeed-batch" else "0", "--ports", ",".join(map(str, ports)),
             "--entries", str(min(2, len(ports))),
             "--dashboards", ",".join(dashboards), "--per-dashboard", str(per), "--connect-timeout-ms", "60000"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        self.lines = Lines(self.proc)
        self.expected = len(dashboards) * per
        ready = json.loads(self.lines.get(90, "the clients to connect and subscribe"))
        if "error" in ready or ready.get("ready") != self.expected:
            raise RuntimeError(f"clients: not every client subscribed: {ready}")
        self.connect_ms = ready["connect_ms"]

    def ask(self, op: str, timeout: float = 30) -> Dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.lines.get(timeout, f"the clients' {op}"))

    def settle(self, key: str, expected: int, quiet: float, timeout: float) -> Dict[str, Any]:
        """Polls until ``key`` deliveries reach ``expected``, or none came for ``quiet`` s, or ``timeout``."""
        deadline = time.monotonic() + timeout
        last, changed = -1, time.monotonic()
        while True:
            st = self.ask("stats")
            now = time.monotonic()
            if st[key] >= expected or now > deadline:
                return st
            if st[key] != last:
                last, changed = st[key], now
            elif now - changed > quiet:
                return st
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        kill(self.proc)


def conflated(kind: str, nodes: List[Node]) -> float:
    """dashfeed: updates merged by the conflate policy, summed over the nodes (/metrics)."""
    if not kind.startswith("dashfeed"):
        return 0.0
    total = 0.0
    for nd in nodes:
        with urllib.request.urlopen(f"http://127.0.0.1:{nd.port}/metrics", timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith('dashfeed_hub_dropped_total{policy="conflate"'):
                    total += float(line.rpartition(" ")[2])
    return total


def redis_commands(r: Any) -> Tuple[int, Dict[str, int]]:
    """total_commands_processed (commands run inside Lua scripts included) and the calls per command."""
    total = int(r.info("stats")["total_commands_processed"])
    by = {k.split("_", 1)[1]: int(v["calls"]) for k, v in r.info("commandstats").items() if k.startswith("cmdstat_")}
    return total, by


def phase(kind: str, nodes: List[Node], r: Any, sampler: Sampler, dashboards: List[str], per: int, rate: float,
          seconds: float, args: argparse.Namespace, env: Dict[str, str]) -> Dict[str, Any]:
    ports = [nd.port for nd in nodes]
    clients: Optional[Clients] = None
    pub: Optional[Publisher] = None
    try:
        clients = Clients(kind, ports, dashboards, per, env)
        sampler.add("clients", clients.proc.pid)
        pub = Publisher(kind, ports[:2])
        batch_s = args.batch_ms / 1000.0
        warm = pub.run(rate, args.warmup, dashboards, "w", batch_s)
        st = clients.settle("warm", warm["accepted"] * per, args.quiet, args.drain_timeout)
        if st["no_warm"]:
            raise RuntimeError(f"{kind}: {st['no_warm']} of {clients.expected} clients got no warm-up publication "
                               f"from one of the entry nodes (per node: {st['per_node']}, refused: {pub.refused} "
                               f"{pub.refusal}); is the broadcast across nodes working?")
        c0, m0 = redis_commands(r), conflated(kind, nodes)
        pub.refused, pub.refusal = 0, ""
        m = pub.run(rate, seconds, dashboards, "t", batch_s)
        expected = m["accepted"] * per
        clients.settle("meas", expected, args.quiet, args.drain_timeout)
        c1, m1 = redis_commands(r), conflated(kind, nodes)
        rep = clients.ask("report", timeout=120)
        t0 = m["t_start"]
        t1 = max(m["t_end"], rep["last_ms"] / 1000.0)
        names = ["redis"] + [f"node{i}" for i in range(len(nodes))]
        cpu = sampler.between(names, t0, t1)
        for i, nd in enumerate(nodes):
            if nd.proc.poll() is not None:
                raise RuntimeError(f"{kind} node {i} exited with {nd.proc.returncode}\n{log_tail(nd.log)}")
        return {
            "clients": clients.expected, "connect_s": clients.connect_ms / 1000.0, "rate": rate, "sent": m["sent"],
            "refused": pub.refused, "refusal": pub.refusal, "conflated": m1 - m0,
            "accepted": m["accepted"], "offered_per_s": m["offered_per_s"], "expected": expected,
            "deliveries": rep["meas"], "lost": expected - rep["meas"],
            "received_per_s": rep["meas"] / (t1 - t0), "cpu": cpu,
            "cpu_by": {n: sampler.between([n], t0, t1) for n in names},
            "per_cpu": rep["meas"] / cpu if cpu > 0 else float("nan"),
            "clients_cpu_pct": 100 * sampler.between(["clients"], t0, t1) / (t1 - t0),
            "p50": rep["p50"], "p99": rep["p99"], "max": rep["max"], "cross_p50": rep["cross_p50"],
            "cross_p99": rep["cross_p99"], "cross_n": rep["cross_n"],
            "cmds_per_pub": (c1[0] - c0[0] - 2) / m["accepted"] if m["accepted"] else float("nan"),
            "cmds_by": {k: (v - c0[1].get(k, 0)) / max(1, m["accepted"]) for k, v in c1[1].items()
                        if k != "info" and v - c0[1].get(k, 0) > 0},
            "closed": rep["closed"], "errors": rep["errors"], "interval_s": t1 - t0,
            "min_client": min(p["min_meas"] for p in rep["per_node"] if p["clients"]),
        }
    finally:
        if pub is not None:
            pub.close()
        if clients is not None:
            clients.close()


def run_one(kind: str, n: int, args: argparse.Namespace, cluster: bool, workdir: str,
            env: Dict[str, str]) -> Dict[str, Any]:
    redis = RedisServer()
    nodes: List[Node] = []
    sampler: Optional[Sampler] = None
    try:
        assert redis.proc is not None
        for i in range(n):
            nodes.append(start_node(kind, i, redis.url, cluster, workdir, env))
        sampler = Sampler({"redis": redis.proc.pid, **{f"node{i}": nd.proc.pid for i, nd in enumerate(nodes)}})
        r = redis.client()
        res: Dict[str, Any] = {"kind": kind, "nodes": n, "cluster": cluster}
        res["fan"] = phase(kind, nodes, r, sampler, ["fan"], args.clients, args.rate, args.seconds, args, env)
        res["lat"] = phase(kind, nodes, r, sampler, [f"lat{j}" for j in range(args.latency_dashboards)],
                           args.latency_clients * n, args.latency_rate, args.latency_seconds, args, env)
        return res
    finally:
        if sampler is not None:
            sampler.close()
        for nd in nodes:
            kill(nd.proc)
        redis.kill()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--contenders", default="socketio,dashfeed,dashfeed-batch",
                   help="comma-separated: socketio, dashfeed, dashfeed-batch (the same nodes, clients with ?batch=1)")
    p.add_argument("--nodes", default="1,2,3", help="comma-separated node counts")
    p.add_argument("--rate", type=float, default=1000.0, help="fan-out phase: publications/s to one dashboard")
    p.add_argument("--seconds", type=float, default=10.0, help="fan-out phase: measured seconds")
    p.add_argument("--clients", type=int, default=300, help="fan-out phase: clients, all on the one dashboard")
    p.add_argument("--latency-rate", type=float, default=10000.0, help="latency phase: publications/s in all")
    p.add_argument("--latency-seconds", type=float, default=5.0)
    p.add_argument("--latency-dashboards", type=int, default=10)
    p.add_argument("--latency-clients", type=int, default=3, help="latency phase: clients per node per dashboard")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up publications before each phase")
    p.add_argument("--workers", type=int, default=1,
                   help="tokio worker threads per dashfeed node (TOKIO_WORKER_THREADS)")
    p.add_argument("--batch-ms", type=float, default=10.0, help="one POST per node turn every this many ms")
    p.add_argument("--quiet", type=float, default=2.0, help="deliveries are over after this many s without one")
    p.add_argument("--drain-timeout", type=float, default=30.0, help="longest wait for the deliveries, s")
    p.add_argument("--node-path", default="", help="extra NODE_PATH for the node processes (e.g. a directory "
                   "holding @socket.io/redis-adapter while it is not in the repository's node_modules)")
    p.add_argument("--json", help="also write every run's figures to this file")
    args = p.parse_args()
    if args.workers < 1:
        p.error("--workers: at least 1")
    WORKERS[0] = args.workers
    kinds = [k for k in args.contenders.split(",") if k]
    node_counts = [int(x) for x in args.nodes.split(",") if x]
    if any(k not in CONTENDERS for k in kinds) or not kinds:
        p.error(f"--contenders: a comma-separated subset of {','.join(CONTENDERS)}")
    if any(n < 1 for n in node_counts) or not node_counts:
        p.error("--nodes: node counts ≥ 1")
    if args.clients < max(node_counts):
        p.error("--clients must be at least the largest node count")

    env = dict(os.environ)
    if args.node_path:
        env["NODE_PATH"] = os.pathsep.join([args.node_path, os.path.join(ROOT, "node_modules")]
                                           + ([env["NODE_PATH"]] if env.get("NODE_PATH") else []))
    if "socketio" in kinds:
        chk = subprocess.run(["node", "-e", "require.resolve('@socket.io/redis-adapter')"], capture_output=True,
                             text=True, timeout=20, env=env, cwd=HERE)
        if chk.returncode:
            print("@socket.io/redis-adapter is not installed: it belongs in package.json's devDependencies "
                  "(npm install --save-dev @socket.io/redis-adapter@^8.3); meanwhile --node-path DIR/node_modules "
                  "of a directory where it is installed", file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: every child is killed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # the clients' sockets; inherited by the children
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    print(f"$ {shlex.join([os.path.basename(sys.orig_argv[0])] + sys.orig_argv[1:])}\n", flush=True)
    results: Dict[Tuple[str, int], List[Dict[str, Any]]] = {}
    skipped: Dict[Tuple[str, int], str] = {}
    notes: List[str] = []
    with tempfile.TemporaryDirectory(prefix="dashfeed-bench-cluster-") as workdir:
        cluster = True
        if "dashfeed" in kinds or "dashfeed-batch" in kinds:
            cluster, why = dashfeed_cluster_support(workdir)
            why = why.rpartition("config: ")[2]
            if not cluster:
                notes.append(f"**dashfeed does not accept `[cluster]` yet** (`serve --check`: {why}): dashfeed ran "
                             "on one node without it; its multi-node runs were not run.")
                print(f"WARNING: {notes[-1]}", file=sys.stderr, flush=True)
                for n in node_counts:
                    if n > 1:
                        for k in ("dashfeed", "dashfeed-batch"):
                            skipped[(k, n)] = "not run: no `[cluster]`"
        for rnd in range(args.rounds):
            for n in node_counts:
                for kind in (kinds if rnd % 2 == 0 else kinds[::-1]):
                    if (kind, n) in skipped:
                        continue
                    print(f"round {rnd + 1}/{args.rounds}: {kind} on {n} node(s) ...", file=sys.stderr, flush=True)
                    try:
                        res = run_one(kind, n, args, cluster, workdir, env)
                    except Exception as e:  # reported as failed; the other contenders and node counts go on
                        traceback.print_exc()
                        skipped[(kind, n)] = "**failed**: " + str(e).splitlines()[0].replace("|", "/")
                        results.pop((kind, n), None)
                        continue
                    results.setdefault((kind, n), []).append(res)
                    for ph, x in (("fan", res["fan"]), ("lat", res["lat"])):
                        print(f"  {ph}: {x['offered_per_s']:,.0f} pub/s sent, {x['deliveries']:,} of {x['expected']:,} "
                              f"deliveries ({x['received_per_s']:,.0f}/s), {x['cpu']:.2f} CPU-s, p50/p99 "
                              f"{fmt(x['p50'], 2)}/{fmt(x['p99'], 2)} ms, Redis {x['cmds_per_pub']:.2f} cmd/pub, clients "
                              f"{x['clients_cpu_pct']:.0f}% CPU, {x['refused']:,} refused {x['refusal']}",
                              file=sys.stderr, flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "results": [r for rs in results.values() for r in rs]}, f, indent=1)

    print(f"{versions(env)}; median of {args.rounds} round(s); {args.warmup:g} s warm-up excluded; publications "
          f"in one POST per {args.batch_ms:g} ms, to node 1 and node 2 alternately; {args.workers} tokio worker "
          f"thread(s) per dashfeed node.\n")
    for note in notes:
        print(note + "\n")
    lat_clients = args.latency_dashboards * args.latency_clients
    print(f"**Fan-out**: {args.rate:g} publications/s to one dashboard for {args.seconds:g} s, {args.clients} clients "
          f"subscribed to it (round-robin over the nodes).\n")
    print(table(results, skipped, "fan", kinds, node_counts))
    print(f"\n**Latency**: {args.latency_rate:g} publications/s over {args.latency_dashboards} dashboards for "
          f"{args.latency_seconds:g} s, {args.latency_clients} clients per node per dashboard ({lat_clients} per "
          f"node).\n")
    print(table(results, skipped, "lat", kinds, node_counts))
    print("\nServer CPU-s: the node processes + redis-server, first measured publication → last delivery. Lost = "
          "publications × subscribed clients − deliveries received (dashfeed: update messages, one per frame "
          "or per entry of a batch frame; its hub conflates a slow subscriber's updates by default). Cross-node: deliveries to clients on another node than the one the "
          "publication entered by. Clients CPU % near 100: the clients process is the limit.\n")
    print(details(results))
    return 1 if any(v.startswith("**failed") for v in skipped.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
