"""Writes the window vectors (tests/vectors/windows/*.json); see README.md beside it for the format.

Run: python3 tests/vectors/windows/gen.py  (standard library only).

Every scenario below is written by hand: which events land in which window, in what order results come
out, first/last, late events and stats are spelled out. The only things computed here are plain
arithmetic over the listed window values (count, sum in arrival order, min, max, mean) and, for the
quantile scenarios, exact order statistics by nearest rank (the value of rank ceil(q*n), 1-based and at
least 1, in sorted order: numpy's quantile(method="inverted_cdf")), which the runners compare with the
scenario's relative tolerance. quantiles_numpy.json is written by gen_numpy.py (needs numpy).
"""
import json
import math
import pathlib

HERE = pathlib.Path(__file__).parent


def add(metric, value, ts, dashboard="d", tags=None, id=None, error=None):
    e = {"dashboard": dashboard, "metric": metric, "value": value, "ts": ts}
    if tags is not None:
        e["tags"] = tags
    if id is not None:
        e["id"] = id
    step = {"op": "add", "event": e}
    if error:
        step["error"] = error
    return step


def columns(dashboards, metrics, values, ts, tags=None, error=None):
    step = {"op": "add_columns", "dashboards": dashboards, "metrics": metrics, "values": values,
            "ts": ts, "tags": tags or {}}
    if error:
        step["error"] = error
    return step


def exact_q(values, q):
    """Nearest rank: the value of rank ceil(q*n) (1-based, at least 1) in sorted order."""
    s = sorted(values)
    return s[max(math.ceil(q * len(s)), 1) - 1]


def qname(q):
    text = f"{q * 100:.6f}".rstrip("0").rstrip(".")
    return "p" + text


def res(metric, start, end, values, first, last, final=True, dashboard="d", tags=None, qs=()):
    """A result; `values` in arrival order (the sum is taken in that order, as the engine does)."""
    total = values[0]
    for v in values[1:]:
        total += v
    return {
        "dashboard": dashboard, "metric": metric, "tags": tags or {},
        "start": start, "end": end, "count": len(values),
        "sum": float(total), "min": float(min(values)), "max": float(max(values)),
        "mean": total / len(values), "first": float(first), "last": float(last),
        "quantiles": {qname(q): float(exact_q(values, q)) for q in qs},
        "final": final,
    }


def late(metric, value, ts, dashboard="d", tags=None, id=None):
    return {"dashboard": dashboard, "metric": metric, "value": value, "ts": ts, "tags": tags or {},
            "id": id}


def poll(*results):
    return {"op": "poll", "expect": list(results)}


def flush(*results):
    return {"op": "flush", "expect": list(results)}


def take_late(*events):
    return {"op": "take_late", "expect": list(events)}


def advance(ts):
    return {"op": "advance_to", "ts": ts}


def clock(ms):
    return {"op": "clock", "advance_ms": ms}


def stats(**fields):
    return {"op": "stats", "expect": fields}


def tumbling(size, **extra):
    return {"window": {"kind": "tumbling", "size": size}, **extra}


TUMBLING = [
    {
        "name": "closes_on_watermark_in_end_then_open_order",
        "description": "Windows close when the watermark (max event time, no lateness) reaches their "
                       "end; results with the same end come in the order the windows were opened.",
        "config": tumbling("1s"),
        "steps": [
            add("mem", 1, 100), add("cpu", 2, 200), add("mem", 3, 999),
            poll(),
            add("cpu", 4, 1000),
            poll(res("mem", 0, 1000, [1, 3], 1, 3), res("cpu", 0, 1000, [2], 2, 2)),
            add("mem", 5, 2500),
            poll(res("cpu", 1000, 2000, [4], 4, 4)),
            stats(events=5, late=0, open_windows=1, keys=2, watermark=2500),
            flush(res("mem", 2000, 3000, [5], 5, 5)),
            stats(open_windows=0, keys=0, watermark=3000, pending_results=0),
        ],
    },
    {
        "name": "tags_are_part_of_the_key_in_any_order",
        "description": "Tags given in any order name the same key; different tags are different keys.",
        "config": tumbling("1s"),
        "steps": [
            add("cpu", 1, 0, tags={"region": "eu", "host": "a"}),
            add("cpu", 2, 10, tags={"host": "a", "region": "eu"}),
            add("cpu", 4, 20, tags={"host": "b"}),
            add("cpu", 8, 30),
            advance(1000),
            poll(res("cpu", 0, 1000, [1, 2], 1, 2, tags={"host": "a", "region": "eu"}),
                 res("cpu", 0, 1000, [4], 4, 4, tags={"host": "b"}),
                 res("cpu", 0, 1000, [8], 8, 8)),
        ],
    },
    {
        "name": "out_of_order_within_grace",
        "description": "With 500 ms lateness, an event older than the newest still joins its window "
                       "while watermark = max ts - 500 has not reached the window end.",
        "config": tumbling("1s", lateness="500ms"),
        "steps": [
            add("cpu", 1, 900), add("cpu", 2, 1400), add("cpu", 3, 950), add("cpu", 4, 1200),
            poll(),
            add("cpu", 5, 1500),
            poll(res("cpu", 0, 1000, [1, 3], 1, 3)),
            stats(late=0, watermark=1000),
            flush(res("cpu", 1000, 2000, [2, 4, 5], 4, 5)),
        ],
    },
    {
        "name": "late_past_grace_goes_to_late_output",
        "description": "An event whose window already closed is counted and returned by take_late "
                       "(with its id), never added to a result; an event below the watermark whose "
                       "window is still open is not late.",
        "config": tumbling("1s", lateness="200ms"),
        "steps": [
            add("cpu", 1, 100),
            add("cpu", 2, 1300),
            add("cpu", 99, 999, id="retry-7"),
            add("mem", 98, 500, tags={"host": "a"}),
            add("cpu", 3, 1050),
            poll(res("cpu", 0, 1000, [1], 1, 1)),
            take_late(late("cpu", 99, 999, id="retry-7"), late("mem", 98, 500, tags={"host": "a"})),
            take_late(),
            stats(events=5, late=2, pending_late=0, watermark=1100),
            flush(res("cpu", 1000, 2000, [2, 3], 3, 2)),
        ],
    },
    {
        "name": "first_and_last_by_event_time_ties_by_arrival",
        "description": "first = earliest event time (earliest arrival among ties), last = latest event "
                       "time (latest arrival among ties).",
        "config": tumbling("1s"),
        "steps": [
            add("cpu", 1, 500), add("cpu", 2, 500), add("cpu", 3, 100), add("cpu", 4, 100),
            add("cpu", 5, 900), add("cpu", 6, 900),
            flush(res("cpu", 0, 1000, [1, 2, 3, 4, 5, 6], 3, 6)),
        ],
    },
    {
        "name": "negative_times_and_values",
        "description": "Windows align to the epoch for negative times too: -1 ms is in [-1000, 0).",
        "config": tumbling("1s"),
        "steps": [
            add("cpu", -1.5, -1), add("cpu", 0, -1000), add("cpu", -2.5, 0),
            poll(res("cpu", -1000, 0, [-1.5, 0], 0, -1.5)),
            flush(res("cpu", 0, 1000, [-2.5], -2.5, -2.5)),
        ],
    },
]

HOPPING = [
    {
        "name": "overlapping_windows",
        "description": "size 1s, slide 500ms: each event is in two windows. An event whose older "
                       "window closed still joins the open one and is reported late.",
        "config": {"window": {"kind": "hopping", "size": "1s", "slide": "500ms"}},
        "steps": [
            add("cpu", 1, 700),
            add("cpu", 2, 1200),
            poll(res("cpu", 0, 1000, [1], 1, 1)),
            add("cpu", 4, 600),
            take_late(late("cpu", 4, 600)),
            advance(3000),
            poll(res("cpu", 500, 1500, [1, 2, 4], 4, 2), res("cpu", 1000, 2000, [2], 2, 2)),
            stats(late=1, open_windows=0, events=3),
        ],
    },
    {
        "name": "size_not_a_multiple_of_slide",
        "description": "size 250ms, slide 100ms, lateness 200ms: windows start at multiples of 100. "
                       "The event at 20 belongs to [-200,50) (closed: late), [-100,150) and [0,250). "
                       "flush orders by end, then open order.",
        "config": {"window": {"kind": "hopping", "size": "250ms", "slide": "100ms"},
                   "lateness": "200ms"},
        "steps": [
            add("cpu", 1, 260),
            add("cpu", 2, 20),
            take_late(late("cpu", 2, 20)),
            flush(res("cpu", -100, 150, [2], 2, 2), res("cpu", 0, 250, [2], 2, 2),
                  res("cpu", 100, 350, [1], 1, 1), res("cpu", 200, 450, [1], 1, 1)),
            stats(events=2, late=1, watermark=450),
        ],
    },
]

SESSION = [
    {
        "name": "bridging_event_merges_two_sessions",
        "description": "gap 100ms, lateness 500ms. [1000,1150) and [1200,1300) merge when 1120 arrives "
                       "(its span [1120,1220) overlaps both). Closes when the watermark reaches 1300.",
        "config": {"window": {"kind": "session", "gap": "100ms"}, "lateness": "500ms"},
        "steps": [
            add("cpu", 1, 1000), add("cpu", 2, 1050), add("cpu", 3, 1200),
            stats(open_windows=2),
            add("cpu", 4, 1120),
            stats(open_windows=1),
            advance(1799),
            poll(),
            advance(1800),
            poll(res("cpu", 1000, 1300, [1, 2, 3, 4], 1, 3)),
            add("cpu", 9, 1199),
            add("cpu", 7, 1201),
            take_late(late("cpu", 9, 1199)),
            flush(res("cpu", 1201, 1301, [7], 7, 7)),
        ],
    },
    {
        "name": "exactly_gap_apart_is_a_new_session_per_key",
        "description": "Events exactly gap apart start a new session; an event less than gap from both "
                       "merges them. Sessions are per key.",
        "config": {"window": {"kind": "session", "gap": "100ms"}, "lateness": "1s"},
        "steps": [
            add("cpu", 1, 0), add("mem", 5, 50), add("cpu", 2, 100),
            stats(open_windows=3),
            add("cpu", 3, 99),
            stats(open_windows=2),
            flush(res("mem", 50, 150, [5], 5, 5), res("cpu", 0, 200, [1, 2, 3], 1, 2)),
            stats(watermark=200, keys=0),
        ],
    },
    {
        "name": "an_old_event_inside_an_open_session_joins_it",
        "description": "An event is late only when it overlaps no open session and its own span "
                       "[ts, ts+gap) has closed: 1050 joins the open [1000,1280) although "
                       "1050+100 <= watermark 1180; 500 overlaps nothing open and is late.",
        "config": {"window": {"kind": "session", "gap": "100ms"}},
        "steps": [
            add("cpu", 1, 1000), add("cpu", 2, 1090), add("cpu", 3, 1180),
            add("cpu", 4, 1050),
            add("cpu", 5, 500),
            take_late(late("cpu", 5, 500)),
            stats(late=1, watermark=1180),
            flush(res("cpu", 1000, 1280, [1, 2, 3, 4], 1, 3)),
        ],
    },
]

COUNT = [
    {
        "name": "close_on_nth_and_flush_partial",
        "description": "n=3 per key; start/end are the smallest and largest event time in the window; "
                       "flush emits the partial windows (final) ordered by end.",
        "config": {"window": {"kind": "count", "n": 3}},
        "steps": [
            add("cpu", 0, 50), add("cpu", 1, 10), add("cpu", 2, 30),
            add("mem", 7, 5), add("cpu", 3, 40),
            poll(res("cpu", 10, 50, [0, 1, 2], 1, 0)),
            flush(res("mem", 5, 5, [7], 7, 7), res("cpu", 40, 40, [3], 3, 3)),
            stats(events=5, late=0, open_windows=0, keys=0),
        ],
    },
    {
        "name": "n_equal_one_and_no_late_events",
        "description": "n=1: every event is its own window, in arrival order; count windows never "
                       "have late events.",
        "config": {"window": {"kind": "count", "n": 1}},
        "steps": [
            add("cpu", 1, 5000), add("cpu", 2, 3),
            poll(res("cpu", 5000, 5000, [1], 1, 1), res("cpu", 3, 3, [2], 2, 2)),
            stats(late=0),
        ],
    },
]

IDLE = [
    {
        "name": "idle_close_closes_the_last_window",
        "description": "idle_close 5s: after 5 s of clock time without input the watermark becomes "
                       "max ts + quiet time - lateness = 59900 + 5000 - 2000.",
        "config": tumbling("10s", lateness="2s", idle_close="5s"),
        "steps": [
            add("cpu", 1, 59900),
            clock(4999),
            poll(),
            clock(1),
            poll(res("cpu", 50000, 60000, [1], 1, 1)),
            stats(watermark=62900),
            add("cpu", 2, 62000),
            add("cpu", 3, 59999),
            take_late(late("cpu", 3, 59999)),
            stats(late=1, open_windows=1),
        ],
    },
    {
        "name": "idle_applies_at_the_next_input_without_poll",
        "description": "The quiet time before an input is applied first, so the result does not "
                       "depend on whether poll ran during the quiet time.",
        "config": tumbling("1s", idle_close="100ms"),
        "steps": [
            add("cpu", 1, 500),
            clock(600),
            add("cpu", 2, 900),
            poll(res("cpu", 0, 1000, [1], 1, 1)),
            take_late(late("cpu", 2, 900)),
        ],
    },
    {
        "name": "without_idle_close_the_clock_does_nothing",
        "description": "Without idle_close a quiet stream keeps its last window open.",
        "config": tumbling("1s"),
        "steps": [
            add("cpu", 1, 500),
            clock(600000),
            poll(),
            stats(watermark=500, open_windows=1),
            flush(res("cpu", 0, 1000, [1], 1, 1)),
        ],
    },
]


def skewed(n):
    """Deterministic heavy-tailed values (Pareto inverse CDF and a lognormal-like spread), 3 decimals."""
    out = []
    for i in range(n):
        u = (i * 0.6180339887498949) % 1.0
        pareto = 2.0 * (1.0 - u) ** (-1.0 / 1.5)
        out.append(round(pareto * (1.0 + 0.3 * math.sin(i)), 3))
    return out


SKEWED = skewed(500)
QS = [0.5, 0.9, 0.99]
SMALL = [7, 1, 4, 10, 2, 9, 3, 8, 5, 6]
SIGNED = [-5, -1, 0, 0, 2, 8, -0.5]

QUANTILES = [
    {
        "name": "small_window",
        "description": "p50/p90/p99 of ten values.",
        "config": tumbling("1s", quantiles=QS),
        "quantile_tolerance": 0.01,
        "steps": [add("lat", v, i * 10) for i, v in enumerate(SMALL)]
        + [flush(res("lat", 0, 1000, SMALL, 7, 6, qs=QS))],
    },
    {
        "name": "skewed_values_within_one_percent",
        "description": "500 heavy-tailed values: each quantile within 1% of the exact order statistic.",
        "config": tumbling("1h", quantiles=QS),
        "quantile_tolerance": 0.01,
        "steps": [add("lat", v, 1000 + i) for i, v in enumerate(SKEWED)]
        + [flush(res("lat", 0, 3600000, SKEWED, SKEWED[0], SKEWED[-1], qs=QS))],
    },
    {
        "name": "negative_and_zero_values_and_names",
        "description": "Negative and zero values; quantile names p25, p50, p75, p99.9.",
        "config": tumbling("1s", quantiles=[0.25, 0.5, 0.75, 0.999]),
        "quantile_tolerance": 0.01,
        "steps": [add("temp", v, i) for i, v in enumerate(SIGNED)]
        + [flush(res("temp", 0, 1000, SIGNED, -5, -0.5, qs=[0.25, 0.5, 0.75, 0.999]))],
    },
]

UPDATES = [
    {
        "name": "partials_on_event_time_ticks_then_final",
        "description": "emit updates every 1s of event time: when the max event time enters a new "
                       "second, each open window changed since its last emission emits a partial "
                       "(final false). Closing finals come before the tick's partials.",
        "config": tumbling("10s", emit={"mode": "updates", "interval": "1s"}),
        "steps": [
            add("cpu", 1, 100), add("cpu", 2, 900),
            poll(),
            add("cpu", 3, 1000),
            poll(res("cpu", 0, 10000, [1, 2, 3], 1, 3, final=False)),
            add("mem", 1, 1500), add("mem", 1, 2100),
            poll(res("mem", 0, 10000, [1, 1], 1, 1, final=False)),
            add("cpu", 5, 10000),
            poll(res("cpu", 0, 10000, [1, 2, 3], 1, 3), res("mem", 0, 10000, [1, 1], 1, 1),
                 res("cpu", 10000, 20000, [5], 5, 5, final=False)),
            flush(res("cpu", 10000, 20000, [5], 5, 5)),
        ],
    },
]

BATCH = [
    {
        "name": "columns_one_value_or_one_per_row",
        "description": "A column is one value for the whole batch or a list with one per row; tags "
                       "apply to every row.",
        "config": tumbling("1s"),
        "steps": [
            columns("d", ["cpu", "mem", "cpu"], [1, 2, 3], [100, 200, 300]),
            columns(["d", "e"], "cpu", [4, 5], 400, tags={"host": "a"}),
            stats(events=5, keys=4),
            flush(res("cpu", 0, 1000, [1, 3], 1, 3), res("mem", 0, 1000, [2], 2, 2),
                  res("cpu", 0, 1000, [4], 4, 4, tags={"host": "a"}),
                  res("cpu", 0, 1000, [5], 5, 5, dashboard="e", tags={"host": "a"})),
        ],
    },
    {
        "name": "a_bad_row_applies_nothing",
        "description": "The whole batch is checked before any row is applied.",
        "config": tumbling("1s"),
        "steps": [
            columns("d", ["cpu", "mem"], [1, "NaN"], [0, 1], error="invalid_input"),
            columns("d", ["cpu", "mem", "x"], [1, 2], 0, error="invalid_input"),
            columns("d", ["cpu", ""], [1, 2], 0, error="invalid_input"),
            columns("d", "cpu", [1, "Infinity"], 0, error="invalid_input"),
            stats(events=0, open_windows=0, keys=0),
            flush(),
        ],
    },
]


def bad(name, config):
    return {"name": name, "config": config, "config_error": "invalid_input"}


ERRORS = [
    bad("unknown_window_kind", {"window": {"kind": "weekly", "size": "1s"}}),
    bad("zero_size", tumbling("0s")),
    bad("duration_without_unit", tumbling("10")),
    bad("negative_size", tumbling(-5)),
    bad("slide_longer_than_size", {"window": {"kind": "hopping", "size": "1s", "slide": "2s"}}),
    bad("count_with_lateness", {"window": {"kind": "count", "n": 3}, "lateness": "1s"}),
    bad("quantile_one", tumbling("1s", quantiles=[0.5, 1.0])),
    bad("quantile_zero", tumbling("1s", quantiles=[0])),
    bad("quantile_nan", tumbling("1s", quantiles=["NaN"])),
    bad("quantile_twice", tumbling("1s", quantiles=[0.5, 0.5])),
    # Both are named "p50" (a result names a quantile by its percentage with six decimals).
    bad("quantiles_sharing_a_name", tumbling("1s", quantiles=[0.5, 0.500000001])),
    bad("updates_without_interval", tumbling("1s", emit="updates")),
    bad("unknown_option", tumbling("1s", latenes="1s")),
    {
        "name": "invalid_events_are_refused",
        "description": "Non-finite values and empty or over-long names are invalid_input; nothing is "
                       "applied.",
        "config": tumbling("1s"),
        "steps": [
            add("cpu", "NaN", 0, error="invalid_input"),
            add("cpu", "Infinity", 0, error="invalid_input"),
            add("cpu", "-Infinity", 0, error="invalid_input"),
            add("", 1, 0, error="invalid_input"),
            add("cpu", 1, 0, dashboard="", error="invalid_input"),
            add("cpu", 1, 0, dashboard="x" * 257, error="invalid_input"),
            add("cpu", 1, 0, tags={"": "a"}, error="invalid_input"),
            stats(events=0, keys=0),
        ],
    },
    {
        "name": "full_result_buffer_refuses_input_until_polled",
        "description": "max_pending_results 1: while one result waits, input is refused with "
                       "too_large and not applied; after poll it is accepted again.",
        "config": tumbling("1s", max_pending_results=1),
        "steps": [
            add("cpu", 1, 0),
            add("cpu", 2, 1000),
            add("cpu", 3, 1100, error="too_large"),
            stats(events=2, pending_results=1),
            poll(res("cpu", 0, 1000, [1], 1, 1)),
            add("cpu", 3, 1100),
            flush(res("cpu", 1000, 2000, [2, 3], 2, 3)),
        ],
    },
]

FILES = {
    "tumbling.json": ("Tumbling windows: closing, ordering, keys, lateness, late output.", TUMBLING),
    "hopping.json": ("Hopping windows: overlap, partial lateness.", HOPPING),
    "session.json": ("Session windows: extension, merging, per-key sessions.", SESSION),
    "count.json": ("Count windows: close on the n-th event, partial windows on flush.", COUNT),
    "idle_close.json": ("Idle close driven by the manual clock.", IDLE),
    "quantiles.json": ("Quantiles within the relative tolerance.", QUANTILES),
    "emit_updates.json": ("Emit mode updates: partial results on event-time ticks.", UPDATES),
    "batch.json": ("Columnar batches: column forms and whole-batch validation.", BATCH),
    "errors.json": ("Invalid configs and events, and the pending-results cap.", ERRORS),
}

def dump(description, scenarios):
    """JSON text with one scenario field, and one step, per line."""
    out = ["{", f' "description": {json.dumps(description)},', ' "scenarios": [']
    for i, sc in enumerate(scenarios):
        fields = []
        for key, value in sc.items():
            if key == "steps":
                steps = ",\n".join("    " + json.dumps(step) for step in value)
                fields.append(f'   "steps": [\n{steps}\n   ]')
            else:
                fields.append(f"   {json.dumps(key)}: {json.dumps(value)}")
        comma = "," if i < len(scenarios) - 1 else ""
        out.append("  {\n" + ",\n".join(fields) + "\n  }" + comma)
    out += [" ]", "}"]
    text = "\n".join(out) + "\n"
    assert json.loads(text) == {"description": description, "scenarios": scenarios}
    return text


if __name__ == "__main__":
    for name, (description, scenarios) in FILES.items():
        (HERE / name).write_text(dump(description, scenarios))
        print(f"{name}: {len(scenarios)} scenarios")
