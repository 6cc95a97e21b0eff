"""The soak run's CI version (issue 16): ``bench/soak/run.py --seconds 60`` — the demo under 1,000 WebSocket
clients (slow, resuming, garbage-sending and normal ones) for 60 s, sampled every second — must pass: no
unbounded growth of the server's RSS, fds or threads after the warm-up, no update missed, the watchers' p99
latency within 2x of the first 20 s's. The CSV, the plot and the figures go to test-output/soak-60s.*; the
verdict line is in the failure message, test-output/soak-60s.verdict.txt and .json. About 80 s."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_soak_60s() -> None:
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "soak", "run.py"), "--seconds", "60"],
                       cwd=ROOT, capture_output=True, text=True, timeout=240)
    lines = [line for line in p.stdout.splitlines() if line.startswith("soak: ")]
    verdict = lines[-1] if lines else "(no verdict)"
    os.makedirs(os.path.join(ROOT, "test-output"), exist_ok=True)
    with open(os.path.join(ROOT, "test-output", "soak-60s.verdict.txt"), "w", encoding="utf-8") as f:
        f.write(verdict + "\n")
    detail = "\n".join(lines[-6:]) + "\n" + p.stderr[-3000:]
    assert p.returncode == 0, f"soak run failed (exit {p.returncode}):\n{detail}"
    with open(os.path.join(ROOT, "test-output", "soak-60s.json"), encoding="utf-8") as f:
        figures = json.load(f)
    assert figures["analysis"]["ok"], verdict
    assert figures["report"]["deliveries"] > 100_000, verdict  # the load really ran
