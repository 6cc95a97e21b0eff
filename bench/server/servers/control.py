"""Control channel shared by the Python contender servers (dashfeed-python, python-websockets).

Same JSON-lines protocol as control.js: ``stats`` (cpu_us, rss_kb, subscribers), ``publish`` (count,
rate, step; answered when done) and ``quit``. The publisher runs in this process, every TICK seconds
sending the publications that are due, each with its own ``ts`` (CLOCK_MONOTONIC in µs, the clock the
load generator reads too). At start the server prints {"ready": true, "port": ..., "pid": ...}.
"""

import json
import os
import resource
import sys
import time
from typing import Any, Callable, Dict

TICK = 0.005
TARGET_BYTES = 200


def mono_us() -> int:
    """CLOCK_MONOTONIC in µs."""
    return time.monotonic_ns() // 1000


def cpu_us() -> int:
    """User + system CPU time of the whole process (every thread), µs."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return int((r.ru_utime + r.ru_stime) * 1e6)


def rss_kb() -> int:
    """VmRSS of this process, kB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def port_arg() -> int:
    """``--port N`` from the command line."""
    args = sys.argv
    if "--port" not in args:
        raise SystemExit("usage: <server> --port N")
    return int(args[args.index("--port") + 1])


def pad_for(frame_bytes: Callable[[str], int]) -> str:
    """Pad so that the contender's wire message is about TARGET_BYTES long."""
    return "x" * max(0, TARGET_BYTES - frame_bytes(""))


def update(seq: int, step: int, pad: str) -> Dict[str, Any]:
    """The update published as publication ``seq`` of step ``step``."""
    return {"seq": seq, "step": step, "ts": mono_us(), "pad": pad}


def send(obj: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def paced(count: int, rate: float, step: int, publish: Callable[[int, int], None], sleep: Callable[[float], None]) -> float:
    """Publishes ``count`` updates at ``rate``/s; returns the elapsed seconds. ``sleep`` waits a tick."""
    t0 = time.monotonic()
    sent = 0
    while sent < count:
        due = min(count, int((time.monotonic() - t0) * rate) + 1)
        while sent < due:
            sent += 1
            publish(sent, step)
        if sent < count:
            sleep(TICK)
    return time.monotonic() - t0


def handle(msg: Dict[str, Any], publish_step: Callable[[int, float, int], float], subscribers: Callable[[], int]) -> bool:
    """Answers one command; False after ``quit``."""
    cmd = msg.get("cmd")
    if cmd == "stats":
        send({"id": msg.get("id"), "cpu_us": cpu_us(), "rss_kb": rss_kb(), "subscribers": subscribers()})
    elif cmd == "publish":
        elapsed = publish_step(int(msg["count"]), float(msg["rate"]), int(msg["step"]))
        send({"id": msg.get("id"), "sent": msg["count"], "elapsed_s": elapsed})
    elif cmd == "quit":
        send({"id": msg.get("id"), "bye": True})
        return False
    else:
        send({"id": msg.get("id"), "error": f"unknown cmd {cmd}"})
    return True


def ready(port: int) -> None:
    send({"ready": True, "port": port, "pid": os.getpid()})
