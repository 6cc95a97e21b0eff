"""Contender ``python-websockets``: a ``websockets`` (asyncio) server; each publication is encoded once
with ``json.dumps`` and sent to every connection with ``websockets.broadcast`` (one str, text frames).
Compression off (the clients do not offer it anyway), other options default.

The control channel (stdin/stdout JSON lines, see control.py) is read by a thread and handled on the
event loop, where the publisher also runs (``asyncio.sleep`` between ticks).

Run: taskset -c 0 python3 bench/server/servers/websockets_server.py --port N
"""

import asyncio
import json
import sys
import threading
import time
from typing import Any, Set

from websockets.asyncio.server import ServerConnection, broadcast, serve

from control import TICK, cpu_us, pad_for, port_arg, ready, rss_kb, send, update

CONNECTIONS: Set[ServerConnection] = set()


def envelope(data: Any) -> str:
    return json.dumps({"type": "update", "dashboard": "room", "data": data}, separators=(",", ":"))


PAD = pad_for(lambda p: len(envelope(update(100000, 10, p))))


async def handler(ws: ServerConnection) -> None:
    CONNECTIONS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        CONNECTIONS.discard(ws)


async def publish_step(count: int, rate: float, step: int) -> float:
    t0 = time.monotonic()
    sent = 0
    while sent < count:
        due = min(count, int((time.monotonic() - t0) * rate) + 1)
        while sent < due:
            sent += 1
            broadcast(CONNECTIONS, envelope(update(sent, step, PAD)))
        if sent < count:
            await asyncio.sleep(TICK)
    return time.monotonic() - t0


async def main() -> None:
    port = port_arg()
    loop = asyncio.get_running_loop()
    lines: "asyncio.Queue[str]" = asyncio.Queue()

    def reader() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, '{"cmd":"quit"}')

    async with serve(handler, "127.0.0.1", port, compression=None):
        threading.Thread(target=reader, daemon=True).start()
        ready(port)
        while True:
            try:
                msg = json.loads(await lines.get())
            except ValueError:
                continue
            cmd = msg.get("cmd")
            if cmd == "stats":
                send({"id": msg.get("id"), "cpu_us": cpu_us(), "rss_kb": rss_kb(), "subscribers": len(CONNECTIONS)})
            elif cmd == "publish":
                elapsed = await publish_step(int(msg["count"]), float(msg["rate"]), int(msg["step"]))
                send({"id": msg.get("id"), "sent": msg["count"], "elapsed_s": elapsed})
            elif cmd == "quit":
                send({"id": msg.get("id"), "bye": True})
                break
            else:
                send({"id": msg.get("id"), "error": f"unknown cmd {cmd}"})
        for ws in list(CONNECTIONS):
            ws.transport.abort()


asyncio.run(main())
