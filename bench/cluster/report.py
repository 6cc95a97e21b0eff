"""The Markdown tables of bench/cluster/run.py: medians over the rounds per contender and node count, and
one line per run and phase."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
LABEL = {"socketio": "socket.io + redis-adapter", "dashfeed": "dashfeed",
         "dashfeed-batch": "dashfeed, batch frames"}


def med(runs: List[Dict[str, Any]], ph: str, key: str) -> float:
    vals = [r[ph][key] for r in runs if r[ph][key] is not None]
    return statistics.median(vals) if vals else float("nan")


def fmt(x: Optional[float], digits: int = 0) -> str:
    return "n/a" if x is None or x != x else f"{x:,.{digits}f}"


def table(results: Dict[Tuple[str, int], List[Dict[str, Any]]], skipped: Dict[Tuple[str, int], str],
          ph: str, kinds: List[str], node_counts: List[int]) -> str:
    out = ["| contender | nodes | publications/s offered | deliveries/s received | deliveries (lost) | server CPU-s "
           "| deliveries per CPU-s | dashfeed / socket.io | p50 ms | p99 ms | cross-node p50 ms | cross-node p99 ms "
           "| Redis commands / publication | clients CPU % |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in node_counts:
        for kind in kinds:
            runs = results.get((kind, n), [])
            label = LABEL[kind] + ("" if kind == "socketio" or not runs or runs[0]["cluster"] else " (no [cluster])")
            if not runs:
                out.append(f"| {label} | {n} | {skipped.get((kind, n), 'not run')} |" + " |" * 11)
                continue
            ratio = ""
            other = results.get(("socketio", n))
            if kind != "socketio" and other:
                ratio = f"{med(runs, ph, 'per_cpu') / med(other, ph, 'per_cpu'):.1f}x"
            g = lambda key, d=0: fmt(med(runs, ph, key), d)  # noqa: E731
            offered = fmt(runs[0][ph]["rate"])
            if med(runs, ph, "offered_per_s") < 0.98 * runs[0][ph]["rate"]:
                offered += f" ({g('offered_per_s')} sent)"
            out.append(f"| {label} | {n} | {offered} | {g('received_per_s')} | {g('deliveries')} "
                       f"({g('lost')}) | {g('cpu', 2)} | {g('per_cpu')} | {ratio} | {g('p50', 2)} | {g('p99', 2)} | "
                       f"{g('cross_p50', 2)} | {g('cross_p99', 2)} | {g('cmds_per_pub', 2)} | {g('clients_cpu_pct')} |")
    return "\n".join(out)


def details(results: Dict[Tuple[str, int], List[Dict[str, Any]]]) -> str:
    out = ["| run | phase | clients | sent / accepted | deliveries of expected | interval s | CPU-s (nodes + redis) "
           "| p50 / p99 / max ms | fewest to one client | closed | conflated | Redis calls / publication |",
           "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    for (kind, n), runs in results.items():
        for i, r in enumerate(runs):
            for ph in ("fan", "lat"):
                x = r[ph]
                calls = ", ".join(f"{k} {v:.2f}" for k, v in sorted(x["cmds_by"].items(), key=lambda kv: -kv[1])[:8])
                by = " + ".join(f"{v:.2f}" for k, v in x["cpu_by"].items() if k != "redis") + f" + {x['cpu_by']['redis']:.2f}"
                out.append(f"| {kind} ×{n} #{i + 1} | {ph} | {x['clients']} | {x['sent']:,} / {x['accepted']:,} | "
                           f"{x['deliveries']:,} of {x['expected']:,} | {x['interval_s']:.1f} | {by} | "
                           f"{fmt(x['p50'], 2)} / {fmt(x['p99'], 2)} / {fmt(x['max'], 1)} | {x['min_client']:,} | {x['closed']} | {x['conflated']:,.0f} | {calls} |")
                if x["refused"]:
                    out.append(f"| | | | {x['refused']:,} refused ({x['refusal']}) | | | | | | | | |")
    return "\n".join(out)


def versions(env: Dict[str, str]) -> str:
    js = ("const v = (p) => { try { return require(p + '/package.json').version } catch (e) { return 'missing' } };"
          "console.log(`node ${process.version}, socket.io ${v('socket.io')}, socket.io-client ${v('socket.io-client')}, "
          "@socket.io/redis-adapter ${v('@socket.io/redis-adapter')}, redis (node-redis) ${v('redis')}, ws ${v('ws')}`)")
    try:
        node = subprocess.run(["node", "-e", js], capture_output=True, text=True, timeout=20, env=env, cwd=HERE).stdout.strip()
        rs = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=5).stdout
        rs = rs.split("v=")[1].split()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired) as e:
        node, rs = f"node ? ({e})", "?"
    import dashfeed

    return (f"{node}, python {sys.version.split()[0]}, dashfeed {getattr(dashfeed, '__version__', '?')}, "
            f"redis-server {rs}, {os.cpu_count()} cores")
