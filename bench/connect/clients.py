"""The WebSocket clients of bench/connect/run.py, in their own process (so that their CPU is not the
pipeline's): ``--clients`` connections to ``ws://127.0.0.1:PORT/dashboard/{id}``, the same number on each
dashboard, Python ``websockets`` (asyncio, no compression offered). Used for both contenders:

- ``--kind reference``: every frame is the event as the Kafka producer wrote it (``json.dumps(data)``);
- ``--kind dashfeed``: no subprotocol, so JSON text frames; the first frame of a connection is the
  ``snapshot`` (its ``seq`` tells whether the connection came after the first publication), then
  ``update`` frames whose ``data`` maps series to values (several under conflation).

Phase 1 (throughput, events pre-produced): the value of event i is i; ``--finals`` gives the last index of
each dashboard, and a client is done once it saw that value (conflation keeps the newest value, so it
arrives). Phase 2 (latency, ``{"op": "latency"}`` on stdin): values are the producer's ``time.time()`` at
send; a value of -1 ends the phase for the client. Reports are JSON lines on stdout; times for CPU windows
are ``time.monotonic()`` (CLOCK_MONOTONIC, the same clock as run.py's sampler).
"""

import argparse
import asyncio
import json
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from websockets.asyncio.client import connect


def out(msg: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


class Tally:
    def __init__(self, finals: Dict[str, float], clients: int) -> None:
        self.finals = finals
        self.clients = clients
        self.phase = "throughput"
        self.reset()
        self.snapshot_seqs: List[int] = []
        self.all_done = asyncio.Event()

    def reset(self) -> None:
        self.deliveries = 0
        self.values = 0
        self.first: Optional[float] = None
        self.last: Optional[float] = None
        self.done = 0
        self.latencies: List[float] = []

    def client_done(self) -> None:
        self.done += 1
        self.last = time.monotonic()
        if self.done == self.clients:
            self.all_done.set()


async def client(url: str, dashboard: str, kind: str, tally: Tally, ready: "asyncio.Queue[int]",
                 deadline: float) -> None:
    ws = None
    while ws is None:  # the server may not listen yet: retry until the deadline
        try:
            ws = await connect(url, compression=None, open_timeout=5, ping_interval=None, max_size=None)
        except Exception:  # refused, reset, handshake timeout
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)
    best = -2.0  # phase 1: highest index seen
    finished = False
    phase = tally.phase
    async with ws:
        if kind == "dashfeed":
            snap = json.loads(await ws.recv())
            assert snap.get("type") == "snapshot", snap
            tally.snapshot_seqs.append(int(snap.get("seq", 0)))
        await ready.put(1)
        async for raw in ws:
            now_wall = time.time()
            now = time.monotonic()
            msg = json.loads(raw)
            if kind == "reference":
                values = [msg["value"]]
            else:
                if msg.get("type") != "update":
                    continue
                values = [v["value"] if isinstance(v, dict) else v for v in msg["data"].values()]
            if phase != tally.phase:  # a new phase began
                phase, finished = tally.phase, False
            tally.deliveries += 1
            tally.values += len(values)
            if tally.first is None:
                tally.first = now
            if finished:
                continue
            if phase == "throughput":
                best = max(best, *values)
                if best >= tally.finals[dashboard]:
                    finished = True
                    tally.client_done()
            else:
                for v in values:
                    if v == -1.0:
                        finished = True
                    elif v > 1e9:
                        tally.latencies.append((now_wall - v) * 1000.0)
                if finished:
                    tally.client_done()


def summary(tally: Tally) -> Dict[str, Any]:
    return {"phase": tally.phase, "first": tally.first, "last": tally.last, "deliveries": tally.deliveries,
            "values": tally.values, "done": tally.done, "latencies_ms": tally.latencies}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--kind", choices=["reference", "dashfeed"], required=True)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--finals", required=True, help="JSON {dashboard: last index of phase 1}")
    p.add_argument("--connect-timeout", type=float, default=30.0)
    args = p.parse_args()
    finals = {d: float(v) for d, v in json.loads(args.finals).items()}
    dashboards = sorted(finals)
    tally = Tally(finals, args.clients)
    ready: "asyncio.Queue[int]" = asyncio.Queue()
    deadline = time.monotonic() + args.connect_timeout
    tasks = []
    for i in range(args.clients):
        d = dashboards[i % len(dashboards)]
        url = f"ws://127.0.0.1:{args.port}/dashboard/{d}"
        tasks.append(asyncio.create_task(client(url, d, args.kind, tally, ready, deadline)))
    for _ in range(args.clients):
        await asyncio.wait_for(ready.get(), max(0.1, deadline - time.monotonic()))
    out({"ready": args.clients, "at": time.monotonic(), "max_snapshot_seq": max(tally.snapshot_seqs, default=0),
         "late": sum(1 for s in tally.snapshot_seqs if s > 0), "deliveries_so_far": tally.deliveries})

    loop = asyncio.get_running_loop()
    commands: "asyncio.Queue[Optional[Dict[str, Any]]]" = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            try:
                loop.call_soon_threadsafe(commands.put_nowait, json.loads(line))
            except ValueError:
                continue
        loop.call_soon_threadsafe(commands.put_nowait, None)

    threading.Thread(target=read_stdin, daemon=True).start()

    async def report_when_done() -> None:
        await tally.all_done.wait()
        out(summary(tally))

    waiter = asyncio.create_task(report_when_done())
    while True:
        cmd = await commands.get()
        if cmd is None or cmd.get("op") == "quit":
            break
        if cmd.get("op") == "report":  # what arrived so far (after a timeout)
            out(summary(tally))
        elif cmd.get("op") == "latency":
            waiter.cancel()
            tally.phase = "latency"
            tally.reset()
            tally.all_done = asyncio.Event()
            waiter = asyncio.create_task(report_when_done())
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
