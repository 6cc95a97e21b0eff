"""Replays tests/vectors/windows (shared with the Rust and Node suites) through the Python Aggregator."""

from __future__ import annotations

import math
from typing import Any

import pytest

import dashfeed
from conftest import VECTORS, load_vectors

FILES = sorted(p.name for p in (VECTORS / "windows").glob("*.json"))
SCENARIOS = [(f, s) for f in FILES for s in load_vectors("windows", f)["scenarios"]]


def num(v: Any) -> float:
    if isinstance(v, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[v]
    return float(v)


def make(config: dict[str, Any], clock: dashfeed.ManualClock) -> dashfeed.Aggregator:
    kw = dict(config)
    if "quantiles" in kw and isinstance(kw["quantiles"], list):
        kw["quantiles"] = [num(q) for q in kw["quantiles"]]
    return dashfeed.Aggregator.from_config(kw, clock=clock)


def same_result(got: dict[str, Any], exp: dict[str, Any], tol: float) -> bool:
    if set(got) != set(exp):
        return False
    for k, v in exp.items():
        if k == "quantiles":
            if set(got[k]) != set(v):
                return False
            for name, q in v.items():
                if abs(got[k][name] - q) > tol * abs(q) + 1e-12:
                    return False
        elif k == "tags":
            if dict(got[k]) != v:
                return False
        elif isinstance(v, bool) or isinstance(v, str):
            if got[k] != v:
                return False
        elif got[k] != pytest.approx(v, rel=0, abs=0) and float(got[k]) != float(v):
            return False
    return True


def column_rows(cols: dashfeed.WindowColumns, quantiles: list[str]) -> list[dict[str, Any]]:
    """The rows of a WindowColumns as WindowResult.to_dict() gives them (quantiles nested again)."""
    d = cols.to_pydict()
    rows = []
    for i in range(len(cols)):
        row = {k: v[i] for k, v in d.items() if k not in quantiles}
        row["quantiles"] = {q: d[q][i] for q in quantiles}
        rows.append(row)
    return rows


@pytest.mark.parametrize("scenario", [s for _, s in SCENARIOS], ids=[f"{f}:{s['name']}" for f, s in SCENARIOS])
@pytest.mark.parametrize("columns", [False, True], ids=["rows", "columns"])
def test_window_scenario(scenario: dict[str, Any], columns: bool) -> None:
    clock = dashfeed.ManualClock()
    if "config_error" in scenario:
        with pytest.raises(dashfeed.DashfeedError) as info:
            make(scenario["config"], clock)
        assert info.value.code == scenario["config_error"]
        return
    agg = make(scenario["config"], clock)
    tol = scenario.get("quantile_tolerance", 0)
    for i, step in enumerate(scenario["steps"]):
        where = f"step {i}: {step}"
        op = step["op"]

        def call() -> Any:
            if op == "add":
                e = step["event"]
                return agg.add(e["dashboard"], e["metric"], num(e["value"]), int(e["ts"]), e.get("tags"), id=e.get("id"))
            if op == "add_columns":
                values = [num(v) for v in step["values"]]
                ts = step["ts"]
                return agg.add_many(step["dashboards"], step["metrics"], values,
                                    ts if isinstance(ts, list) else int(ts), step.get("tags"))
            if op == "advance_to":
                return agg.advance_to(int(step["ts"]))
            raise AssertionError(op)

        if op in ("add", "add_columns", "advance_to"):
            if "error" in step:
                with pytest.raises(dashfeed.DashfeedError) as info:
                    call()
                assert info.value.code == step["error"], where
            else:
                call()
        elif op == "clock":
            clock.advance_ms(step["advance_ms"])
        elif op in ("poll", "flush"):
            if columns:
                cols = agg.poll_columns() if op == "poll" else agg.flush_columns()
                names = cols.column_names
                got = column_rows(cols, names[names.index("last") + 1 : names.index("final")])
            else:
                results = agg.poll() if op == "poll" else agg.flush()
                got = [r.to_dict() for r in results]
            exp = step["expect"]
            assert len(got) == len(exp), f"{where}: got {got}"
            for g, e in zip(got, exp):
                assert same_result(g, e, tol), f"{where}: got {g}, expected {e}"
        elif op == "take_late":
            late = agg.take_late()
            exp = step["expect"]
            assert len(late) == len(exp), f"{where}: got {late}"
            for g, e in zip(late, exp):
                assert g["dashboard"] == e["dashboard"] and g["metric"] == e["metric"], where
                assert g["value"] == num(e["value"]) and g["ts"] == e["ts"], where
                assert g["tags"] == e.get("tags", {}) and g["id"] == e.get("id"), where
        elif op == "stats":
            stats = agg.stats
            for k, v in step["expect"].items():
                assert stats[k] == v, f"{where}: {k}={stats[k]}"
        else:
            raise AssertionError(f"unknown op {op}")
