"""Replays tests/vectors/events/shapes.json (shared with the Rust and Node suites) through parse_events:
dashfeed's event shape and the reference notes' (dashboard_id / metric_name / timestamp / metadata)."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

import dashfeed
from conftest import load_vectors

CASES = load_vectors("events", "shapes.json")["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_event_shapes(case: dict[str, Any]) -> None:
    inputs = [
        case["input"],
        json.dumps(case["input"]).encode(),
    ]
    for message in inputs:
        if "error" in case:
            with pytest.raises(dashfeed.InvalidInputError) as e:
                dashfeed.parse_events(message)
            assert e.value.code == case["error"]
            assert isinstance(e.value, ValueError)
        else:
            assert dashfeed.parse_events(message) == case["events"]
    if "error" not in case:
        packed = msgpack.packb(case["input"])
        assert dashfeed.parse_events(packed, format="msgpack") == case["events"]


def test_a_message_over_max_bytes_is_too_large() -> None:
    body = json.dumps([{"dashboard": "d", "metric": "m", "value": 1}] * 100).encode()
    with pytest.raises(dashfeed.TooLargeError) as e:
        dashfeed.parse_events(body, max_bytes=len(body) - 1)
    assert e.value.code == "too_large"
    assert len(dashfeed.parse_events(body, max_bytes=len(body))) == 100
