"""Replays the cluster's PUBLISH script (core/src/cluster/script.rs) against a fresh redis-server with the
shape of bench/cluster's latency phase — one call numbers 10 dashboards × 10 publications, one snapshot
field each — and prints Redis's own time per call (INFO commandstats): the script's total and each inner
command's, so that what the Lua glue costs beyond the commands can be read off. ``--variants`` also runs the
script without its XADD and without XADD's MINID trim, to see what one inner call costs in all; as an
empty script given the same keys and arguments (what EVALSHA costs before any Lua runs); and without
the bus frames' headers (three numbers turned into text per dashboard), to see what the script's own Lua
work costs beside its commands.

Run: python3 bench/cluster/lua_replay.py [--calls 3000] [--variants]
Needs redis-server (tests/python/brokers.py starts it), redis-py and msgpack.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import msgpack  # noqa: E402
from brokers import RedisServer  # noqa: E402

XADD = "call('XADD', hist, 'MINID', '~', math.max(0, last - history + 1), last .. '-0', 'd', blob)"
FRAME = "frames[#frames + 1] = epoch .. '\\n' .. (seq + 1) .. '\\n' .. ts .. '\\n' .. #d .. '\\n' .. #blob .. '\\n' .. d .. blob"


def script() -> str:
    with open(os.path.join(ROOT, "core", "src", "cluster", "script.rs"), encoding="utf-8") as f:
        src = f.read()
    m = re.search(r'pub\(crate\) const PUBLISH: &str = r#"(.*?)"#;', src, re.S)
    assert m is not None, "PUBLISH not found in script.rs"
    return m.group(1)


def call_args(n: int, groups: int = 10, per: int = 10) -> tuple[list[str], list[object]]:
    keys: list[str] = []
    argv: list[object] = ["00000000deadbeef", 1000, 1700000000000, 300000, "dashfeed:bus", groups]
    for g in range(groups):
        d = f"lat{g}"
        keys += [f"dashfeed:meta:{d}", f"dashfeed:history:{d}", f"dashboard:{d}"]
        blob = msgpack.packb([{"t0": float(n * per + i)} for i in range(per)])
        snap = '{"value":%d,"timestamp":1700000000000,"metadata":{}}' % n
        argv += [d, per, "0", blob, 1, "t0", snap]
    return keys, argv


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--variants", action="store_true")
    args = p.parse_args()
    lua = script()
    assert XADD in lua, "the XADD line changed: update XADD here"
    assert FRAME in lua, "the frame line changed: update FRAME here"
    variants = {"PUBLISH": lua}
    if args.variants:
        variants["without XADD"] = lua.replace(XADD, "")
        variants["XADD without MINID"] = lua.replace(XADD, "call('XADD', hist, last .. '-0', 'd', blob)")
        variants["empty script, same arguments"] = "return {}"
        variants["frames without headers"] = lua.replace(FRAME, "frames[#frames + 1] = blob")
    redis = RedisServer()
    try:
        c = redis.client()
        for name, text in variants.items():
            c.flushall()
            c.config_resetstat()
            sha = c.script_load(text)
            for i in range(args.calls):
                keys, argv = call_args(i)
                c.evalsha(sha, len(keys), *keys, *argv)
            stats = c.info("commandstats")
            per_call = {k[len("cmdstat_"):]: round(v["usec_per_call"], 1) for k, v in stats.items()
                        if v["calls"] >= args.calls}
            inner = sum(v["usec"] for k, v in stats.items() if v["calls"] >= args.calls and k != "cmdstat_evalsha")
            print(f"{name}: µs per call {per_call}; inner commands {inner / args.calls:.0f} µs per script call")
    finally:
        redis.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
