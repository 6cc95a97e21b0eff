"""Shared helpers of the Python suite: paths to the cross-language vectors and their value notation, and
the broker fixtures (a real redis-server and a tansu Kafka broker per test module, from brokers.py)."""

from __future__ import annotations

import json
import pathlib
from typing import Any, Iterator

import pytest

from brokers import RedisServer, TansuBroker

VECTORS = pathlib.Path(__file__).resolve().parents[1] / "vectors"


def load_vectors(area: str, name: str) -> Any:
    """Loads tests/vectors/<area>/<name>."""
    return json.loads((VECTORS / area / name).read_text(encoding="utf-8"))


def from_notation(v: Any) -> Any:
    """Rebuilds a value from the vector notation: {"$bin": hex} is bytes; everything else is plain JSON."""
    if isinstance(v, dict):
        if set(v) == {"$bin"}:
            return bytes.fromhex(v["$bin"])
        return {k: from_notation(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_notation(x) for x in v]
    return v


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server on a spare loopback port for the module's tests, killed after them."""
    server = RedisServer()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def kafka() -> Iterator[TansuBroker]:
    """A tansu broker on a spare loopback port for the module's tests, stopped after them."""
    broker = TansuBroker()
    yield broker
    broker.stop()
