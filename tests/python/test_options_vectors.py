"""Replays tests/vectors/config/options.json (shared with the Rust and Node suites; format in its
README.md): each case's Python options describe the expected config through the core, and the public
constructor accepts them or raises the expected code. Also checks that the documented defaults of the
Python signatures are the core's."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import pytest

import dashfeed
from dashfeed import _native
from conftest import load_vectors

CASES = [c for c in load_vectors("config", "options.json")["cases"] if "python" in c]


def pairs(options: dict[str, Any]) -> dict[str, Any]:
    """The `message_rate` / `ingest_rate` pairs are tuples in Python."""
    return {k: tuple(v) if k.endswith("_rate") and isinstance(v, list) else v for k, v in options.items()}


def subscribe(**options: Any) -> Any:
    hub = dashfeed.Hub()
    sub = hub.subscribe("d", **options)
    sub.close()
    return sub


BUILD: dict[str, Callable[..., Any]] = {
    "breaker": dashfeed.CircuitBreaker,
    "limiter": dashfeed.RateLimiter,
    "hub": dashfeed.Hub,
    "subscribe": subscribe,
    "server": lambda **o: dashfeed.Server(dashfeed.Hub(), **o),
    "auth": dashfeed.Auth,
}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_options_case(case: dict[str, Any]) -> None:
    module, options = case["module"], case["python"]
    build = BUILD[module]
    if "error" in case:
        with pytest.raises(dashfeed.DashfeedError) as info:
            _native._describe_options(module, options)
        assert info.value.code == case["error"]
        with pytest.raises(dashfeed.DashfeedError) as info:
            build(**pairs(options))
        assert info.value.code == case["error"]
    else:
        assert _native._describe_options(module, options) == case["expect"]
        build(**pairs(options))


@pytest.mark.parametrize(
    ("module", "cls"),
    [("breaker", _native.CircuitBreaker), ("hub", _native.Hub), ("server", _native.Server)],
)
def test_signature_defaults_are_the_cores(module: str, cls: Any) -> None:
    params = inspect.signature(cls).parameters.values()
    objects = {"hub", "clock", "excluded", "fallback", "on_state_change"}
    # pyo3 shows a default that is not a literal (`1 << 20`, `Some(1024)`) as `...`: not comparable.
    defaults = {
        p.name: p.default
        for p in params
        if p.default not in (inspect.Parameter.empty, ...) and p.name not in objects
    }
    assert len(defaults) >= 4, (module, defaults)
    assert _native._describe_options(module, defaults) == _native._describe_options(module, {})
