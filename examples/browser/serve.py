"""Serves examples/browser/index.html from a dashfeed server, with a live dashboard to show.

    python examples/browser/serve.py            (then open http://127.0.0.1:8080)

What it shows: the page next to its feed. A :class:`dashfeed.Server` with ``static_dir`` serves the page at
``/`` and the browser client at ``/client/index.js`` (copied from web/client into a temporary directory, the
layout every dashfeed server with a page uses) on the same port as ``/ws``. The dashboard ``ops`` is fed
four times a second: gauges published as plain numbers (``cpu_percent``, ``mem_percent``, ``queue_depth``)
and request latencies aggregated in 1 s windows (``latency_ms``: mean, count, p50, p99). Anything posted to
``POST /api/events`` shows up too:

    curl -XPOST localhost:8080/api/events -d '{"dashboard": "ops", "metric": "orders", "value": 42}'

Flags: ``--host``, ``--port`` (0 picks a free one), ``--dashboard``, ``--interval`` (seconds between ticks,
0 publishes nothing). Runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import Optional, Sequence

import dashfeed

HERE = pathlib.Path(__file__).resolve().parent
CLIENT = HERE.parents[1] / "web" / "client"  # dashfeed/client in this repository


class Feed:
    """Synthetic metrics of one dashboard: random-walk gauges and request latencies in 1 s windows."""

    def __init__(self, hub: dashfeed.Hub, dashboard: str, seed: Optional[int] = None) -> None:
        self.hub = hub
        self.dashboard = dashboard
        self.rng = random.Random(seed)
        self.gauges = {"cpu_percent": 35.0, "mem_percent": 60.0, "queue_depth": 10.0}
        self.windows = dashfeed.Aggregator("1s", quantiles=[0.5, 0.99], idle_close="2s")

    def tick(self, requests: int = 25) -> None:
        for name, v in self.gauges.items():
            self.gauges[name] = round(min(100.0, max(0.0, v + self.rng.gauss(0, 2))), 2)
        self.hub.publish(self.dashboard, dict(self.gauges))
        now = int(time.time() * 1000)
        for _ in range(requests):
            self.windows.add(self.dashboard, "latency_ms", self.rng.lognormvariate(3.5, 0.5), ts=now)
        self.hub.publish_results(self.windows.poll())  # the windows that closed


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="serve examples/browser/index.html with a live dashfeed dashboard")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    p.add_argument("--dashboard", default="ops", help="the dashboard fed with synthetic metrics")
    p.add_argument("--interval", type=float, default=0.25, help="seconds between ticks (0: publish nothing)")
    args = p.parse_args(argv)
    if not (CLIENT / "index.js").is_file():
        print(f"serve.py: no browser client at {CLIENT} (run it from a dashfeed checkout)", file=sys.stderr)
        return 2

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="dashfeed-browser-example-") as tmp:
        site = pathlib.Path(tmp)
        shutil.copy(HERE / "index.html", site / "index.html")
        (site / "client").mkdir()
        shutil.copy(CLIENT / "index.js", site / "client" / "index.js")

        hub = dashfeed.Hub(history=256)
        feed = Feed(hub, args.dashboard)
        with dashfeed.Server(hub, host=args.host, port=args.port, static_dir=str(site)) as server:
            print(f"serve.py: the page at {server.url}/?dashboards={args.dashboard}  (Ctrl-C to stop)", flush=True)
            wait = args.interval if args.interval > 0 else 0.5
            while not stop.wait(wait):  # ends on the first SIGINT / SIGTERM
                if args.interval > 0:
                    feed.tick()
    return 0


if __name__ == "__main__":
    sys.exit(main())
