"""Process helpers for bench/connect: CPU time of a process from /proc, killing a child with a grace
period, and a bounded line reader for child processes. The brokers themselves (redis-server, tansu) are
tests/python/brokers.py's, which run.py imports."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from typing import Any, Optional

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of ``pid`` (every thread) from /proc/PID/stat, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read().decode()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def kill(proc: Optional[subprocess.Popen[Any]], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; never raises."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
    except OSError:
        pass


class Lines:
    """The stdout lines of a child process, read by a thread; ``get`` waits at most ``timeout``."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: "queue.Queue[Optional[str]]" = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.q.put(line)
            self.q.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def get(self, timeout: float, what: str) -> str:
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}") from None
        if line is None:
            raise RuntimeError(f"the process exited while waiting for {what}")
        return line
