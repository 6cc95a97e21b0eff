"""Replays tests/vectors/hub (shared with the Rust and Node suites) through the Python Hub."""

from __future__ import annotations

import json
from typing import Any

import pytest

import dashfeed
from conftest import VECTORS, from_notation, load_vectors

FILES = sorted(p.name for p in (VECTORS / "hub").glob("*.json"))
CASES = [(f, c) for f in FILES for c in load_vectors("hub", f)["cases"]]


def subst(v: Any, epochs: dict[str, str]) -> Any:
    if isinstance(v, str) and v.startswith("$"):
        return epochs[v[1:]]
    if isinstance(v, dict):
        return {k: subst(x, epochs) for k, x in v.items()}
    if isinstance(v, list):
        return [subst(x, epochs) for x in v]
    return v


def wire(msg: dashfeed.Message) -> str:
    """The message as compact JSON text with its wire key order (from the pre-encoded JSON bytes)."""
    decoded = dashfeed.decode(msg.raw("json"), "json")
    assert dashfeed.decode(msg.raw("msgpack")) == decoded
    assert msg.to_dict() == decoded
    return json.dumps(decoded, separators=(",", ":"))


def make_hub(config: dict[str, Any], clock: dashfeed.ManualClock) -> dashfeed.Hub:
    kw: dict[str, Any] = {"clock": clock}
    for src, dst, scale in (
        ("history", "history", None), ("history_age_ms", "history_age", 1000), ("policy", "policy", None),
        ("queue_messages", "queue", None), ("queue_bytes", "queue_bytes", None),
        ("compress_over", "compress_over", None), ("dedupe_capacity", "dedupe", None),
        ("dedupe_horizon_ms", "dedupe_horizon", 1000),
    ):
        if src in config:
            v = config[src]
            kw[dst] = v / scale if scale and v is not None else v
    return dashfeed.Hub(**kw)


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[f"{f}:{c['name']}" for f, c in CASES])
def test_hub_scenario(case: dict[str, Any]) -> None:
    clock = dashfeed.ManualClock()
    hub = make_hub(case.get("config", {}), clock)
    subs: dict[str, dashfeed.Subscription] = {}
    epochs: dict[str, str] = {}
    for i, step in enumerate(case["steps"]):
        where = f"step {i}: {step}"
        op = step["op"]

        def run() -> Any:
            if op == "publish":
                return hub.publish(step["dashboard"], from_notation(step["data"]), id=step.get("id"))
            if op == "subscribe":
                kw: dict[str, Any] = {}
                if "since" in step:
                    kw["since"] = subst(step["since"], epochs)
                for src, dst in (("policy", "policy"), ("queue_messages", "queue"), ("queue_bytes", "queue_bytes"),
                                 ("format", "format")):
                    if src in step:
                        kw[dst] = step[src]
                subs[step["sub"]] = hub.subscribe(step["dashboard"], **kw)
                return None
            raise AssertionError(f"unknown op {op}")

        if "expect_error" in step:
            with pytest.raises(dashfeed.DashfeedError) as info:
                run()
            assert info.value.code == step["expect_error"], where
            continue
        if op == "publish":
            assert run() == step["expect"], where
        elif op == "subscribe":
            run()
        elif op == "recv_all":
            sub = subs[step["sub"]]
            got: list[str] = []
            end = None
            while True:
                try:
                    msg = sub.try_recv()
                except dashfeed.DashfeedError as e:
                    end = e.code
                    break
                if msg is None:
                    break
                got.append(wire(msg))
            expected = [json.dumps(subst(m, epochs), separators=(",", ":")) for m in step["expect"]]
            assert got == expected, where
            assert end == step.get("end"), where
        elif op == "close":
            subs[step["sub"]].close()
        elif op == "snapshot":
            snap = hub.snapshot(step["dashboard"])
            if step["expect"] is None:
                assert snap is None, where
            else:
                assert snap is not None, where
                assert wire(snap) == json.dumps(subst(step["expect"], epochs), separators=(",", ":")), where
        elif op == "epoch":
            snap = hub.snapshot(step["dashboard"])
            assert snap is not None, where
            epochs[step["as"]] = snap.epoch
        elif op == "reset_epoch":
            epochs[step["as"]] = hub.reset_epoch(step["dashboard"])
        elif op == "remove":
            assert hub.remove(step["dashboard"]) == step["expect"], where
        elif op == "advance_ms":
            clock.advance_ms(step["ms"])
        elif op == "stats":
            stats = hub.stats
            for k, v in step["expect"].items():
                assert stats[k] == v, f"{where}: {k}={stats[k]}"
        elif op == "topic":
            topic = hub.stats["topics"].get(step["dashboard"])
            assert topic is not None, where
            for k, v in subst(step["expect"], epochs).items():
                assert topic[k] == v, f"{where}: {k}={topic[k]}"
        elif op == "sub_stats":
            st = subs[step["sub"]].stats
            for k, v in step["expect"].items():
                assert st[k] == v, f"{where}: {k}={st[k]}"
        else:
            raise AssertionError(f"unknown op {op}")
