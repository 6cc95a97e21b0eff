"""bench/soak's analysis and output: the pass criteria over the per-second samples (least-squares slopes of
the second half, latency windows against the first one), the CSV, the SVG plot (rasterized to PNG by
png.js) and the one-line verdict. run.py collects the samples; this module only reads them."""

from __future__ import annotations

import csv
import html
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

COLUMNS = [
    "t_s", "rss_mb", "heap_in_use_mb", "heap_free_mb", "fds", "threads", "cpu_pct", "load_rss_mb", "load_cpu_pct", "ws_connections",
    "hub_subscribers", "publications", "hub_deliveries", "conflated", "rejections", "socket_writes",
    "sink_queued_bytes", "queue_bytes", "history_bytes", "client_deliveries", "lat_n", "lat_p50_ms",
    "lat_p99_ms", "lat_max_ms", "watch_n", "watch_p50_ms", "watch_p99_ms", "watch_max_ms", "watch_gaps", "open_clients", "paused_clients", "reconnects", "resumed", "garbage_ok",
    "violations", "load_loop_lag_ms",
]


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than 2 points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


def fit(rows: List[Dict[str, Any]], key: str, first: int) -> Tuple[float, float]:
    """(slope per second, intercept) of ``key`` over rows[first:] (t_s as x)."""
    pts = [(r["t_s"], r[key]) for r in rows[first:] if r.get(key) is not None]
    if len(pts) < 2:
        return 0.0, pts[0][1] if pts else 0.0
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    b = slope(xs, ys)
    return b, sum(ys) / len(ys) - b * sum(xs) / len(xs)


def analyse(rows: List[Dict[str, Any]], report: Dict[str, Any], before: Dict[str, float], after: Dict[str, float],
            limits: Dict[str, float]) -> Dict[str, Any]:
    """The figures and the verdict of a run: every criterion with its value, limit and result."""
    half = len(rows) // 2
    rss_b, rss_a = fit(rows, "rss_mb", half)
    fds_b, _ = fit(rows, "fds", half)
    thr_b, _ = fit(rows, "threads", half)
    heap_b, _ = fit(rows, "heap_in_use_mb", half)
    rss = [r["rss_mb"] for r in rows]
    windows = [w for w in report.get("watch", {}).get("windows", []) if w.get("p99") is not None]
    every = [w for w in report.get("windows", []) if w.get("p99") is not None]  # all of load.js's clients
    base = windows[0] if windows else None
    full = limits["window_s"] * 0.5
    later = [w for w in windows[1:] if w["seconds"] >= full]
    base_p99 = base["p99"] if base else None
    lat_limit = 2 * base_p99 if base_p99 is not None else None
    missed = report.get("violations", -1) + report.get("watch", {}).get("gaps", 0)
    worst = max(later, key=lambda w: w["p99"]) if later else None
    checks = {
        "rss_slope": {"value": rss_b * 1024, "limit": limits["rss_kbs"], "unit": "KB/s",
                      "ok": rss_b * 1024 <= limits["rss_kbs"]},
        "fds_slope": {"value": fds_b, "limit": limits["fds_per_s"], "unit": "fd/s", "ok": fds_b <= limits["fds_per_s"]},
        "fds_after": {"value": after.get("fds", 0) - before.get("fds", 0), "limit": limits["fds_after"], "unit": "fd",
                      "ok": after.get("fds", 0) - before.get("fds", 0) <= limits["fds_after"]},
        "threads_slope": {"value": thr_b, "limit": limits["threads_per_s"], "unit": "threads/s",
                          "ok": thr_b <= limits["threads_per_s"]},
        "missed": {"value": missed, "limit": 0, "unit": "violations", "ok": missed == 0},
        "latency": {"value": worst["p99"] if worst else None, "limit": lat_limit, "unit": "ms",
                    "ok": bool(base and (worst is None or worst["p99"] <= lat_limit))},
    }
    return {
        "ok": all(c["ok"] for c in checks.values()), "checks": checks, "samples": len(rows),
        "rss_mb": {"before": before.get("rss_mb"), "first": rss[0] if rss else None, "max": max(rss) if rss else None,
                   "last": rss[-1] if rss else None, "after": after.get("rss_mb"), "fit_at_half": rss_a + rss_b *
                   rows[half]["t_s"] if rows else None},
        "fds": {"before": before.get("fds"), "min": min(r["fds"] for r in rows[half:]) if rows else None,
                "max": max(r["fds"] for r in rows[half:]) if rows else None, "after": after.get("fds")},
        "threads": {"before": before.get("threads"), "max": max(r["threads"] for r in rows) if rows else None,
                    "after": after.get("threads")},
        "latency": {"baseline": base, "worst_later": worst, "windows": windows, "all_clients_windows": every},
        "heap_in_use_slope_kbs": heap_b * 1024 if any(r.get("heap_in_use_mb") is not None for r in rows) else None,
        "fit": {"rss_slope_mb_s": rss_b, "rss_intercept_mb": rss_a, "from_t": rows[half]["t_s"] if rows else 0},
    }


def verdict(a: Dict[str, Any], report: Dict[str, Any], seconds: float, clients: int) -> str:
    c = a["checks"]
    lat = a["latency"]
    base = lat["baseline"]
    worst = lat["worst_later"]
    every = lat["all_clients_windows"]
    lat_txt = (f"watchers' p99 {base['p99']:.1f} ms in the first {base['seconds']:.0f} s, worst later window "
               f"{worst['p99']:.1f} ms (limit {c['latency']['limit']:.1f})" if base and worst else
               f"watchers' p99 {base['p99']:.1f} ms (one window)" if base else "no latency samples")
    if every:
        lat_txt += (f"; all clients' p99 {every[0]['p99']:.0f} ms first, "
                    f"{max(w['p99'] for w in every[1:] or every):.0f} ms worst later")
    rss = a["rss_mb"]
    heap = "" if a["heap_in_use_slope_kbs"] is None else f"; heap in use {a['heap_in_use_slope_kbs']:+.2f} KB/s"
    return (f"soak: {'PASS' if a['ok'] else 'FAIL'} {seconds:.0f} s, {clients} clients: "
            f"RSS {rss['first']:.1f}->{rss['last']:.1f} MB (max {rss['max']:.1f}), 2nd-half slope "
            f"{c['rss_slope']['value']:+.2f} KB/s (limit {c['rss_slope']['limit']:.0f}{heap}); fds {a['fds']['min']}-"
            f"{a['fds']['max']} slope {c['fds_slope']['value']:+.3f}/s, {a['fds']['before']:.0f} before / "
            f"{a['fds']['after']:.0f} after the clients; threads {a['threads']['max']} (slope "
            f"{c['threads_slope']['value']:+.4f}/s); {report.get('deliveries', 0):,} updates checked, "
            f"{c['missed']['value']} violations ({report.get('resumed', 0)} resumes, "
            f"{report.get('conflated_jumps', 0)} conflated jumps, {report.get('conflated_jumps_verified', 0)} "
            f"verified); {lat_txt}; queue/history bytes: not exposed"
            + ("" if a["ok"] else " -- failed: " + ", ".join(k for k, v in c.items() if not v["ok"])))


def write_csv(path: str, rows: List[Dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else (f"{r[k]:.4f}" if isinstance(r[k], float) else r[k]))
                        for k in COLUMNS})


# ---- the plot -------------------------------------------------------------------------------------------------
W, PANEL_H, LEFT, RIGHT, TOP = 1240, 190, 70, 210, 50
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#7f7f7f"]


def nice_ticks(lo: float, hi: float, n: int = 4) -> List[float]:
    if hi <= lo:
        hi = lo + 1
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 2) if start + i * step <= hi + step * 0.01]


def panel(y0: float, title: str, t: List[float], series: List[Tuple[str, List[Optional[float]], str]],
          tmax: float, ymin: Optional[float] = 0.0) -> Tuple[str, Any, Any]:
    """One chart at height ``y0``: its SVG and its x / y scales (for lines drawn over it)."""
    vals = [v for _, ys, _ in series for v in ys if v is not None]
    lo = min(vals) if vals else 0.0
    hi = max(vals) if vals else 1.0
    if ymin is not None:
        lo = min(lo, ymin)
    pad = (hi - lo) * 0.08 or 1.0
    hi += pad
    if ymin is None:
        lo -= pad
    pw, ph = W - LEFT - RIGHT, PANEL_H - 45
    sx = lambda x: LEFT + pw * x / (tmax or 1)  # noqa: E731
    sy = lambda y: y0 + 25 + ph * (1 - (y - lo) / ((hi - lo) or 1))  # noqa: E731
    parts = [f'<text x="{LEFT}" y="{y0 + 16}" font-size="14" font-weight="bold">{html.escape(title)}</text>',
             f'<rect x="{LEFT}" y="{y0 + 25}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for v in nice_ticks(lo, hi):
        if lo <= v <= hi:
            parts.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#eee"/>'
                         f'<text x="{LEFT - 6}" y="{sy(v) + 4:.1f}" font-size="11" text-anchor="end">{v:g}</text>')
    for v in nice_ticks(0, tmax, 8):
        if v <= tmax:
            parts.append(f'<text x="{sx(v):.1f}" y="{y0 + 25 + ph + 14}" font-size="11" text-anchor="middle">{v:g}</text>')
    for i, (name, ys, color) in enumerate(series):
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(t, ys) if y is not None)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.4" points="{pts}"/>')
        parts.append(f'<rect x="{W - RIGHT + 12}" y="{y0 + 32 + 18 * i}" width="12" height="3" fill="{color}"/>'
                     f'<text x="{W - RIGHT + 30}" y="{y0 + 37 + 18 * i}" font-size="11">{html.escape(name)}</text>')
    return "\n".join(parts), sx, sy


def svg(rows: List[Dict[str, Any]], a: Dict[str, Any], title: str) -> str:
    t = [r["t_s"] for r in rows]
    tmax = t[-1] if t else 1.0
    out: List[str] = []
    y = TOP

    def add(name: str, series: List[Tuple[str, List[Optional[float]], str]], ymin: Optional[float] = 0.0) -> Any:
        nonlocal y
        body, sx, sy = panel(y, name, t, series, tmax, ymin=ymin)
        out.append(body)
        y += PANEL_H
        return sx, sy

    rss = [r["rss_mb"] for r in rows]
    sx, sy = add("server RSS and heap in use (glibc mallinfo2), MB; dashed: RSS fit over the second half",
                 [("server RSS", rss, COLORS[0]), ("heap in use", [r.get("heap_in_use_mb") for r in rows], COLORS[2])],
                 ymin=None)
    f = a["fit"]
    x0, x1 = f["from_t"], tmax
    out.append(f'<line x1="{sx(x0):.1f}" x2="{sx(x1):.1f}" y1="{sy(f["rss_intercept_mb"] + f["rss_slope_mb_s"] * x0):.1f}" '
               f'y2="{sy(f["rss_intercept_mb"] + f["rss_slope_mb_s"] * x1):.1f}" stroke="{COLORS[1]}" '
               'stroke-dasharray="6,4" stroke-width="1.5"/>')
    add("open file descriptors and WebSocket connections of the server",
        [("fds", [r["fds"] for r in rows], COLORS[0]), ("ws connections", [r["ws_connections"] for r in rows], COLORS[2]),
         ("clients open", [r["open_clients"] for r in rows], COLORS[4])])
    add("server threads (the core's runtime, Python's main thread, the heap sampler)",
        [("threads", [r["threads"] for r in rows], COLORS[3])])
    lim = a["checks"]["latency"]["limit"]
    win: List[Optional[float]] = []
    ends, acc = [], 0.0
    for w in a["latency"]["windows"]:
        acc += w["seconds"]
        ends.append((acc, w["p99"]))
    for x in t:
        win.append(next((p for end, p in ends if x <= end + 0.5), ends[-1][1] if ends else None))
    add("latency publish -> receive at the watchers, ms (per second; p99 of each window; the limit)",
        [("p50", [r.get("watch_p50_ms") for r in rows], COLORS[0]), ("p99", [r.get("watch_p99_ms") for r in rows],
                                                                      COLORS[1]),
         ("window p99", win, COLORS[3]), ("2x first window p99", [lim] * len(t), COLORS[5])])
    add("latency publish -> receive at all of load.js's clients (one event loop), ms",
        [("p50", [r["lat_p50_ms"] for r in rows], COLORS[0]), ("p99", [r["lat_p99_ms"] for r in rows], COLORS[1]),
         ("load event-loop lag (max)", [r["load_loop_lag_ms"] for r in rows], COLORS[5])])
    add("updates received per second by load.js's clients (thousands); CPU %; paused slow clients",
        [("updates/s / 1000", [r["client_deliveries"] / 1000 for r in rows], COLORS[2]),
         ("server CPU %", [r["cpu_pct"] for r in rows], COLORS[1]),
         ("load.js CPU %", [r["load_cpu_pct"] for r in rows], COLORS[5]),
         ("paused clients", [r["paused_clients"] for r in rows], COLORS[4])])
    height = y + 30
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif">'
            f'<rect width="{W}" height="{height}" fill="#fff"/>'
            f'<text x="{LEFT}" y="28" font-size="16" font-weight="bold">{html.escape(title)}</text>')
    return head + "\n" + "\n".join(out) + f'\n<text x="{W / 2}" y="{height - 8}" font-size="12" ' \
        'text-anchor="middle">seconds since the start of the load</text></svg>\n'
