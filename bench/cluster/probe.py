"""CPU probe for the latency phase of bench/cluster/run.py: node CPU per ingested event, for one or more
builds of the Python module, alternated run by run (timing on a shared machine is noisy: compare builds
by the medians of alternated runs, not by one run each).

One run: a fresh redis-server (tests/python/brokers.py's), ``--nodes`` ``python3 -m dashfeed serve`` nodes
with run.py's config (``[cluster] redis = URL``, ingest rate limit raised), bench/cluster/clients.js with
``--per-node`` ws clients per node per dashboard on ``--dashboards`` dashboards, then run.py's driver:
``--rate`` events/s as one POST of what is due every ``--batch-ms`` (about 100 events), to node 1 and node 2
alternately, for ``--warmup`` s (not measured) and ``--seconds`` s. Node CPU is user+sys from
/proc/PID/stat between the first measured POST and the last delivery; printed as µs per event (summed over
the nodes, and per node), with redis-server's and the clients' delivery latency (p50 / p99 ms).

``--perf FILE`` also records node 1 with ``perf record -g`` (``--call-graph``) during the measured seconds\n(``--stat EVENTS``: ``perf stat -e EVENTS`` instead, e.g. syscall and context-switch counts).

Run: python3 bench/cluster/probe.py --builds before=/tmp/dfpy-a,after=/tmp/dfpy-b --runs 5
     (each build is a PYTHONPATH holding the dashfeed package; ``--builds ''`` uses the installed one)
Needs node and ``ws`` (NODE_PATH, or the repository's node_modules).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as bench  # noqa: E402  (run.py beside this file: nodes, driver, clients)

cpu_seconds, RedisServer, kill = bench.cpu_seconds, bench.RedisServer, bench.kill


def one_run(path: str, args: argparse.Namespace, workdir: str, perf: Optional[str]) -> Dict[str, Any]:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = os.pathsep.join([path] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    redis = RedisServer()
    nodes: List[bench.Node] = []
    clients = pub = rec = None
    try:
        assert redis.proc is not None
        for i in range(args.nodes):
            nodes.append(bench.start_node("dashfeed", i, redis.url, True, workdir, env))
        ports = [nd.port for nd in nodes]
        dashboards = [f"lat{j}" for j in range(args.dashboards)]
        per = args.per_node * args.nodes
        clients = bench.Clients("dashfeed-batch" if args.batch_frames else "dashfeed", ports, dashboards, per, env)
        pub = bench.Publisher("dashfeed", ports[:2])
        batch_s = args.batch_ms / 1000.0
        warm = pub.run(args.rate, args.warmup, dashboards, "w", batch_s)
        clients.settle("warm", warm["accepted"] * per, 1.0, 20.0)
        if perf:
            cmd = ["perf", "record", "-g", "--call-graph", args.call_graph, "-F", str(args.freq), "-o", perf]
            if args.stat:
                cmd = ["perf", "stat", "-o", perf, "-e", args.stat]
            rec = subprocess.Popen(cmd + ["-p", str(nodes[0].proc.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        c0 = [cpu_seconds(nd.proc.pid) for nd in nodes]
        r0 = cpu_seconds(redis.proc.pid)
        m = pub.run(args.rate, args.seconds, dashboards, "t", batch_s)
        clients.settle("meas", m["accepted"] * per, 1.0, 30.0)
        rep = clients.ask("report", timeout=60)
        # CPU up to the last delivery: sampled now (the settle waited ~1 s of idle past it; an idle node
        # costs ~nothing, checked by --idle).
        c1 = [cpu_seconds(nd.proc.pid) for nd in nodes]
        r1 = cpu_seconds(redis.proc.pid)
        if rec is not None:
            rec.send_signal(2)
            rec.wait(60)
        n = max(1, m["accepted"])
        stats = redis.client().info("commandstats")
        redis_usec = {k.split("_", 1)[1]: round(v["usec"] / max(1, v["calls"]), 1) for k, v in stats.items()
                      if k.startswith("cmdstat_") and v["calls"] >= 100}
        per_node = [(b - a) * 1e6 / n for a, b in zip(c0, c1)]
        return {"us_per_event": sum(per_node), "per_node": per_node, "redis_us": (r1 - r0) * 1e6 / n,
                "accepted": m["accepted"], "deliveries": rep["meas"], "expected": m["accepted"] * per,
                "p50": rep["p50"], "p99": rep["p99"], "cross_p99": rep["cross_p99"],
                "redis_usec_per_call": redis_usec}
    finally:
        if rec is not None and rec.poll() is None:
            rec.send_signal(2)
            rec.wait(60)
        if pub is not None:
            pub.close()
        if clients is not None:
            clients.close()
        for nd in nodes:
            kill(nd.proc)
        redis.kill()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--builds", default="", help="name=PYTHONPATH,... (alternated run by run)")
    p.add_argument("--runs", type=int, default=3, help="runs per build")
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--dashboards", type=int, default=10)
    p.add_argument("--per-node", type=int, default=3, help="clients per node per dashboard")
    p.add_argument("--rate", type=float, default=10000.0, help="events/s")
    p.add_argument("--batch-ms", type=float, default=10.0)
    p.add_argument("--batch-frames", action="store_true", help="clients ask for batch frames (?batch=1)")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--perf", default="", help="perf.data path prefix (one file per build and run)")
    p.add_argument("--call-graph", default="dwarf,16384", help="perf record --call-graph mode")
    p.add_argument("--freq", type=int, default=999, help="perf record -F")
    p.add_argument("--stat", default="", help="with --perf: perf stat -e these events instead of perf record")
    p.add_argument("--workers", type=int, default=None,
                   help="tokio worker threads per node (default: TOKIO_WORKER_THREADS or the runtime's own)")
    args = p.parse_args()
    if args.workers is not None:
        if args.workers < 1:
            p.error("--workers: at least 1")
        bench.WORKERS[0] = args.workers
    soft, hard = bench.resource.getrlimit(bench.resource.RLIMIT_NOFILE)
    bench.resource.setrlimit(bench.resource.RLIMIT_NOFILE, (hard, hard))
    builds = [tuple(b.split("=", 1)) for b in args.builds.split(",") if b] or [("installed", "")]
    results: Dict[str, List[Dict[str, Any]]] = {name: [] for name, _ in builds}
    with tempfile.TemporaryDirectory(prefix="dashfeed-probe-") as workdir:
        for r in range(args.runs):
            for name, path in builds:
                perf = f"{args.perf}-{name}-{r}.data" if args.perf else None
                res = one_run(path, args, workdir, perf)
                results[name].append(res)
                print(json.dumps({"build": name, "run": r, "batch_frames": args.batch_frames, **res}), flush=True)
    for name, rs in results.items():
        med = {k: statistics.median(x[k] for x in rs) for k in ("us_per_event", "redis_us", "p50", "p99")}
        print(f"{name}{' (batch frames)' if args.batch_frames else ''}: node µs/event median {med['us_per_event']:.2f} (runs: "
              f"{', '.join('%.2f' % x['us_per_event'] for x in rs)}), redis µs/event {med['redis_us']:.2f}, "
              f"p50 {med['p50']:.2f} ms, p99 {med['p99']:.2f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
