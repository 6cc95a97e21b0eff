"""Replays tests/vectors/breaker (shared with the Rust and Node suites) through the Python API."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import pytest

import dashfeed
from conftest import VECTORS, load_vectors


class Counted(Exception):
    pass


class Excluded(Exception):
    pass


BREAKER_FILES = sorted(p.name for p in (VECTORS / "breaker").glob("*.json") if p.name != "limiter.json")
CASES = [(f, c) for f in BREAKER_FILES for c in load_vectors("breaker", f)["cases"]]
LIMITER = load_vectors("breaker", "limiter.json")["cases"]


def make_breaker(config: dict[str, Any], clock: dashfeed.ManualClock) -> dashfeed.CircuitBreaker:
    kw: dict[str, Any] = {
        "failure_threshold": config["failure_threshold"],
        "reset_timeout": config["reset_timeout_ms"] / 1000,
        "half_open_max_calls": config["half_open_max_calls"],
        "success_threshold": config["success_threshold"],
        "excluded": (Excluded,),
        "clock": clock,
    }
    if "slow_call_ms" in config:
        kw["slow_call_duration"] = config["slow_call_ms"] / 1000
    if "timeout_ms" in config:
        kw["timeout"] = config["timeout_ms"] / 1000
    if config.get("fallback"):
        kw["fallback"] = lambda *_a, **_k: "fallback"
    rate = config.get("failure_rate")
    if rate:
        kw["failure_rate"] = rate["threshold"]
        kw["minimum_calls"] = rate["minimum_calls"]
        window = rate["window"]
        if "count" in window:
            kw["rate_window"] = window["count"]
        else:
            kw["rate_window_seconds"] = window["time_ms"] / 1000
            kw["rate_buckets"] = window["buckets"]
    return dashfeed.CircuitBreaker(**kw)


def default_answer(step: dict[str, Any]) -> str:
    """A call step's answer when it names none (tests/vectors/breaker/README.md)."""
    if step["expect"] == "rejected":
        return "circuit_open"
    return "value" if step["outcome"] == "success" else "error"


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[f"{f}:{c['name']}" for f, c in CASES])
def test_breaker_transcript(case: dict[str, Any]) -> None:
    clock = dashfeed.ManualClock()
    breaker = make_breaker(case["config"], clock)
    entered: list[str] = []
    breaker.add_listener(lambda ev: entered.append(ev["to"]) if ev["type"] == "state_change" else None)
    permits: dict[str, dashfeed.Permit] = {}
    for i, step in enumerate(case["steps"]):
        where = f"step {i}: {step}"
        op = step["op"]
        if op == "acquire":
            if step["expect"] == "allowed":
                permits[step["permit"]] = breaker.acquire()
            else:
                with pytest.raises(dashfeed.CircuitOpenError) as info:
                    breaker.acquire()
                assert info.value.code == "circuit_open"
                assert info.value.retry_after == pytest.approx(step["retry_after_ms"] / 1000, abs=1e-6), where
        elif op == "report":
            permit = permits.pop(step["permit"])
            outcome, d = step["outcome"], step.get("duration_ms", 0) / 1000
            {"success": permit.success, "failure": permit.failure, "timeout": permit.timeout}.get(
                outcome, lambda _d: permit.ignore()
            )(d)
        elif op == "call":
            ran: list[bool] = []
            outcome, ms = step["outcome"], step["duration_ms"]

            def fn() -> Any:
                ran.append(True)
                clock.advance_ms(ms)
                if outcome == "failure":
                    raise Counted("boom")
                if outcome == "ignored":
                    raise Excluded("not counted")
                if outcome == "timed_out":
                    return asyncio.Event().wait()  # never set: call_async's timer ends the call
                return "ok"

            answer = step.get("answer") or default_answer(step)
            call = (lambda: asyncio.run(breaker.call_async(fn))) if outcome == "timed_out" else lambda: breaker.call(fn)
            if answer == "circuit_open":
                with pytest.raises(dashfeed.CircuitOpenError) as info:
                    call()
                assert info.value.retry_after == pytest.approx(step["retry_after_ms"] / 1000, abs=1e-6), where
            elif answer == "timeout":
                with pytest.raises(dashfeed.TimeoutError):
                    call()
            elif answer == "error":
                with pytest.raises(Counted if outcome == "failure" else Excluded):
                    call()
            else:
                assert call() == {"value": "ok", "fallback": "fallback"}[answer], where
            assert bool(ran) == (step["expect"] == "allowed"), where
        elif op == "advance":
            clock.advance_ms(step["ms"])
        elif op in ("open", "close", "reset"):
            getattr(breaker, op)()
        elif op == "counters":
            stats = breaker.stats
            for name, n in step["expect"].items():
                assert stats[name] == n, f"{where}: {name}={stats[name]}"
        else:
            raise AssertionError(f"unknown op {op}")
        assert breaker.state == step["state"], where
        assert entered == step.get("transitions", []), where
        entered.clear()


@pytest.mark.parametrize("case", LIMITER, ids=[c["name"] for c in LIMITER])
def test_limiter_transcript(case: dict[str, Any]) -> None:
    clock = dashfeed.ManualClock()
    cfg = case["config"]
    limiter = dashfeed.RateLimiter(cfg["rate"], cfg["burst"], clock=clock)
    now = 0
    for i, step in enumerate(case["steps"]):
        where = f"step {i}: {step}"
        clock.advance_ms(step["t_ms"] - now)
        now = step["t_ms"]
        if step["op"] == "retain_recent":
            limiter.retain_recent()
            assert len(limiter) == step["keys"], where
            continue
        n = step.get("n")
        if step["expect"] == "error":
            with pytest.raises(dashfeed.DashfeedError) as info:
                limiter.check_n(step["key"], n)
            assert info.value.code == step["code"], where
            continue
        decision = limiter.check(step["key"]) if n is None else limiter.check_n(step["key"], n)
        if step["expect"] == "allowed":
            assert decision and decision.retry_after == 0.0, where
        else:
            assert not decision, where
            assert decision.retry_after == pytest.approx(step["retry_after_ms"] / 1000, abs=1e-6), where
