"""Contender ``dashfeed-python``: the dashfeed feed server started from Python.

``dashfeed.Server(hub, port=N).start()`` with the default hub and server options; clients connect to
/dashboard/room; each publication is ``hub.publish("room", data)`` from the main thread (the hub
encodes it once, the Rust server writes the shared bytes to every subscriber). The control channel
(stdin/stdout JSON lines, see control.py) runs on the main thread with plain blocking reads.

``--write-delay-ms M`` starts it with ``write_delay`` (the contender ``dashfeed-python-wd5``).

Run: taskset -c 0 python3 bench/server/servers/dashfeed_server.py --port N [--write-delay-ms M]
"""

import json
import sys
import time

import dashfeed

from control import handle, pad_for, paced, port_arg, ready, update

port = port_arg()
hub = dashfeed.Hub()
delay_ms = float(sys.argv[sys.argv.index("--write-delay-ms") + 1]) if "--write-delay-ms" in sys.argv else 0.0
server = dashfeed.Server(hub, host="127.0.0.1", port=port, write_delay=delay_ms / 1000)
server.start()
# Wire form: {"type":"update","dashboard":"room","epoch":"<16 hex>","seq":...,"data":{...}}
PAD = pad_for(
    lambda p: len(
        json.dumps(
            {"type": "update", "dashboard": "room", "epoch": "0123456789abcdef", "seq": 100000, "data": update(100000, 10, p)},
            separators=(",", ":"),
        )
    )
)


def publish(seq: int, step: int) -> None:
    hub.publish("room", update(seq, step, PAD))


def publish_step(count: int, rate: float, step: int) -> float:
    return paced(count, rate, step, publish, time.sleep)


ready(port)
try:
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if not handle(msg, publish_step, lambda: server.stats["connections"]):
            break
finally:
    server.stop(timeout=2.0)
